"""Twin-level checks: feed succession, spec/document versions against their events and order."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any


from ..crypto.context import Subject
from ..crypto.payload import sealed_header as _sealed_header
from ..formats import cids
from ..ledger.reader import Ledger, StoredVersion
from .findings import Finding, Kind, Location
from .results import FeedResult, VersionResult


# ---------------------------------------------------------------------------------------------
# Helpers of the twin checks


def succession_findings(twin: int, feeds: Sequence[FeedResult], retired: Mapping[int, int]) -> list[Finding]:
    """Retired feeds and their successors: same twin, no cycles, and the time between them."""
    findings: list[Finding] = []
    by_id = {f.feed_id: f for f in feeds}
    for f in feeds:
        loc = Location(twin=twin, feed=f.feed_id)
        if f.status_on_chain == "retired" and f.feed_id not in retired:
            findings.append(Finding.of(Kind.CHAIN_MISMATCH, loc, "retired, but no FeedRetired event was found"))
        if f.feed_id in retired and retired[f.feed_id] != f.successor:
            findings.append(Finding.of(Kind.CHAIN_MISMATCH, loc, f"FeedRetired names successor {retired[f.feed_id]}, "
                                       f"the contract {f.successor}"))
        if not f.successor:
            continue
        succ = by_id.get(f.successor)
        if succ is None:
            findings.append(Finding.of(Kind.CHAIN_MISMATCH, loc, f"successor feed {f.successor} is not a feed of "
                                       f"twin {twin}"))
            continue
        seen = {f.feed_id}
        nxt = succ
        while nxt is not None and nxt.successor:
            if nxt.feed_id in seen:
                findings.append(Finding.of(Kind.CHAIN_MISMATCH, loc, "the successor chain loops"))
                break
            seen.add(nxt.feed_id)
            nxt = by_id.get(nxt.successor)
        last = max((b for g in f.coverage for b in g), default=None)
        first = min((a for a, _ in succ.coverage), default=None)
        if last is not None and first is not None and first - last > 0:
            findings.append(Finding.of(Kind.COVERAGE_GAP, loc, f"successor feed {succ.feed_id} starts "
                                       f"{(first - last) / 1000:.1f} s after this feed's last reading"))
    return findings


def _event_vs_storage(event: Any, v: StoredVersion, loc: Location) -> list[Finding]:
    if event is None:
        return [Finding.of(Kind.CHAIN_MISMATCH, loc, "no event records this version")]
    a = event.args
    if (bytes(a["cid"]), int(a["codec"]), bytes(a["digest"])) != (v.cid_digest, v.codec, v.digest):
        return [Finding.of(Kind.CHAIN_MISMATCH, loc, "the event and the contract disagree on CID or digest")]
    return []


def _version_order(results: Sequence[VersionResult], stored: Sequence[StoredVersion],
                   where: Callable[[int], Location]) -> None:
    """Version order: times never go back, and a version that restores an older one's content is noted."""
    seen: dict[bytes, int] = {}
    for i, v in enumerate(stored):
        if i and v.time < stored[i - 1].time:
            results[i].findings.append(Finding.of(Kind.REORDERED, where(v.index), f"recorded at {v.time}, before "
                                                  f"version {stored[i - 1].index} ({stored[i - 1].time})"))
        older = seen.get(v.digest)
        if older is not None and older != i - 1:
            results[i].findings.append(Finding.of(Kind.ROLLBACK, where(v.index), f"restores the content of version "
                                                  f"{older}"))
        seen.setdefault(v.digest, i)


def _sealed_place(content: bytes, twin: int, subject: Subject, version: int, loc: Location) -> list[Finding]:
    header = _sealed_header(content)
    if header is None:
        return []
    ctx = header.context
    if ctx.twin != twin or ctx.subject.kind != subject.kind or (subject.kind == "doc" and ctx.subject != subject):
        return [Finding.of(Kind.MISPLACED, loc, f"the payload is sealed for {ctx}")]
    if ctx.item != version:
        return [Finding.of(Kind.REORDERED, loc, f"the payload stored as version {version} was sealed as version "
                           f"{ctx.item}")]
    return []


def _cid_of(v: StoredVersion) -> str:
    try:
        return cids.unpack(v.cid_digest, v.codec)
    except ValueError:
        return f"0x{v.cid_digest.hex()}/codec 0x{v.codec:x}"


def _component_name(ledger: Ledger, twin: int, component: bytes) -> str:
    try:
        return ledger.component(twin, component).name or "?"
    except Exception:  # noqa: BLE001 - a name is only a label
        return "?"


def _sorted(findings: Iterable[Finding]) -> list[Finding]:
    def key(f: Finding) -> tuple[Any, ...]:
        loc = f.location
        return (-f.severity, loc.feed or 0, loc.seq if loc.seq is not None else -1, loc.doc or 0,
                loc.version if loc.version is not None else -1, f.kind.value)
    return sorted(findings, key=key)
