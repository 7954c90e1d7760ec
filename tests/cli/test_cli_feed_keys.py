"""`feed register --new-device-key FILE`: provisioning makes the device key in an encrypted keystore and
registers its address; the agent reads it back with the passphrase from the environment."""
from __future__ import annotations

import json

import pytest
from cli_harness import Twinledger
from eth_account import Account

from twinledger.chain.keystore import load_key


@pytest.fixture(scope="module")
def twin(tl: Twinledger) -> int:
    return tl.create_twin()


def test_a_new_device_key_is_an_encrypted_keystore(tl: Twinledger, twin: int, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TWINLEDGER_KEYSTORE_PASSPHRASE", "provisioning")
    path = tmp_path / "valve.keystore.json"
    out = tl("feed", "register", twin, "bottle_level", "--new-device-key", path).stdout
    key = load_key(path)
    address = Account.from_key(key).address
    assert f"device key {address}" in out and key.hex() not in path.read_text()
    assert "crypto" in json.loads(path.read_text())
    feed = int(out.split("Registered feed ")[1].split()[0])
    assert tl.stack.chain().feeds.functions.feed(feed).call()[2] == address
    assert "exists" in tl.fails("feed", "register", twin, "bottle_level", "--new-device-key", path)


def test_exactly_one_device_option(tl: Twinledger, twin: int) -> None:
    assert "exactly one of --device ADDRESS and --new-device-key FILE" in tl.fails("feed", "register", twin, "bottle_level")
