"""`verify`, `feed`, `watch` and `audit`: the auditor's commands.

Findings go to stdout as one line each (severity, kind, exact location, message), then one verdict
line. `verify` and `audit report` exit with status 1 when anything fails verification (2 for usage
errors, as click does); `--strict` also fails on warnings. Progress bars go to stderr.
"""
from __future__ import annotations

import csv
import sys
import time
from collections.abc import Container, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ...formats.batch import Quality
from ...formats.headchain import GENESIS_HEAD, next_head
from ...verify.audit import build_report
from ..context import CliContext
from ...ledger.reader import AnchorRecord, Ledger, LedgerEvent
from ...verify.report import write_report
from ...verify import (
    BatchResult,
    ChainedKeys,
    FeedResult,
    Finding,
    KeySource,
    Kind,
    Location,
    PublishedKeys,
    Severity,
    StaticKeys,
    Status,
    Verifier,
)
from ...ledger import contracts

pass_cli = click.make_pass_decorator(CliContext)
EXIT_FAILED = 1
PROGRESS_MIN_BATCHES = 20  # below this a bar only flickers


# ---------------------------------------------------------------------------------------------
# Shared options and output


def _parse_data_key(text: str) -> tuple[tuple[str, int | None, int], bytes]:
    """`EPOCH=HEX` (any subject) or `KIND:ID:EPOCH=HEX`, e.g. `feed:3:0=ab..`."""
    try:
        where, hexkey = text.split("=", 1)
        parts = where.split(":")
        key = bytes.fromhex(hexkey.removeprefix("0x"))
        if len(parts) == 1:
            return ("feed", None, int(parts[0])), key
        kind, ident, epoch = parts
        return (kind, int(ident), int(epoch)), key
    except ValueError:
        raise click.BadParameter(f"{text!r}: use EPOCH=HEX or KIND:ID:EPOCH=HEX") from None


def key_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--trusted-key", "trusted_keys", multiple=True,
                     help="A device key you trust (repeatable); other signers are WRONG_SIGNER.")(f)
    f = click.option("--decrypt", is_flag=True,
                     help="Open encrypted content with --account's key (via the key envelopes published on-chain).")(f)
    f = click.option("--data-key", "data_keys", multiple=True,
                     help="A data key for encrypted content: EPOCH=HEX or KIND:ID:EPOCH=HEX (repeatable).")(f)
    return f


def make_verifier(cli: CliContext, data_keys: Sequence[str] = (), decrypt: bool = False,
                  trusted_keys: Sequence[str] = (), gap_ms: int | None = None) -> Verifier:
    sources: list[KeySource] = []
    if data_keys:
        parsed: dict[tuple[str, int | None, int], bytes] = {}
        for text in data_keys:
            (kind, ident, epoch), key = _parse_data_key(text)
            parsed[(kind, ident, epoch)] = key
            if ident is None:  # EPOCH=HEX: any subject
                for other in ("doc", "aml"):
                    parsed[(other, None, epoch)] = key
        sources.append(StaticKeys(parsed))
    if decrypt:
        if cli.account is None:
            raise click.UsageError("--decrypt needs --account (the reader whose key opens the envelopes)")
        sources.append(PublishedKeys(cli.chain, cli.store, bytes(cli.account.key)))
    keys = ChainedKeys(sources) if sources else None
    return Verifier(Ledger(cli.chain), cli.store, keys=keys, trusted_keys=trusted_keys or None, gap_ms=gap_ms)


def _stderr() -> Console:
    return Console(file=sys.stderr, highlight=False)


