"""From verification results to the audit report's data classes (`report` renders them).

The report holds the twin's history (every event, with block times), each feed's readings marked
verified or not and suspect or not, coverage and gaps, program calls re-checked against the bounds
in force when they were made, and a verdict per feed, per document version and overall.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eth_utils import keccak, to_checksum_address

from . import report as rp
from ..ledger.history import describe
from ..ledger.reader import CALL_STATUS, Ledger, LedgerEvent
from ..ledger.twinview import TwinView, load_twin
from .findings import Finding, Severity, Status, status_of
from .results import FeedResult, TwinResult, VersionResult
from .verifier import Verifier

MAX_DETAILS = 25
_AUTHOR_ARGS = ("sender", "author", "creator", "caller", "publisher", "agent", "owner", "account")
_STATUS = {Status.PASS: rp.Status.PASS, Status.WARN: rp.Status.WARN, Status.FAIL: rp.Status.FAIL,
           Status.UNAVAILABLE: rp.Status.UNKNOWN}


def verdict_of(findings: Sequence[Finding], what: str = "") -> rp.Verdict:
    """A report verdict: the worst severity decides; errors and warnings are listed with locations."""
    errors = [f for f in findings if f.severity is Severity.ERROR]
    warnings = [f for f in findings if f.severity is Severity.WARNING]
    status = _STATUS[status_of(findings)]
    if errors or warnings:
        summary = f"{len(errors)} error(s), {len(warnings)} warning(s)"
    else:
        summary = f"{what} verified" if what else "verified"
    shown = [str(f) for f in (errors + warnings)[:MAX_DETAILS]]
    if len(errors) + len(warnings) > MAX_DETAILS:
        shown.append(f"... and {len(errors) + len(warnings) - MAX_DETAILS} more")
    return rp.Verdict(status, summary, shown)


def feed_series(feed: FeedResult) -> rp.FeedSeries:
    """Readings of a feed as plot points: verified = its batch is proven; suspect = quality flags set
    or a finding names that very reading."""
    flagged = {(f.location.seq, f.location.index) for f in feed.findings if f.location.index is not None}
    points: list[rp.Point] = []
    for b in feed.batches:
        if b.readings is None:
            continue
        verified = b.verified
        seq = b.anchor.seq
        for i, r in enumerate(b.readings):
            points.append(rp.Point(r.t_ms, r.value, verified, bool(r.quality) or (seq, i) in flagged))
    detail = f"{feed.readings_checked} readings in {len(feed.batches)} batches"
    v = verdict_of(feed.findings, detail)
    return rp.FeedSeries(feed.feed_id, feed.sensor, points, feed.coverage, feed.gaps, v)


def document_verdicts(result: TwinResult) -> list[rp.DocumentVerdict]:
    rows = [_version_row(v) for v in result.spec_versions]
    for doc in result.documents:
        doc_level = [f for f in doc.findings if f.location.version is None]
        for v in doc.versions:
            rows.append(_version_row(v, doc_level))
    return rows


def _version_row(v: VersionResult, extra: Sequence[Finding] = ()) -> rp.DocumentVerdict:
    what = "content digest" if v.content_checked else "chain record"
    return rp.DocumentVerdict(v.doc_id, v.name, v.version, v.cid, verdict_of([*extra, *v.findings], what))


def history(ledger: Ledger, events: Iterable[LedgerEvent], view: TwinView | None = None) -> list[rp.HistoryEvent]:
    """Every event; with the twin's view, roles, components, programs and parties by name (ids as tooltips)."""
    rows = []
    for e in events:
        author = next((str(e.args[k]) for k in _AUTHOR_ARGS if k in e.args), "")
        if not author:
            author = ledger.anchor_tx(e.tx_hash).sender
        details = describe(e, view) if view is not None else _describe(e.args)
        rows.append(rp.HistoryEvent(e.block, ledger.block_datetime(e.block), author, f"{e.contract}.{e.name}",
                                    details, view.party_label(author) if view is not None else ""))
    return rows


def _describe(args: dict[str, Any]) -> str:
    parts = []
    for k, v in args.items():
        if k in ("twin",) + _AUTHOR_ARGS:
            continue
        if isinstance(v, (bytes, bytearray)):
            text = bytes(v).rstrip(b"\x00")
            v = text.decode() if text and all(32 <= c < 127 for c in text) else "0x" + bytes(v).hex()
        elif isinstance(v, (list, tuple)):
            v = "[" + ", ".join(str(x) if not isinstance(x, bytes) else _b32(x) for x in v) + "]"
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _b32(value: bytes) -> str:
    text = value.rstrip(b"\x00")
    return text.decode() if text and all(32 <= c < 127 for c in text) else "0x" + value.hex()


