"""Which account acts: `TEST::N`, a key file, or an ape keystore alias, resolved to a `LocalAccount`."""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from .devnet import test_account
from .errors import ChainError


class AccountError(ChainError):
    """An account that cannot be resolved: a bad `TEST::N`, an unknown alias, a wrong passphrase."""


def resolve_account(spec: str | None, prompt: Callable[[str], str] | None = None) -> LocalAccount | None:
    """`TEST::N` (the dev mnemonic, as in ape), an ape keystore alias, or a hex private key in a file.

    An ape keystore's passphrase comes from `APE_ACCOUNTS_<alias>_PASSPHRASE`, else from `prompt` (the
    CLI asks; a daemon passes none and gets one line saying which variable to set)."""
    if not spec:
        return None
    if spec.upper().startswith("TEST::"):
        try:
            return test_account(int(spec.split("::", 1)[1]))
        except ValueError:
            raise AccountError(f"bad test account {spec!r}: use TEST::<number>") from None
    key_file = Path(spec)
    if key_file.is_file():
        account: LocalAccount = Account.from_key(key_file.read_text().strip())
        return account
    return _ape_keystore_account(spec, prompt)


def _ape_keystore_account(alias: str, prompt: Callable[[str], str] | None) -> LocalAccount:
    ape_dir = Path(os.environ.get("APE_DATA_FOLDER", Path.home() / ".ape"))
    keystore = ape_dir / "accounts" / f"{alias}.json"
    if not keystore.exists():
        raise AccountError(f"unknown account {alias!r}: not TEST::N, a key file, or an ape account in {keystore.parent}")
    passphrase = os.environ.get(f"APE_ACCOUNTS_{alias}_PASSPHRASE")
    if passphrase is None:
        if prompt is None:
            raise AccountError(f"ape account {alias!r} is encrypted: set APE_ACCOUNTS_{alias}_PASSPHRASE")
        passphrase = prompt(f"passphrase for ape account {alias}")
    try:
        account: LocalAccount = Account.from_key(Account.decrypt(json.loads(keystore.read_text()), passphrase))
        return account
    except ValueError:
        raise AccountError(f"wrong passphrase for ape account {alias!r}") from None
