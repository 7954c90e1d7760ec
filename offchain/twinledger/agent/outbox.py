"""Durable outbox: the single source of truth for accepted readings and the batches made of them.

Storage is one SQLite file in WAL mode (schema in ``agent/outbox_schema.py``, a batch's rows and bytes in
``agent/outbox_batches.py``). Invariants, each held by one transaction:

- A reading counts as received only once ``append_many``/``append_rows`` has committed it. Its ``rid``
  comes from the ``rid_counter`` row, moved in the same transaction, so ids are unique, increasing and
  never reused (not even after pruning).
- The same reading, ``(sensor, t_ms, value)``, is stored once: a second copy (an MQTT redelivery, a
  history backfill overlapping what was committed) is skipped (a unique index).
- Readings are keyed ``(feed, rid)``. A feed's batched readings are exactly its rid prefix up to
  ``feeds.batched_rid``; batch ``(feed, seq)`` holds the feed's readings with rids from ``first_rid`` to
  ``last_rid``. ``claim_batch`` takes the oldest readings after that prefix, gives them the feed's next
  ``seq``, stores the encoded bytes and moves ``batched_rid`` and ``next_seq``, all in one
  ``BEGIN IMMEDIATE`` transaction. The prefix only grows and ``(feed, seq)`` is the batches' primary key,
  so no reading can land in two batches and no seq can be used twice; because the bytes are stored, a
  batch re-anchored after a crash is byte-identical.
- Batch states move ``pending -> stored(cid) -> submitted(tx, nonce) -> anchored(block) ->
  confirmed``; a dropped transaction or a reorg moves a batch back (see ``_TRANSITIONS``).

Durability: ``synchronous=FULL`` by default, so a commit survives power loss. ``NORMAL`` is
allowed: in WAL mode it still survives a process crash (kill -9), because committed frames are
already in the OS page cache, but the last transactions can roll back on an OS crash or power cut.

Memory: no call loads every row; candidates for a batch are streamed and bounded by
``max_readings``, and listings are paged. What this connection committed and no batch holds yet is also
kept in memory (``UnbatchedRows``, at most 100,000 rows), so a close need not read it back; the close counts
the feed's unbatched rows in its own transaction and reads the file whenever that copy is not whole.

Commits: ``closing`` puts several closes in one transaction (one fsync for a round of many small batches),
each close still all or none in its own savepoint.
"""

from __future__ import annotations

import heapq
import sqlite3
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Iterable, Iterator, Literal, Mapping, Protocol, Sequence

import structlog

from twinledger.formats.batch import BATCH_SIZE_LIMIT, Batch, Reading, decode_batch, trusted_reading
from twinledger.formats.merkle import root_of_readings
from . import checkpoints as checkpoints_sql
from .outbox_batches import ClosedBatch, OutboxError, PreparedBatch, check_limits, insert, prepare
from .outbox_rows import Appended, Row, UnbatchedRows, insert_all, insert_one_by_one, row_params
from .outbox_tx import Transaction, Transactions
from .outbox_schema import BATCH_COLUMNS, MIGRATABLE, SCHEMA, SCHEMA_VERSION, migrate_v4

__all__ = ["Appended", "BatchRecord", "BatchState", "ClosedBatch", "Outbox", "OutboxError", "PreparedBatch",
           "ReadingIn", "ReconcileReport", "Row"]

log = structlog.get_logger(__name__)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ReadingIn(Protocol):
    """What the outbox needs from a validated reading (``validation.Accepted`` fits)."""

    @property
    def sensor(self) -> str: ...
    @property
    def t_ms(self) -> int: ...
    @property
    def value(self) -> float: ...
    @property
    def quality(self) -> int: ...


class BatchState(str, Enum):
    PENDING = "pending"
    STORED = "stored"
    SUBMITTED = "submitted"
    ANCHORED = "anchored"
    CONFIRMED = "confirmed"