def program_calls(ledger: Ledger, twin: int, events: Sequence[LedgerEvent],
                  view: TwinView | None = None) -> list[rp.ProgramCallRow]:
    """Program calls with their outcome, each re-checked against the bounds set before it."""
    bounds: dict[tuple[bytes, bytes], tuple[list[bytes], list[int], list[int]]] = {}
    status: dict[int, str] = {}
    for e in events:
        if e.name == "CallDelivered":
            status[int(e.args["callId"])] = CALL_STATUS[2]
        elif e.name == "CallCompleted":
            status[int(e.args["callId"])] = CALL_STATUS[3] if e.args["ok"] else CALL_STATUS[4]
    rows = []
    for e in events:
        if e.name == "ProgramSet":
            bounds[(bytes(e.args["component"]), bytes(e.args["program"]))] = (
                list(e.args["paramNames"]), list(e.args["mins"]), list(e.args["maxs"]))
        elif e.name == "ProgramCalled":
            call_id = int(e.args["callId"])
            key = (bytes(e.args["component"]), bytes(e.args["program"]))
            names, mins, maxs = bounds.get(key, ([], [], []))
            params = list(e.args["params"])
            labels = [_b32(n) for n in names] or [f"p{i}" for i in range(len(params))]
            ok = len(params) == len(names) and all(lo <= p <= hi for p, lo, hi in zip(params, mins, maxs))
            verdict = rp.Verdict(rp.Status.PASS, "within the bounds in force") if ok else rp.Verdict(
                rp.Status.FAIL, "outside the bounds recorded before the call")
            caller = to_checksum_address(e.args["caller"])
            component, program = _b32(key[0]), _b32(key[1])
            if view is not None:
                component = view.component_label(key[0])
                program = view.program_label(*key).split(".", 1)[1]
            rows.append(rp.ProgramCallRow(call_id, e.block, ledger.block_datetime(e.block), caller, component, program,
                                          dict(zip(labels, params)), status.get(call_id, CALL_STATUS[1]), verdict,
                                          caller_name=view.party_label(caller) if view is not None else "",
                                          component_id="0x" + key[0].hex(), program_id="0x" + key[1].hex()))
    return rows


OWNER_ROLE = keccak(text="OWNER")


def current_owners(events) -> list[str]:
    """The OWNERs as of the last event: ownership moves by offer and accept, so not the creator."""
    owners: list[str] = []
    for e in events:
        if e.name not in ("TwinRoleGranted", "TwinRoleRevoked") or bytes(e.args.get("role", b"")) != OWNER_ROLE:
            continue
        account = to_checksum_address(e.args["account"])
        if e.name == "TwinRoleGranted" and account not in owners:
            owners.append(account)
        elif e.name == "TwinRoleRevoked" and account in owners:
            owners.remove(account)
    return owners


def build_report(verifier: Verifier, result: TwinResult) -> rp.AuditReport:
    """The audit report of a verified twin (verify with `keep_readings=True` to plot readings)."""
    ledger = verifier.ledger
    twin = result.twin_id
    events = ledger.twin_events(twin)
    info = rp.TwinInfo(
        twin_id=twin, name=result.info["name"], owner=", ".join(current_owners(events)) or "-", device_id="0x" + result.info["device_id"].hex(),
        phase=result.info["phase"], spec_version=max(result.info["spec_versions"] - 1, 0), chain_id=ledger.chain_id,
        extra={"SensorFeed": ledger.feeds.address, "Specification": ledger.spec.address,
               "Authorization": ledger.auth.address, "verified up to block": str(ledger.to_block)})
    feeds = [feed_series(f) for f in result.feeds]
    overall = verdict_of(result.findings, f"{len(result.feeds)} feed(s), {len(result.documents)} document(s)")
    view = _twin_view(verifier, twin)
    return rp.AuditReport(twin=info, history=history(ledger, events, view), feeds=feeds,
                          documents=document_verdicts(result), program_calls=program_calls(ledger, twin, events, view),
                          overall=overall, agreements=agreement_rows(ledger, twin))


def agreement_rows(ledger: Ledger, twin: int) -> list[rp.AgreementRow]:
    """The agreements over the twin (none if the deployment has no AgreementRegistry)."""
    from .agreements import agreement_rows as rows

    if "AgreementRegistry" not in ledger.chain.deployment.contracts:
        return []
    return rows(ledger.chain, twin, ledger.block_datetime)


def _twin_view(verifier: Verifier, twin: int) -> TwinView | None:
    """The names of the twin's roles, components, programs and parties; without them the report shows ids."""
    try:
        return load_twin(verifier.ledger.chain, verifier.store, twin)
    except Exception:  # noqa: BLE001 - names are a courtesy: the verdicts never depend on them
        return None
