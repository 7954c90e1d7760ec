"""Device keys on disk: encrypted keystores written atomically and reused, legacy hex still read with a
warning, and a missing or wrong passphrase reported as one line that says what to set."""
from __future__ import annotations

import json
import stat

import pytest
import structlog
from eth_account import Account

from twinledger.chain.keystore import KeystoreError, load_key, new_keystore, write_keystore

ENV = "TL_TEST_KEYSTORE_PASSPHRASE"


def test_new_keystore_is_encrypted_private_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, "correct horse")
    path = tmp_path / "device.keystore.json"
    key = new_keystore(path, ENV)
    body = path.read_text()
    assert key.hex() not in body and json.loads(body)["crypto"]["kdf"] == "scrypt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path, ENV) == key
    assert new_keystore(path, ENV) == key, "a retried step keeps the key it already wrote"
    assert not list(tmp_path.glob("*.tmp"))


def test_missing_and_wrong_passphrase_are_one_line(tmp_path, monkeypatch):
    path = tmp_path / "k.json"
    write_keystore(path, bytes(Account.create().key), "right")
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(KeystoreError, match=f"set the environment variable {ENV}$"):
        load_key(path, ENV)
    with pytest.raises(KeystoreError, match=f"set the environment variable {ENV}$"):
        new_keystore(tmp_path / "other.json", ENV)
    assert not (tmp_path / "other.json").exists()
    monkeypatch.setenv(ENV, "wrong")
    with pytest.raises(KeystoreError) as wrong:
        load_key(path, ENV)
    assert "\n" not in str(wrong.value) and "wrong passphrase" in str(wrong.value)


def test_plaintext_hex_is_still_read_with_a_warning(tmp_path):
    key = Account.create()
    path = tmp_path / "device.key"
    path.write_text(key.key.hex())
    with structlog.testing.capture_logs() as logs:
        assert load_key(path) == bytes(key.key)
    assert [entry["event"] for entry in logs] == ["plaintext key file: move it into an encrypted keystore"]
    path.write_text("not a key")
    with pytest.raises(KeystoreError, match="neither a keystore nor a hex private key"):
        load_key(path)
