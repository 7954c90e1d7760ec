"""What verify says about content, not only about hashes, on a real chain and the embedded IPFS node:
duplicate readings (within a batch, across batches, across the feeds of one sensor) whatever their reading
ids, gaps against the sensor's AML SampleRate (inside a batch, between batches, at 100 Hz), honest data
from two outboxes whose ids restart, a content store that stops answering, and `feed export` with a
tampered and a missing batch."""
from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from twinledger.cli.main import cli
from twinledger.formats.batch import Batch, Reading
from twinledger.ipfs import open_store
from twinledger.ipfs.server import ServerThread
from twinledger.ledger.provision import create_twin_from_aml
from twinledger.ledger.reader import Ledger
from twinledger.verify import Kind, Severity, Status, Verifier

from verify_support import PLANT_AML, T0, FeedWriter, World, make_world, synthetic_batch

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    w = make_world(tmp_path_factory.mktemp("verify-content"))
    yield w
    w.stack.stop()


def run(world: World, *args: str, ipfs: str | None = None) -> Result:
    base = ["--network", world.stack.rpc_url, "--deployment", str(world.stack.deployment_path),
            "--ipfs", ipfs or world.stack.ipfs_spec]
    return CliRunner(mix_stderr=False).invoke(cli, [*base, *args], catch_exceptions=False)


def at_times(feed: int, seq: int, times: list[int], rid0: int = 0) -> Batch:
    return Batch(feed, seq, tuple(Reading(rid0 + k, "level", t, 50.0 + (k % 7) * 0.5, 0) for k, t in enumerate(times)))


def found(findings, kind: Kind) -> list[tuple[int | None, int | None, int | None]]:
    return sorted((f.location.feed, f.location.seq, f.location.index) for f in findings if f.kind is kind)


# ---- duplicates and reading identity -----------------------------------------------------------


def test_duplicates_within_and_across_batches_are_errors_whatever_their_ids(world: World) -> None:
    twin = world.new_twin()
    feed = world.new_feed("tank_level_a", twin)
    feed.anchor_many(2)  # readings 0..39, t = T0 + 50 ms * k
    first = synthetic_batch(feed.feed, 0)
    # the agent restarted and read its file again: the same readings under new ids
    replay = Batch(feed.feed, 2, tuple(dataclasses.replace(r, rid=40 + k) for k, r in enumerate(first.readings[:5])))
    feed.anchor(replay)
    t = T0 + 40 * 50
    twice = at_times(feed.feed, 3, [t, t, t + 50], rid0=45)  # two readings of one source time in one batch
    feed.anchor(twice)

    result = world.verifier().verify_feed(feed.feed)
    assert result.status is Status.FAIL
    dups = [f for f in result.findings if f.kind is Kind.DUPLICATE]
    assert found(dups, Kind.DUPLICATE) == [(feed.feed, 2, k) for k in range(5)] + [(feed.feed, 3, 1)]
    assert all(f.severity is Severity.ERROR for f in dups)
    by_place = {(f.location.seq, f.location.index): f for f in dups}
    assert by_place[(2, 3)].location.rid == 43
    assert f"level at t={T0 + 150} was already anchored in seq 0 reading 3 (identical: a replay)" in by_place[(2, 3)].message
    assert "in seq 3 reading 0" in by_place[(3, 1)].message

    r = run(world, "verify", "twin", str(twin))
    assert r.exit_code == 1
    assert f"ERROR DUPLICATE at feed {feed.feed}, seq 2, reading 0, rid 40" in r.stdout
    assert "VERDICT: FAIL" in r.stdout


def test_duplicate_across_feeds_of_one_sensor(world: World) -> None:
    twin = world.new_twin()
    a = world.new_feed("tank_level_a", twin)
    b = world.new_feed("tank_level_a", twin)  # a second feed of the same sensor
    c = world.new_feed("tank_level_b", twin)  # another sensor at the same times: not a duplicate
    a.anchor_many(2)
    b.anchor(synthetic_batch(b.feed, 0, t0=T0 + 30 * 50, rid0=0))  # overlaps a's seq 1 from its reading 10
    c.anchor_many(2)

    alone = world.verifier().verify_feed(b.feed)
    assert alone.status is Status.PASS, [str(f) for f in alone.findings]  # each feed on its own is fine

    result = world.verifier().verify_twin(twin)
    assert result.status is Status.FAIL
    assert found(result.findings, Kind.DUPLICATE) == [(b.feed, 0, k) for k in range(10)]
    first = next(f for f in result.findings if f.kind is Kind.DUPLICATE and f.location.index == 0)
    assert f"already anchored in feed {a.feed} seq 1 reading 10" in first.message
    assert [f.status for f in result.feeds] == [Status.PASS, Status.FAIL, Status.PASS]


