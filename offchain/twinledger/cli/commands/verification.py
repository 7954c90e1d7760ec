"""`verify`, `watch` and `audit`: the auditor's commands, and the options and output they share with
`feed` (commands/feeds.py).

Findings go to stdout as one line each (severity, kind, exact location, message), then one verdict
line. `verify` and `audit report` exit with status 1 when anything fails verification, 3 when the
content store did not answer and nothing else failed (the content is then unverified, not damaged),
2 for usage errors (as click does); `--strict` also fails on warnings. Progress bars go to stderr.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ...formats.batch import Quality
from ...verify.audit import build_report
from ..context import CliContext
from ...ledger.follow import TwinFilter, ledger_events
from ...ledger.reader import Ledger, LedgerEvent
from ...verify.report import write_report
from ...verify import (
    ChainedKeys,
    FeedResult,
    Finding,
    KeySource,
    PublishedKeys,
    Severity,
    StaticKeys,
    Status,
    Verifier,
)
from ...verify.verifier import DEFAULT_GAP_TOLERANCE

pass_cli = click.make_pass_decorator(CliContext)
EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3
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


def gap_options(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--gap-tolerance", default=DEFAULT_GAP_TOLERANCE, show_default=True,
                        type=click.FloatRange(min=1.0),
                        help="A pause longer than this many sample intervals (at the sensor's AML SampleRate) "
                             "is a DATA_GAP.")(f)


def make_verifier(cli: CliContext, data_keys: Sequence[str] = (), decrypt: bool = False,
                  trusted_keys: Sequence[str] = (), gap_ms: int | None = None, rate_hz: float | None = None,
                  gap_tolerance: float = DEFAULT_GAP_TOLERANCE) -> Verifier:
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
    return Verifier(Ledger(cli.chain), cli.store, keys=keys, trusted_keys=trusted_keys or None, gap_ms=gap_ms,
                    rate_hz=rate_hz, gap_tolerance=gap_tolerance)


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
    if status is Status.UNAVAILABLE:
        click.echo(f"VERDICT: STORE UNAVAILABLE — {what}: the content store did not answer, so the content is "
                   "neither verified nor found damaged; run again when the store (--ipfs) is reachable")
        sys.exit(EXIT_UNAVAILABLE)
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
    status = result.status if result.ok or result.status is Status.UNAVAILABLE else Status.FAIL
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
@click.option("--gap-ms", type=click.IntRange(min=1),
              help="Without a known rate: note pauses between batches longer than this (default: adaptive).")
@click.option("--rate", "rate_hz", type=click.FloatRange(min=0, min_open=True),
              help="Expected rate in Hz, instead of the sensor's AML SampleRate.")
@gap_options
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@key_options
@pass_cli
def verify_feed_cmd(cli: CliContext, feed: int, from_seq: int | None, to_seq: int | None, gap_ms: int | None,
                    rate_hz: float | None, gap_tolerance: float, strict: bool, data_keys: tuple[str, ...],
                    decrypt: bool, trusted_keys: tuple[str, ...]) -> None:
    """A whole feed: every batch, the head chain, signatures, gaps against the expected rate, order and
    duplicates (two readings of the sensor with one source time)."""
    verifier = make_verifier(cli, data_keys, decrypt, trusted_keys, gap_ms, rate_hz, gap_tolerance)
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
@gap_options
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@key_options
@pass_cli
def verify_twin_cmd(cli: CliContext, twin: int, gap_tolerance: float, strict: bool, data_keys: tuple[str, ...],
                    decrypt: bool, trusted_keys: tuple[str, ...]) -> None:
    """A whole twin: its feeds (and successors; duplicates are looked for across the feeds of one sensor),
    specification versions and documents."""
    verifier = make_verifier(cli, data_keys, decrypt, trusted_keys, gap_tolerance=gap_tolerance)
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
@gap_options
@click.option("--strict", is_flag=True, help="Exit non-zero on warnings too.")
@key_options
@pass_cli
def audit_report_cmd(cli: CliContext, twin: int, output: Path, gap_tolerance: float, strict: bool,
                     data_keys: tuple[str, ...], decrypt: bool, trusted_keys: tuple[str, ...]) -> None:
    """Verify a twin and write a self-contained HTML report (history, plots, coverage, calls, verdicts).
    The report is written even when verification fails; the exit status then is 1."""
    verifier = make_verifier(cli, data_keys, decrypt, trusted_keys, gap_tolerance=gap_tolerance)
    with feed_progress(sys.stderr.isatty()) as update:
        result = verifier.verify_twin(twin, keep_readings=True, progress=update)
    report = build_report(verifier, result)
    write_report(report, output)
    click.echo(f"report written to {output}")
    echo_findings(result.findings, show_info=False)
    finish(result.status, f"twin {twin}: {_counts(result.findings)}", strict)
