"""The auditor's CLI: `verify ...` exit codes and findings, `feed list|tail|export`, `watch` and
`audit report`, against a real anvil chain and embedded IPFS."""
from __future__ import annotations

import csv
import dataclasses
import re

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from twinledger.cli.main import cli
from twinledger.cli.commands.feeds import feed_group
from twinledger.cli.commands.verification import audit_group, verify_group, watch_cmd
from twinledger.formats.batch import Batch, Quality

from verify_support import World, make_world, synthetic_batch

pytestmark = pytest.mark.timeout(300)

for command in (verify_group, feed_group, watch_cmd, audit_group):
    if command.name not in cli.commands:
        cli.add_command(command)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    w = make_world(tmp_path_factory.mktemp("verify-cli"))
    yield w
    w.stack.stop()


@pytest.fixture(scope="module")
def clean(world: World):
    feed = world.new_feed("tank_level_a")
    feed.anchor_many(10, 20, flag_every=7)
    return feed


@pytest.fixture(scope="module")
def tampered(world: World):
    feed = world.new_feed("tank_level_b")
    anchors = feed.anchor_many(4)
    world.flip_byte(anchors[1].cid)
    return feed


def run(world: World, *args: str):
    base = ["--network", world.stack.rpc_url, "--deployment", str(world.stack.deployment_path),
            "--ipfs", world.stack.ipfs_spec]
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def test_verify_feed_clean_exits_zero(world: World, clean) -> None:
    r = run(world, "verify", "feed", str(clean.feed))
    assert r.exit_code == 0, r.output
    assert "10 batches, 200 readings verified" in r.output
    assert "VERDICT: PASS" in r.output


def test_verify_feed_tampered_exits_nonzero_and_names_the_place(world: World, tampered) -> None:
    r = run(world, "verify", "feed", str(tampered.feed))
    assert r.exit_code == 1
    assert re.search(rf"ERROR TAMPERED at feed {tampered.feed}, seq 1, cid {tampered.anchors[1].cid}", r.output)
    assert "VERDICT: FAIL" in r.output


def test_verify_batch_and_reading(world: World, clean, tampered) -> None:
    ok = run(world, "verify", "batch", str(clean.feed), "3")
    assert ok.exit_code == 0 and "signed by device key" in ok.output and "recomputed and equal" in ok.output
    bad = run(world, "verify", "batch", str(tampered.feed), "1")
    assert bad.exit_code == 1 and "TAMPERED" in bad.output
    reading = run(world, "verify", "reading", str(clean.feed), "2", "5")
    assert reading.exit_code == 0, reading.output
    assert "SensorFeed.verifyReading: true" in reading.output and "rid 45" in reading.output
    by_rid = run(world, "verify", "reading", str(clean.feed), "--rid", "45")
    assert by_rid.exit_code == 0 and "seq 2 reading 5" in by_rid.output
    assert run(world, "verify", "reading", str(clean.feed)).exit_code == 2  # usage: SEQ INDEX or --rid


def test_verify_twin_fails_on_one_tampered_feed(world: World, clean, tampered) -> None:
    r = run(world, "verify", "twin", str(world.twin))
    assert r.exit_code == 1
    assert f"feed {tampered.feed}, seq 1" in r.output
    strict = run(world, "verify", "feed", str(clean.feed), "--strict")
    assert strict.exit_code == 0


def test_strict_fails_on_warnings(world: World) -> None:
    feed = world.new_feed("pipe_flow")
    feed.anchor_many(1)
    rs = list(synthetic_batch(feed.feed, 1).readings)
    rs[3] = dataclasses.replace(rs[3], t_ms=rs[0].t_ms - 1)
    feed.anchor(Batch(feed.feed, 1, tuple(rs)))
    assert run(world, "verify", "feed", str(feed.feed)).exit_code == 0
    strict = run(world, "verify", "feed", str(feed.feed), "--strict")
    assert strict.exit_code == 1 and "WARNING REORDERED" in strict.output


def test_feed_list(world: World, clean, tampered) -> None:
    r = run(world, "feed", "list", "--twin", str(world.twin))
    assert r.exit_code == 0
    lines = {line.split()[0]: line for line in r.output.splitlines()[1:]}
    assert str(clean.feed) in lines and "tank_level_a" in lines[str(clean.feed)]
    assert world.device.address in lines[str(clean.feed)]


