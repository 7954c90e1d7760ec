"""docs/formats.md section 2: leaf hash and Merkle tree (OpenZeppelin-compatible sorted pairs)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinledger.formats.merkle import MerkleTree, keccak256, leaf_hash, node_hash, root_of, verify


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_keccak_known_answers() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"


def test_leaf_is_double_keccak() -> None:
    data = b"\xa5arx\x01"
    assert leaf_hash(data) == keccak256(keccak256(data))
    assert len(leaf_hash(b"")) == 32


def test_one_leaf_root_is_the_leaf() -> None:
    leaf = leaf_hash(b"only")
    tree = MerkleTree([leaf])
    assert tree.root == leaf
    assert tree.proof(0) == []
    assert verify([], leaf, leaf)


def test_two_and_three_leaves_by_hand() -> None:
    a, b, c = _leaves(3)
    ab = keccak256(min(a, b) + max(a, b))
    assert MerkleTree([a, b]).root == ab
    assert MerkleTree([b, a]).root == ab  # sorted pairs: order inside a pair does not matter
    # the odd node c moves up unchanged and pairs with ab one level up
    abc = keccak256(min(ab, c) + max(ab, c))
    tree = MerkleTree([a, b, c])
    assert tree.root == abc
    assert tree.proof(2) == [ab]  # a promoted node adds no sibling
    assert tree.proof(0) == [b, c]


def test_five_leaves_structure() -> None:
    l = _leaves(5)
    n01, n23 = node_hash(l[0], l[1]), node_hash(l[2], l[3])
    n0123 = node_hash(n01, n23)
    assert MerkleTree(l).root == node_hash(n0123, l[4])
    assert MerkleTree(l).proof(4) == [n0123]


def test_known_answer_root() -> None:
    # Pinned so that any change of the format shows up here: leaves = leaf_hash(i as 4 bytes), i < 7.
    assert root_of(_leaves(7)).hex() == MerkleTree(_leaves(7)).root.hex()
    assert root_of(_leaves(7)).hex() == KNOWN_ROOT_7


KNOWN_ROOT_7 = "02d5e4dbab68628a3b05db88306ab2f5367c4863c7efdc91c425be853180a74b"


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        MerkleTree([])
    with pytest.raises(ValueError):
        MerkleTree([b"short"])
    with pytest.raises(IndexError):
        MerkleTree(_leaves(3)).proof(3)
    with pytest.raises(ValueError):
        verify([b"x"], bytes(32), bytes(32))


def test_wrong_leaf_or_proof_fails() -> None:
    tree = MerkleTree(_leaves(10))
    proof = tree.proof(3)
    assert verify(proof, tree.root, tree.leaves[3])
    assert not verify(proof, tree.root, tree.leaves[4])
    assert not verify(proof[:-1], tree.root, tree.leaves[3])
    assert not verify(proof, keccak256(b"other root"), tree.leaves[3])


def test_inner_node_cannot_pass_as_leaf_of_a_reading() -> None:
    tree = MerkleTree(_leaves(4))
    inner = tree.levels[1][0]
    # a verifier hashes readings twice; the 64-byte preimage of an inner node never gives that node
    assert leaf_hash(tree.leaves[0] + tree.leaves[1]) != inner


def test_hundred_thousand_leaves() -> None:
    tree = MerkleTree.from_readings(i.to_bytes(8, "big") for i in range(100_000))
    for i in (0, 1, 65_535, 65_536, 99_998, 99_999):
        assert verify(tree.proof(i), tree.root, tree.leaves[i])
    assert len(tree.proof(0)) == 17


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=1, max_value=300), salt=st.binary(max_size=8))
def test_every_proof_verifies(n: int, salt: bytes) -> None:
    leaves = [leaf_hash(salt + i.to_bytes(2, "big")) for i in range(n)]
    tree = MerkleTree(leaves)
    for i, leaf in enumerate(leaves):
        proof = tree.proof(i)
        assert verify(proof, tree.root, leaf)
        assert len(proof) <= max(n - 1, 0).bit_length()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=2, max_size=40, unique=True), st.data())
def test_foreign_leaf_never_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree(leaves[:-1])
    i = data.draw(st.integers(0, len(leaves) - 2))
    assert not verify(tree.proof(i), tree.root, leaves[-1])
