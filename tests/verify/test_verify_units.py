"""Pure parts of the verifier: the fast Merkle root, batch content checks, reading-id tracking,
coverage, calldata decoding and the export rows. No chain needed."""
from __future__ import annotations

import dataclasses

import pytest
from eth_abi import encode as abi_encode

from twinledger.agent.publish import merkle_tree
from twinledger.cli.commands.feeds import export_problems, export_rows
from twinledger.cli.commands.verification import _parse_data_key, _parse_time
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
from twinledger.verify.feed import ReadingIndex, repeated_batches, sequence_findings
from twinledger.formats import cids
from twinledger.formats.batch import Batch, Reading, encode_batch
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


def test_reading_identity_finds_duplicates_within_and_across_batches_and_feeds() -> None:
    b0, b1 = synthetic_batch(1, 0, 10), synthetic_batch(1, 1, 10)
    index = ReadingIndex()
    assert index.add(anchor_of(b0), b0.readings) == []
    assert index.add(anchor_of(b1), b1.readings) == []
    # a replay under new reading ids (as after a restart that re-read its source)
    replay = Batch(1, 2, tuple(dataclasses.replace(r, rid=900 + k) for k, r in enumerate(b1.readings[3:5])))
    dups = index.add(anchor_of(replay), replay.readings)
    assert [(f.kind, f.severity, f.location.seq, f.location.index, f.location.rid) for f in dups] == [
        (Kind.DUPLICATE, Severity.ERROR, 2, 0, 900), (Kind.DUPLICATE, Severity.ERROR, 2, 1, 901)]
    assert "seq 1 reading 3" in dups[0].message and "identical: a replay" in dups[0].message
    conflict = Batch(1, 3, (dataclasses.replace(b0.readings[2], value=-1.0),))
    [dup] = index.add(anchor_of(conflict), conflict.readings)
    assert dup.kind is Kind.DUPLICATE and "seq 0 reading 2" in dup.message and "-1.0 here" in dup.message
    t = b1.readings[-1].t_ms + 50
    within = Batch(1, 4, (Reading(20, "level", t, 1.0, 0), Reading(21, "level", t, 1.0, 0)))
    [dup] = index.add(anchor_of(within), within.readings)
    assert (dup.location.seq, dup.location.index) == (4, 1) and "seq 4 reading 0" in dup.message
    other_feed = Batch(2, 0, (dataclasses.replace(b0.readings[5], rid=0),))
    [dup] = index.add(anchor_of(other_feed), other_feed.readings)
    assert dup.location.feed == 2 and "feed 1 seq 0 reading 5" in dup.message


def test_reading_ids_that_restart_are_not_duplicates() -> None:
    """A new outbox starts its ids at 0 again: identity is (sensor, source time, value), never the id."""
    index = ReadingIndex()
    first = synthetic_batch(1, 0, 10)
    second = synthetic_batch(1, 1, 10, rid0=0)
    assert index.add(anchor_of(first), first.readings) == []
    assert index.add(anchor_of(second), second.readings) == []
    another_sensor = Batch(1, 2, tuple(dataclasses.replace(r, sensor="flow") for r in first.readings))
    assert index.add(anchor_of(another_sensor), another_sensor.readings) == []


def _times_batch(seq: int, times: list[int]) -> Batch:
    return Batch(1, seq, tuple(Reading(seq * 1000 + k, "level", t, 1.0, 0) for k, t in enumerate(times)))


