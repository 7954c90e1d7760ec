"""docs/formats.md section 5: CIDs on-chain as (sha2-256 digest, codec)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID, multihash

from twinledger.formats.cids import DAG_PB, RAW, pack, raw_cid_from_digest, raw_cid_of, unpack

HELLO_V0 = "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
HELLO_RAW = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
HELLO_PB_V1 = "bafybeihykld7uyxzogax6vgyvag42y7464eywpf55gxi5qpoisibh3c5wa"
HELLO_SHA = hashlib.sha256(b"hello world").digest()


def test_raw_cid_known_answer() -> None:
    # Kubo: `ipfs add --cid-version 1 --raw-leaves` of "hello world"
    assert pack(HELLO_RAW) == (HELLO_SHA, RAW)
    assert raw_cid_of(b"hello world") == HELLO_RAW
    assert raw_cid_from_digest(HELLO_SHA) == HELLO_RAW


def test_v0_reads_back_as_v1() -> None:
    digest, codec = pack(HELLO_V0)
    assert codec == DAG_PB
    assert unpack(digest, codec) == HELLO_PB_V1
    assert pack(HELLO_PB_V1) == (digest, codec)
    assert pack(CID.decode(HELLO_V0)) == (digest, codec)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not a cid",
        str(CID("base32", 1, "dag-cbor", multihash.digest(b"x", "sha2-256"))),
        str(CID("base32", 1, "raw", multihash.digest(b"x", "sha2-512"))),
        str(CID("base32", 1, "raw", multihash.digest(b"x", "blake2b-256"))),
        str(CID("base58btc", 1, "raw", multihash.digest(b"x", "sha2-256")))[:-3],
    ],
)
def test_pack_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        pack(bad)


def test_pack_rejects_wrong_type() -> None:
    with pytest.raises(ValueError):
        pack(b"bafk")  # type: ignore[arg-type]


def test_unpack_rejects() -> None:
    with pytest.raises(ValueError):
        unpack(b"\x00" * 31, RAW)
    with pytest.raises(ValueError):
        unpack(b"\x00" * 32, 0x71)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.sampled_from([RAW, DAG_PB]))
def test_roundtrip(digest: bytes, codec: int) -> None:
    cid = unpack(digest, codec)
    assert cid.startswith("b")
    assert pack(cid) == (digest, codec)
    if codec == DAG_PB:  # the same pair as CIDv0
        v0 = str(CID("base58btc", 0, "dag-pb", multihash.wrap(digest, "sha2-256")))
        assert v0.startswith("Qm") and pack(v0) == (digest, codec)