def test_honest_data_from_two_outboxes_passes(world: World) -> None:
    """A replaced agent starts a fresh outbox: its reading ids restart at 0, on the same feed and on a
    successor feed. Nothing is measured twice, so nothing is a duplicate."""
    twin = world.new_twin()
    old = world.new_feed("tank_level_a", twin)
    old.anchor_many(3)  # ids 0..59
    old.anchor(synthetic_batch(old.feed, 3, rid0=0))  # the new outbox: ids 0.. again, times go on
    new = world.new_feed("tank_level_a", twin)
    world.owner.sender.transact(world.owner.feeds.functions.retireFeed(old.feed, new.feed))
    new.anchor(synthetic_batch(new.feed, 0, t0=T0 + 4 * 20 * 50, rid0=0))
    new.anchor(synthetic_batch(new.feed, 1, t0=T0 + 5 * 20 * 50, rid0=20))

    result = world.verifier().verify_twin(twin)
    assert result.status is Status.PASS, [str(f) for f in result.findings if f.severity]
    assert sum(f.readings_checked for f in result.feeds) == 120
    r = run(world, "verify", "twin", str(twin))
    assert r.exit_code == 0 and "VERDICT: PASS" in r.stdout and "DUPLICATE" not in r.stdout


# ---- gaps against the expected rate --------------------------------------------------------------


def test_hole_inside_a_batch_and_a_10_s_gap_at_the_aml_rate(world: World) -> None:
    """tank_level_a has SampleRate 10 Hz in the sample AML: 7 s of readings deleted before batching, and
    a batch that starts 10 s after the previous one, are both gaps; the default tolerance is 5 intervals."""
    twin = world.new_twin()
    feed = world.new_feed("tank_level_a", twin)
    t0 = T0
    seq0 = [t0 + 100 * k for k in range(16)] + [t0 + 100 * k + 7_000 for k in range(16, 40)]
    feed.anchor(at_times(feed.feed, 0, seq0))
    t1 = seq0[-1] + 10_000
    feed.anchor(at_times(feed.feed, 1, [t1 + 100 * k for k in range(20)], rid0=40))

    result = world.verifier().verify_feed(feed.feed)
    assert result.status is Status.WARN
    gaps = [f for f in result.findings if f.kind is Kind.DATA_GAP]
    assert found(gaps, Kind.DATA_GAP) == [(feed.feed, 0, 16), (feed.feed, 1, 0)]
    hole, pause = sorted(gaps, key=lambda f: f.location.seq)
    assert hole.message == (f"no level readings for 7.10 s from t={t0 + 1_500} to t={t0 + 8_600} (seq 0 reading 15 "
                            "to seq 0 reading 16): about 70 readings expected at 10 Hz (SampleRate of tank_level_a "
                            "in specification v0), 0 found; tolerance 5 sample intervals")
    assert "for 10.00 s" in pause.message and "about 99 readings expected" in pause.message

    r = run(world, "verify", "feed", str(feed.feed))
    assert r.exit_code == 0 and "VERDICT: WARN" in r.stdout
    assert f"WARNING DATA_GAP at feed {feed.feed}, seq 0, reading 16: no level readings for 7.10 s" in r.stdout
    assert run(world, "verify", "feed", str(feed.feed), "--strict").exit_code == 1
    loose = run(world, "verify", "feed", str(feed.feed), "--gap-tolerance", "150")
    assert loose.exit_code == 0 and "VERDICT: PASS" in loose.stdout  # 10 s < 150 intervals of 100 ms


def test_gap_between_batches_at_100_hz(world: World, tmp_path: Path) -> None:
    aml = PLANT_AML.read_text()
    head, rate, tail = aml.partition('Name="SampleRate"')
    fast = tmp_path / "fast-plant.aml"
    fast.write_text(head + rate + tail.replace("<Value>10</Value>", "<Value>100</Value>", 1))  # tank_level_a
    twin = create_twin_from_aml(world.owner, world.store, fast).twin_id
    feed = world.new_feed("tank_level_a", twin)
    feed.anchor(at_times(feed.feed, 0, [T0 + 10 * k for k in range(100)]))
    t1 = T0 + 990 + 2_450
    feed.anchor(at_times(feed.feed, 1, [t1 + 10 * k for k in range(100)], rid0=100))
    feed.anchor(at_times(feed.feed, 2, [t1 + 1_000 + 10 * k for k in range(100)], rid0=200))

    result = world.verifier().verify_feed(feed.feed)
    [gap] = [f for f in result.findings if f.kind is Kind.DATA_GAP]
    assert (gap.location.feed, gap.location.seq, gap.location.index) == (feed.feed, 1, 0)
    assert "for 2.45 s" in gap.message and "seq 0 reading 99 to seq 1 reading 0" in gap.message
    assert "about 244 readings expected at 100 Hz (SampleRate of tank_level_a in specification v0)" in gap.message
    assert result.status is Status.WARN
    # the same feed against a rate the auditor gives: 1 Hz tolerates 5 s pauses
    slow = Verifier(Ledger(world.stack.chain()), world.stack.store(), rate_hz=1.0).verify_feed(feed.feed)
    assert slow.status is Status.PASS, [str(f) for f in slow.findings]
    r = run(world, "verify", "feed", str(feed.feed), "--rate", "1")
    assert r.exit_code == 0 and "DATA_GAP" not in r.stdout


