"""The benchmark page's sections on real block times (bench/realtime.py) and on where the agent's time goes (the
profile in bench/profile_agent.md, taken by hand with py-spy; see there how)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

PROFILE = Path(__file__).resolve().parent / "profile_agent.md"


CASES = (("100x100_block2", 4000), ("100x100_block12", 14000), ("1000x10_block2", None))
MODES = (("aggregated", "", "aggregated (gateway)"), ("perfeed", "_perfeed", "per-feed"))


def _case_rows(r: dict[str, Any]) -> list[list[str]]:
    """One row per case and mode, the two modes of a case next to each other."""
    from .report import cell, num

    details = r.get("extra", {}).get("realtime", {})
    rows = []
    for key, target_p99 in CASES:
        d = details.get(key, {})
        for mode, sx, label in MODES:
            if f"realtime_{key}_kept_ratio{sx}" not in r:
                continue
            runs = d.get("runs" if mode == "aggregated" else "runs_perfeed", [])
            window = ", ".join(f"{run['window_s']:.2f}" for run in runs) or "?"
            in_flight = max((run["max_in_flight"] for run in runs), default=0)
            txs = ", ".join(str(run["transactions"]) for run in runs) or "?"
            p50 = r.get("extra", {}).get(f"realtime_{key}_p50_ms{sx}")
            rows.append([f"{d.get('sensors', '?')} × {num(d.get('hz'))} Hz, {d.get('block_s', '?')} s blocks",
                         label, cell(r, f"realtime_{key}_kept_ratio{sx}", 3), num(p50),
                         cell(r, f"realtime_{key}_p99_ms{sx}"),
                         "1.000" + (f" / ≤ {target_p99:,}" if target_p99 else ""), window, txs, str(in_flight)])
    return rows


def _carry_rows(r: dict[str, Any]) -> list[list[str]]:
    """Sensors at 100 Hz one 30M-gas chain carries per mode at 2 s and 12 s blocks, from this run's receipts, with
    the same arithmetic as the aggregated section (bench/aggregate.py `capacity`, `per_feed_capacity`)."""
    from . import aggregate

    gas = r.get("gas_anchor_many_signed_per_feed_10") or r.get("before_review_gas", {}).get(
        "gas_anchor_many_signed_per_feed_10")
    agg = r.get("extra", {}).get("aggregate") or {}
    rows = []
    for block in (2.0, 12.0):
        p = aggregate.per_feed_capacity(gas, block) if gas else None
        longer = 30_000_000 / gas if gas else None  # window = block time: one anchor per feed per block
        a = aggregate.capacity(agg["gas_per_window"], agg["feeds_per_window"], block) if agg else None
        rows.append([f"{block:g} s",
                     f"{int(p['feeds']):,} sensors × 100 Hz" if p else "n/a",
                     f"{int(longer):,} sensors × 100 Hz" if longer else "n/a",
                     f"{int(a['feeds']):,} sensors × 100 Hz ({int(a['gateways']):,} gateways × "
                     f"{int(agg['feeds_per_window']):,} feeds)" if a else "n/a"])
    return rows


def realtime_section(r: dict[str, Any]) -> str:
    from .report import cell, num, table

    x = r.get("extra", {})
    keys = ("agent_rss_mb_100x100", "agent_rss_mb_100x100_short", "agent_rss_mb_100x100_perfeed")
    rss = [["peak (MB)", *(cell(r, k, 1) for k in keys)],
           ["mean over the first third of the samples (MB)", *(num(x.get(f"{k}_first_third"), 1) for k in keys)],
           ["mean over the last third of the samples (MB)", *(num(x.get(f"{k}_last_third"), 1) for k in keys)]]
    first, last = x.get("agent_rss_mb_100x100_first_third"), x.get("agent_rss_mb_100x100_last_third")
    drift = (f"over the soak the last third's mean is {100 * (last - first) / first:+.1f}% of the first third's "
             f"(flat: within ±10%)" if first and last else "the soak was not run")
    gas = r.get("gas_anchor_many_signed_per_feed_10") or r.get("before_review_gas", {}).get(
        "gas_anchor_many_signed_per_feed_10")
    agg = x.get("aggregate") or {}

    def both(key: str, digits: int = 0) -> str:
        return f"{cell(r, key, digits)} (per-feed: {cell(r, key + '_perfeed', digits)})"

    figures = [["agent, readings/s end to end", cell(r, "agent_readings_per_s"), "30,400", "≥ 100,000"],
               ["100 × 100 Hz, 2 s blocks: kept", both("realtime_100x100_block2_kept_ratio", 3), "7.2k of 10k/s",
                "1.000"],
               ["… p99 arrival → inclusion (ms)", both("realtime_100x100_block2_p99_ms"), "not measured", "≤ 4,000"],
               ["100 × 100 Hz, 12 s blocks: kept", both("realtime_100x100_block12_kept_ratio", 3), "not measured",
                "1.000"],
               ["… p99 (ms)", both("realtime_100x100_block12_p99_ms"), "not measured", "≤ 14,000"],
               ["1,000 × 10 Hz, 2 s blocks: kept", both("realtime_1000x10_block2_kept_ratio", 3), "not measured",
                "1.000"],
               ["verification, share of the raw keccak limit", cell(r, "verify_share_of_limit", 2), "0.30", "≥ 0.50"],
               ["agent resident memory at 100 × 100 Hz (MB, peak)", both("agent_rss_mb_100x100", 1),
                "not measured", "≤ 300, flat"]]
    return "\n".join([
        "## Real time at real block times",
        "",
        "Issue #16's agent figures from this run: the real-time ones in the plant-scale (gateway-aggregated) mode, "
        "with the per-feed mode measured in the same run in brackets, next to the issue's starting point:",
        "",
        table(["figure", "this run", "issue #16 (before)", "target"], figures),
        "",
        "What one 30M-gas chain carries, the whole block given to anchors, in each mode (per-feed: one "
        f"device-signed `anchorMany` entry per feed per window, {num(gas)} gas each; aggregated: one "
        f"`anchorWindow` of {num(agg.get('feeds_per_window'))} feeds per gateway per 1 s window, "
        f"{num(agg.get('gas_per_window'))} gas; both from this run's receipts, as in the aggregated section):",
        "",
        table(["block time", "per-feed, 1 s window", "per-feed, window = block time", "aggregated, 1 s window"],
              _carry_rows(r)),
        "",
        "The aggregated figure is the chain's limit; what one gateway process carries in real time on this "
        "2-core machine is what the cases below measure (the 1,000 × 10 Hz case is one gateway's 1,000 feeds).",
        "",
        "Measured in real time:",
        "",
        f"Each case offers its readings in real time for {num(x.get('realtime_seconds'))} s "
        f"({x.get('realtime_runs', '?')} runs per mode, the two modes alternating) to the agent's stages "
        "(bench/realtime.py), against the bench's anvil switched to interval mining for the run (as "
        "`anvil --block-time`). Aggregated: the gateway's `WindowAnchorer` (the daemon's `anchoring: {mode: "
        f"aggregated}}`), told the block time: `anchorWindow` transactions, several in flight (up to "
        f"{x.get('realtime_max_in_flight', '?')}), spaced to "
        "about half the in-flight cap per block, each carrying the device-signed batches every feed closed since the "
        "last (1 s window); and once per block a cut: just before the block is due, every open batch closes and "
        "goes at once (`BlockCuts`, agent/batcher.py). Per-feed: the `Anchorer` keeps several `anchorMany` "
        "transactions in flight and is told the block time; its window is `Anchorer.suggested_window` (at least "
        "1 s, and long enough that one device-signed batch per feed per window fits in 80% of each block's gas). "
        "Kept: readings whose anchor was mined by the end of the offered time plus one window and two blocks, over "
        "the readings offered. Latency, the same in both modes: a reading's arrival at the agent → the moment the "
        "agent holds the receipt of the block that includes the window or anchor carrying it.",
        "",
        table(["case", "mode", "kept", "p50 (ms)", "p99 (ms)", "target kept / p99", "window (s)", "transactions",
               "most in flight"], _case_rows(r)),
        "",
        "Where the latency goes: in per-feed mode a batch closes at most one window after its first reading, "
        "waits for the next transaction (several are in flight, so none waits for a receipt) and is included in the "
        "next block, so p99 ≈ window + block time + the round's own work. In aggregated mode the block cut closes "
        "every batch shortly before the block is due and sends them in one window, so p99 ≈ block time + the "
        "cut's lead (twice what the last cut took from the cut to its broadcast, starting at a tenth of the block "
        "time). A cut that misses its block costs a whole block for the readings it carries. At 1,000 feeds the "
        "cut's round itself (store, sign and put in a window about 2,000 batches per 2 s block, in one Python "
        "process on 2 cores) is most of the lead; its profile is under \"Where the agent's time goes\".",
        "",
        f"Memory of the bench process (all the agent's stages run in it; anvil is separate; the bench's own record "
        f"of the readings is constant in size), sampled every second at 100 × 100 Hz and 2 s blocks: the soak "
        f"(`bench.realtime.measure_soak`, the issue's figure) runs the aggregated mode alone for "
        f"{num(x.get('agent_rss_soak_seconds'))} s, its thirds leaving out the first minute; the short runs are "
        f"the real-time case above, {num(x.get('realtime_rss_seconds'))} s per mode, both modes in one process, "
        f"the aggregated run of each pair first. {drift[0].upper() + drift[1:]}. In the soak "
        f"{num(x.get('soak_kept_ratio'), 3)} of the readings were kept and p99 was {num(x.get('soak_p99_ms'))} ms. "
        "`BENCH_SOAK_S` sets its length. The real-time group took "
        f"{num(x.get('group_seconds_realtime'))} s in this run (besides the offered time, registering fresh feeds "
        "for every run and draining what the agent had not anchored in time).",
        "",
        table(["", "aggregated, soak", "aggregated, short runs", "per-feed, short runs"], rss),
    ])


def profile_section(r: dict[str, Any]) -> str:
    del r
    text = PROFILE.read_text(encoding="utf-8") if PROFILE.exists() else "(bench/profile_agent.md is missing)\n"
    return "## Where the agent's time goes\n\n" + text.strip()
