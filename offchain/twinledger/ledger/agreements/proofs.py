"""Proofs for an agreement, built from anchored batches: a reading out of bounds with its Merkle proof, a
coverage gap between two consecutive batch headers, a batch that covers the period's end, and a
delivery reading.

A batch is found by its `Anchored` event, fetched from IPFS by the CID the event names and decoded with
the version-1 reader (`formats/batch.py`). The header passed to the contract is the event's fields with
the previous batch's head as `prevHead` (docs/formats.md section 3); the reading is passed as its
canonical bytes, whose keccak256 is the hash `SensorFeed.verifyReading` expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ...formats.batch import BatchFormatError, Reading, decode_batch, encode_reading
from ...formats.headchain import GENESIS_HEAD
from ...formats.merkle import MerkleTree, leaf_hash
from .model import AgreementState, ConditionState, DeliveryKind, sensor_id

Header = tuple[bytes, bytes, bytes, int, int, int]


@dataclass(frozen=True)
class FeedBatch:
    """One anchored batch with its readings: what every proof is built from."""

    feed_id: int
    seq: int
    header: Header
    readings: tuple[Reading, ...]
    encoded: tuple[bytes, ...]
    tree: MerkleTree
    cid: str

    @property
    def t_first(self) -> int:
        return self.header[4]

    @property
    def t_last(self) -> int:
        return self.header[5]


@dataclass(frozen=True)
class ReadingProof:
    agreement_id: int
    condition: int
    seq: int
    header: Header
    reading: bytes
    proof: list[bytes]
    value: float
    t_ms: int
    sensor: str
    feed_id: int


@dataclass(frozen=True)
class GapProof:
    agreement_id: int
    condition: int
    seq: int
    prev: Header
    next: Header
    gap_from: int
    gap_to: int
    feed_id: int


@dataclass(frozen=True)
class CoverageProof:
    agreement_id: int
    condition: int
    seq: int
    header: Header
    feed_id: int


def feed_batch(record: Any, prev_head: bytes, data: bytes) -> FeedBatch | None:
    """The batch of an `Anchored` record from its stored bytes, or None if they do not decode to a plaintext
    batch whose root is the anchored one (sealed, or not this batch)."""
    try:
        batch = decode_batch(data)
    except BatchFormatError:
        return None
    encoded = tuple(encode_reading(r) for r in batch.readings)
    tree = MerkleTree([leaf_hash(b) for b in encoded])
    if tree.root != bytes(record.root) or batch.feed != record.feed_id or batch.seq != record.seq:
        return None
    header: Header = (bytes(prev_head), bytes(record.root), bytes(record.cid_digest), record.count,
                      record.t_first, record.t_last)
    return FeedBatch(record.feed_id, record.seq, header, batch.readings, encoded, tree, record.cid)


def prev_heads(records: Iterable[Any]) -> dict[int, bytes]:
    """seq -> the head before it, for consecutive `Anchored` records of one feed starting at seq 0."""
    heads: dict[int, bytes] = {}
    previous = GENESIS_HEAD
    for r in sorted(records, key=lambda r: r.seq):
        heads[r.seq] = previous
        previous = bytes(r.head)
    return heads


def range_breach(state: AgreementState, cond: ConditionState, batch: FeedBatch) -> ReadingProof | None:
    """The first reading of the batch that is of the condition's sensor, in the period and out of bounds."""
    for i, r in enumerate(batch.readings):
        if sensor_id(r.sensor) == cond.sensor and state.start_ms <= r.t_ms <= state.end_ms and not cond.holds(r.value):
            return ReadingProof(state.id, cond.index, batch.seq, batch.header, batch.encoded[i], batch.tree.proof(i),
                                r.value, r.t_ms, r.sensor, batch.feed_id)
    return None


def gap_before(state: AgreementState, cond: ConditionState, prev: FeedBatch | None, batch: FeedBatch
               ) -> GapProof | None:
    """The gap between `prev` (None for seq 0: the period's start) and `batch`, clipped to the period, if it
    exceeds the condition's limit."""
    if cond.max_gap_ms == 0:
        return None
    gap_from = state.start_ms if prev is None else max(prev.t_last, state.start_ms)
    gap_to = min(batch.t_first, state.end_ms)
    if gap_to - gap_from <= cond.max_gap_ms:
        return None
    prev_header = batch.header if prev is None else prev.header
    return GapProof(state.id, cond.index, batch.seq, prev_header, batch.header, gap_from, gap_to, batch.feed_id)


def coverage(state: AgreementState, cond: ConditionState, batch: FeedBatch) -> CoverageProof | None:
    """A proof that the batch reaches the end (within the gap limit), if it does and coverage is not shown yet."""
    if cond.max_gap_ms == 0 or cond.covered_at or batch.t_last < state.end_ms - cond.max_gap_ms:
        return None
    return CoverageProof(state.id, cond.index, batch.seq, batch.header, batch.feed_id)


def delivery_reading(state: AgreementState, batch: FeedBatch) -> ReadingProof | None:
    """A reading that records the delivery (DeliveryKind.Reading), if the batch has one."""
    d = state.delivery
    if d.kind != DeliveryKind.READING or state.delivered_at or batch.feed_id != d.feed_id:
        return None
    for i, r in enumerate(batch.readings):
        if sensor_id(r.sensor) == d.sensor and state.start_ms <= r.t_ms <= d.deadline_ms and d.accepts(r.value):
            return ReadingProof(state.id, 0, batch.seq, batch.header, batch.encoded[i], batch.tree.proof(i),
                                r.value, r.t_ms, r.sensor, batch.feed_id)
    return None
