"""Self-contained HTML audit report for one twin.

The verifier fills the plain data classes below (`AuditReport` and its parts); `render_html`
turns them into a single HTML page and `write_report` saves it. The page has inline CSS and plots
embedded as base64 PNGs (matplotlib, Agg), and loads nothing from anywhere: a Content-Security-Policy
meta tag forbids it, so the file can be archived, mailed or opened offline as evidence.
Every piece of text from the data is HTML-escaped, and matplotlib's mathtext is off for it.

Times: `HistoryEvent.time` and `ProgramCallRow.time` are timezone-aware datetimes (naive ones are
taken as UTC); reading times, coverage and gaps are milliseconds since the Unix epoch (UTC), as in
the batch format.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_PLOT_POINTS = 5_000
PLOT_DPI = 100


class Status(str, Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"  # could not be checked (data missing, node unreachable, ...)


@dataclass(frozen=True)
class Verdict:
    status: Status
    summary: str = ""
    details: Sequence[str] = ()


@dataclass(frozen=True)
class TwinInfo:
    twin_id: int
    name: str
    owner: str = ""
    device_id: str = ""
    phase: str = ""
    spec_version: int | None = None
    chain_id: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. contract addresses, spec digest


@dataclass(frozen=True)
class HistoryEvent:
    block: int
    time: datetime
    author: str
    kind: str
    details: str = ""
    author_name: str = ""  # the author by its roles on the twin; the address stays as the tooltip


class Point(NamedTuple):
    """One reading; a plain (t_ms, value, verified, suspect) tuple works too."""

    t_ms: int
    value: float
    verified: bool  # its Merkle proof and the anchor's signature check out against the chain
    suspect: bool  # quality flags or the verifier's own checks mark it as doubtful


@dataclass(frozen=True)
class FeedSeries:
    feed_id: int
    sensor: str
    points: Sequence[Point | tuple[int, float, bool, bool]]
    coverage: Sequence[tuple[int, int]]
    gaps: Sequence[tuple[int, int]]
    verdict: Verdict
    unit: str = ""
    safety_limits: tuple[float, float] | None = None  # drawn as lines on the plot


@dataclass(frozen=True)
class DocumentVerdict:
    doc_id: int
    name: str
    version: int
    cid: str
    verdict: Verdict


@dataclass(frozen=True)
class ProgramCallRow:
    call_id: int
    block: int
    time: datetime
    caller: str
    component: str
    program: str
    params: Mapping[str, str | int | float]
    status: str
    verdict: Verdict | None = None
    caller_name: str = ""
    component_id: str = ""  # tooltips of the component and program names
    program_id: str = ""


@dataclass(frozen=True)
class AgreementRow:
    """An agreement over the twin's feeds: its terms, the proofs submitted and how it was settled."""

    agreement_id: int
    status: str
    parties: Sequence[str]
    conditions: Sequence[str]
    period: str
    proofs: Sequence[str]
    settlement: Sequence[str]


@dataclass(frozen=True)
class AuditReport:
    twin: TwinInfo
    history: Sequence[HistoryEvent]
    feeds: Sequence[FeedSeries]
    documents: Sequence[DocumentVerdict]
    program_calls: Sequence[ProgramCallRow]
    overall: Verdict
    generated_at: datetime | None = None  # default: now
    agreements: Sequence[AgreementRow] = ()


# ---------------------------------------------------------------------------------------------
# Downsampling


def _flagged(p: Point) -> bool:
    return p.suspect or not p.verified


