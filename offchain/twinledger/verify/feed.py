"""Feed-level structure from events alone: seq continuity, the head chain, key history, coverage;
and the per-batch helpers the feed check runs (time order, reading identity and gaps)."""
from __future__ import annotations

import bisect
import gc
import operator
from array import array
from contextlib import contextmanager
from itertools import islice
from collections.abc import Callable, Iterator, Mapping, Sequence


from ..formats.batch import BatchColumns, Reading
from ..formats.headchain import GENESIS_HEAD, next_head
from ..ledger.reader import AnchorRecord, KeyChange
from .findings import Finding, Kind, Location, Severity


# ---------------------------------------------------------------------------------------------
# Feed-level structure (events only)


def sequence_findings(anchors: Sequence[AnchorRecord], next_seq: int, feed_id: int) -> list[Finding]:
    """Seq continuity: every seq in 0..next_seq-1 has exactly one Anchored event."""
    findings: list[Finding] = []
    seen: dict[int, AnchorRecord] = {}
    for a in anchors:
        if a.seq in seen:
            findings.append(Finding.of(Kind.CHAIN_MISMATCH, Location(feed=feed_id, seq=a.seq, tx=a.tx_hash),
                                       "two Anchored events for one seq"))
        seen.setdefault(a.seq, a)
    top = max(next_seq, max(seen, default=-1) + 1)
    missing = [s for s in range(top) if s not in seen]
    for start, end in _ranges(missing):
        what = f"seq {start}" if start == end else f"seq {start}..{end}"
        findings.append(Finding.of(Kind.GAP, Location(feed=feed_id, seq=start),
                                   f"{what} of {top} anchored batches have no Anchored event"))
    if seen and max(seen) + 1 != next_seq:
        findings.append(Finding.of(Kind.CHAIN_MISMATCH, Location(feed=feed_id),
                                   f"the contract says nextSeq {next_seq}, events go up to seq {max(seen)}"))
    return findings


def counted_copy(copies: Sequence[AnchorRecord], before: Sequence[AnchorRecord]) -> AnchorRecord:
    """Of one batch's identical copies (same seq and head, in block order), the one counted: the first mined no
    earlier than a copy of the batch `before` it (the one that extends the chain in block order), else the first."""
    first_before = min((b.position for b in before), default=None)
    for a in copies:
        if first_before is None or a.position >= first_before:
            return a
    return copies[0]


def repeated_batches(anchors: Sequence[AnchorRecord]) -> tuple[list[AnchorRecord], list[Finding]]:
    """Each batch once. A gateway can put one batch in two windows (one mined before the anchorer could cancel
    it, agent/gateway.py): the same seq and head twice, the same device signature, nothing to challenge. Such a
    batch counts once (`counted_copy`) and each other copy is a REPEATED warning. Copies of one seq with different
    heads all stay, for `sequence_findings` to report (a CHAIN_MISMATCH, provable on-chain as DuplicateSeq)."""
    by_key: dict[tuple[int, bytes], list[AnchorRecord]] = {}
    for a in sorted(anchors, key=lambda a: (a.seq, a.position)):
        by_key.setdefault((a.seq, a.head), []).append(a)
    of_seq: dict[int, list[AnchorRecord]] = {}
    findings: list[Finding] = []
    for (seq, _head), copies in by_key.items():  # in seq order: the batch before is settled first
        kept = counted_copy(copies, of_seq.get(seq - 1, ()))
        of_seq.setdefault(seq, []).append(kept)
        for a in copies:
            if a is not kept:
                findings.append(Finding.of(Kind.REPEATED, Location(feed=a.feed_id, seq=seq, block=a.block,
                                                                   tx=a.tx_hash),
                                           f"this batch (same seq and head) is in another window too, in block "
                                           f"{a.block}; it counts once, as anchored in block {kept.block}"))
    kept_all = [a for batches in of_seq.values() for a in batches]
    return sorted(kept_all, key=lambda a: (a.seq, a.position)), findings


def _ranges(values: Sequence[int]) -> Iterator[tuple[int, int]]:
    start = prev = None
    for v in values:
        if start is None:
            start = prev = v
        elif v == prev + 1:
            prev = v
        else:
            yield start, prev
            start = prev = v
    if start is not None:
        yield start, prev