@contextmanager
def feed_progress(enabled: bool) -> Iterator[Callable[[str, int, int, int], None]]:
    """A rich progress bar (stderr) for long feeds; yields a callback (label, done, total, readings)."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[r]}"),
                   TimeElapsedColumn(), console=_stderr(), transient=True, disable=not enabled)
    tasks: dict[str, Any] = {}
    with bar:
        def update(label: str, done: int, total: int, readings: int) -> None:
            if total < PROGRESS_MIN_BATCHES:
                return
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total, r="")
            bar.update(tasks[label], completed=done, r=f"{readings:,} readings")

        yield update


def echo_findings(findings: Sequence[Finding], show_info: bool = True) -> None:
    for f in findings:
        if f.severity is Severity.INFO and not show_info:
            continue
        click.echo(str(f))


def finish(status: Status, what: str, strict: bool) -> None:
    click.echo(f"VERDICT: {status.value.upper()} — {what}")
    if status is Status.FAIL or (strict and status is Status.WARN):
        sys.exit(EXIT_FAILED)


def _counts(findings: Sequence[Finding]) -> str:
    e = sum(f.severity is Severity.ERROR for f in findings)
    w = sum(f.severity is Severity.WARNING for f in findings)
    return f"{e} error(s), {w} warning(s)"


# ---------------------------------------------------------------------------------------------
# verify


@click.group("verify")
def verify_group() -> None:
    """Verify readings, batches, feeds and twins against the chain, trusting no one."""


@verify_group.command("reading")
@click.argument("feed", type=click.IntRange(min=1))
@click.argument("seq", type=click.IntRange(min=0), required=False)
@click.argument("index", type=click.IntRange(min=0), required=False)
@click.option("--rid", type=click.IntRange(min=0), help="Find the reading by its id instead of SEQ INDEX.")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@key_options
@pass_cli
def verify_reading_cmd(cli: CliContext, feed: int, seq: int | None, index: int | None, rid: int | None, strict: bool,
                       data_keys: tuple[str, ...], decrypt: bool, trusted_keys: tuple[str, ...]) -> None:
    """One reading: its batch, and its Merkle proof here and in SensorFeed.verifyReading."""
    verifier = make_verifier(cli, data_keys, decrypt, trusted_keys)
    if rid is not None:
        seq, index = verifier.find_reading(feed, rid)
    elif seq is None or index is None:
        raise click.UsageError("give SEQ and INDEX, or --rid")
    result = verifier.verify_reading(feed, seq, index)
    r = result.reading
    if r is not None:
        click.echo(f"feed {feed} seq {seq} reading {index}: rid {r.rid} {r.sensor} t={r.t_ms} ({_iso(r.t_ms)}) "
                   f"value {r.value} quality {_flags(r.quality)}")
        click.echo(f"leaf 0x{result.leaf.hex() if result.leaf else ''}, proof of {len(result.proof)} hashes, "
                   f"on-chain root 0x{(result.onchain_root or b'').hex()}")
        click.echo(f"proof here: {'valid' if result.proof_ok else 'INVALID'}; "
                   f"SensorFeed.verifyReading: {'true' if result.onchain_ok else 'FALSE'}")
    if result.batch.signature is not None:
        click.echo(f"anchor: {result.batch.signature.label}")
    echo_findings(result.findings)
    status = Status.FAIL if not result.ok else result.status
    finish(status, f"reading {index} of feed {feed} seq {seq}: {_counts(result.findings)}", strict)


@verify_group.command("batch")
@click.argument("feed", type=click.IntRange(min=1))
@click.argument("seq", type=click.IntRange(min=0))
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@key_options
@pass_cli
def verify_batch_cmd(cli: CliContext, feed: int, seq: int, strict: bool, data_keys: tuple[str, ...], decrypt: bool,
                     trusted_keys: tuple[str, ...]) -> None:
    """One batch: content by CID, Merkle root, head, signature, on-chain root."""
    verifier = make_verifier(cli, data_keys, decrypt, trusted_keys)
    result = verifier.verify_batch(feed, seq)
    a = result.anchor
    click.echo(f"feed {feed} seq {seq}: cid {a.cid}, {a.count} readings, t {_iso(a.t_first)} .. {_iso(a.t_last)}, "
               f"block {a.block}")
    if result.signature is not None:
        click.echo(f"anchor: {result.signature.label}")
    click.echo("Merkle root: " + ("recomputed and equal" if result.root_checked else "not confirmed"))
    echo_findings(result.findings)
    finish(result.status, f"batch {seq} of feed {feed}: {_counts(result.findings)}", strict)


@verify_group.command("feed")
@click.argument("feed", type=click.IntRange(min=1))
@click.option("--from-seq", type=click.IntRange(min=0), help="First batch whose content is checked.")
@click.option("--to-seq", type=click.IntRange(min=0), help="Last batch whose content is checked.")
@click.option("--gap-ms", type=click.IntRange(min=1), help="Report pauses longer than this (default: adaptive).")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@key_options
@pass_cli
def verify_feed_cmd(cli: CliContext, feed: int, from_seq: int | None, to_seq: int | None, gap_ms: int | None,
                    strict: bool, data_keys: tuple[str, ...], decrypt: bool, trusted_keys: tuple[str, ...]) -> None:
    """A whole feed: every batch, the head chain, signatures, gaps, order and duplicates."""
    verifier = make_verifier(cli, data_keys, decrypt, trusted_keys, gap_ms)
    seqs = None
    if from_seq is not None or to_seq is not None:
        seqs = range(from_seq or 0, to_seq + 1 if to_seq is not None else 2**40)
    with feed_progress(sys.stderr.isatty()) as update:
        result = verifier.verify_feed(feed, seqs=seqs, progress=lambda d, t, r: update(f"feed {feed}", d, t, r))
    _feed_summary(result)
    echo_findings(result.findings)
    finish(result.status, f"feed {feed}: {_counts(result.findings)}", strict)


def _feed_summary(result: FeedResult) -> None:
    signed = sum(1 for b in result.batches if b.signature and b.signature.status == "signed")
    unsigned = sum(1 for b in result.batches if b.signature and b.signature.status == "unsigned")
    encrypted = sum(1 for b in result.batches if b.encrypted)
    click.echo(f"feed {result.feed_id} ({result.sensor}, twin {result.twin}, {result.status_on_chain}): "
               f"{len(result.batches)} batches, {result.readings_checked:,} readings verified in "
               f"{result.seconds:.2f} s ({result.rate:,.0f}/s); {signed} signed, {unsigned} unsigned, "
               f"{encrypted} encrypted")
    if result.successor:
        click.echo(f"  retired; succeeded by feed {result.successor}")


@verify_group.command("twin")
@click.argument("twin", type=click.IntRange(min=1))
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@key_options
@pass_cli
def verify_twin_cmd(cli: CliContext, twin: int, strict: bool, data_keys: tuple[str, ...], decrypt: bool,
                    trusted_keys: tuple[str, ...]) -> None:
    """A whole twin: its feeds (and successors), specification versions and documents."""
    verifier = make_verifier(cli, data_keys, decrypt, trusted_keys)
    with feed_progress(sys.stderr.isatty()) as update:
        result = verifier.verify_twin(twin, progress=update)
    click.echo(f"twin {twin} ({result.info['name']}, {result.info['phase']}): {len(result.feeds)} feed(s), "
               f"{len(result.spec_versions)} spec version(s), {len(result.documents)} document(s), "
               f"{result.seconds:.2f} s")
    for f in result.feeds:
        _feed_summary(f)
        click.echo(f"  verdict: {f.status.value}")
    for v in result.spec_versions:
        click.echo(f"spec version {v.version} ({v.cid}): {v.status.value}")
    for d in result.documents:
        click.echo(f"document {d.doc_id} {d.name!r}: {len(d.versions)} version(s), {d.status.value}")
    echo_findings(result.findings)
    finish(result.status, f"twin {twin}: {_counts(result.findings)}", strict)


# ---------------------------------------------------------------------------------------------
# feed


@click.group("feed")
def feed_group() -> None:
    """List, follow and export sensor feeds."""


@feed_group.command("register")
@click.argument("twin", type=click.IntRange(min=1))
@click.argument("component")
@click.option("--device", "device", required=True, metavar="ADDRESS",
              help="Address of the device key that signs this feed's batches.")
@pass_cli
def feed_register_cmd(cli: CliContext, twin: int, component: str, device: str) -> None:
    """Register a sensor feed for COMPONENT (name, AML ID or 0x id) of TWIN, signed by --device."""
    from .base import require_account
    from .parties import address
    from ...ledger.provision import register_feed
    from ...ledger.twinview import load_twin

    require_account(cli)
    info = load_twin(cli.chain, cli.store, twin).resolve_component(component)
    feed = register_feed(cli.chain, twin, info.id, address(device))
    click.echo(f"Registered feed {feed} for {info.name} of twin {twin}, device key {address(device)}")


@feed_group.command("list")
@click.option("--twin", type=click.IntRange(min=1), help="Only the feeds of this twin.")
@pass_cli
def feed_list_cmd(cli: CliContext, twin: int | None) -> None:
    """Feeds with their twin, sensor, device key, batches and status, and whether they are encrypted and for
    whom (the readers of the latest key epoch published for the feed)."""
    ledger = Ledger(cli.chain)
    ids = ledger.feeds_of_twin(twin) if twin else list(range(1, ledger.feed_count() + 1))
    click.echo(f"{'feed':>5} {'twin':>5} {'sensor':<20} {'batches':>8} {'status':<8} {'successor':>9}  "
               f"{'device key':<42}  encrypted for")
    for fid in ids:
        s = ledger.feed_state(fid)
        name = _component(ledger, s.twin, s.component)
        click.echo(f"{fid:>5} {s.twin:>5} {name:<20} {s.next_seq:>8} {s.status:<8} {s.successor or '-':>9}  "
                   f"{s.device_key:<42}  {_feed_sharing(cli, s.twin, fid)}")
    if not ids:
        click.echo("no feeds")


def _feed_sharing(cli: CliContext, twin: int, feed: int) -> str:
    from ...crypto import CryptoError, Subject
    from ...ipfs import IpfsError
    from ...ledger.sharing import describe_recipients, latest_sharing

    try:
        sharing = latest_sharing(cli.chain, cli.store, twin, Subject.feed(feed))
    except (CryptoError, IpfsError) as exc:
        return f"? ({type(exc).__name__})"
    if sharing is None:
        return "-"
    return f"epoch {sharing.epoch}: {describe_recipients(sharing.recipients)}"


def _component(ledger: Ledger, twin: int, component: bytes) -> str:
    try:
        return ledger.component(twin, component, block="latest").name or "0x" + component.hex()[:12]
    except Exception:  # noqa: BLE001 - only a label
        return "0x" + component.hex()[:12]


@feed_group.command("tail")
@click.argument("feed", type=click.IntRange(min=1))
@click.option("--last", "last_batches", default=1, show_default=True, type=click.IntRange(min=0),
              help="Batches already anchored to print first.")
@click.option("--once", is_flag=True, help="Print the last batches and stop (do not follow).")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many readings.")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(min=0.05),
              help="Seconds between polls for new anchors.")
@key_options
@pass_cli
def feed_tail_cmd(cli: CliContext, feed: int, last_batches: int, once: bool, count: int | None, interval: float,
                  data_keys: tuple[str, ...], decrypt: bool, trusted_keys: tuple[str, ...]) -> None:
    """Follow a feed: print each new batch's readings, each marked verified or not."""
    verifier = make_verifier(cli, data_keys, decrypt, trusted_keys)
    ledger = verifier.ledger
    anchors = sorted(ledger.anchors(feed), key=lambda a: a.seq)
    printed = 0
    start = max(len(anchors) - last_batches, 0)
    prev_head = anchors[start - 1].head if start > 0 else GENESIS_HEAD
    pending = anchors[start:]
    last_block = anchors[-1].block if anchors else ledger.from_block - 1
    try:
        while True:
            state = ledger.feed_state(feed)
            history = ledger.key_history(feed)
            for a in pending:
                result = verifier.check_anchor(a, prev_head, state.twin, state.component, history)
                if next_head(prev_head, *_fields(a)) != a.head:
                    result.findings.append(Finding.of(Kind.HEAD_MISMATCH, Location(feed=a.feed_id, seq=a.seq, cid=a.cid),
                                                      "the head does not follow from the previous anchor"))
                prev_head = a.head
                printed += _print_batch(result, None if count is None else count - printed)
                if count is not None and printed >= count:
                    return
            if once:
                return
            time.sleep(interval)
            ledger.refresh()
            new = ledger.anchors(feed, from_block=last_block + 1)
            pending = sorted(new, key=lambda a: a.seq)
            if new:
                last_block = max(a.block for a in new)
    except KeyboardInterrupt:
        pass


