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

from collections.abc import Callable, Iterable, Sequence

__all__ = ["FORMAT_VERSION", "keccak256", "leaf_hash", "leaf_hashes", "node_hash", "MerkleTree", "verify", "root_of"]

FORMAT_VERSION = 1


def _make_keccak() -> Callable[[bytes], bytes]:
    try:
        from sha3 import keccak_256  # safe-pysha3, C speed

        if keccak_256(b"").hexdigest().startswith("c5d24601"):
            return lambda data: keccak_256(data).digest()
    except ImportError:  # pragma: no cover - depends on the environment
        pass
    from Crypto.Hash import keccak as _keccak  # pycryptodome, always there with eth-hash

    return lambda data: _keccak.new(digest_bits=256, data=data).digest()  # pragma: no cover


keccak256: Callable[[bytes], bytes] = _make_keccak()
"""Keccak-256 (the Ethereum variant, not NIST SHA3-256) of ``data``."""


def leaf_hash(reading_bytes: bytes) -> bytes:
    """The leaf of one reading: ``keccak256(keccak256(dag_cbor(reading)))``."""
    return keccak256(keccak256(bytes(reading_bytes)))


def _make_bulk() -> tuple[Callable[[Iterable[bytes]], list[bytes]], Callable[[list[bytes]], list[bytes]]]:
    """``leaf_hashes`` and ``_parents`` on the C ``keccak_256`` directly (no Python call per hash)."""
    try:
        from sha3 import keccak_256

        if keccak_256(b"").hexdigest().startswith("c5d24601"):
            return (lambda items: [keccak_256(keccak_256(x).digest()).digest() for x in items],
                    lambda level: [keccak_256(a + b).digest() if a <= b else keccak_256(b + a).digest()
                                   for a, b in zip(level[::2], level[1::2])])
    except ImportError:  # pragma: no cover - depends on the environment
        pass
    return (lambda items: [leaf_hash(x) for x in items],  # pragma: no cover
            lambda level: [node_hash(a, b) for a, b in zip(level[::2], level[1::2])])


leaf_hashes, _parents = _make_bulk()
"""``leaf_hashes(items)`` is ``[leaf_hash(x) for x in items]`` (the outbox closes batches with it); ``_parents(level)``
the next level up, less an odd last node."""


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
        nxt = _parents(level)
        if len(level) % 2:
            nxt.append(level[-1])  # the odd node moves up unchanged
        level = nxt
    return level[0]
