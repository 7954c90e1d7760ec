"""docs/formats.md section 9: gateway windows (batch leaves, window root, content encoding, two-level proofs)."""

from __future__ import annotations

import dataclasses

import pytest
from eth_abi import encode as abi_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from twinledger.formats.aggregate import (Window, WindowFormatError, WindowLeaf, _decode_canonical, _decode_checked,
                                          decode_window, encode_window, encode_window_reference)
from twinledger.formats.headchain import next_head
from twinledger.formats.merkle import MerkleTree, keccak256, leaf_hash, verify

B32 = st.binary(min_size=32, max_size=32)
# every CBOR head width: values around 24, 2^8, 2^16, 2^32 and up to the type's limit; signatures up to 300 bytes
UINT = st.one_of(st.integers(0, 30), st.integers(200, 70_000), st.integers(2**31, 2**33), st.integers(2**60, 2**64 - 1))
LEAF = st.builds(WindowLeaf, st.one_of(UINT, st.integers(1, 2**40)), UINT, B32, B32, B32,
                 st.integers(0, 2**32 - 1), UINT, UINT, st.one_of(st.binary(max_size=70), st.binary(max_size=300)))


def _leaf(feed: int = 1, seq: int = 0) -> WindowLeaf:
    return WindowLeaf(feed, seq, bytes(32), b"\x11" * 32, b"\x22" * 32, 3, 1000, 1002, b"\x33" * 65)


@given(LEAF)
def test_leaf_hash_is_the_abi_double_hash(leaf: WindowLeaf) -> None:
    body = abi_encode(["uint256", "uint64", "bytes32", "bytes32", "bytes32", "uint32", "uint64", "uint64", "bytes32"],
                      [leaf.feed_id, leaf.seq, leaf.prev_head, leaf.root, leaf.cid, leaf.count, leaf.t_first,
                       leaf.t_last, keccak256(leaf.signature)])
    assert leaf.leaf_hash() == keccak256(keccak256(body))
    assert leaf.head() == next_head(leaf.prev_head, leaf.feed_id, leaf.seq, leaf.root, leaf.cid, leaf.count,
                                    leaf.t_first, leaf.t_last)


@settings(max_examples=40)
@given(st.lists(LEAF, min_size=1, max_size=40), st.data())
def test_window_roundtrip_and_proofs(leaves: list[WindowLeaf], data: st.DataObject) -> None:
    window = Window(leaves)
    back = decode_window(window.encode())
    assert back.leaves == window.leaves and back.root == window.root
    i = data.draw(st.integers(0, len(leaves) - 1))
    assert verify(window.proof(i), window.root, leaves[i].leaf_hash())
    assert window.reading_count == sum(leaf.count for leaf in leaves)


@settings(max_examples=200)
@given(st.lists(LEAF, min_size=1, max_size=30))
def test_fast_encoder_writes_the_reference_bytes(leaves: list[WindowLeaf]) -> None:
    assert encode_window(leaves) == encode_window_reference(leaves)


def test_two_level_proof_reading_to_window() -> None:
    readings = [f"reading {i}".encode() for i in range(5)]
    batch = MerkleTree([leaf_hash(r) for r in readings])
    leaf = dataclasses.replace(_leaf(7, 2), root=batch.root, count=5)
    window = Window([_leaf(1), leaf, _leaf(3)])
    i = window.index_of(7, 2)
    assert verify(batch.proof(4), leaf.root, leaf_hash(readings[4]))
    assert verify(window.proof(i), window.root, leaf.leaf_hash())
    # changing the signature changes the leaf: a gateway cannot swap a signature after anchoring
    assert dataclasses.replace(leaf, signature=b"\x00" * 65).leaf_hash() != leaf.leaf_hash()


def test_encoding_is_canonical_and_strict() -> None:
    leaves = [_leaf(1), _leaf(2)]
    assert encode_window(leaves) == Window(leaves).encode() == encode_window(list(leaves))
    with pytest.raises(WindowFormatError, match="at least one"):
        Window([])
    with pytest.raises(WindowFormatError, match="DAG-CBOR"):
        decode_window(b"\xff\xff")
    import dag_cbor

    with pytest.raises(WindowFormatError, match="version"):
        decode_window(dag_cbor.encode({"v": 2, "leaves": []}))
    with pytest.raises(WindowFormatError, match="9 fields"):
        decode_window(dag_cbor.encode({"v": 1, "leaves": [[1, 2]]}))
    with pytest.raises(WindowFormatError, match="32 bytes"):
        decode_window(dag_cbor.encode({"v": 1, "leaves": [[1, 0, b"x", b"", b"", 1, 0, 0, b""]]}))


def _through_dag_cbor(data: bytes) -> tuple[WindowLeaf, ...] | str:
    try:
        return _decode_checked(data).leaves
    except WindowFormatError as exc:
        return f"rejected: {exc}"


@settings(max_examples=150)
@given(st.lists(LEAF, min_size=1, max_size=12), st.data())
def test_the_fast_decoder_accepts_only_what_dag_cbor_accepts_and_reads_the_same(leaves: list[WindowLeaf],
                                                                               data: st.DataObject) -> None:
    raw = bytearray(encode_window(leaves))
    for _ in range(data.draw(st.integers(0, 3))):  # flip, insert or cut bytes anywhere
        at = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "cut"]))
        if action == "flip":
            raw[at] ^= data.draw(st.integers(1, 255))
        elif action == "insert":
            raw.insert(at, data.draw(st.integers(0, 255)))
        elif len(raw) > 1:
            del raw[at]
    fast = _decode_canonical(bytes(raw))
    if fast is not None:
        assert fast.leaves == _through_dag_cbor(bytes(raw))
    assert _leaves_or_reason(bytes(raw)) == _through_dag_cbor(bytes(raw))


def _leaves_or_reason(data: bytes) -> tuple[WindowLeaf, ...] | str:
    try:
        return decode_window(data).leaves
    except WindowFormatError as exc:
        return f"rejected: {exc}"


def test_non_canonical_bytes_that_cbor2_reads_fall_through_to_dag_cbor() -> None:
    import cbor2

    leaves = [_leaf(1), _leaf(2)]
    # a uint in a longer head than needed: cbor2 reads it, canonical DAG-CBOR forbids it
    long_head = encode_window(leaves).replace(b"\x89\x01\x00", b"\x89\x18\x01\x00", 1)
    assert [x[0] for x in cbor2.loads(long_head)["leaves"]] == [1, 2]
    assert _decode_canonical(long_head) is None
    with pytest.raises(WindowFormatError, match="DAG-CBOR"):
        decode_window(long_head)


def test_a_list_head_claiming_more_leaves_than_the_bytes_hold_never_reaches_cbor2() -> None:
    from twinledger.formats.aggregate import _PREFIX

    huge = _PREFIX + b"\x9b" + (2**40).to_bytes(8, "big") + encode_window([_leaf(1)])[len(_PREFIX) + 1:]
    assert _decode_canonical(huge) is None
    with pytest.raises(WindowFormatError):
        decode_window(huge)