def _fields(a: AnchorRecord) -> tuple[int, int, bytes, bytes, int, int, int]:
    return (a.feed_id, a.seq, a.root, a.cid_digest, a.count, a.t_first, a.t_last)


def _print_batch(result: BatchResult, limit: int | None) -> int:
    a = result.anchor
    sig = result.signature.label if result.signature else "?"
    click.echo(f"# feed {a.feed_id} seq {a.seq} ({a.count} readings, cid {a.cid}, block {a.block}): {sig}")
    for f in result.findings:
        if f.severity is not Severity.INFO:
            click.echo(f"#   {f}")
    if result.readings is None:
        click.echo("#   readings not available" + (" (encrypted)" if result.encrypted else ""))
        return 0
    mark = "verified" if result.verified else "UNVERIFIED"
    n = 0
    for i, r in enumerate(result.readings):
        if limit is not None and n >= limit:
            break
        click.echo(f"{a.seq}\t{i}\t{r.rid}\t{_iso(r.t_ms)}\t{r.sensor}\t{r.value!r}\t{_flags(r.quality)}\t{mark}")
        n += 1
    return n


@feed_group.command("export")
@click.argument("feed", type=click.IntRange(min=1))
@click.option("--from", "t_from", help="Earliest reading time: ISO 8601 (UTC if no zone) or ms since the epoch.")
@click.option("--to", "t_to", help="Latest reading time, same forms.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True)
@key_options
@pass_cli
def feed_export_cmd(cli: CliContext, feed: int, t_from: str | None, t_to: str | None, fmt: str, output: Path,
                    data_keys: tuple[str, ...], decrypt: bool, trusted_keys: tuple[str, ...]) -> None:
    """Export readings with a `verified` column (its batch checks out against the chain) and a `suspect`
    column (quality flags, or a finding that names the reading)."""
    lo = _parse_time(t_from) if t_from else 0
    hi = _parse_time(t_to) if t_to else 2**64 - 1
    verifier = make_verifier(cli, data_keys, decrypt, trusted_keys)
    anchors = verifier.ledger.anchors(feed)
    seqs: Container[int] = {a.seq for a in anchors if a.t_last >= lo and a.t_first <= hi}
    with feed_progress(sys.stderr.isatty()) as update:
        result = verifier.verify_feed(feed, seqs=seqs, keep_readings=True,
                                      progress=lambda d, t, r: update(f"feed {feed}", d, t, r))
    rows = export_rows(result, lo, hi)
    write_rows(rows, output, fmt)
    verified = sum(1 for r in rows if r["verified"])
    click.echo(f"{len(rows)} readings written to {output} ({verified} verified, {len(rows) - verified} not)")
    echo_findings([f for f in result.findings if f.severity is not Severity.INFO])


EXPORT_COLUMNS = ("feed", "seq", "index", "rid", "sensor", "t_ms", "time", "value", "quality", "flags", "verified",
                  "suspect", "cid")


def export_rows(result: FeedResult, lo: int = 0, hi: int = 2**64 - 1) -> list[dict[str, Any]]:
    flagged = {(f.location.seq, f.location.index) for f in result.findings if f.location.index is not None}
    rows = []
    for b in result.batches:
        for i, r in enumerate(b.readings or ()):
            if lo <= r.t_ms <= hi:
                rows.append({"feed": result.feed_id, "seq": b.anchor.seq, "index": i, "rid": r.rid,
                             "sensor": r.sensor, "t_ms": r.t_ms, "time": _iso(r.t_ms), "value": r.value,
                             "quality": r.quality, "flags": _flags(r.quality), "verified": b.verified,
                             "suspect": bool(r.quality) or (b.anchor.seq, i) in flagged, "cid": b.anchor.cid})
    return rows


def write_rows(rows: Sequence[dict[str, Any]], output: Path, fmt: str) -> None:
    if fmt == "csv":
        with output.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=EXPORT_COLUMNS)
            w.writeheader()
            w.writerows(rows)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"feed": pa.uint64(), "seq": pa.uint64(), "index": pa.uint32(), "rid": pa.uint64(), "sensor": pa.string(),
             "t_ms": pa.uint64(), "time": pa.string(), "value": pa.float64(), "quality": pa.uint8(),
             "flags": pa.string(), "verified": pa.bool_(), "suspect": pa.bool_(), "cid": pa.string()}
    table = pa.table({c: pa.array([r[c] for r in rows], type=types[c]) for c in EXPORT_COLUMNS})
    pq.write_table(table, output)


