"""`feed`: register, list, follow and export sensor feeds, each reading marked verified or not.

`feed export` never leaves anything out silently: a batch in the range that is missing, tampered or
fails otherwise makes it refuse with exit status 1, or, with `--keep-going`, write what can be read
(the finding in every affected row, one row per unreadable batch) and still exit 1.
"""
from __future__ import annotations

import csv
import sys
import time
from collections.abc import Container, Sequence
from pathlib import Path
from typing import Any

import click

from ...formats.headchain import GENESIS_HEAD, next_head
from ...ledger.reader import AnchorRecord, Ledger
from ...verify import BatchResult, FeedResult, Finding, Kind, Location, Severity
from ..context import CliContext, UsageError
from .verification import (
    EXIT_FAILED,
    _flags,
    _iso,
    _parse_time,
    echo_findings,
    feed_progress,
    key_options,
    make_verifier,
    pass_cli,
)


# ---------------------------------------------------------------------------------------------
# feed


@click.group("feed")
def feed_group() -> None:
    """List, follow and export sensor feeds."""


@feed_group.command("register")
@click.argument("twin", type=click.IntRange(min=1))
@click.argument("component")
@click.option("--device", "device", metavar="ADDRESS",
              help="Address of the device key that signs this feed's batches.")
@click.option("--new-device-key", "new_key", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Make a fresh device key in an encrypted keystore FILE and register its address (passphrase "
                   "from $TWINLEDGER_KEYSTORE_PASSPHRASE, else asked).")
@pass_cli
def feed_register_cmd(cli: CliContext, twin: int, component: str, device: str | None, new_key: Path | None) -> None:
    """Register a sensor feed for COMPONENT (name, AML ID or 0x id) of TWIN, signed by --device (or by a new key
    made with --new-device-key)."""
    from .base import require_account
    from .parties import address
    from ...ledger.provision import register_feed
    from ...ledger.twinview import load_twin

    if (device is None) == (new_key is None):
        raise UsageError("give exactly one of --device ADDRESS and --new-device-key FILE")
    require_account(cli)
    info = load_twin(cli.chain, cli.store, twin).resolve_component(component)
    signer = address(device) if device is not None else _new_device_key(new_key)
    feed = register_feed(cli.chain, twin, info.id, signer)
    click.echo(f"Registered feed {feed} for {info.name} of twin {twin}, device key {signer}")
    if new_key is not None:
        click.echo(f"Its key is in {new_key}: give it to the agent as device_key_file.")


def _new_device_key(path: Path | None) -> str:
    """Write a fresh key to an encrypted keystore at `path` and return its address."""
    import os

    from eth_account import Account

    from ...chain.keystore import DEFAULT_PASSPHRASE_ENV, write_keystore

    assert path is not None
    if path.exists():
        raise UsageError(f"{path} exists: pass --device with its address, or choose a new file")
    passphrase = os.environ.get(DEFAULT_PASSPHRASE_ENV) or click.prompt(
        "passphrase for the new device keystore", hide_input=True, confirmation_prompt=True)
    key = Account.create()
    write_keystore(path, bytes(key.key), passphrase)
    return str(key.address)


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
    ledger.require_feed(feed)
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
@click.option("--keep-going", is_flag=True,
              help="When batches fail verification, still write what can be read: every affected row names its "
                   "finding, each unreadable batch gets one row; the exit status stays 1.")
@key_options
@pass_cli
def feed_export_cmd(cli: CliContext, feed: int, t_from: str | None, t_to: str | None, fmt: str, output: Path,
                    keep_going: bool, data_keys: tuple[str, ...], decrypt: bool, trusted_keys: tuple[str, ...]) -> None:
    """Export readings with a `verified` column (its batch checks out against the chain), a `suspect`
    column (quality flags, or a finding that names the reading) and a `finding` column. A batch in the
    range that is missing, tampered or otherwise fails makes the export refuse (exit 1) unless
    --keep-going is given: nothing is left out silently."""
    lo = _parse_time(t_from) if t_from else 0
    hi = _parse_time(t_to) if t_to else 2**64 - 1
    verifier = make_verifier(cli, data_keys, decrypt, trusted_keys)
    verifier.ledger.require_feed(feed)
    anchors = verifier.ledger.anchors(feed)
    seqs: Container[int] = {a.seq for a in anchors if a.t_last >= lo and a.t_first <= hi}
    with feed_progress(sys.stderr.isatty()) as update:
        result = verifier.verify_feed(feed, seqs=seqs, keep_readings=True,
                                      progress=lambda d, t, r: update(f"feed {feed}", d, t, r))
    problems = export_problems(result)
    echo_findings([f for f in result.findings if f.severity is not Severity.INFO])
    if problems and not keep_going:
        raise click.ClickException(f"export refused, nothing written: {problems}; pass --keep-going to write the "
                                   "rows that can be read, each affected row marked with its finding")
    rows = export_rows(result, lo, hi)
    write_rows(rows, output, fmt)
    readings = [r for r in rows if r["index"] is not None]
    verified = sum(1 for r in readings if r["verified"])
    click.echo(f"{len(readings)} readings written to {output} ({verified} verified, {len(readings) - verified} not)")
    if problems:
        click.echo(f"INCOMPLETE: {problems}; every affected row names its finding in the `finding` column")
        sys.exit(EXIT_FAILED)


EXPORT_COLUMNS = ("feed", "seq", "index", "rid", "sensor", "t_ms", "time", "value", "quality", "flags", "verified",
                  "suspect", "cid", "finding")


def _unreadable(b: BatchResult) -> bool:
    return b.readings is None


def export_problems(result: FeedResult) -> str:
    """What an export of `result` would not show as verified: '' when everything checks out."""
    failed = [b for b in result.batches if _unreadable(b) or not b.ok]
    orphan = [f for f in result.findings if f.severity is Severity.ERROR
              and f.location.seq not in {b.anchor.seq for b in result.batches}]
    if not failed and not orphan:
        return ""
    parts = []
    if failed:
        missing = sum(b.anchor.count for b in failed if _unreadable(b))
        shown = ", ".join(f"seq {b.anchor.seq} {_batch_problem(b)}" for b in failed[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        parts.append(f"{len(failed)} batch(es) of feed {result.feed_id} fail verification ({shown}{more}); "
                     f"{missing} reading(s) in them cannot be read")
    if orphan:
        parts.append("the feed itself fails: " + ", ".join(sorted({f.kind.value for f in orphan})))
    return "; ".join(parts)


def _batch_problem(b: BatchResult) -> str:
    kinds = sorted({f.kind.value for f in b.findings if f.severity is Severity.ERROR})
    if kinds:
        return "/".join(kinds)
    return "ENCRYPTED (pass --decrypt or --data-key)" if b.encrypted else "UNREADABLE"


def _finding_text(findings: Sequence[Finding]) -> str:
    return "; ".join(f"{f.kind.value}: {f.message}" for f in findings)


def export_rows(result: FeedResult, lo: int = 0, hi: int = 2**64 - 1) -> list[dict[str, Any]]:
    """One row per reading in [lo, hi], and one row (no reading fields) per batch whose content cannot be read.
    `finding` names every non-INFO finding of the reading or of its batch."""
    at_reading: dict[tuple[int | None, int], list[Finding]] = {}
    at_batch: dict[int | None, list[Finding]] = {}
    for f in result.findings:
        if f.severity is Severity.INFO:
            continue
        if f.location.index is not None:
            at_reading.setdefault((f.location.seq, f.location.index), []).append(f)
        else:
            at_batch.setdefault(f.location.seq, []).append(f)
    rows = []
    for b in result.batches:
        seq = b.anchor.seq
        batch_findings = at_batch.get(seq, []) + [f for f in b.findings if f.severity is not Severity.INFO
                                                  and f.location.index is None and f not in at_batch.get(seq, [])]
        if _unreadable(b):
            rows.append({"feed": result.feed_id, "seq": seq, "index": None, "rid": None, "sensor": None,
                         "t_ms": b.anchor.t_first, "time": _iso(b.anchor.t_first), "value": None, "quality": None,
                         "flags": "", "verified": False, "suspect": True, "cid": b.anchor.cid,
                         "finding": _finding_text(batch_findings) or f"{_batch_problem(b)}: {b.anchor.count} "
                                                                      "readings not readable"})
            continue
        for i, r in enumerate(b.readings or ()):
            if lo <= r.t_ms <= hi:
                mine = at_reading.get((seq, i), [])
                rows.append({"feed": result.feed_id, "seq": seq, "index": i, "rid": r.rid,
                             "sensor": r.sensor, "t_ms": r.t_ms, "time": _iso(r.t_ms), "value": r.value,
                             "quality": r.quality, "flags": _flags(r.quality), "verified": b.verified,
                             "suspect": bool(r.quality) or bool(mine), "cid": b.anchor.cid,
                             "finding": _finding_text(batch_findings + mine)})
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
             "flags": pa.string(), "verified": pa.bool_(), "suspect": pa.bool_(), "cid": pa.string(),
             "finding": pa.string()}
    table = pa.table({c: pa.array([r[c] for r in rows], type=types[c]) for c in EXPORT_COLUMNS})
    pq.write_table(table, output)
