"""Pure parts of the verifier: the fast Merkle root, batch content checks, reading-id tracking,
coverage, calldata decoding and the export rows. No chain needed."""
from __future__ import annotations

import dataclasses

import pytest
from eth_abi import encode as abi_encode

from twinledger.agent.publish import merkle_tree
from twinledger.cli.commands.verification import _parse_data_key, _parse_time, export_rows
from twinledger.ledger.reader import ANCHOR_MANY_SELECTOR, ANCHOR_SELECTOR, AnchorRecord, decode_anchor_input
from twinledger.verify import (
    BatchResult,
    FeedResult,
    Kind,
    Severity,
    check_batch_bytes,
    coverage,
    merkle_root,
    status_of,
    Finding,
    Location,
    Status,
)
from twinledger.verify.feed import _RidTracker
from twinledger.formats import cids
from twinledger.formats.batch import Batch, encode_batch
from twinledger.formats.merkle import MerkleTree, leaf_hash

from verify_support import synthetic_batch


def anchor_of(batch: Batch, data: bytes | None = None, **changes) -> AnchorRecord:
    data = encode_batch(batch) if data is None else data
    digest, _ = cids.pack(cids.raw_cid_of(data))
    a = AnchorRecord(batch.feed, batch.seq, merkle_tree(batch).root, digest, batch.count, batch.t_first,
                     batch.t_last, bytes(32), 1, 0, "0x" + "00" * 32)
    return dataclasses.replace(a, **changes)


def test_fast_root_equals_the_reference_tree_for_every_size() -> None:
    for n in range(1, 300):
        leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
        assert merkle_root(leaves) == MerkleTree(leaves).root, n


def test_batch_content_checks() -> None:
    batch = synthetic_batch(3, 7, 30)
    ok = check_batch_bytes(encode_batch(batch), anchor_of(batch))
    assert ok.findings == [] and ok.root_checked and ok.readings == batch.readings

    wrong_count = check_batch_bytes(encode_batch(batch), anchor_of(batch, count=31))
    assert [f.kind for f in wrong_count.findings] == [Kind.METADATA_MISMATCH]

    elsewhere = check_batch_bytes(encode_batch(batch), anchor_of(batch, seq=8))
    assert [f.kind for f in elsewhere.findings] == [Kind.MISPLACED]

    junk = check_batch_bytes(b"\xa4junk", anchor_of(batch))
    assert [f.kind for f in junk.findings] == [Kind.UNDECODABLE]

    changed = Batch(3, 7, (dataclasses.replace(batch.readings[0], value=99.0),) + batch.readings[1:])
    forged = check_batch_bytes(encode_batch(changed), anchor_of(batch))
    assert [f.kind for f in forged.findings] == [Kind.TAMPERED] and not forged.root_checked


def test_rid_tracker_finds_replays_and_conflicts() -> None:
    b0, b1 = synthetic_batch(1, 0, 10), synthetic_batch(1, 1, 10)
    stored = {0: b0.readings, 1: b1.readings}
    tracker = _RidTracker(1, stored.get)
    assert tracker.add(anchor_of(b0), b0.readings) == []
    assert tracker.add(anchor_of(b1), b1.readings) == []
    replay = Batch(1, 2, b1.readings[3:5])
    found = tracker.add(anchor_of(replay), replay.readings)
    dups = [f for f in found if f.kind is Kind.DUPLICATE]
    assert [(f.location.rid, f.severity) for f in dups] == [(13, Severity.WARNING), (14, Severity.WARNING)]
    assert Kind.REORDERED in {f.kind for f in found}
    conflict = Batch(1, 3, (dataclasses.replace(b0.readings[2], value=-1.0),))
    [_, dup] = tracker.add(anchor_of(conflict), conflict.readings)
    assert dup.severity is Severity.ERROR and "seq 0 reading 2" in dup.message


def test_coverage_and_gaps() -> None:
    spans = [(0, 900), (1000, 1900), (2000, 2900), (60_000, 60_900), (61_000, 61_900)]
    anchors = [AnchorRecord(1, i, b"", b"", 1, a, b, b"", 0, 0, "") for i, (a, b) in enumerate(spans)]
    covered, gaps, threshold = coverage(anchors)
    assert gaps == [(2900, 60_000)] and covered == [(0, 2900), (60_000, 61_900)] and threshold == 5000
    assert coverage(anchors, gap_ms=100_000)[1] == []


def test_anchor_calldata_decoding() -> None:
    args = (5, 9, b"\x01" * 32, b"\x02" * 32, 3, 10, 20, b"\x33" * 65)
    single = decode_anchor_input(ANCHOR_SELECTOR + abi_encode(
        ["uint256", "uint64", "bytes32", "bytes32", "uint32", "uint64", "uint64", "bytes"], args))
    assert len(single) == 1 and single[0].signature == b"\x33" * 65 and single[0].seq == 9
    many = decode_anchor_input(ANCHOR_MANY_SELECTOR + abi_encode(
        ["(uint256,uint64,bytes32,bytes32,uint32,uint64,uint64,bytes)[]"], [[args, (6, 0, *args[2:7], b"")]]))
    assert [(c.feed_id, c.seq, c.signature) for c in many] == [(5, 9, b"\x33" * 65), (6, 0, b"")]
    assert decode_anchor_input(b"\x12\x34\x56\x78" + b"\x00" * 64) == ()
    assert decode_anchor_input(ANCHOR_SELECTOR + b"\x01") == ()


def test_status_and_export_rows() -> None:
    loc = Location(feed=1)
    assert status_of([]) is Status.PASS
    assert status_of([Finding.of(Kind.KEY_ROTATED, loc, "")]) is Status.PASS
    assert status_of([Finding.of(Kind.UNSIGNED, loc, "")]) is Status.WARN
    assert status_of([Finding.of(Kind.UNSIGNED, loc, ""), Finding.of(Kind.GAP, loc, "")]) is Status.FAIL

    batch = synthetic_batch(1, 0, 4, flag_every=3)
    good = BatchResult(anchor_of(batch), readings=batch.readings, root_checked=True)
    late = Finding.of(Kind.REORDERED, Location(feed=1, seq=0, index=1), "late")
    feed = FeedResult(1, 1, "s", "active", 0, [good], [late], 4, 1.0)
    rows = export_rows(feed)
    assert [r["verified"] for r in rows] == [True] * 4
    assert [r["suspect"] for r in rows] == [True, True, False, True]  # flags at 0 and 3, a finding at 1
    assert rows[0]["flags"] == "SPIKE" and rows[0]["time"].endswith("Z")
    assert len(export_rows(feed, lo=batch.readings[1].t_ms, hi=batch.readings[2].t_ms)) == 2


def test_cli_parsers() -> None:
    assert _parse_time("1736931600000") == 1_736_931_600_000
    assert _parse_time("2025-01-15T09:00:00Z") == 1_736_931_600_000
    assert _parse_time("2025-01-15T09:00:00") == 1_736_931_600_000
    assert _parse_data_key("3=" + "ab" * 32) == (("feed", None, 3), b"\xab" * 32)
    assert _parse_data_key("doc:4:1=" + "00" * 32)[0] == ("doc", 4, 1)
    import click

    with pytest.raises(click.BadParameter):
        _parse_data_key("nonsense")