def _parse_time(text: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r}: use ISO 8601 or ms since the epoch") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1000)


def _iso(t_ms: int) -> str:
    t = datetime.fromtimestamp(t_ms / 1000, tz=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t_ms % 1000:03d}Z"


def _flags(quality: int) -> str:
    if not quality:
        return "-"
    return "|".join(f.name or "" for f in Quality if f and quality & f)


# ---------------------------------------------------------------------------------------------
# watch


@click.command("watch")
@click.option("--twin", "twins", multiple=True, type=click.IntRange(min=1), help="Only this twin (repeatable).")
@click.option("--from-block", type=click.IntRange(min=0), help="Start here (default: the next block).")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many notifications.")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(min=0.05),
              help="Seconds between polls.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@pass_cli
def watch_cmd(cli: CliContext, twins: tuple[int, ...], from_block: int | None, count: int | None,
              interval: float, timeout: float | None) -> None:
    """Notify ledger events of the twins this account can read (or of --twin), by polling logs."""
    ledger = Ledger(cli.chain)
    account = cli.account.address if cli.account is not None else None
    readable = TwinFilter(ledger, set(twins) or None, account)
    start = ledger.to_block + 1 if from_block is None else from_block
    seen = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while deadline is None or time.monotonic() < deadline:
            end = ledger.refresh()
            if end >= start:
                for e in ledger_events(ledger, start, end):
                    twin = readable.twin_of(e)
                    if twin is None or not readable.allows(twin):
                        continue
                    click.echo(f"block {e.block} twin {twin} {e.contract}.{e.name} {_args(e)}")
                    seen += 1
                    if count is not None and seen >= count:
                        return
                start = end + 1
            time.sleep(interval)
    except KeyboardInterrupt:
        pass


