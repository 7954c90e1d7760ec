"""Gateway-aggregated windows (docs/formats.md, section 9, version 1).

A gateway anchors one root per window over the batches of many feeds. Each batch is one leaf::

    leaf = keccak256(keccak256(abi.encode(feedId, seq, prevHead, root, cid, count, tFirst, tLast,
                                          keccak256(signature))))

(types ``uint256, uint64, bytes32, bytes32, bytes32, uint32, uint64, uint64, bytes32``, one word each),
where the fields are the batch's, exactly as its device signed them (the EIP-712 ``Anchor`` of section 4,
so a device signs the same thing in both modes) and ``signature`` its 65-byte device signature. The
window root is the section-2 Merkle tree over the leaves in window order, so a reading's proof has two
levels: reading leaf -> batch root (section 2), batch leaf -> window root (this one), and
``GatewayAnchors.verifyReading`` checks both with OpenZeppelin's ``MerkleProof``.

The window's content, stored on IPFS and named on-chain by its CID, is the DAG-CBOR map
``{"v": 1, "leaves": [[feedId, seq, prevHead, root, cid, count, tFirst, tLast, signature], ...]}``
(byte strings for the 32-byte fields and the signature); anyone can rebuild the root from it.
``encode_window`` writes those bytes directly (a 10,000-feed window in about 0.3 s, with its tree), and
``encode_window_reference`` through ``dag_cbor``. ``decode_window`` parses with ``cbor2`` (C) and accepts the
bytes only if they are exactly ``encode_window`` of what it read, i.e. the canonical encoding; anything else goes
through ``dag_cbor``, which gives the reason (0.56 s of pure-Python decoding per 10,000-feed window, against
about 0.15 s this way, with every field checked either way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
import dag_cbor

from ..errors import TwinLedgerError
from .eip712 import AnchorMessage
from .fields import check_b32, check_uint
from .headchain import next_head
from .merkle import MerkleTree, keccak256

__all__ = [
    "FORMAT_VERSION",
    "WindowFormatError",
    "WindowLeaf",
    "Window",
    "encode_window",
    "encode_window_reference",
    "decode_window",
]

FORMAT_VERSION = 1


class WindowFormatError(TwinLedgerError, ValueError):
    """Bytes or values that are not a valid version-1 gateway window."""


@dataclass(frozen=True, slots=True)
class WindowLeaf:
    """One feed batch in a window, with its device signature (65 bytes, or whatever the gateway put there)."""

    feed_id: int
    seq: int
    prev_head: bytes
    root: bytes
    cid: bytes
    count: int
    t_first: int
    t_last: int
    signature: bytes

    def __post_init__(self) -> None:
        check_uint(self.feed_id, 64, "feed_id", WindowFormatError)  # a CBOR unsigned integer; SensorFeed issues ids 1, 2, ...
        check_uint(self.seq, 64, "seq", WindowFormatError)
        check_b32(self.prev_head, "prev_head", WindowFormatError)
        check_b32(self.root, "root", WindowFormatError)
        check_b32(self.cid, "cid", WindowFormatError)
        check_uint(self.count, 32, "count", WindowFormatError)
        check_uint(self.t_first, 64, "t_first", WindowFormatError)
        check_uint(self.t_last, 64, "t_last", WindowFormatError)
        if not isinstance(self.signature, (bytes, bytearray)):
            raise WindowFormatError(f"signature must be bytes, got {type(self.signature).__name__}")

    @property
    def signature_hash(self) -> bytes:
        return keccak256(bytes(self.signature))

    def message(self) -> AnchorMessage:
        """The EIP-712 ``Anchor`` the device signed (section 4)."""
        return AnchorMessage(self.feed_id, self.seq, self.prev_head, self.root, self.cid, self.count,
                             self.t_first, self.t_last)

    def head(self) -> bytes:
        """The feed's head after this batch (section 3)."""
        return next_head(self.prev_head, self.feed_id, self.seq, self.root, self.cid, self.count,
                         self.t_first, self.t_last)

    def leaf_hash(self) -> bytes:
        """This batch's leaf in the window tree (``GatewayAnchors.leafHash``)."""
        body = (
            self.feed_id.to_bytes(32, "big") + self.seq.to_bytes(32, "big") + self.prev_head + self.root
            + self.cid + self.count.to_bytes(32, "big") + self.t_first.to_bytes(32, "big")
            + self.t_last.to_bytes(32, "big") + self.signature_hash
        )
        return keccak256(keccak256(body))

    def as_struct(self) -> tuple[int, int, bytes, bytes, bytes, int, int, int, bytes]:
        """``IGatewayAnchors.BatchLeaf``, in field order."""
        return (self.feed_id, self.seq, self.prev_head, self.root, self.cid, self.count, self.t_first,
                self.t_last, self.signature_hash)

    def as_list(self) -> list[Any]:
        return [self.feed_id, self.seq, self.prev_head, self.root, self.cid, self.count, self.t_first,
                self.t_last, bytes(self.signature)]