def test_gaps_inside_and_between_batches_against_the_expected_rate() -> None:
    t0 = 1_736_931_600_000
    inside = _times_batch(0, [t0 + 10 * k for k in range(50)] + [t0 + 490 + 7_000 + 10 * k for k in range(50)])
    between = _times_batch(1, [inside.readings[-1].t_ms + 2_450 + 10 * k for k in range(20)])
    index = ReadingIndex()
    for b in (inside, between):
        assert index.add(anchor_of(b), b.readings) == []
    gaps = index.gap_findings(1, 100.0, "SampleRate of s", 5.0)
    assert [(f.kind, f.severity, f.location.feed, f.location.seq, f.location.index) for f in gaps] == [
        (Kind.DATA_GAP, Severity.WARNING, 1, 0, 50), (Kind.DATA_GAP, Severity.WARNING, 1, 1, 0)]
    assert "for 7.00 s" in gaps[0].message and "about 699 readings expected at 100 Hz" in gaps[0].message
    assert f"from t={t0 + 490} to t={t0 + 7_490}" in gaps[0].message and "0 found" in gaps[0].message
    assert "for 2.45 s" in gaps[1].message and "seq 0 reading 99 to seq 1 reading 0" in gaps[1].message
    def places(found):
        return [(f.location.seq, f.location.index) for f in found]

    assert places(index.gap_findings(1, 100.0, "s", 300.0)) == [(0, 50)]  # a looser tolerance keeps the 7 s hole
    assert index.gap_findings(1, 0.1, "s", 5.0) == []  # at 0.1 Hz neither pause is a gap
    # a pause explained by a batch that could not be read is that batch's finding, not a gap
    span = (between.readings[0].t_ms - 1_000, between.readings[0].t_ms - 500)
    assert places(index.gap_findings(1, 100.0, "s", 5.0, unread=[span])) == [(0, 50)]


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
    down = Finding.of(Kind.STORE_UNAVAILABLE, loc, "")
    assert status_of([down, Finding.of(Kind.UNSIGNED, loc, "")]) is Status.UNAVAILABLE
    assert status_of([down, Finding.of(Kind.MISSING_BLOCK, loc, "")]) is Status.FAIL
    assert status_of([Finding.of(Kind.DATA_GAP, loc, "")]) is Status.WARN

    batch = synthetic_batch(1, 0, 4, flag_every=3)
    good = BatchResult(anchor_of(batch), readings=batch.readings, root_checked=True)
    late = Finding.of(Kind.REORDERED, Location(feed=1, seq=0, index=1), "late")
    feed = FeedResult(1, 1, "s", "active", 0, [good], [late], 4, 1.0)
    rows = export_rows(feed)
    assert [r["verified"] for r in rows] == [True] * 4
    assert [r["suspect"] for r in rows] == [True, True, False, True]  # flags at 0 and 3, a finding at 1
    assert rows[0]["flags"] == "SPIKE" and rows[0]["time"].endswith("Z")
    assert len(export_rows(feed, lo=batch.readings[1].t_ms, hi=batch.readings[2].t_ms)) == 2
    assert rows[1]["finding"] == "REORDERED: late" and rows[2]["finding"] == ""

    lost = synthetic_batch(1, 1, 4)
    missing = Finding.of(Kind.MISSING_BLOCK, Location(feed=1, seq=1), "not in the store")
    gone = BatchResult(anchor_of(lost), findings=[missing])
    feed = FeedResult(1, 1, "s", "active", 0, [good, gone], [late, missing], 4, 1.0)
    [placeholder] = [r for r in export_rows(feed) if r["seq"] == 1]
    assert placeholder["index"] is None and placeholder["value"] is None and not placeholder["verified"]
    assert placeholder["finding"] == "MISSING_BLOCK: not in the store" and placeholder["t_ms"] == lost.t_first
    assert export_problems(feed).startswith("1 batch(es) of feed 1 fail verification (seq 1 MISSING_BLOCK)")
    assert "4 reading(s) in them cannot be read" in export_problems(feed)


def test_cli_parsers() -> None:
    assert _parse_time("1736931600000") == 1_736_931_600_000
    assert _parse_time("2025-01-15T09:00:00Z") == 1_736_931_600_000
    assert _parse_time("2025-01-15T09:00:00") == 1_736_931_600_000
    assert _parse_data_key("3=" + "ab" * 32) == (("feed", None, 3), b"\xab" * 32)
    assert _parse_data_key("doc:4:1=" + "00" * 32)[0] == ("doc", 4, 1)
    import click

    with pytest.raises(click.BadParameter):
        _parse_data_key("nonsense")


def _leaf_anchor(seq: int, head: bytes, block: int) -> AnchorRecord:
    return AnchorRecord(1, seq, b"r", b"c", 1, seq, seq, head, block, 0, f"0x{block:064x}")


def test_a_repeated_batch_counts_once_as_its_copy_that_follows_the_batch_before() -> None:
    """seq 1 mined in block 5 before seq 0 (block 6), then again in block 6: the block-6 copy extends the chain;
    seq 2 twice after it: the first counts. A seq with two different heads is no repeat: both stay."""
    h0, h1, h2, other = b"\x00" * 32, b"\x01" * 32, b"\x02" * 32, b"\x09" * 32
    orphan, s0, s1, s2, s2_again = (_leaf_anchor(1, h1, 5), _leaf_anchor(0, h0, 6), _leaf_anchor(1, h1, 6),
                                    _leaf_anchor(2, h2, 7), _leaf_anchor(2, h2, 9))
    kept, findings = repeated_batches([s2_again, orphan, s1, s2, s0])
    assert kept == [s0, s1, s2]
    assert [(f.kind, f.location.seq, f.location.block, f.severity) for f in findings] == [
        (Kind.REPEATED, 1, 5, Severity.WARNING), (Kind.REPEATED, 2, 9, Severity.WARNING)]
    conflict = _leaf_anchor(2, other, 8)
    kept, findings = repeated_batches([s0, s1, s2, conflict])
    assert kept == [s0, s1, s2, conflict] and not findings
    assert [f.kind for f in sequence_findings(kept, 3, 1)] == [Kind.CHAIN_MISMATCH]
