"""Feed-level structure from events alone: seq continuity, the head chain, key history, coverage;
and the per-batch helpers the feed check runs (time order, duplicate reading ids)."""
from __future__ import annotations

import bisect
import gc
from array import array
from contextlib import contextmanager
from collections.abc import Callable, Iterator, Mapping, Sequence


from ..formats.batch import Reading
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


class _RidTracker:
    """Reading ids across the batches of a feed: duplicates are errors (warnings for identical
    replays), and ids that go back are REORDERED.

    Ids increase within a batch (the format requires it) and normally across batches, so each batch
    is kept as a compact sorted id array and only a batch that goes back is compared with the earlier
    batches whose id range it overlaps; `reload(seq)` fetches an earlier batch's readings again to tell
    a replay from a conflict."""

    def __init__(self, feed_id: int, reload: Callable[[int], Sequence[Reading] | None]) -> None:
        self.feed_id = feed_id
        self.reload = reload
        self.batches: list[tuple[int, int, int, array[int]]] = []  # (first id, last id, seq, ids)
        self.last_rid = -1

    def add(self, anchor: AnchorRecord, readings: Sequence[Reading]) -> list[Finding]:
        if not readings:
            return []
        rids = array("Q", [r.rid for r in readings])
        findings: list[Finding] = []
        if rids[0] <= self.last_rid:
            findings.append(Finding.of(Kind.REORDERED, Location(feed=self.feed_id, seq=anchor.seq, index=0,
                                                                rid=rids[0]),
                                       f"reading ids go back: {rids[0]} after {self.last_rid}"))
            findings += self._duplicates(anchor, readings, rids)
        self.batches.append((rids[0], rids[-1], anchor.seq, rids))
        self.last_rid = max(self.last_rid, rids[-1])
        return findings

    def _duplicates(self, anchor: AnchorRecord, readings: Sequence[Reading], rids: array[int]) -> list[Finding]:
        mine = {rid: i for i, rid in enumerate(rids)}
        findings = []
        for first, last, seq, earlier in self.batches:
            if last < rids[0] or first > rids[-1]:
                continue
            common = sorted(set(earlier).intersection(mine))
            old = self.reload(seq) if common else None
            for rid in common:
                i, j = mine[rid], bisect.bisect_left(earlier, rid)
                same = old is not None and old[j] == readings[i]
                findings.append(Finding.of(
                    Kind.DUPLICATE, Location(feed=self.feed_id, seq=anchor.seq, index=i, rid=rid, cid=anchor.cid),
                    f"reading id {rid} was already anchored in seq {seq} reading {j}"
                    + (" (identical: a replay)" if same else " with different content"),
                    Severity.WARNING if same else Severity.ERROR))
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