def ledger_events(ledger: Ledger, start: int, end: int) -> list[LedgerEvent]:
    """Events of all three contracts in [start, end], in chain order."""
    names = {c.address.lower(): n for n, c in (("Authorization", ledger.auth), ("Specification", ledger.spec),
                                                 ("SensorFeed", ledger.feeds))}
    out = []
    for log in ledger.reader.logs(list(ledger.chain.w3.to_checksum_address(a) for a in names), [], start, end):
        e = ledger.decode(names[log["address"].lower()], log)
        if e is not None:
            out.append(e)
    return sorted(out, key=lambda e: (e.block, e.log_index))


class TwinFilter:
    """Which twin an event concerns, and whether the account may read it (asked once per twin)."""

    def __init__(self, ledger: Ledger, twins: set[int] | None, account: str | None) -> None:
        self.ledger = ledger
        self.twins = twins
        self.account = account
        self._feed_twin: dict[int, int] = {}
        self._allowed: dict[int, bool] = {}

    def twin_of(self, e: LedgerEvent) -> int | None:
        twin = e.twin
        if twin is not None:
            return twin
        feed = e.args.get("feedId")
        if feed is None:
            return None
        if feed not in self._feed_twin:
            self._feed_twin[int(feed)] = self.ledger.feed_state(int(feed), block="latest").twin
        return self._feed_twin[int(feed)]

    def allows(self, twin: int) -> bool:
        if self.twins is not None:
            return twin in self.twins
        if self.account is None:
            return True
        if twin not in self._allowed:
            self._allowed[twin] = contracts.can_read(self.ledger.chain, twin, self.account, bytes(32))
        return self._allowed[twin]