def head_chain(anchors: Sequence[AnchorRecord], final_head: bytes | None) -> tuple[dict[int, bytes], list[Finding]]:
    """Recomputes every head from the previous recomputed one; returns prev_head per seq."""
    findings: list[Finding] = []
    prev_heads: dict[int, bytes] = {}
    head = GENESIS_HEAD
    expected_seq = 0
    for a in anchors:
        if a.seq != expected_seq:
            head = GENESIS_HEAD if a.seq == 0 else None  # after a gap the chain cannot be rebuilt from events
            expected_seq = a.seq
        prev_heads[a.seq] = head if head is not None else a.head  # best effort for signature checks
        if head is not None:
            head = next_head(head, a.feed_id, a.seq, a.root, a.cid_digest, a.count, a.t_first, a.t_last)
            if head != a.head:
                findings.append(Finding.of(Kind.HEAD_MISMATCH, Location(feed=a.feed_id, seq=a.seq, cid=a.cid),
                                           f"recomputed head 0x{head.hex()} but the event says 0x{a.head.hex()}"))
                head = a.head
        else:
            head = a.head
        expected_seq += 1
    if final_head is not None and anchors and head != final_head:
        last = anchors[-1]
        findings.append(Finding.of(Kind.HEAD_MISMATCH, Location(feed=last.feed_id, seq=last.seq),
                                   f"the chain of events ends at head 0x{(head or b'').hex()}, "
                                   f"SensorFeed.headOf says 0x{final_head.hex()}"))
    if final_head is not None and not anchors and final_head != GENESIS_HEAD:
        findings.append(Finding.of(Kind.HEAD_MISMATCH, Location(), "no Anchored events but headOf is not zero"))
    return prev_heads, findings


def key_findings(history: Sequence[KeyChange], senders: Mapping[str, str]) -> list[Finding]:
    """One INFO per rotation (who, where), a WARNING when a rotation brings back an older key."""
    findings: list[Finding] = []
    used: set[str] = set()
    for change in history:
        if change.previous is not None:
            by = senders.get(change.tx_hash, "?")
            loc = Location(feed=change.feed_id, block=change.block, tx=change.tx_hash)
            back = change.key in used
            findings.append(Finding.of(Kind.KEY_ROTATED, loc, f"device key rotated from {change.previous} to "
                                       f"{change.key} by {by}" + (" (a key used before: check what was "
                                                                  "signed in between)" if back else ""),
                                       Severity.WARNING if back else None))
        used.add(change.key)
    return findings