class Window:
    """The leaves of one window, their Merkle tree and root."""

    __slots__ = ("leaves", "tree", "_index")

    def __init__(self, leaves: Sequence[WindowLeaf]) -> None:
        if not leaves:
            raise WindowFormatError("a window holds at least one feed batch")
        self.leaves: tuple[WindowLeaf, ...] = tuple(leaves)
        self.tree = MerkleTree([leaf.leaf_hash() for leaf in self.leaves])
        self._index = {(leaf.feed_id, leaf.seq): i for i, leaf in enumerate(self.leaves)}

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def reading_count(self) -> int:
        return sum(leaf.count for leaf in self.leaves)

    def index_of(self, feed_id: int, seq: int) -> int:
        """The position of batch ``seq`` of ``feed_id``; ``KeyError`` if the window does not hold it."""
        return self._index[(feed_id, seq)]

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from leaf ``index`` up to the window root."""
        return self.tree.proof(index)

    def encode(self) -> bytes:
        return encode_window(self.leaves)


def _head(major: int, n: int) -> bytes:
    """A CBOR head in its shortest form (what deterministic DAG-CBOR requires)."""
    m = major << 5
    if n < 24:
        return bytes((m | n,))
    if n < 0x100:
        return bytes((m | 24, n))
    if n < 0x10000:
        return bytes((m | 25,)) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes((m | 26,)) + n.to_bytes(4, "big")
    return bytes((m | 27,)) + n.to_bytes(8, "big")


_B32 = _head(2, 32)
_LEAF = _head(4, 9)
_PREFIX = b"\xa2" + _head(3, 1) + b"v" + _head(0, FORMAT_VERSION) + _head(3, 6) + b"leaves"


def encode_window(leaves: Sequence[WindowLeaf]) -> bytes:
    """The window's canonical DAG-CBOR content: the bytes of ``encode_window_reference``, written directly for
    this one fixed layout (``dag_cbor.encode`` spends about 100 µs per leaf, a second per 10,000-feed window).
    tests/formats/test_aggregate_format.py compares the two on random windows."""
    h = _head
    parts = [_PREFIX, h(4, len(leaves))]
    for x in leaves:
        sig = bytes(x.signature)
        parts += (_LEAF, h(0, x.feed_id), h(0, x.seq), _B32, x.prev_head, _B32, x.root, _B32, x.cid, h(0, x.count),
                  h(0, x.t_first), h(0, x.t_last), h(2, len(sig)), sig)
    return b"".join(parts)


def encode_window_reference(leaves: Sequence[WindowLeaf]) -> bytes:
    """The window's canonical DAG-CBOR content, through the ``dag_cbor`` package (the specification)."""
    return bytes(dag_cbor.encode({"v": FORMAT_VERSION, "leaves": [leaf.as_list() for leaf in leaves]}))


def decode_window(data: bytes) -> Window:
    """Parses and checks a window's content; raises :class:`WindowFormatError` on anything else."""
    data = bytes(data)
    fast = _decode_canonical(data)
    return fast if fast is not None else _decode_checked(data)


def _decode_canonical(data: bytes) -> Window | None:
    """The window, if `data` is exactly the canonical encoding of one; None for anything else (the caller then
    finds out why through ``dag_cbor``)."""
    if not data.startswith(_PREFIX) or _claimed_leaves(data) * _MIN_LEAF_BYTES > len(data):
        return None  # a list head claiming more leaves than the bytes can hold is not handed to cbor2
    try:
        obj = cbor2.loads(data)
        leaves = [WindowLeaf(*item) for item in obj["leaves"]]
        if encode_window(leaves) != data:
            return None
        return Window(leaves)
    except Exception:  # noqa: BLE001 - whatever cbor2 or the fields reject, dag_cbor's path names it
        return None


_MIN_LEAF_BYTES = 1 + 2 + 3 * 33 + 3 + 1  # the list head, two 1-byte uints, three 32-byte strings, three more, a signature


def _claimed_leaves(data: bytes) -> int:
    """The length the leaves' list head after `_PREFIX` claims (an unknown head claims too many)."""
    at = len(_PREFIX)
    if at >= len(data) or data[at] >> 5 != 4:
        return len(data)
    info = data[at] & 0x1F
    if info < 24:
        return info
    width = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if width is None or at + 1 + width > len(data):
        return len(data)
    return int.from_bytes(data[at + 1:at + 1 + width], "big")


def _decode_checked(data: bytes) -> Window:
    try:
        obj = dag_cbor.decode(data)
    except Exception as exc:  # noqa: BLE001 - dag_cbor raises several unrelated classes
        raise WindowFormatError(f"not a DAG-CBOR window: {exc}") from None
    if not isinstance(obj, dict) or set(obj) != {"v", "leaves"}:
        raise WindowFormatError("a window is the map {v, leaves}")
    if obj["v"] != FORMAT_VERSION:
        raise WindowFormatError(f"window format version {obj['v']!r}, expected {FORMAT_VERSION}")
    raw = obj["leaves"]
    if not isinstance(raw, list):
        raise WindowFormatError("a window's leaves must be a list")
    leaves = []
    for i, item in enumerate(raw):
        if not isinstance(item, list) or len(item) != 9:
            raise WindowFormatError(f"window leaf {i} must be a list of 9 fields")
        fields: list[Any] = list(item)  # each field is type-checked by WindowLeaf
        leaves.append(WindowLeaf(*fields))
    return Window(leaves)