# ---- the store does not answer -------------------------------------------------------------------


def test_ipfs_down_during_verify_is_store_unavailable_not_missing(world: World) -> None:
    twin = world.new_twin()
    feed = world.new_feed("bottle_level", twin)
    feed.anchor_many(3)
    server = ServerThread(world.store).start()  # the embedded node behind its Kubo-compatible RPC
    kubo = f"kubo:{server.url}"
    try:
        up = run(world, "verify", "feed", str(feed.feed), ipfs=kubo)
        assert up.exit_code == 0 and "VERDICT: PASS" in up.stdout, up.stdout
    finally:
        server.stop()

    down = run(world, "verify", "feed", str(feed.feed), ipfs=kubo)
    assert down.exit_code == 3, down.stdout
    assert "MISSING_BLOCK" not in down.stdout and "TAMPERED" not in down.stdout
    [line] = [x for x in down.stdout.splitlines() if "STORE_UNAVAILABLE" in x]
    assert line.startswith(f"ERROR STORE_UNAVAILABLE at feed {feed.feed}, seq 0: 3 of 3 batches not checked")
    assert "VERDICT: STORE UNAVAILABLE" in down.stdout

    result = Verifier(Ledger(world.stack.chain()), open_store(kubo)).verify_twin(twin)
    assert result.status is Status.UNAVAILABLE
    kinds = {f.kind for f in result.findings if f.severity is Severity.ERROR}
    assert kinds == {Kind.STORE_UNAVAILABLE}  # batches and the specification version: unchecked, not damaged
    twin_run = run(world, "verify", "twin", str(twin), ipfs=kubo)
    assert twin_run.exit_code == 3 and "VERDICT: STORE UNAVAILABLE" in twin_run.stdout


# ---- export never hides --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def damaged(world: World) -> FeedWriter:
    """Five batches of 20 readings: seq 1's stored bytes flipped, seq 3's block gone."""
    feed = world.new_feed("pipe_flow", world.new_twin())
    anchors = feed.anchor_many(5)
    world.flip_byte(anchors[1].cid)
    world.delete_block(anchors[3].cid)
    return feed


def test_export_refuses_a_tampered_and_a_missing_batch(world: World, damaged: FeedWriter, tmp_path: Path) -> None:
    out = tmp_path / "feed.csv"
    r = run(world, "feed", "export", str(damaged.feed), "-o", str(out))
    assert r.exit_code == 1
    assert not out.exists()
    [line] = r.stderr.splitlines()
    assert line == (f"Error: export refused, nothing written: 2 batch(es) of feed {damaged.feed} fail verification "
                    "(seq 1 TAMPERED, seq 3 MISSING_BLOCK); 40 reading(s) in them cannot be read; pass --keep-going "
                    "to write the rows that can be read, each affected row marked with its finding")
    assert re.search(rf"ERROR TAMPERED at feed {damaged.feed}, seq 1", r.stdout)


def test_export_keep_going_marks_every_affected_row(world: World, damaged: FeedWriter, tmp_path: Path) -> None:
    out = tmp_path / "feed.csv"
    r = run(world, "feed", "export", str(damaged.feed), "-o", str(out), "--keep-going")
    assert r.exit_code == 1
    assert f"60 readings written to {out} (60 verified, 0 not)" in r.stdout
    assert f"INCOMPLETE: 2 batch(es) of feed {damaged.feed} fail verification (seq 1 TAMPERED, seq 3 MISSING_BLOCK)" \
        in r.stdout
    rows = list(csv.DictReader(out.open()))
    readings = [row for row in rows if row["index"]]
    assert {row["seq"] for row in readings} == {"0", "2", "4"} and len(readings) == 60
    assert all(row["verified"] == "True" and row["finding"] == "" for row in readings)
    lost = {row["seq"]: row for row in rows if not row["index"]}
    assert set(lost) == {"1", "3"}
    assert lost["1"]["finding"].startswith("TAMPERED: stored bytes do not hash to the CID")
    assert lost["3"]["finding"] == "MISSING_BLOCK: the batch is not in the content store"
    assert all(row["verified"] == "False" and row["suspect"] == "True" and row["cid"] for row in lost.values())

    parquet = tmp_path / "feed.parquet"
    assert run(world, "feed", "export", str(damaged.feed), "-o", str(parquet), "--format", "parquet",
               "--keep-going").exit_code == 1
    table = pq.read_table(parquet).to_pylist()
    assert len(table) == 62 and sum(1 for row in table if row["index"] is None) == 2