def coverage(anchors: Sequence[AnchorRecord], gap_ms: int | None = None) -> tuple[list[tuple[int, int]],
                                                                                    list[tuple[int, int]], int]:
    """Time intervals covered by batches, the gaps between them, and the threshold used.

    Without `gap_ms`, a gap is a pause longer than five times the median interval between batch starts
    (at least one second), so a steady feed has none and a stopped one shows where."""
    spans = sorted((a.t_first, a.t_last) for a in anchors)
    if not spans:
        return [], [], gap_ms or 0
    if gap_ms is None:
        starts = [s for s, _ in spans]
        steps = sorted(b - a for a, b in zip(starts, starts[1:]))
        gap_ms = max(1000, 5 * steps[len(steps) // 2]) if steps else 1000
    covered: list[tuple[int, int]] = []
    gaps: list[tuple[int, int]] = []
    start, end = spans[0]
    for s, e in spans[1:]:
        if s - end > gap_ms:
            covered.append((start, end))
            gaps.append((end, s))
            start, end = s, e
        else:
            end = max(end, e)
    covered.append((start, end))
    return covered, gaps, gap_ms


def _batch_time_order(anchors: Sequence[AnchorRecord]) -> list[Finding]:
    findings = []
    for prev, a in zip(anchors, anchors[1:]):
        if a.t_first < prev.t_last:
            findings.append(Finding.of(Kind.REORDERED, Location(feed=a.feed_id, seq=a.seq, cid=a.cid),
                                       f"starts at t={a.t_first}, before seq {prev.seq} ends (t={prev.t_last})"))
    return findings


class _SensorTimes:
    """The readings of one sensor in one feed, by source time: times that arrived in increasing order
    stay in compact sorted arrays (the normal case), the few that arrived after a later one in `late`."""

    def __init__(self, feed_id: int, sensor: str) -> None:
        self.feed_id = feed_id
        self.sensor = sensor
        self.ts: array[int] = array("Q")
        self.seqs: array[int] = array("Q")
        self.idx: array[int] = array("L")
        self.values: array[float] = array("d")
        self.late: dict[int, tuple[int, int, float]] = {}

    @property
    def last(self) -> int:
        return self.ts[-1] if self.ts else -1

    def find(self, t: int) -> tuple[int, int, float] | None:
        """(seq, index, value) of the reading at source time `t`, if there is one."""
        ts = self.ts
        if ts and t <= ts[-1]:
            i = bisect.bisect_left(ts, t)
            if ts[i] == t:
                return self.seqs[i], self.idx[i], self.values[i]
        return self.late.get(t)

    def add(self, t: int, seq: int, index: int, value: float) -> None:
        if t > self.last:
            self.ts.append(t)
            self.seqs.append(seq)
            self.idx.append(index)
            self.values.append(value)
        else:
            self.late[t] = (seq, index, value)

    def extend(self, seq: int, times: Sequence[int], values: Sequence[float]) -> None:
        """A whole batch of increasing times, all after `last`."""
        self.ts.extend(times)
        self.seqs.extend([seq] * len(times))
        self.idx.extend(range(len(times)))
        self.values.extend(values)

    def in_time_order(self) -> tuple[Sequence[int], Callable[[int], tuple[int, int]]]:
        """All times sorted, and the (seq, index) of the k-th."""
        if not self.late:
            return self.ts, lambda k: (self.seqs[k], self.idx[k])
        merged = sorted([(t, self.seqs[k], self.idx[k]) for k, t in enumerate(self.ts)]
                        + [(t, seq, i) for t, (seq, i, _) in self.late.items()])
        return [m[0] for m in merged], lambda k: (merged[k][1], merged[k][2])


class ReadingIndex:
    """Reading identity across the batches of one feed, or of all feeds of one sensor (docs/formats.md
    section 1): one sensor has at most one reading per source time, so a second reading of a sensor at a
    time already anchored is a DUPLICATE, whatever its reading id (ids restart with a new outbox).

    A batch of one sensor's increasing times after everything known of that sensor (the normal case)
    is taken in bulk; only the others are looked up reading by reading."""

    def __init__(self) -> None:
        self._by_sensor: dict[str, list[_SensorTimes]] = {}
        self._own: dict[tuple[int, str], _SensorTimes] = {}

    def _times(self, feed_id: int, sensor: str) -> _SensorTimes:
        own = self._own.get((feed_id, sensor))
        if own is None:
            own = self._own[(feed_id, sensor)] = _SensorTimes(feed_id, sensor)
            self._by_sensor.setdefault(sensor, []).append(own)
        return own

    def add(self, anchor: AnchorRecord, readings: Sequence[Reading]) -> list[Finding]:
        return self.add_columns(anchor, BatchColumns.of(anchor.feed_id, anchor.seq, readings))

    def add_columns(self, anchor: AnchorRecord, readings: BatchColumns) -> list[Finding]:
        """`add` for a batch decoded as columns (the feed check's path: no `Reading` objects)."""
        if not readings:
            return []
        sensors, times = readings.sensors, readings.times
        sensor = sensors[0]
        if (all(map(sensor.__eq__, sensors)) and all(map(operator.lt, times, islice(times, 1, None)))
                and all(times[0] > other.last for other in self._by_sensor.get(sensor, ()))):
            self._times(anchor.feed_id, sensor).extend(anchor.seq, times, readings.values)
            return []
        findings = []
        for i, (rid, name, t, value) in enumerate(zip(readings.rids, sensors, times, readings.values)):
            own = self._times(anchor.feed_id, name)
            earlier = self._find(name, t)
            if earlier is None:
                own.add(t, anchor.seq, i, value)
                continue
            feed0, seq0, i0, v0 = earlier
            where = (f"feed {feed0} " if feed0 != anchor.feed_id else "") + f"seq {seq0} reading {i0}"
            same = "identical: a replay" if v0 == value else f"value {v0!r} there, {value!r} here"
            findings.append(Finding.of(
                Kind.DUPLICATE, Location(feed=anchor.feed_id, seq=anchor.seq, index=i, rid=rid, cid=anchor.cid),
                f"{name} at t={t} was already anchored in {where} ({same})"))
        return findings

    def _find(self, sensor: str, t: int) -> tuple[int, int, int, float] | None:
        for times in self._by_sensor.get(sensor, ()):
            found = times.find(t)
            if found is not None:
                return (times.feed_id, *found)
        return None

    def gap_findings(self, feed_id: int, rate_hz: float, source: str, tolerance: float, *,
                     unread: Sequence[tuple[int, int]] = ()) -> list[Finding]:
        """DATA_GAP for every pause between two consecutive readings of a sensor of `feed_id` (inside a batch
        or across batches) longer than `tolerance` sample intervals at `rate_hz`. A pause that overlaps the
        time span of a batch whose content could not be read (`unread`) is that batch's finding, not a gap."""
        interval = 1000.0 / rate_hz
        limit = tolerance * interval
        findings = []
        for times in [t for (f, _), t in self._own.items() if f == feed_id]:
            ts, place = times.in_time_order()
            for k in [k for k, step in enumerate(map(operator.sub, ts[1:], ts), 1) if step > limit]:
                a, b = ts[k - 1], ts[k]
                if any(first < b and last > a for first, last in unread):
                    continue
                (seq_a, i_a), (seq_b, i_b) = place(k - 1), place(k)
                expected = max(round((b - a) / interval) - 1, 1)
                findings.append(Finding.of(
                    Kind.DATA_GAP, Location(feed=feed_id, seq=seq_b, index=i_b),
                    f"no {times.sensor} readings for {(b - a) / 1000:.2f} s from t={a} to t={b} (seq {seq_a} "
                    f"reading {i_a} to seq {seq_b} reading {i_b}): about {expected} readings expected at "
                    f"{rate_hz:g} Hz ({source}), 0 found; tolerance {tolerance:g} sample intervals"))
        return findings


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Decoding allocates millions of small objects and no cycles; the cyclic collector would scan the
    growing heap again and again (about a third of the time on long feeds)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _head_fields(a: AnchorRecord) -> tuple[int, int, bytes, bytes, int, int, int]:
    return (a.feed_id, a.seq, a.root, a.cid_digest, a.count, a.t_first, a.t_last)
