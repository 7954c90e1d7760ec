"""The head chain of a sensor feed (docs/formats.md, section 3, version 1).

Each feed has a running head, ``GENESIS_HEAD`` (32 zero bytes) before ``seq = 0``::

    head_seq = keccak256(abi.encode(head_{seq-1}, feedId, seq, root, cid, count, tFirst, tLast))

with the types ``bytes32, uint256, uint64, bytes32, bytes32, uint32, uint64, uint64``, each field in
its own 32-byte word. ``SensorFeed._nextHead`` computes the same value on-chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .fields import check_b32
from .merkle import keccak256

__all__ = ["FORMAT_VERSION", "GENESIS_HEAD", "BatchAnchor", "next_head", "head_of", "fold_heads"]

FORMAT_VERSION = 1
GENESIS_HEAD = bytes(32)


def _word(value: int, bits: int, name: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise ValueError(f"{name} must be an integer in [0, 2**{bits}), got {value!r}")
    return value.to_bytes(32, "big")


def next_head(
    prev_head: bytes,
    feed_id: int,
    seq: int,
    root: bytes,
    cid: bytes,
    count: int,
    t_first: int,
    t_last: int,
) -> bytes:
    """The head after anchoring one batch on top of ``prev_head``. ``cid`` is the sha2-256 digest."""
    return keccak256(
        check_b32(prev_head, "prev_head")
        + _word(feed_id, 256, "feed_id")
        + _word(seq, 64, "seq")
        + check_b32(root, "root")
        + check_b32(cid, "cid")
        + _word(count, 32, "count")
        + _word(t_first, 64, "t_first")
        + _word(t_last, 64, "t_last")
    )


@dataclass(frozen=True, slots=True)
class BatchAnchor:
    """The fields of one anchored batch, as in the ``Anchored`` event (without the head)."""

    feed_id: int
    seq: int
    root: bytes
    cid: bytes
    count: int
    t_first: int
    t_last: int

    def head(self, prev_head: bytes) -> bytes:
        """This batch's head on top of ``prev_head``."""
        return next_head(prev_head, self.feed_id, self.seq, self.root, self.cid, self.count, self.t_first, self.t_last)


def head_of(anchor: BatchAnchor, prev_head: bytes = GENESIS_HEAD) -> bytes:
    """Alias of :meth:`BatchAnchor.head`."""
    return anchor.head(prev_head)


def fold_heads(anchors: Iterable[BatchAnchor], start: bytes = GENESIS_HEAD) -> list[bytes]:
    """The head after each anchor, in order, starting from ``start``.

    The caller checks that the anchors are of one feed and consecutive; this only chains them.
    """
    heads: list[bytes] = []
    head = start
    for a in anchors:
        head = a.head(head)
        heads.append(head)
    return heads
