"""Device keys on disk: eth-account's encrypted keystore (v3 JSON), never plaintext hex.

`new_keystore` writes a fresh key (or reuses the one already at that path, so a step retried after a
crash keeps its key); `load_key` reads a keystore with the passphrase, or a legacy plaintext hex file
with a warning. The daemon never prompts: the passphrase comes from an environment variable, and a
missing one is one `KeystoreError` line that names it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import structlog
from eth_account import Account

from .errors import ChainError

log = structlog.get_logger(__name__)

DEFAULT_PASSPHRASE_ENV = "TWINLEDGER_KEYSTORE_PASSPHRASE"


class KeystoreError(ChainError):
    """A key file that cannot be read or written: no passphrase, a wrong one, a broken file."""


def passphrase_from_env(variable: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise KeystoreError(f"device keystores need a passphrase: set the environment variable {variable}")
    return value


def is_keystore(path: Path) -> bool:
    return path.read_text().lstrip().startswith("{")


def load_key(path: Path, passphrase_env: str = DEFAULT_PASSPHRASE_ENV) -> bytes:
    """The private key in `path`: a keystore (passphrase from `$passphrase_env`) or legacy hex."""
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise KeystoreError(f"cannot read key file {path}: {exc.strerror}") from None
    if not text.startswith("{"):
        log.warning("plaintext key file: move it into an encrypted keystore", file=str(path))
        try:
            return bytes.fromhex(text.removeprefix("0x"))
        except ValueError:
            raise KeystoreError(f"{path} is neither a keystore nor a hex private key") from None
    passphrase = passphrase_from_env(passphrase_env)
    try:
        return bytes(Account.decrypt(json.loads(text), passphrase))
    except ValueError:
        raise KeystoreError(f"cannot decrypt {path}: wrong passphrase in {passphrase_env} or a damaged keystore") from None


def write_keystore(path: Path, key: bytes, passphrase: str) -> None:
    """Write `key` encrypted to `path` atomically (tmp file, fsync, rename), readable by the owner only."""
    body = json.dumps(Account.encrypt(key, passphrase)).encode()
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def new_keystore(path: Path, passphrase_env: str = DEFAULT_PASSPHRASE_ENV) -> bytes:
    """A device key kept encrypted at `path`: the one already there, else a fresh one written there."""
    if path.exists():
        return load_key(path, passphrase_env)
    passphrase = passphrase_from_env(passphrase_env)
    key = bytes(Account.create().key)
    write_keystore(path, key, passphrase)
    return key
