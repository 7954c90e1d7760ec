"""docs/formats.md section 4: the EIP-712 domain and the Anchor type."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from twinledger.formats.eip712 import (
    ANCHOR_TYPE,
    ANCHOR_TYPEHASH,
    AnchorMessage,
    anchor_digest,
    domain,
    domain_separator,
    recover_anchor_signer,
    sign_anchor,
)
from twinledger.formats.merkle import keccak256

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
KEY = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
MSG = AnchorMessage(
    feed_id=1,
    seq=0,
    prev_head=bytes(32),
    root=bytes.fromhex("11" * 32),
    cid=bytes.fromhex("22" * 32),
    count=3,
    t_first=1_700_000_000_000,
    t_last=1_700_000_001_000,
)


def _manual_domain_separator(chain_id: int, contract: str) -> bytes:
    typehash = keccak256(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    return keccak256(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [typehash, keccak256(b"TwinLedger SensorFeed"), keccak256(b"1"), chain_id, contract],
        )
    )


def test_type_string_and_hash() -> None:
    assert ANCHOR_TYPE == (
        "Anchor(uint256 feedId,uint64 seq,bytes32 prevHead,bytes32 root,bytes32 cid,"
        "uint32 count,uint64 tFirst,uint64 tLast)"
    )
    assert ANCHOR_TYPEHASH == keccak256(ANCHOR_TYPE.encode())


def test_domain_fields() -> None:
    d = domain(31337, CONTRACT.lower())
    assert d == {"name": "TwinLedger SensorFeed", "version": "1", "chainId": 31337, "verifyingContract": CONTRACT}


def test_digest_matches_hand_encoding() -> None:
    struct_hash = keccak256(
        encode(
            ["bytes32", "uint256", "uint64", "bytes32", "bytes32", "bytes32", "uint32", "uint64", "uint64"],
            [ANCHOR_TYPEHASH, 1, 0, bytes(32), MSG.root, MSG.cid, 3, MSG.t_first, MSG.t_last],
        )
    )
    assert MSG.struct_hash() == struct_hash
    assert domain_separator(31337, CONTRACT) == _manual_domain_separator(31337, CONTRACT)
    expected = keccak256(b"\x19\x01" + _manual_domain_separator(31337, CONTRACT) + struct_hash)
    assert anchor_digest(MSG, 31337, CONTRACT) == expected


def test_sign_and_recover() -> None:
    sig = sign_anchor(KEY, MSG, 31337, CONTRACT)
    assert len(sig) == 65 and sig[64] in (27, 28)
    assert recover_anchor_signer(MSG, sig, 31337, CONTRACT) == ADDRESS
    # the raw digest signed with the same key gives the same signature (deterministic RFC 6979)
    raw = Account._sign_hash(anchor_digest(MSG, 31337, CONTRACT), KEY)  # type: ignore[attr-defined]
    assert bytes(raw.signature) == sig


def test_other_chain_contract_or_place_recovers_someone_else() -> None:
    sig = sign_anchor(KEY, MSG, 31337, CONTRACT)
    assert recover_anchor_signer(MSG, sig, 1, CONTRACT) != ADDRESS
    assert recover_anchor_signer(MSG, sig, 31337, "0x" + "00" * 19 + "01") != ADDRESS
    moved = AnchorMessage(2, 0, bytes(32), MSG.root, MSG.cid, 3, MSG.t_first, MSG.t_last)
    assert recover_anchor_signer(moved, sig, 31337, CONTRACT) != ADDRESS
    later = AnchorMessage(1, 1, keccak256(b"head"), MSG.root, MSG.cid, 3, MSG.t_first, MSG.t_last)
    assert recover_anchor_signer(later, sig, 31337, CONTRACT) != ADDRESS


def test_rejects_malformed() -> None:
    with pytest.raises(ValueError):
        AnchorMessage(1, 2**64, bytes(32), bytes(32), bytes(32), 1, 0, 0)
    with pytest.raises(ValueError):
        AnchorMessage(1, 0, bytes(31), bytes(32), bytes(32), 1, 0, 0)
    with pytest.raises(ValueError):
        recover_anchor_signer(MSG, b"\x01" * 64, 31337, CONTRACT)


@settings(max_examples=25, deadline=None)
@given(
    feed_id=st.integers(0, 2**256 - 1),
    seq=st.integers(0, 2**64 - 1),
    count=st.integers(0, 2**32 - 1),
    chain_id=st.integers(1, 2**64),
    key=st.integers(1, 2**255),
)
def test_roundtrip_property(feed_id: int, seq: int, count: int, chain_id: int, key: int) -> None:
    acct = Account.from_key(key.to_bytes(32, "big"))
    msg = AnchorMessage(feed_id, seq, keccak256(b"p"), keccak256(b"r"), keccak256(b"c"), count, 1, 2)
    sig = sign_anchor(acct.key, msg, chain_id, CONTRACT)
    assert recover_anchor_signer(msg, sig, chain_id, CONTRACT) == acct.address