# Allowed moves. Backwards moves: a dropped or replaced tx (submitted -> stored) and a reorg that
# removes the anchoring block (anchored -> submitted/stored).
_TRANSITIONS: dict[BatchState, frozenset[BatchState]] = {
    BatchState.PENDING: frozenset({BatchState.STORED, BatchState.ANCHORED}),
    BatchState.STORED: frozenset({BatchState.STORED, BatchState.SUBMITTED, BatchState.ANCHORED}),
    BatchState.SUBMITTED: frozenset({BatchState.SUBMITTED, BatchState.STORED, BatchState.ANCHORED}),
    BatchState.ANCHORED: frozenset({BatchState.CONFIRMED, BatchState.SUBMITTED, BatchState.STORED,
                                    BatchState.ANCHORED}),
    BatchState.CONFIRMED: frozenset(),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchRecord(ClosedBatch):
    """A batch's bookkeeping row (without its bytes; see ``Outbox.batch_data``)."""

    state: BatchState
    cid: str | None
    txhash: str | None
    nonce: int | None
    block: int | None
    root: bytes | None = None  # the readings' Merkle root, stored when the batch was closed (schema 4)


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    feed: int
    marked_anchored: tuple[int, ...]
    reverted: tuple[int, ...]
    next_seq: int



# A reading's batch: the feed's batch whose rid range holds it (index batches_rids), NULL while unbatched.
_BATCH_OF_READING = ("(SELECT CASE WHEN b.last_rid >= r.rid THEN b.seq END FROM batches b"
                     " WHERE b.feed = r.feed AND b.first_rid <= r.rid ORDER BY b.first_rid DESC LIMIT 1)")


class Outbox:
    """SQLite-backed outbox. Thread-safe (one connection behind a lock)."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_ms: int = 10_000,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        self.path = Path(path)
        self._lock = threading.RLock()
        self._unbatched = UnbatchedRows()  # what this connection committed and no batch holds yet
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so the write lock is taken up
        # front and a transaction never has to upgrade from a read lock.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._txs = Transactions(self._db, self._lock)
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise OutboxError(f"cannot put {self.path} in WAL mode (got {mode})")
        self._db.execute(f"PRAGMA synchronous = {synchronous}")
        with self._tx() as db:
            for statement in filter(str.strip, SCHEMA.split(";")):
                try:
                    db.execute(statement)
                except sqlite3.IntegrityError:   # only the unique index: a file written before it
                    log.warning("outbox already holds duplicate readings; copies are not refused in this "
                                "file", path=str(self.path), hint="start a new outbox to refuse copies")
            checkpoints_sql.migrate_v3(db)
            migrate_v4(db)
            db.execute("INSERT OR IGNORE INTO rid_counter (id, last) VALUES (0, 0)")
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] in MIGRATABLE:
                db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise OutboxError(f"outbox schema {row[0]} is not supported (expected {SCHEMA_VERSION})")

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> Transaction:
        return self._txs.open()

    def closing(self) -> Transaction:
        """One transaction around several ``close_batch`` calls, so a round that closes many feeds' batches
        commits (and fsyncs) once. Each close is still all or none (a savepoint); when one raises, the closes
        before it are committed, as they would have been one transaction each."""
        return self._txs.open(keep_on_error=True)

    def transaction(self) -> Transaction:
        """One ``BEGIN IMMEDIATE`` transaction on the outbox's connection, for the operations that share
        its file (agent/operations.py): committed on a clean exit, rolled back on an exception."""
        return self._tx()

    # -- readings -------------------------------------------------------------------------------

    def append(self, feed: int, reading: ReadingIn) -> Reading:
        """Commit one reading; returns it with its rid. It counts as received only after this."""
        return self.append_many([(feed, reading)])[0]

    def append_many(self, items: Iterable[tuple[int, ReadingIn]], *,
                    checkpoints: Mapping[str, int] | None = None) -> list[Reading]:
        """Group commit: every new reading of ``items`` in one transaction (all or none). A reading
        the outbox already holds (same sensor, time and value) is skipped: the result lists only the
        readings stored now, in the order given. ``checkpoints`` (source -> position) commit with them."""
        rows = [(feed, r.sensor, int(r.t_ms), float(r.value), int(r.quality)) for feed, r in items]
        stored = self.append_rows(rows, checkpoints=checkpoints).params
        return [trusted_reading(rid, sensor, t_ms, value, quality) for rid, _f, sensor, t_ms, value, quality, _s in stored]

    def append_rows(self, rows: Sequence[Row], *, checkpoints: Mapping[str, int] | None = None) -> Appended:
        """``append_many`` for rows ``(feed, sensor, t_ms, value, quality)`` (the ingest path: no objects per
        reading). Each row is checked as ``Reading`` would check it; returns what was stored, with rids and
        encoded sizes, and the count and size per feed. Hot path: multi-row inserts under a savepoint; only if
        some were copies is it rolled back and the rows inserted one by one, so rids stay consecutive."""
        if not rows:
            if checkpoints:
                self.save_checkpoints(checkpoints)
            return Appended([], {})
        with self._lock:  # held from the commit until the copy of what it stored is kept
            with self._tx() as db:
                first_rid = db.execute("SELECT last FROM rid_counter WHERE id = 0").fetchone()[0] + 1
                appended = row_params(rows, first_rid)
                db.execute("SAVEPOINT append_many")
                before = db.total_changes
                insert_all(db, appended.params)
                if db.total_changes - before != len(rows):
                    db.execute("ROLLBACK TO append_many")
                    appended = insert_one_by_one(db, appended.params)
                db.execute("RELEASE append_many")
                if appended.params:
                    db.execute("UPDATE rid_counter SET last = ? WHERE id = 0", (appended.params[-1][0],))
                if checkpoints:
                    checkpoints_sql.save_checkpoints(db, checkpoints)
            self._unbatched.committed(appended.rows_of)
        return appended

    def save_checkpoints(self, positions: Mapping[str, int]) -> None:
        """Commit source positions alone (lines that held no new reading: rejects, comments, copies)."""
        with self._tx() as db:
            checkpoints_sql.save_checkpoints(db, positions)

    def checkpoint(self, source: str) -> int:
        """The committed position of a line source (0: start from the beginning)."""
        with self._lock:
            return checkpoints_sql.load_checkpoint(self._db, source)

    def last_source_time(self, sensor: str) -> int | None:
        """The latest source time held for ``sensor`` (a plant source backfills from just after it)."""
        with self._lock:
            row = self._db.execute("SELECT max(t_ms) FROM readings WHERE sensor = ?", (sensor,)).fetchone()
        return None if row[0] is None else int(row[0])

    def unbatched(self, feed: int) -> tuple[int, int]:
        """``(count, sum of encoded reading sizes)`` of the feed's readings not yet in a batch."""
        with self._lock:
            row = self._db.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM readings WHERE feed = ?1 AND rid >"
                " coalesce((SELECT batched_rid FROM feeds WHERE feed = ?1), 0)",
                (feed,),
            ).fetchone()
        return int(row[0]), int(row[1])

    def feeds_with_unbatched(self) -> list[int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT d.feed FROM (SELECT DISTINCT feed FROM readings) d WHERE EXISTS (SELECT 1 FROM readings r"
                " WHERE r.feed = d.feed AND r.rid > coalesce((SELECT batched_rid FROM feeds f WHERE f.feed = d.feed),"
                " 0)) ORDER BY d.feed"
            ).fetchall()
        return [r[0] for r in rows]

    def reading_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM readings").fetchone()[0])

    def iter_readings(self, feed: int | None = None, *, page: int = 5000) -> Iterator[tuple[int, Reading, int | None]]:
        """``(feed, reading, batch_seq)`` in rid order, paged so memory stays bounded (without ``feed``, the
        feeds' key ranges merged by rid)."""
        if feed is None:
            with self._lock:
                feeds = [r[0] for r in self._db.execute("SELECT DISTINCT feed FROM readings")]
            yield from heapq.merge(*(self.iter_readings(f, page=page) for f in feeds), key=lambda x: x[1].rid)
            return
        after = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT rid, sensor, t_ms, value, quality, {_BATCH_OF_READING} FROM readings r"
                    " WHERE feed = ? AND rid > ? ORDER BY rid LIMIT ?", (feed, after, page)).fetchall()
            if not rows:
                return
            for rid, sensor, t_ms, value, quality, bseq in rows:
                yield feed, Reading(rid, sensor, t_ms, value, quality), bseq
            after = rows[-1][0]

    # -- batches --------------------------------------------------------------------------------

    def next_seq(self, feed: int) -> int:
        with self._lock:
            row = self._db.execute("SELECT next_seq FROM feeds WHERE feed = ?", (feed,)).fetchone()
        return int(row[0]) if row else 0

    def claim_batch(
        self, feed: int, max_readings: int = 10_000, max_bytes: int = BATCH_SIZE_LIMIT - 1
    ) -> Batch | None:
        """Close the feed's next batch from its oldest unbatched readings, or return None.

        The batch gets the feed's next seq and at most ``max_readings`` readings, and its encoding
        is at most ``max_bytes``. Its bytes are stored with it, so ``batch_data`` returns exactly
        what was claimed even after a crash.
        """
        closed = self._close(feed, max_readings, max_bytes, keep=True)
        return None if closed is None else Batch(feed=feed, seq=closed[0].seq, readings=tuple(closed[1]))

    def close_batch(self, feed: int, max_readings: int = 10_000,
                    max_bytes: int = BATCH_SIZE_LIMIT - 1) -> ClosedBatch | None:
        """``claim_batch`` without building the readings as objects (the batcher's path)."""
        closed = self._close(feed, max_readings, max_bytes, keep=False)
        return None if closed is None else closed[0]

    def prepare_batch(self, feed: int, max_readings: int = 10_000, max_bytes: int = BATCH_SIZE_LIMIT - 1, *,
                      after: PreparedBatch | None = None) -> PreparedBatch | None:
        """The feed's next batch as ``close_batch`` would close it, encoded but not stored: nothing is written,
        so its root can be hashed elsewhere (``BackgroundRoots``) and the batch stored by ``commit_batch``.
        ``after`` is the feed's previous prepared batch, not committed yet: this one follows it."""
        check_limits(max_readings, max_bytes)
        with self._lock, self._tx() as db:
            if after is None:
                row = db.execute("SELECT next_seq, batched_rid FROM feeds WHERE feed = ?", (feed,)).fetchone()
                seq, after_rid = (int(row[0]), int(row[1])) if row else (0, 0)
            else:
                seq, after_rid = after.closed.seq + 1, after.closed.last_rid
            return prepare(db, self._unbatched, feed, seq, after_rid, max_readings, max_bytes)

    def commit_batch(self, prepared: PreparedBatch, root: bytes) -> ClosedBatch:
        """Store a prepared batch with its ``root`` (of ``prepared.encoded``) as ``close_batch`` would have: only
        if the feed's batches still end where the batch starts, else ``OutboxError`` and nothing is written."""
        closed = prepared.closed
        with self._lock, self._tx() as db:
            row = db.execute("SELECT next_seq, batched_rid FROM feeds WHERE feed = ?", (closed.feed,)).fetchone()
            if ((int(row[0]), int(row[1])) if row else (0, 0)) != (closed.seq, prepared.after_rid):
                raise OutboxError(f"feed {closed.feed}: batch {closed.seq} was prepared after rid "
                                  f"{prepared.after_rid}, but the outbox's batches of the feed moved on since")
            insert(db, self._unbatched, prepared, root, _now_ms())
        return closed

    def _close(self, feed: int, max_readings: int, max_bytes: int,
               keep: bool) -> tuple[ClosedBatch, list[Reading]] | None:
        check_limits(max_readings, max_bytes)
        with self._lock, self._tx() as db:
            row = db.execute("SELECT next_seq, batched_rid FROM feeds WHERE feed = ?", (feed,)).fetchone()
            seq, after = (int(row[0]), int(row[1])) if row else (0, 0)
            prepared = prepare(db, self._unbatched, feed, seq, after, max_readings, max_bytes)
            if prepared is None:
                return None
            insert(db, self._unbatched, prepared, root_of_readings(prepared.encoded), _now_ms())
        readings = [trusted_reading(rid, sensor, t_ms, value, quality)
                    for rid, _, sensor, t_ms, value, quality, _ in prepared.rows] if keep else []
        return prepared.closed, readings

    def batch_data(self, feed: int, seq: int) -> bytes:
        """The exact encoded bytes stored when the batch was claimed."""
        return self.batch_data_many([(feed, seq)])[(feed, seq)]

    def batch_data_many(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """`batch_data` of each (feed, seq) under one hold of the lock: one wait for the ingest thread's commit
        per round of batches, not one per batch."""
        with self._lock:
            rows = {(f, q): self._db.execute("SELECT data FROM batches WHERE feed = ? AND seq = ?", (f, q)).fetchone()
                    for f, q in keys}
        for (feed, seq), row in rows.items():
            if row is None or row[0] is None:
                raise KeyError((feed, seq)) if row is None else OutboxError(f"feed {feed} seq {seq}: bytes were pruned")
        return {key: bytes(row[0]) for key, row in rows.items()}

    def load_batch(self, feed: int, seq: int) -> Batch:
        return decode_batch(self.batch_data(feed, seq))

    def get_batch(self, feed: int, seq: int) -> BatchRecord:
        with self._lock:
            row = self._db.execute(
                f"SELECT {BATCH_COLUMNS} FROM batches WHERE feed = ? AND seq = ?", (feed, seq)
            ).fetchone()
        if row is None:
            raise KeyError((feed, seq))
        return _record(row)

    def batches(self, feed: int | None = None, *, states: Sequence[BatchState] | None = None,
                page: int = 1000) -> Iterator[BatchRecord]:
        """Batch records in (feed, seq) order, optionally filtered by state; paged."""
        state_sql = ""
        state_args: tuple[str, ...] = ()
        if states:
            state_sql = f" AND state IN ({','.join('?' * len(states))})"
            state_args = tuple(BatchState(s).value for s in states)
        feed_sql = " AND feed = ?" if feed is not None else ""
        feed_args: tuple[int, ...] = (feed,) if feed is not None else ()
        last = (-1, -1)
        while True:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT {BATCH_COLUMNS} FROM batches WHERE (feed, seq) > (?, ?){feed_sql}{state_sql}"
                    " ORDER BY feed, seq LIMIT ?",
                    (*last, *feed_args, *state_args, page),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _record(row)
            last = (rows[-1][0], rows[-1][1])

    def resume(self) -> Iterator[BatchRecord]:
        """Batches a restarted agent still has to finish (every state but confirmed), oldest first."""
        return self.batches(states=[s for s in BatchState if s is not BatchState.CONFIRMED])

    def _move(self, feed: int, seq: int, to: BatchState, **fields: object) -> None:
        self.move_many([(feed, seq, fields)], to)

    def move_many(self, moves: Sequence[tuple[int, int, dict[str, object]]], to: BatchState) -> None:
        """Move batches to state ``to`` (setting each one's ``fields``) in one transaction, all or none: one
        commit for all the batches of an anchoring transaction instead of one per batch."""
        now = _now_ms()
        with self._tx() as db:
            for feed, seq, fields in moves:
                row = db.execute("SELECT state FROM batches WHERE feed = ? AND seq = ?", (feed, seq)).fetchone()
                if row is None:
                    raise KeyError((feed, seq))
                if to not in _TRANSITIONS[BatchState(row[0])]:
                    raise OutboxError(f"feed {feed} seq {seq}: cannot go from {row[0]} to {to.value}")
                sets = "".join(f", {k} = ?" for k in fields)
                db.execute(f"UPDATE batches SET state = ?, updated_ms = ?{sets} WHERE feed = ? AND seq = ?",
                           (to.value, now, *fields.values(), feed, seq))
        if moves:
            log.info("batch state", state=to.value, batches=len(moves), first=moves[0][:2], last=moves[-1][:2],
                     **{k: v for k, v in moves[-1][2].items() if v is not None})

    def mark_stored(self, feed: int, seq: int, cid: str) -> None:
        self._move(feed, seq, BatchState.STORED, cid=cid)

    def mark_submitted(self, feed: int, seq: int, txhash: str, nonce: int) -> None:
        self._move(feed, seq, BatchState.SUBMITTED, txhash=txhash, nonce=nonce)

    def mark_anchored(self, feed: int, seq: int, block: int | None) -> None:
        self._move(feed, seq, BatchState.ANCHORED, block=block)

    def mark_confirmed(self, feed: int, seq: int) -> None:
        self._move(feed, seq, BatchState.CONFIRMED)

    def mark_dropped(self, feed: int, seq: int) -> None:
        """The anchor transaction was dropped or reorged out: back to stored, to be resubmitted."""
        record = self.get_batch(feed, seq)
        target = BatchState.STORED if record.cid is not None else BatchState.PENDING
        if target is BatchState.PENDING:
            raise OutboxError(f"feed {feed} seq {seq}: no cid, it was never stored")
        self._move(feed, seq, target, txhash=None, nonce=None, block=None)

    def reconcile(self, feed: int, onchain_next_seq: int) -> ReconcileReport:
        """Align the outbox with the chain's next expected seq for ``feed``.

        Batches with ``seq < onchain_next_seq`` made it on-chain and are marked anchored (block
        unknown; the caller should compare the on-chain anchor with ``batch_data``). Anchored or
        confirmed batches at or above it were reorged out and go back to stored. If the chain is
        ahead of the outbox (a fresh outbox for an existing feed), the feed's next seq jumps to it.
        """
        if onchain_next_seq < 0:
            raise ValueError("onchain_next_seq must be >= 0")
        open_states = (BatchState.PENDING.value, BatchState.STORED.value, BatchState.SUBMITTED.value)
        done_states = (BatchState.ANCHORED.value, BatchState.CONFIRMED.value)
        now = _now_ms()
        with self._tx() as db:
            made_it = [r[0] for r in db.execute(
                "SELECT seq FROM batches WHERE feed = ? AND seq < ? AND state IN (?, ?, ?) ORDER BY seq",
                (feed, onchain_next_seq, *open_states))]
            db.execute(
                "UPDATE batches SET state = 'anchored', updated_ms = ? WHERE feed = ? AND seq < ? AND state IN (?, ?, ?)",
                (now, feed, onchain_next_seq, *open_states),
            )
            reverted = [r[0] for r in db.execute(
                "SELECT seq FROM batches WHERE feed = ? AND seq >= ? AND state IN (?, ?) ORDER BY seq",
                (feed, onchain_next_seq, *done_states))]
            db.execute(
                "UPDATE batches SET state = CASE WHEN cid IS NULL THEN 'pending' ELSE 'stored' END,"
                " block = NULL, txhash = NULL, nonce = NULL, updated_ms = ?"
                " WHERE feed = ? AND seq >= ? AND state IN (?, ?)",
                (now, feed, onchain_next_seq, *done_states),
            )
            row = db.execute("SELECT next_seq FROM feeds WHERE feed = ?", (feed,)).fetchone()
            local_next = int(row[0]) if row else 0
            if onchain_next_seq > local_next:
                db.execute(
                    "INSERT INTO feeds (feed, next_seq) VALUES (?, ?)"
                    " ON CONFLICT (feed) DO UPDATE SET next_seq = excluded.next_seq",
                    (feed, onchain_next_seq),
                )
                local_next = onchain_next_seq
        if reverted:
            log.warning("batches reorged out", feed=feed, seqs=reverted)
        if made_it:
            log.info("batches found on-chain", feed=feed, seqs=made_it)
        return ReconcileReport(feed, tuple(made_it), tuple(reverted), local_next)

    def prune_confirmed(self, feed: int, *, keep_last: int = 0) -> int:
        """Delete the readings and bytes of confirmed batches (they live on IPFS); keeps the rows'
        bookkeeping. Returns the number of readings deleted."""
        with self._tx() as db:
            row = db.execute(
                "SELECT max(seq) FROM batches WHERE feed = ? AND state = 'confirmed'", (feed,)
            ).fetchone()
            if row[0] is None:
                return 0
            upto = int(row[0]) - keep_last
            deleted = 0
            for first_rid, last_rid in db.execute(
                    "SELECT first_rid, last_rid FROM batches WHERE feed = ? AND seq <= ? AND state = 'confirmed'",
                    (feed, upto)).fetchall():
                deleted += db.execute("DELETE FROM readings WHERE feed = ? AND rid BETWEEN ? AND ?",
                                      (feed, first_rid, last_rid)).rowcount
            db.execute(
                "UPDATE batches SET data = NULL WHERE feed = ? AND seq <= ? AND state = 'confirmed'",
                (feed, upto),
            )
        return deleted

    def check_integrity(self) -> None:
        """Raise ``OutboxError`` if the stored invariants do not hold (used by tests and on start)."""
        with self._lock:
            db = self._db
            for feed, n, lo, hi in db.execute("SELECT feed, count(*), min(seq), max(seq) FROM batches GROUP BY feed"):
                nxt = db.execute("SELECT next_seq FROM feeds WHERE feed = ?", (feed,)).fetchone()
                if nxt is None or nxt[0] <= hi:
                    raise OutboxError(f"feed {feed}: next_seq {nxt} not above max seq {hi}")
                if hi - lo + 1 != n:
                    raise OutboxError(f"feed {feed}: seqs {lo}..{hi} have gaps ({n} batches)")
            bad = db.execute(
                "SELECT b.feed, b.seq FROM batches b WHERE b.data IS NOT NULL AND b.count != (SELECT count(*)"
                " FROM readings r WHERE r.feed = b.feed AND r.rid BETWEEN b.first_rid AND b.last_rid) LIMIT 1"
            ).fetchone()
            if bad is not None:
                raise OutboxError(f"feed {bad[0]} seq {bad[1]}: reading count does not match")
            for feed, batched, top in db.execute(
                    "SELECT f.feed, f.batched_rid, (SELECT max(last_rid) FROM batches b WHERE b.feed = f.feed)"
                    " FROM feeds f"):
                if top is not None and batched != top:
                    raise OutboxError(f"feed {feed}: batched prefix ends at rid {batched}, its batches at {top}")


def _record(row: tuple) -> BatchRecord:
    feed, seq, state, count, first_rid, last_rid, t_first, t_last, size, cid, txhash, nonce, block, root = row
    return BatchRecord(feed=feed, seq=seq, state=BatchState(state), count=count, first_rid=first_rid,
                       last_rid=last_rid, t_first=t_first, t_last=t_last, size=size, cid=cid, txhash=txhash,
                       nonce=nonce, block=block, root=None if root is None else bytes(root))
