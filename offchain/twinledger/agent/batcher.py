"""Per-feed batching on top of the outbox, and the ingest pipeline (source -> validation -> outbox).

A feed's batch closes when its oldest unbatched reading has waited ``window_s`` (default 1 s, as in
EtherTwin), or earlier when it is full: ``max_readings`` readings or an encoding that would pass
``max_bytes`` (below 256 KiB). The outbox assigns the seq and stores the bytes (``claim_batch``),
so the batcher holds only counters and can be rebuilt from the outbox after a restart.

With ``roots`` (helper processes, ``BackgroundRoots``), a batch of at least ``BACKGROUND_FROM_READINGS``
readings is encoded (``Outbox.prepare_batch``) and its root hashed by a helper while readings keep coming; it
is stored, in seq order within its feed, by the first ``due`` after its root is back (a block cut and
``flush`` wait for every root). A batch waiting for its root holds nothing anyone was promised: its readings
were committed before, and are unbatched again after a crash.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import structlog

from twinledger.agent.batch_roots import BACKGROUND_FROM_READINGS, BackgroundRoots
from twinledger.agent.outbox import Appended, ClosedBatch, Outbox, OutboxError, PreparedBatch, Row
from twinledger.agent.sources import Sample, SensorSwapped, SourceItem
from twinledger.agent.validation import Accepted, Rejected, Validator
from twinledger.formats.batch import BATCH_SIZE_LIMIT, Reading, batch_overhead, trusted_reading
from twinledger.formats.merkle import root_of_readings
from ..errors import TwinLedgerError

__all__ = ["Batcher", "BlockCuts", "IngestStats", "Pipeline", "UnknownSensorError"]

log = structlog.get_logger(__name__)

# Batches closed in one round share a commit (one fsync) until they hold this many readings: 1,000 feeds'
# small batches cost one commit, not 1,000, while a big batch is committed (and can be stored and anchored by
# the anchorer's thread) before the next one is encoded and hashed.
CLOSE_COMMIT_READINGS = 4096


class UnknownSensorError(TwinLedgerError, KeyError):
    """A reading whose sensor is not mapped to any feed."""


@dataclass
class BlockCuts:
    """Block-aligned closing, shared by the two threads: the anchorer's sets `next`, the monotonic time just
    before the next block is due (by as long as sending a window has lately taken; None on automine or before a
    block is seen), and the batcher, once the clock passes it, commits the pending group, closes every open
    batch and sets `closed` to it, which tells the anchorer to send them now. A reading then waits
    for at most one block, not a block plus the window plus the send spacing. Each field is one float, written
    by one thread."""

    next: float | None = None
    closed: float = 0.0

    def due(self, now: float) -> float | None:
        """The cut to close at `now`, if one has passed and was not closed yet."""
        cut = self.next
        return cut if cut is not None and cut <= now and cut > self.closed else None


@dataclass
class _Open:
    opened_at: float
    count: int = 0
    size: int = 0


@dataclass
class _Hashing:
    """A prepared batch waiting for its root (from a helper, or None once the helpers failed)."""

    prepared: PreparedBatch
    ticket: int | None
    answered: bool = False
    root: bytes | None = None


class Batcher:
    def __init__(
        self,
        outbox: Outbox,
        feeds: Mapping[str, int],
        *,
        window_s: float = 1.0,
        max_readings: int = 10_000,
        max_bytes: int = BATCH_SIZE_LIMIT - 1,
        clock: Callable[[], float] = time.monotonic,
        roots: BackgroundRoots | None = None,
    ) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        if not 0 < max_bytes < BATCH_SIZE_LIMIT:
            raise ValueError(f"max_bytes must be in (0, {BATCH_SIZE_LIMIT})")
        self.outbox = outbox
        self.feeds = dict(feeds)
        self.window_s = window_s
        self.max_readings = max_readings
        self.max_bytes = max_bytes
        self.clock = clock
        self.cuts: BlockCuts | None = None  # set by the daemon for an anchorer that aligns to blocks
        self.roots = roots
        self._open: dict[int, _Open] = {}
        self._hashing: dict[int, deque[_Hashing]] = {}  # per feed, prepared batches in seq order
        self._by_ticket: dict[int, _Hashing] = {}
        now = clock()
        for feed in outbox.feeds_with_unbatched():   # readings left unbatched by a previous run
            count, size = outbox.unbatched(feed)
            self._open[feed] = _Open(now, count, size)

    def feed_of(self, sensor: str) -> int:
        try:
            return self.feeds[sensor]
        except KeyError:
            raise UnknownSensorError(f"sensor {sensor!r} is not mapped to a feed") from None

    def set_feed(self, sensor: str, feed: int) -> None:
        self.feeds[sensor] = feed

    def add(self, reading: Accepted) -> Reading:
        """Commit one reading to the outbox; it is received once this returns."""
        return self.add_many([reading])[0]

    def add_many(self, readings: Iterable[Accepted], *, checkpoints: Mapping[str, int] | None = None) -> list[Reading]:
        """Group commit: all readings (and the sources' ``checkpoints``) in one outbox transaction."""
        rows = [(self.feed_of(r.sensor), r.sensor, int(r.t_ms), float(r.value), int(r.quality)) for r in readings]
        stored = self.add_rows(rows, checkpoints=checkpoints).params
        return [trusted_reading(rid, sensor, t_ms, value, quality) for rid, _f, sensor, t_ms, value, quality, _s in stored]

    def add_rows(self, rows: list[Row], *, checkpoints: Mapping[str, int] | None = None) -> Appended:
        """``add_many`` for rows ``(feed, sensor, t_ms, value, quality)`` (the pipeline's path)."""
        appended = self.outbox.append_rows(rows, checkpoints=checkpoints)
        now = self.clock()
        for feed, (count, size) in appended.by_feed.items():
            state = self._open.get(feed)
            if state is None:
                state = self._open[feed] = _Open(now)
            state.count += count
            state.size += size
        return appended

    def _full(self, feed: int, state: _Open) -> bool:
        return (state.count >= self.max_readings
                or batch_overhead(feed, 2**32, state.count) + state.size > self.max_bytes)

    def due(self, now: float | None = None) -> list[ClosedBatch]:
        """Close every batch that is full or whose window has passed, and store the batches whose roots came
        back (all of them at a block cut or a flush)."""
        now = self.clock() if now is None else now
        cut = self.cuts.due(now) if self.cuts is not None else None
        closed = self._store_hashed(wait=False)
        expired_of = {feed: self._expired(state, now, cut) for feed, state in self._open.items()}
        due = [feed for feed, state in sorted(self._open.items())
               if state.count and (expired_of[feed] or self._full(feed, state))]
        next_feed = 0
        while next_feed < len(due):
            with self.outbox.closing():  # small batches share a commit; a big one commits before the next
                held = 0  # (a cut's batches all commit together: the anchorer sends them as one window)
                while (held < CLOSE_COMMIT_READINGS or cut is not None) and next_feed < len(due):
                    feed, next_feed = due[next_feed], next_feed + 1
                    state, expired = self._open[feed], expired_of[feed]
                    while state.count and (expired or self._full(feed, state)):
                        if self._in_background(feed, state):
                            self._start_hashing(feed, state)
                            continue
                        closed.append(self._claim(feed, state))
                        held += closed[-1].count
        for feed in [f for f, state in self._open.items() if not state.count]:
            del self._open[feed]
        if self._hashing:
            closed += self._store_hashed(wait=cut is not None or now == float("inf"))
        if cut is not None and self.cuts is not None:
            self.cuts.closed = cut
        return closed

    def store_waiting(self) -> list[ClosedBatch]:
        """Wait for every root still out and store those batches (the end of a run that does not flush)."""
        return self._store_hashed(wait=True)

    @property
    def hashing(self) -> int:
        """Batches prepared and waiting for their roots (stored by a later `due`)."""
        return sum(map(len, self._hashing.values()))

    def _in_background(self, feed: int, state: _Open) -> bool:
        """Hash this feed's next batch in a helper: it is big, or one before it still waits for its root."""
        if self.roots is None or self.roots.failed:
            return feed in self._hashing
        return feed in self._hashing or min(state.count, self.max_readings) >= BACKGROUND_FROM_READINGS

    def _start_hashing(self, feed: int, state: _Open) -> None:
        queue = self._hashing.get(feed)
        prepared = self.outbox.prepare_batch(feed, self.max_readings, self.max_bytes,
                                             after=queue[-1].prepared if queue else None)
        if prepared is None:
            self._out_of_step(feed, f"no unbatched readings although {state.count} were counted")
            return
        batch = prepared.closed
        state.count -= batch.count
        state.size -= batch.size - batch_overhead(feed, batch.seq, batch.count)
        ticket = self.roots.submit(prepared.blob) if self.roots is not None else None
        item = _Hashing(prepared, ticket)
        if ticket is None:
            item.answered = True
        else:
            self._by_ticket[ticket] = item
        self._hashing.setdefault(feed, deque()).append(item)

    def _store_hashed(self, *, wait: bool) -> list[ClosedBatch]:
        """Store, in seq order per feed, every prepared batch whose root is known (each one, with `wait`)."""
        if not self._hashing:
            return []
        if self.roots is not None and self._by_ticket:
            for ticket, root in self.roots.collect(wait=wait).items():
                item = self._by_ticket.pop(ticket, None)  # None: dropped as out of step
                if item is not None:
                    item.answered, item.root = True, root
        stored: list[ClosedBatch] = []
        with self.outbox.closing():
            for feed in sorted(self._hashing):
                queue = self._hashing[feed]
                while queue and queue[0].answered:
                    item = queue.popleft()
                    root = item.root if item.root is not None else root_of_readings(item.prepared.encoded)
                    try:
                        stored.append(self.outbox.commit_batch(item.prepared, root))
                    except OutboxError as exc:
                        self._out_of_step(feed, str(exc))
                        break
                    log.debug("batch closed", feed=feed, seq=item.prepared.closed.seq,
                              count=item.prepared.closed.count)
                if not queue:
                    self._hashing.pop(feed, None)
        return stored

    def _out_of_step(self, feed: int, why: str) -> None:
        """Another writer moved the feed's batches on: drop what was prepared and count again from the outbox."""
        for item in self._hashing.pop(feed, deque()):
            if item.ticket is not None:
                self._by_ticket.pop(item.ticket, None)  # its answer, when it comes, is dropped
        count, size = self.outbox.unbatched(feed)
        state = self._open.setdefault(feed, _Open(self.clock()))
        state.count, state.size = count, size  # in place: a round closing this feed goes on with these
        log.warning("batch counters out of step with the outbox; counted again", feed=feed, reason=why)

    def _expired(self, state: _Open, now: float, cut: float | None) -> bool:
        """Its window has passed, or a block cut is being closed (every open batch closes at a cut)."""
        return cut is not None or now - state.opened_at >= self.window_s

    def flush(self) -> list[ClosedBatch]:
        """Close every open batch now (shutdown)."""
        return self.due(now=float("inf"))

    def next_deadline(self) -> float | None:
        """Clock time at which the next window expires (now while a batch waits for its root), or None when
        nothing is open."""
        if self._hashing:
            return self.clock()
        return min((s.opened_at + self.window_s for s in self._open.values()), default=None)

    def _claim(self, feed: int, state: _Open) -> ClosedBatch:
        batch = self.outbox.close_batch(feed, self.max_readings, self.max_bytes)
        if batch is None:  # counters out of step with the outbox (another writer); trust the outbox
            counted = state.count
            state.count, state.size = 0, 0
            raise RuntimeError(f"feed {feed}: no unbatched readings although {counted} were counted")
        state.count -= batch.count
        state.size -= batch.size - batch_overhead(feed, batch.seq, batch.count)
        log.debug("batch closed", feed=feed, seq=batch.seq, count=batch.count, t_first=batch.t_first,
                 t_last=batch.t_last)
        return batch


@dataclass
class IngestStats:
    samples: int = 0
    accepted: int = 0
    rejected: int = 0
    events: int = 0
    batches: int = 0
    unmapped: int = 0
    duplicates: int = 0      # readings the outbox already held (a redelivery, a backfill overlap)
    by_feed: dict[int, int] = field(default_factory=dict)


class Pipeline:
    """Drives items from a source through validation into the outbox and closes due batches.

    Accepted readings are group-committed ``group_size`` at a time, or sooner once the oldest has
    waited ``group_delay_s`` (checked as items arrive). A ``SensorSwapped`` event first commits the
    pending group, then goes to ``on_event``; without a handler the new sensor takes over the old
    sensor's rules and feed (the daemon's handler registers a new feed instead).
    """

    def __init__(
        self,
        validator: Validator,
        batcher: Batcher,
        *,
        on_event: Callable[[SensorSwapped], None] | None = None,
        on_batch: Callable[[ClosedBatch], None] | None = None,
        group_size: int = 4096,
        group_delay_s: float = 0.05,
    ) -> None:
        self.validator = validator
        self.batcher = batcher
        self.on_event = on_event or self._default_swap
        self.on_batch = on_batch
        self.group_size = max(1, group_size)
        self.group_delay_s = group_delay_s
        self.stats = IngestStats()
        self._group: list[Row] = []
        self._group_since = 0.0
        self._commit_by = 0.0
        self._positions: dict[str, int] = {}   # source -> position after its last pushed item, not yet committed
        self.on_committed: Callable[[Mapping[str, int]], None] | None = None

    def note_position(self, source: str, position: int) -> None:
        """The item just pushed from ``source`` ended at ``position``: the next commit checkpoints it."""
        self._positions[source] = position

    def _default_swap(self, event: SensorSwapped) -> None:
        self.validator.rename_sensor(event.old, event.new)
        self.batcher.set_feed(event.new, self.batcher.feed_of(event.old))

    def run(self, source: Iterable[SourceItem]) -> IngestStats:
        for item in source:
            self.push(item)
        self.commit()
        self._close(self.batcher.due())
        self._close(self.batcher.store_waiting())
        return self.stats

    def push(self, item: SourceItem) -> None:
        if type(item) is not Sample and isinstance(item, SensorSwapped):
            self.commit()
            self.stats.events += 1
            self.on_event(item)
            return
        self.stats.samples += 1
        fields = self.validator.check(item)  # (sensor, t_ms, value, quality) or Rejected
        if type(fields) is Rejected:
            self.stats.rejected += 1
            return
        feed = self.batcher.feeds.get(fields[0])
        if feed is None:
            # Validation should have rejected it (known_sensors); refusing here keeps the outbox clean.
            self.stats.unmapped += 1
            log.warning("reading for an unmapped sensor", sensor=fields[0])
            return
        group = self._group
        clock = self.batcher.clock
        if not group:
            self._group_since = clock()
            self._commit_by = self._group_deadline(self._group_since)
        group.append((feed, *fields))
        if len(group) >= self.group_size or clock() >= self._commit_by:
            self.commit()
            self._close(self.batcher.due())

    def _group_deadline(self, since: float) -> float:
        """When a group started at `since` is committed at the latest: after `group_delay_s`, or at the next
        block cut if that comes first (the cut closes only what is committed)."""
        deadline = since + self.group_delay_s
        cuts = self.batcher.cuts
        cut = cuts.next if cuts is not None else None
        return min(deadline, cut) if cut is not None and since < cut and cut > cuts.closed else deadline

    @property
    def uncommitted(self) -> int:
        """Accepted readings waiting for the next group commit (0: everything pushed is settled)."""
        return len(self._group)

    def commit(self) -> int:
        """Commit the pending group (and the sources' positions); returns how many readings were stored."""
        positions, self._positions = self._positions, {}
        if not self._group:
            if positions:
                self.batcher.outbox.save_checkpoints(positions)
                self._committed(positions)
            return 0
        stored = len(self.batcher.add_rows(self._group, checkpoints=positions).params)
        copies = len(self._group) - stored
        if copies:
            self.stats.duplicates += copies
            log.info("readings already in the outbox skipped", count=copies, total=self.stats.duplicates)
        self._group = []
        self.stats.accepted += stored
        self._committed(positions)
        return stored

    def _committed(self, positions: Mapping[str, int]) -> None:
        if positions and self.on_committed is not None:
            self.on_committed(positions)

    def tick(self) -> None:
        """Time passed without a new item: commit a group that waited long enough (or that a block cut closes),
        close due batches."""
        now = self.batcher.clock()
        if (self._group and now >= min(self._commit_by, self._group_deadline(self._group_since))) or (
                self._positions and not self._group):
            self.commit()
        self._close(self.batcher.due())

    def flush(self) -> None:
        """Commit the pending group and close every open batch (shutdown)."""
        self.commit()
        self._close(self.batcher.flush())

    def _close(self, batches: list[ClosedBatch]) -> None:
        for batch in batches:
            self.stats.batches += 1
            self.stats.by_feed[batch.feed] = self.stats.by_feed.get(batch.feed, 0) + batch.count
            if self.on_batch is not None:
                self.on_batch(batch)

