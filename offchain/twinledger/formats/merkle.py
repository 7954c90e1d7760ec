"""Leaf hash and Merkle tree over a batch's readings (docs/formats.md, section 2, version 1).

- ``leaf = keccak256(keccak256(reading_bytes))``;
- leaves keep the batch order; nodes are paired left to right, a pair ``(a, b)`` hashes to
  ``keccak256(min(a, b) || max(a, b))`` (OpenZeppelin ``commutativeKeccak256``);
- an odd node at the end of a level moves up unchanged; a one-leaf tree's root is its leaf;
- a proof lists the sibling hashes from the leaf up (a promoted node adds none), so OpenZeppelin's
  ``MerkleProof.verify(proof, root, leaf)`` and ``SensorFeed.verifyReading`` accept it.

This sits on the verifier's hot path: hashing uses the C ``keccak_256`` of ``safe-pysha3`` when it
is installed and pycryptodome's otherwise; a 100k-leaf tree is built in well under a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

__all__ = ["FORMAT_VERSION", "keccak256", "keccak_each", "leaf_hash", "leaf_hashes", "node_hash", "MerkleTree", "verify",
           "root_of", "root_of_readings"]

FORMAT_VERSION = 1


def _make_keccak() -> tuple[Callable[[bytes], bytes], Callable[[Iterable[bytes]], Iterator[bytes]]]:
    """``keccak256`` and ``keccak_each`` on the fastest binding installed."""
    try:
        from sha3 import keccak_256  # safe-pysha3, C speed

        if keccak_256(b"").hexdigest().startswith("c5d24601"):
            digest = keccak_256.digest

            def each(items: Iterable[bytes]) -> Iterator[bytes]:
                return map(digest, map(keccak_256, items))  # chained in C: no Python frame per hash

            return (lambda data: keccak_256(data).digest()), each
    except ImportError:  # pragma: no cover - depends on the environment
        pass
    from Crypto.Hash import keccak as _keccak  # pycryptodome, always there with eth-hash

    def one(data: bytes) -> bytes:  # pragma: no cover
        return _keccak.new(digest_bits=256, data=data).digest()

    return one, lambda items: map(one, items)  # pragma: no cover


keccak256: Callable[[bytes], bytes]
"""Keccak-256 (the Ethereum variant, not NIST SHA3-256) of ``data``."""
keccak_each: Callable[[Iterable[bytes]], Iterator[bytes]]
"""``keccak256`` of each item, lazily (``map(keccak256, items)`` at less cost per item)."""
keccak256, keccak_each = _make_keccak()


def leaf_hash(reading_bytes: bytes) -> bytes:
    """The leaf of one reading: ``keccak256(keccak256(dag_cbor(reading)))``."""
    return keccak256(keccak256(bytes(reading_bytes)))


def leaf_hashes(readings: Iterable[bytes]) -> list[bytes]:
    """``[leaf_hash(r) for r in readings]``, every leaf of a batch at once (the verifier's hot path)."""
    return list(keccak_each(keccak_each(readings)))


def node_hash(a: bytes, b: bytes) -> bytes:
    """The parent of two nodes, independent of their order (sorted pair)."""
    return keccak256(a + b) if a <= b else keccak256(b + a)


def _check_node(node: bytes, what: str) -> bytes:
    if not isinstance(node, (bytes, bytearray)) or len(node) != 32:
        raise ValueError(f"{what} must be 32 bytes, got {node!r:.80}")
    return bytes(node)


class MerkleTree:
    """A Merkle tree over leaves that are already hashed (use :func:`leaf_hash` on readings).

    ``levels[0]`` are the leaves and ``levels[-1] == [root]``.
    """

    __slots__ = ("levels",)

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if len(leaves) == 0:
            raise ValueError("a Merkle tree needs at least one leaf (a batch holds at least one reading)")
        level = [_check_node(leaf, "a leaf") for leaf in leaves]
        self.levels: list[list[bytes]] = [level]
        h = keccak256
        while len(level) > 1:
            nxt = [
                h(level[i] + level[i + 1]) if level[i] <= level[i + 1] else h(level[i + 1] + level[i])
                for i in range(0, len(level) - 1, 2)
            ]
            if len(level) % 2:
                nxt.append(level[-1])  # the odd node moves up unchanged
            self.levels.append(nxt)
            level = nxt

    @classmethod
    def from_readings(cls, readings: Iterable[bytes]) -> MerkleTree:
        """A tree over encoded readings, leaf-hashing each one."""
        return cls([leaf_hash(r) for r in readings])

    @property
    def root(self) -> bytes:
        """The 32-byte root."""
        return self.levels[-1][0]

    @property
    def leaves(self) -> list[bytes]:
        """The leaves, in batch order."""
        return self.levels[0]

    def __len__(self) -> int:
        return len(self.levels[0])

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from leaf ``index`` up to the root (empty for a one-leaf tree)."""
        n = len(self.levels[0])
        if not 0 <= index < n:
            raise IndexError(f"leaf index {index} out of range for a tree of {n} leaves")
        proof: list[bytes] = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            index //= 2
        return proof


def verify(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
    """True if ``proof`` leads from ``leaf`` to ``root`` (same rule as OpenZeppelin ``MerkleProof``)."""
    node = _check_node(leaf, "the leaf")
    for sibling in proof:
        node = node_hash(node, _check_node(sibling, "a proof element"))
    return node == _check_node(root, "the root")


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The root of a tree over ``leaves`` (already hashed)."""
    return MerkleTree(leaves).root


def fast_root(leaves: Sequence[bytes]) -> bytes:
    """`root_of(leaves)` without keeping the levels or checking each node (the verifier's hot path: the
    leaves come from `leaf_hash`). tests/verify/test_verify_units.py checks it against `MerkleTree` for
    every size up to 300."""
    level = list(leaves)
    while len(level) > 1:
        nxt = list(keccak_each([a + b if a <= b else b + a for a, b in zip(level[::2], level[1::2])]))
        if len(level) % 2:
            nxt.append(level[-1])  # the odd node moves up unchanged
        level = nxt
    return level[0]


def root_of_readings(encoded: Iterable[bytes]) -> bytes:
    """The root a batch anchors: its readings' own bytes (``encoded``, in batch order) leaf-hashed and paired up
    (formats.md §2). The one definition the agent's batch close, the helper processes and the verifier share."""
    return fast_root(leaf_hashes(encoded))