def _args(e: LedgerEvent) -> str:
    parts = []
    for k, v in e.args.items():
        if k in ("twin", "child"):
            continue
        if isinstance(v, (bytes, bytearray)):
            v = "0x" + bytes(v).hex()
        parts.append(f"{k}={v}")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# audit


@click.group("audit")
def audit_group() -> None:
    """Audit reports."""


@audit_group.command("report")
@click.option("--twin", type=click.IntRange(min=1), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), default="report.html",
              show_default=True)
@click.option("--strict", is_flag=True, help="Exit non-zero on warnings too.")
@key_options
@pass_cli
def audit_report_cmd(cli: CliContext, twin: int, output: Path, strict: bool, data_keys: tuple[str, ...],
                     decrypt: bool, trusted_keys: tuple[str, ...]) -> None:
    """Verify a twin and write a self-contained HTML report (history, plots, coverage, calls, verdicts).
    The report is written even when verification fails; the exit status then is 1."""
    verifier = make_verifier(cli, data_keys, decrypt, trusted_keys)
    with feed_progress(sys.stderr.isatty()) as update:
        result = verifier.verify_twin(twin, keep_readings=True, progress=update)
    report = build_report(verifier, result)
    write_report(report, output)
    click.echo(f"report written to {output}")
    echo_findings(result.findings, show_info=False)
    finish(result.status, f"twin {twin}: {_counts(result.findings)}", strict)
