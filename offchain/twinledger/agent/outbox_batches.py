"""A batch made of the outbox's unbatched readings: what closing one reads and encodes (``prepare``), what it
writes (``insert``), and the records that describe it (``ClosedBatch``, ``PreparedBatch``).

Every function here runs inside a transaction the ``Outbox`` opened and holds its lock for; the outbox keeps
the invariants (one transaction per close, the feed's rid prefix only growing, seq order per feed), this
module only the bytes and rows of one batch.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from operator import itemgetter

import structlog

from twinledger.formats.batch import BATCH_SIZE_LIMIT, encode_batch_of_encoded, encode_reading_fields

from ..errors import TwinLedgerError
from .outbox_rows import Param, UnbatchedRows, readings_fitting

__all__ = ["ClosedBatch", "OutboxError", "PreparedBatch", "check_limits", "insert", "prepare"]

log = structlog.get_logger(__name__)


class OutboxError(TwinLedgerError, RuntimeError):
    """An outbox operation that would break one of its invariants."""


@dataclass(frozen=True, slots=True)
class ClosedBatch:
    """What closing a batch made (``Outbox.close_batch``): its place, size and time span, no readings. A
    ``BatchRecord`` is one of these with its state and chain bookkeeping added."""

    feed: int
    seq: int
    count: int
    first_rid: int
    last_rid: int
    t_first: int
    t_last: int
    size: int


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A batch encoded from the outbox but not stored yet (``Outbox.prepare_batch``): ``closed`` as it will be,
    the rid its feed's batches ended at when it was prepared, its bytes, each reading's bytes (the leaves'
    input) and the rows it holds."""

    closed: ClosedBatch
    after_rid: int
    blob: bytes
    encoded: list[bytes]
    rows: list[Param]


def check_limits(max_readings: int, max_bytes: int) -> None:
    if max_readings < 1:
        raise ValueError("max_readings must be at least 1")
    if max_bytes >= BATCH_SIZE_LIMIT:
        raise ValueError(f"max_bytes must be below {BATCH_SIZE_LIMIT}")


def prepare(db: sqlite3.Connection, unbatched: UnbatchedRows, feed: int, seq: int, after: int,
            max_readings: int, max_bytes: int) -> PreparedBatch | None:
    """Batch ``seq`` of ``feed``: its oldest readings after rid ``after``, at most ``max_readings`` of them and
    ``max_bytes`` encoded; None when there are none. Reads only."""
    rows = _unbatched_rows(db, unbatched, feed, after, max_readings)
    if not rows:
        return None
    encode = encode_reading_fields  # the fields were checked when appended
    encoded = [encode(rid, sensor, t_ms, value, quality) for rid, _, sensor, t_ms, value, quality, _ in rows]
    n = readings_fitting(feed, seq, list(map(len, encoded)), max_bytes)
    rows, encoded = rows[:n], encoded[:n]
    blob = encode_batch_of_encoded(feed, seq, encoded)
    if len(blob) > max_bytes:
        raise OutboxError(f"feed {feed} seq {seq}: a reading of {len(blob)} bytes is above {max_bytes}")
    times = list(map(itemgetter(3), rows))
    closed = ClosedBatch(feed, seq, len(rows), rows[0][0], rows[-1][0], min(times), max(times), len(blob))
    return PreparedBatch(closed, after, blob, encoded, rows)


def insert(db: sqlite3.Connection, unbatched: UnbatchedRows, prepared: PreparedBatch, root: bytes,
           now: int) -> None:
    """Store ``prepared`` as a pending batch with its ``root``, created at ``now`` (ms), and move its feed's seq
    and batched prefix."""
    closed = prepared.closed
    db.execute(
        "INSERT INTO batches (feed, seq, state, count, first_rid, last_rid, t_first, t_last, size,"
        " data, root, created_ms, updated_ms) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (closed.feed, closed.seq, closed.count, closed.first_rid, closed.last_rid, closed.t_first,
         closed.t_last, closed.size, prepared.blob, root, now, now),
    )
    db.execute(
        "INSERT INTO feeds (feed, next_seq, batched_rid) VALUES (?, ?, ?) ON CONFLICT (feed)"
        " DO UPDATE SET next_seq = excluded.next_seq, batched_rid = excluded.batched_rid",
        (closed.feed, closed.seq + 1, closed.last_rid),
    )
    unbatched.batched(closed.feed, closed.last_rid)  # within the lock; after a failed commit it only reads more
    log.debug("batch claimed", feed=closed.feed, seq=closed.seq, count=closed.count, bytes=closed.size)


def _unbatched_rows(db: sqlite3.Connection, unbatched: UnbatchedRows, feed: int, after: int,
                    limit: int) -> list[Param]:
    """The feed's oldest ``limit`` readings after rid ``after``, as ``Param`` rows in rid order: from the copy
    the connection kept when it committed them if that copy is whole (counted in this transaction), else
    from the file."""
    count = db.execute("SELECT count(*) FROM readings WHERE feed = ? AND rid > ?", (feed, after)).fetchone()[0]
    if not count:
        return []
    kept = unbatched.matching(feed, after, count)
    if kept is not None:
        return kept[:limit]
    return db.execute(
        "SELECT rid, feed, sensor, t_ms, value, quality, size FROM readings WHERE feed = ? AND rid > ?"
        " ORDER BY rid LIMIT ?", (feed, after, limit)).fetchall()  # one key range, in rid order
