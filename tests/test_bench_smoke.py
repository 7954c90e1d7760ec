"""`make bench` harness, end to end in quick mode: a real anvil chain, the embedded IPFS node, every group.

Checks the structure of bench/results.json and docs/benchmarks.md (written to a temporary directory) and that
the figures are positive numbers. Never asserts a timing.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import run  # noqa: E402

REQUIRED = [
    "gas_create_twin", "gas_grant_role", "gas_add_document", "gas_add_document_version", "gas_register_feed",
    "gas_anchor_single", "gas_anchor_many_per_feed_10", "gas_anchor_many_per_feed_10_signed",
    "ethertwin_style_gas_create_twin",
    "gas_anchor_event_only_floor", "gas_per_reading_1", "gas_per_reading_10", "naive_gas_per_reading",
    "agent_readings_per_s", "agent_latency_p50_ms", "agent_latency_p99_ms", "naive_readings_per_s",
    "verify_readings_per_s", "keccak_leaves_per_s", "ipfs_add_mb_per_s", "ipfs_small_adds_per_s",
    "sha256_mb_per_s", "agent_readings_per_s_encrypted", "ingest_readings_per_s_file",
    "ingest_readings_per_s_opcua", "ingest_readings_per_s_opcua_history", "ingest_readings_per_s_mqtt",
    "ingest_readings_per_s_sparkplug", "ingest_readings_per_s_modbus", "verify_share_of_limit",
    "realtime_100x100_block2_kept_ratio", "realtime_100x100_block2_p99_ms", "realtime_100x100_block12_kept_ratio",
    "realtime_100x100_block12_p99_ms", "realtime_1000x10_block2_kept_ratio", "agent_rss_mb_100x100",
    "feeds_per_chain_aggregated",
    "gas_anchor_window_per_feed",
]


def test_bench_quick_end_to_end(tmp_path: Path) -> None:
    results_path = tmp_path / "results.json"
    docs = tmp_path / "docs"
    assert run.main(["--quick", "--results", str(results_path), "--docs", str(docs),
                     "--workdir", str(tmp_path / "work")]) == 0

    r = json.loads(results_path.read_text())
    assert r["quick"] is True
    assert r["machine"]["cores"] >= 1 and r["machine"]["cpu_model"]
    assert r["date"]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    for group in run.GROUPS:  # each group records the code it measured, so an --only rerun stays traceable
        assert r["extra"][f"group_measured_{group}"]["code"].startswith(head.strip() or "unknown"), group
    for key in REQUIRED:
        assert key in r, key
        if r[key] is None:  # allowed only for a module that is not there yet, with the reason recorded
            assert r["unavailable"].get(key), key
        else:
            assert isinstance(r[key], (int, float)) and r[key] > 0, (key, r[key])
            assert r["spread"][key]["min"] <= r[key] <= r["spread"][key]["max"], key

    # gas comes from receipts: batching divides the anchor's gas over its readings
    assert r["gas_per_reading_10"] < r["gas_per_reading_1"]
    assert r["gas_anchor_event_only_floor"] < r["gas_anchor_single"]
    assert r["ethertwin_style_gas_create_twin"] > r["gas_create_twin"]
    # one window's gas does not grow with its feeds: per feed-window it is far below a per-feed anchor
    assert r["gas_anchor_window_per_feed"] * 10 < r["gas_anchor_many_signed_per_feed_10"]
    cap = r["block_capacity"]
    assert cap and all(c["anchors_per_block"] > 0 and c["feeds_at_1s_window"] > 0 for c in cap.values())

    md = (docs / "benchmarks.md").read_text()
    for heading in ("## Gas of the twin operations", "## Gas per reading", "## What one block can carry",
                    "## Agent throughput and latency", "## Verification", "## Embedded IPFS node",
                    "## Real time at real block times", "## Where the agent's time goes",
                    "## Gateway-aggregated anchoring"):
        assert heading in md
    assert "3,639,536" in md  # EtherTwin's reference figure, side by side
    assert "- every group measured on code " in md  # one run: one line naming its code
    for png in ("bench_gas_ops.png", "bench_scaling_batch.png", "bench_scaling_feeds.png"):
        assert (docs / "img" / png).stat().st_size > 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e4), st.floats(0, 60)), min_size=1, max_size=200),
       st.floats(0, 100), st.floats(0, 1e4))
def test_receipt_log_keeps_the_figures_of_the_full_lists(pairs, p, deadline) -> None:
    """The constant-memory log gives the percentile of the latencies rounded to the millisecond, and counts
    every receipt up to a deadline (none after it), as the per-reading lists it replaced did."""
    from bench.common import ReceiptLog, percentile

    log = ReceiptLog()
    for arrived, wait in pairs:
        log.add(arrived, arrived + wait)
    rounded = [round(wait * 1000) for _, wait in pairs]
    assert log.percentile(p) == pytest.approx(percentile(rounded, p), abs=1e-6)
    on_time = sum(1 for arrived, wait in pairs if arrived + wait <= deadline - 0.01)
    late = sum(1 for arrived, wait in pairs if arrived + wait > deadline)
    assert on_time <= log.received_by(deadline) <= len(pairs) - late


def test_a_failing_group_is_named_keeps_its_figures_and_the_others_still_run(tmp_path: Path, monkeypatch) -> None:
    """One group raises: the run exits 1, names it in `extra.failed_groups`, keeps its previous figures, and the
    group after it still writes its own."""
    results_path = tmp_path / "results.json"
    previous = json.loads((ROOT / "bench" / "results.json").read_text())
    results_path.write_text(json.dumps(previous))

    def broken(*_args: object, **_kwargs: object) -> run.Results:
        raise RuntimeError("disk full")

    def sources_measured(*_args: object, **_kwargs: object) -> run.Results:
        res = run.Results()
        res.put("ingest_readings_per_s_file", [123.0, 125.0])
        return res

    monkeypatch.setattr(run.ipfs, "measure", broken)
    monkeypatch.setattr(run.sources, "measure", sources_measured)
    assert run.main(["--only", "ipfs", "--only", "sources", "--results", str(results_path),
                     "--docs", str(tmp_path / "docs"), "--workdir", str(tmp_path / "work")]) == 1

    r = json.loads(results_path.read_text())
    assert r["extra"]["failed_groups"] == {"ipfs": "RuntimeError: disk full"}
    assert r["ipfs_add_mb_per_s"] == previous["ipfs_add_mb_per_s"]
    assert r["ingest_readings_per_s_file"] == 124.0 and r["spread"]["ingest_readings_per_s_file"]["min"] == 123.0
    assert "group_seconds_ipfs" not in r["extra"] or r["extra"]["group_seconds_ipfs"] == previous["extra"].get(
        "group_seconds_ipfs")
    assert (tmp_path / "docs" / "benchmarks.md").stat().st_size > 0


def test_ingest_commits_a_quiet_group_so_a_source_waiting_for_acks_goes_on(tmp_path):
    """A broker that sends no more until what is in flight is acknowledged (MQTT's receive maximum) stalls a
    group below the group size unless something commits it while no item arrives; `make bench` hung so."""
    import threading

    from bench.sources import SENSORS, ingest
    from twinledger.agent.sources import Sample

    window, total = 100, 300  # far below the group size (4096): only the ticker commits a window
    acked = threading.Semaphore(0)

    def acknowledge(items: list) -> None:
        for _ in items:
            acked.release()

    def source():
        for start in range(0, total, window):
            for i in range(start, start + window):
                yield Sample(SENSORS[i % 2], 1_700_000_000_000 + i, float(i))
            for _ in range(window):  # the broker holds the next window back until this one is acknowledged
                assert acked.acquire(timeout=10), "nothing acknowledged: the group was never committed"

    assert ingest(source(), total, tmp_path / "o.sqlite", SENSORS, acknowledge) > 0