def test_feed_tail_once_and_count(world: World, clean) -> None:
    r = run(world, "feed", "tail", str(clean.feed), "--once", "--last", "2")
    assert r.exit_code == 0
    rows = [line.split("\t") for line in r.output.splitlines() if not line.startswith("#")]
    assert len(rows) == 40 and {row[0] for row in rows} == {"8", "9"}
    assert all(row[-1] == "verified" for row in rows)
    assert "SPIKE" in {row[6] for row in rows}
    limited = run(world, "feed", "tail", str(clean.feed), "--last", "1", "--count", "5", "--interval", "0.1")
    assert len([x for x in limited.output.splitlines() if not x.startswith("#")]) == 5


def test_feed_tail_follows_new_anchors(world: World) -> None:
    import threading
    import time

    feed = world.new_feed("bottle_level")
    feed.anchor_many(1, 5)

    def later() -> None:
        time.sleep(1.0)
        feed.anchor(synthetic_batch(feed.feed, 1, 5))

    t = threading.Thread(target=later)
    t.start()
    r = run(world, "feed", "tail", str(feed.feed), "--count", "10", "--interval", "0.2")
    t.join()
    rows = [line.split("\t") for line in r.output.splitlines() if not line.startswith("#")]
    assert [row[0] for row in rows] == ["0"] * 5 + ["1"] * 5


def test_feed_export_csv_and_parquet_mark_rows(world: World, tampered, tmp_path) -> None:
    out = tmp_path / "feed.csv"
    r = run(world, "feed", "export", str(tampered.feed), "--format", "csv", "-o", str(out))
    # the tampered batch has no readable content: the export refuses rather than leave its rows out
    assert r.exit_code == 1 and "export refused, nothing written" in r.output and not out.exists()
    r = run(world, "feed", "export", str(tampered.feed), "--format", "csv", "-o", str(out), "--keep-going")
    assert r.exit_code == 1 and "INCOMPLETE: 1 batch(es)" in r.output
    rows = list(csv.DictReader(out.open()))
    assert {row["seq"] for row in rows if row["index"]} == {"0", "2", "3"}
    assert all(row["verified"] == "True" for row in rows if row["index"])
    [lost] = [row for row in rows if not row["index"]]
    assert lost["seq"] == "1" and lost["finding"].startswith("TAMPERED:")

    feed = world.new_feed("valve_position")
    feed.anchor_many(3, 10, flag_every=4)
    pq_out = tmp_path / "feed.parquet"
    t_from = str(synthetic_batch(feed.feed, 1, 10).readings[0].t_ms)
    r = run(world, "feed", "export", str(feed.feed), "--from", t_from, "--format", "parquet", "-o", str(pq_out))
    assert r.exit_code == 0, r.output
    table = pq.read_table(pq_out).to_pylist()
    assert len(table) == 20 and {row["seq"] for row in table} == {1, 2}
    assert all(row["verified"] for row in table)
    suspect = [row for row in table if row["suspect"]]
    assert suspect and all(row["quality"] == int(Quality.SPIKE) for row in suspect)


def test_watch_reports_events_of_readable_twins(world: World) -> None:
    start = world.stack.chain().w3.eth.block_number + 1
    feed = world.new_feed("tank_level_a")
    feed.anchor_many(2, 3)
    r = run(world, "--account", "TEST::1", "watch", "--from-block", str(start), "--count", "4", "--interval", "0.1")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert len(lines) == 4
    # registration also logs the feed's signature requirement, then come the two anchors
    assert "SensorFeed.FeedRegistered" in lines[0] and f"twin {world.twin}" in lines[0]
    assert "SensorFeed.SignatureRequirementSet" in lines[1] and "required=True" in lines[1]
    assert "SensorFeed.Anchored" in lines[2] and "seq=0" in lines[2]
    outsider = run(world, "--account", "TEST::9", "watch", "--from-block", str(start), "--timeout", "1",
                   "--interval", "0.2")
    assert outsider.exit_code == 0 and outsider.output == ""  # no role on the twin: nothing to read


def test_audit_report_html(world: World, clean, tampered, tmp_path) -> None:
    out = tmp_path / "report.html"
    call_id = world.call_first_program()
    r = run(world, "audit", "report", "--twin", str(world.twin), "-o", str(out))
    assert r.exit_code == 1  # one feed fails verification; the report is still written
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert f'id="feed-{clean.feed}"' in html and f'id="feed-{tampered.feed}"' in html
    assert "TAMPERED" in html and "b-fail" in html and "b-pass" in html
    assert "data:image/png;base64," in html
    assert "specification (AML)" in html and "Specification.TwinCreated" in html
    programs = html[html.index('id="programs"'):html.index('id="documents"')]
    assert f"<td>{call_id}</td>" in programs and "within the bounds in force" in programs