def _spread(items: Sequence[Point], k: int) -> list[Point]:
    """k items evenly spread over the sequence, first and last included."""
    n = len(items)
    if k >= n:
        return list(items)
    if k <= 1:
        return list(items[:k])
    return [items[i * (n - 1) // (k - 1)] for i in range(k)]


def _min_max(items: Sequence[Point], k: int) -> list[Point]:
    """At most k items: the lowest and highest of each time bucket, so spikes stay visible."""
    n = len(items)
    if k >= n:
        return list(items)
    buckets = max(1, k // 2)
    kept: list[Point] = []
    for b in range(buckets):
        chunk = items[b * n // buckets : (b + 1) * n // buckets]
        if not chunk:
            continue
        low = min(chunk, key=lambda p: p.value)
        high = max(chunk, key=lambda p: p.value)
        kept.extend(sorted({low, high}, key=lambda p: p.t_ms))
    return kept


def downsample(points: Iterable[Point | tuple[int, float, bool, bool]], limit: int = MAX_PLOT_POINTS) -> list[Point]:
    """At most `limit` points in time order. Suspect and unverified points matter most to an
    auditor, so they get up to half the budget (more if there are few normal points); the
    normal ones keep each bucket's min and max."""
    pts = sorted((Point(*p) for p in points), key=lambda p: p.t_ms)
    if len(pts) <= limit:
        return pts
    flagged = [p for p in pts if _flagged(p)]
    normal = [p for p in pts if not _flagged(p)]
    flagged_budget = min(len(flagged), max(limit // 2, limit - len(normal)))
    kept = _spread(flagged, flagged_budget) + _min_max(normal, limit - flagged_budget)
    return sorted(kept, key=lambda p: p.t_ms)


# ---------------------------------------------------------------------------------------------
# Plots


_CATEGORIES = (
    # (label, verified, suspect, scatter style)
    ("verified", True, False, {"marker": "o", "s": 9, "color": "#1f6fb2"}),
    ("verified, suspect", True, True, {"marker": "X", "s": 40, "color": "#d62728"}),
    ("unverified", False, False, {"marker": "o", "s": 16, "facecolors": "none", "edgecolors": "#7f7f7f"}),
    ("unverified, suspect", False, True, {"marker": "s", "s": 30, "facecolors": "none", "edgecolors": "#ff7f0e"}),
)


def _matplotlib() -> tuple[Any, Any, Any]:
    """(Figure, FigureCanvasAgg, matplotlib.dates), imported on first use: matplotlib costs seconds of
    start-up that the agent and every other command would pay for nothing."""
    from matplotlib import dates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return Figure, FigureCanvasAgg, dates


def _ms_to_datetime64(values: Sequence[int]) -> np.ndarray:
    return np.array(values, dtype="int64").astype("datetime64[ms]")


def _png(fig: Figure) -> str:
    Figure, FigureCanvasAgg, mdates = _matplotlib()
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # no Software chunk: the same data renders to the same bytes
    fig.savefig(buf, format="png", dpi=PLOT_DPI, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _feed_plot(feed: FeedSeries, points: Sequence[Point]) -> str:
    Figure, FigureCanvasAgg, mdates = _matplotlib()
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax = fig.subplots()
    for label, verified, suspect, style in _CATEGORIES:
        sel = [p for p in points if p.verified == verified and p.suspect == suspect]
        if sel:
            ax.scatter(_ms_to_datetime64([p.t_ms for p in sel]), [p.value for p in sel], label=label, **style)
    if feed.safety_limits is not None:
        for limit in feed.safety_limits:
            ax.axhline(limit, color="#d62728", linestyle="--", linewidth=0.8)
    ax.set_ylabel(feed.unit or "value", parse_math=False)
    ax.set_xlabel("time (UTC)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return _png(fig)


def _coverage_plot(feeds: Sequence[FeedSeries]) -> str:
    Figure, FigureCanvasAgg, mdates = _matplotlib()
    fig = Figure(figsize=(10, 0.45 * len(feeds) + 1.2), layout="constrained")
    ax = fig.subplots()
    for row, feed in enumerate(feeds):
        for spans, color in ((feed.coverage, "#2ca02c"), (feed.gaps, "#d62728")):
            bars = [
                (mdates.date2num(_ms_to_datetime64([a])[0]), max(b - a, 1) / 86_400_000) for a, b in spans
            ]  # date2num works in days
            if bars:
                ax.broken_barh(bars, (row - 0.35, 0.7), facecolors=color)
    ax.set_yticks(range(len(feeds)), [f"#{f.feed_id} {f.sensor}" for f in feeds], parse_math=False)
    ax.set_ylim(-0.6, len(feeds) - 0.4)
    ax.invert_yaxis()
    ax.xaxis_date()
    ax.set_xlabel("time (UTC); green: anchored coverage, red: gaps")
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


# ---------------------------------------------------------------------------------------------
# HTML


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:1.5em;color:#222;line-height:1.4}
header{border-radius:8px;padding:1em 1.5em;margin-bottom:1.5em;border:2px solid}
h1{margin:.2em 0}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.mono,.mono{font-family:ui-monospace,Consolas,monospace;word-break:break-all}.wrap{word-break:break-all}
img{max-width:100%;height:auto}
.badge{display:inline-block;border-radius:4px;padding:.1em .6em;font-weight:bold;color:#fff;
text-transform:uppercase;font-size:.85em}
.b-pass{background:#2e7d32}.b-warn{background:#ed6c02}.b-fail{background:#c62828}.b-unknown{background:#616161}
header.v-pass{border-color:#2e7d32;background:#edf7ed}header.v-warn{border-color:#ed6c02;background:#fff4e5}
header.v-fail{border-color:#c62828;background:#fdeded}header.v-unknown{border-color:#616161;background:#f5f5f5}
dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:.5em 0}dt{font-weight:bold}dd{margin:0}
.feed{margin:1.5em 0}.muted{color:#666}
"""

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _fmt_time(t: datetime) -> str:
    return _utc(t).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt_ms(t_ms: int) -> str:
    t = datetime.fromtimestamp(t_ms / 1000, tz=timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t_ms % 1000:03d} UTC"


def _fmt_duration(ms: int) -> str:
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _badge(v: Verdict | None) -> str:
    if v is None:
        return '<span class="muted">n/a</span>'
    return f'<span class="badge b-{v.status.value}">{_e(v.status.value)}</span>'


def _details(v: Verdict) -> str:
    if not v.details:
        return ""
    return "<ul>" + "".join(f"<li>{_e(d)}</li>" for d in v.details) + "</ul>"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    """`rows` hold ready HTML: callers escape each cell."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _header(r: AuditReport, generated: datetime) -> str:
    t = r.twin
    facts: list[tuple[str, object]] = [("twin id", t.twin_id), ("owner", t.owner), ("device", t.device_id),
                                       ("phase", t.phase), ("spec version", t.spec_version), ("chain id", t.chain_id)]
    facts += list(t.extra.items())
    facts.append(("generated", _fmt_time(generated)))
    dl = "".join(f"<dt>{_e(k)}</dt><dd class=\"mono\">{_e(v)}</dd>" for k, v in facts if v not in (None, ""))
    return (
        f'<header class="v-{r.overall.status.value}"><h1>Audit report: {_e(t.name)}</h1>'
        f"<p>Overall verdict: {_badge(r.overall)} {_e(r.overall.summary)}</p>{_details(r.overall)}"
        f"<dl>{dl}</dl></header>"
    )


def _verdicts(r: AuditReport) -> str:
    rows = [["feed", f"#{_e(f.feed_id)}", _e(f.sensor), _badge(f.verdict), _e(f.verdict.summary) + _details(f.verdict)]
            for f in r.feeds]
    rows += [["document", f"#{_e(d.doc_id)} v{_e(d.version)}", _e(d.name), _badge(d.verdict),
              _e(d.verdict.summary) + _details(d.verdict)] for d in r.documents]
    return '<section id="verdicts"><h2>Verdicts</h2>' + _table(
        ["what", "id", "name", "verdict", "findings"], rows, "Nothing was checked.") + "</section>"


def _short_address(address: str) -> str:
    """0x1234…abcd, with the whole address as a tooltip: a column of full addresses crowds the table."""
    text = address if len(address) <= 14 else f"{address[:6]}…{address[-4:]}"
    return f'<span class="mono" title="{_e(address)}">{_e(text)}</span>'


def _named(name: str, ident: str) -> str:
    """A name with its id as the tooltip (the id alone when there is no name)."""
    if not name:
        return _short_address(ident) if ident.startswith("0x") and len(ident) == 42 else _e(ident)
    return f'<span title="{_e(ident)}">{_e(name)}</span>'


def _history(r: AuditReport) -> str:
    rows = [[_e(h.block), _e(_fmt_time(h.time)), _named(h.author_name, h.author), _e(h.kind),
             f'<span class="wrap">{_e(h.details)}</span>']
            for h in sorted(r.history, key=lambda h: h.block)]
    return '<section id="history"><h2>Twin history</h2>' + _table(
        ["block", "time", "author", "event", "details"], rows, "No events.") + "</section>"


def _feed_section(feed: FeedSeries) -> str:
    pts = [Point(*p) for p in feed.points]
    counts = {label: sum(1 for p in pts if (p.verified, p.suspect) == (v, s)) for label, v, s, _ in _CATEGORIES}
    stats = "; ".join(f"{n} {label}" for label, n in counts.items() if n)
    parts = [f'<div class="feed" id="feed-{_e(feed.feed_id)}"><h3>Feed #{_e(feed.feed_id)}: {_e(feed.sensor)} '
             f"{_badge(feed.verdict)}</h3><p>{len(pts)} readings{': ' + _e(stats) if stats else ''}.</p>"]
    if pts:
        plotted = downsample(pts)
        if len(plotted) < len(pts):
            parts.append(f'<p class="muted">Plot shows {len(plotted)} of {len(pts)} readings (suspect and '
                         "unverified ones first, up to half; then the min and max of each interval).</p>")
        png = _feed_plot(feed, plotted)
        parts.append(f'<img alt="readings of feed {_e(feed.feed_id)}" src="data:image/png;base64,{png}">')
    else:
        parts.append('<p class="muted">No readings.</p>')
    summary = f"<p>{_e(feed.verdict.summary)}</p>" if feed.verdict.summary else ""
    parts.append(f"{summary}{_details(feed.verdict)}</div>")
    return "".join(parts)


def _coverage(r: AuditReport) -> str:
    if not r.feeds:
        return ""
    rows = [[f"#{_e(f.feed_id)}", _e(f.sensor), _e(_fmt_ms(a)), _e(_fmt_ms(b)), _e(_fmt_duration(b - a))]
            for f in r.feeds for a, b in f.gaps]
    return (
        '<section id="coverage"><h2>Feed coverage and gaps</h2>'
        f'<img alt="coverage and gaps per feed" src="data:image/png;base64,{_coverage_plot(r.feeds)}">'
        + _table(["feed", "sensor", "gap from", "gap to", "length"], rows, "No gaps.") + "</section>"
    )


def _program_calls(r: AuditReport) -> str:
    rows = [[_e(c.call_id), _e(c.block), _e(_fmt_time(c.time)), _named(c.caller_name, c.caller),
             _named(c.component, c.component_id) if c.component_id else _e(c.component),
             _named(c.program, c.program_id) if c.program_id else _e(c.program),
             _e(", ".join(f"{k}={v}" for k, v in c.params.items())), _e(c.status),
             _badge(c.verdict) + (f" {_e(c.verdict.summary)}" if c.verdict else "")]
            for c in r.program_calls]
    return '<section id="programs"><h2>Program calls</h2>' + _table(
        ["call", "block", "time", "caller", "component", "program", "parameters", "status", "verdict"], rows,
        "No program calls.") + "</section>"


def _documents(r: AuditReport) -> str:
    rows = [[_e(d.doc_id), _e(d.name), _e(d.version), f'<span class="mono">{_e(d.cid)}</span>', _badge(d.verdict),
             _e(d.verdict.summary) + _details(d.verdict)] for d in r.documents]
    return '<section id="documents"><h2>Documents</h2>' + _table(
        ["id", "name", "version", "CID", "verdict", "findings"], rows, "No documents.") + "</section>"


def _lines(items: Sequence[str]) -> str:
    return "<br>".join(_e(i) for i in items) or "-"


def _agreements(r: AuditReport) -> str:
    rows = [[_e(a.agreement_id), _e(a.status), _lines(a.parties), _lines(a.conditions), _e(a.period),
             _lines(a.proofs), _lines(a.settlement)] for a in r.agreements]
    return '<section id="agreements"><h2>Agreements</h2>' + _table(
        ["agreement", "status", "parties", "conditions", "period", "proofs", "settlement"], rows,
        "No agreements over this twin's feeds.") + "</section>"


def render_html(report: AuditReport) -> str:
    generated = _utc(report.generated_at or datetime.now(timezone.utc))
    feeds = "".join(_feed_section(f) for f in report.feeds) or '<p class="muted">No feeds.</p>'
    body = "".join([
        _header(report, generated),
        _verdicts(report),
        _history(report),
        f'<section id="feeds"><h2>Sensor feeds</h2>{feeds}</section>',
        _coverage(report),
        _program_calls(report),
        _agreements(report),
        _documents(report),
        f'<footer class="muted"><p>TwinLedger audit report, generated {_e(_fmt_time(generated))}.</p></footer>',
    ])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Audit report: {_e(report.twin.name)}</title><style>{_CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def write_report(report: AuditReport, path: str | Path) -> Path:
    """Render and write the report (UTF-8); returns the path written."""
    p = Path(path)
    p.write_text(render_html(report), encoding="utf-8")
    return p
