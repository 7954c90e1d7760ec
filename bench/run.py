"""`make bench`: run every benchmark in one process tree (one anvil chain, the embedded IPFS node), write
bench/results.json and regenerate docs/benchmarks.md with its plots.

    python -m bench.run                 # everything (about 25 min on 2 cores, 10 of them the memory soak)
    python -m bench.run --quick         # tiny sizes, to prove the harness works end to end
    python -m bench.run --only gas      # one group (gas, verify, agent, realtime, soak, ipfs, sources); merged into the existing results
    BENCH_REALTIME_S=600 python -m bench.run --only realtime   # the real-time cases for 10 minutes each
    BENCH_SOAK_S=120 python -m bench.run --only soak   # the memory soak (100 x 100 Hz, aggregated) for 2 minutes, not 10
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

import structlog

from . import aggregate, agent, gas, ipfs, limits, realtime, report, sources, verify
from .chainenv import BenchEnv
from .common import Results, machine

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("gas", "verify", "agent", "realtime", "soak", "ipfs", "sources")
SCHEMA = 1


def plans(quick: bool) -> dict[str, dict[str, Any]]:
    """Sizes per group: the full run, or the quick smoke run."""
    if quick:
        return {
            "gas": dict(runs=2, batch_sizes=(1, 10), feed_counts=(1, 2)),
            "aggregate": dict(runs=2, feeds_per_window=100),
            "verify": dict(runs=1, batches=4, batch_size=100),
            "agent": dict(plan=agent.AgentPlan(runs=1, total=400, short_total=200, feeds=4, naive_total=20, latency_sensors=2,
                                               latency_hz=50.0, latency_s=1.6, batch_sizes=(1, 10),
                                               batch_size_batches=4, feed_counts=(1, 2), feed_scaling_s=1.3)),
            "realtime": dict(plan=realtime.RealtimePlan(runs=1, seconds=3.0, cases=(
                realtime.Case("100x100_block2", 10, 20.0, 1), realtime.Case("100x100_block12", 10, 20.0, 2),
                realtime.Case("1000x10_block2", 20, 5.0, 1)))),
            "soak": dict(seconds=3.0),
            "ipfs": dict(runs=1, file_mb=2, small_count=50),
            "sources": dict(runs=1, total=200, modbus_total=50),
        }
    return {
        "gas": dict(runs=5),
        "aggregate": dict(runs=5),
        "verify": dict(runs=5, batches=100, batch_size=1000),
        "agent": dict(plan=agent.AgentPlan()),
        "realtime": dict(plan=realtime.RealtimePlan(seconds=float(os.environ.get("BENCH_REALTIME_S", "30")))),
        "soak": dict(seconds=float(os.environ.get("BENCH_SOAK_S", "600"))),
        "ipfs": dict(runs=3, file_mb=100, small_count=2000),
        "sources": dict(runs=3, total=20_000, modbus_total=5_000),
    }


def quiet_logs() -> None:
    """The agent logs every batch state at info level: keep the bench output readable."""
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def run_groups(groups: list[str], workdir: Path, quick: bool, say: Callable[[str], None],
               failed: dict[str, str] | None = None) -> Results:
    """Run `groups` in order on one chain; returns every figure they measured. A group that fails is named in
    `failed` (group -> the error) and the others still run: a late failure does not lose the figures before it."""
    res = Results()
    failed = {} if failed is None else failed
    p = plans(quick)
    measures: dict[str, Callable[[BenchEnv], Results]] = {  # the chain groups; the others need none
        "gas": lambda env: _merged(gas.measure(env, **p["gas"]),  # next to the per-feed figures
                                   aggregate.measure(env, **p["aggregate"])),
        "verify": lambda env: verify.measure(env, **p["verify"]),
        "agent": lambda env: agent.measure(env, workdir / "agent", **p["agent"]),
        "realtime": lambda env: realtime.measure(env, workdir / "realtime", **p["realtime"]),
        "soak": lambda env: realtime.measure_soak(env, workdir / "soak", **p["soak"]),
    }
    chainless: dict[str, Callable[[], Results]] = {
        "ipfs": lambda: ipfs.measure(workdir, **p["ipfs"]),
        "sources": lambda: sources.measure(workdir / "sources", **p["sources"]),
    }

    def run(group: str, measure: Callable[[], Results]) -> None:
        t0 = time.perf_counter()
        try:
            res.merge(measure())
        except Exception as exc:  # noqa: BLE001 - named in `failed`, and the run ends non-zero
            failed[group] = f"{type(exc).__name__}: {exc}"
            say(f"{group}: FAILED ({failed[group]})")
            return
        res.extra[f"group_seconds_{group}"] = time.perf_counter() - t0
        res.extra[f"group_measured_{group}"] = {"code": code_version(), "date": _now()}
        say(f"{group}: {res.extra[f'group_seconds_{group}']:.1f} s")

    chain_groups = [g for g in groups if g in measures]
    if chain_groups:
        with BenchEnv(workdir / "chain") as env:
            for group in chain_groups:
                run(group, partial(measures[group], env))
    for group in groups:
        if group in chainless:
            run(group, chainless[group])
    return res


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def code_version() -> str:
    """The commit the figures were measured on, `+changes` when the working tree differed from it (a `--only`
    run merges its groups into earlier figures: each group records its own)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    try:
        head = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", "offchain", "bench", "contracts")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+changes" if changed else "")


def _merged(*parts: Results) -> Results:
    out = Results()
    for part in parts:
        out.merge(part)
    return out


def assemble(res: Results, previous: dict[str, Any] | None, quick: bool, seconds: float) -> dict[str, Any]:
    """results.json: every figure at the top level (null when unavailable), spreads and series beside them."""
    out: dict[str, Any] = dict(previous or {})
    for key in ("spread", "extra", "unavailable"):
        out[key] = dict(out.get(key) or {})
    for key in res.values:
        out["unavailable"].pop(key, None)
    out.update(res.values)
    out["spread"].update(res.spreads)
    out["extra"].update(res.extra)
    out["unavailable"].update(res.unavailable)
    out["schema"] = SCHEMA
    out["machine"] = machine()
    out["date"] = _now()
    out["quick"] = quick
    out["runtime_s"] = seconds
    out["block_capacity"] = limits.capacities(out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes and one run each (smoke test)")
    ap.add_argument("--only", action="append", choices=GROUPS, help="run only this group (repeatable)")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results.json")
    ap.add_argument("--docs", type=Path, default=ROOT / "docs", help="where benchmarks.md and img/ are written")
    ap.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out", help="scratch: chain, IPFS, outboxes")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args(argv)

    quiet_logs()
    groups = [g for g in GROUPS if not args.only or g in args.only]
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)

    def say(line: str) -> None:
        print(f"bench: {line}", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    failed: dict[str, str] = {}
    try:
        res = run_groups(groups, args.workdir, args.quick, say, failed)
    finally:
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    previous = None
    if (args.only or failed) and args.results.exists():  # a failed group keeps its last figures
        previous = json.loads(args.results.read_text(encoding="utf-8"))
    results = assemble(res, previous, args.quick, time.perf_counter() - t0)
    results["extra"]["failed_groups"] = failed
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    md = report.render(results, args.docs)
    say(f"wrote {args.results} and {md} in {results['runtime_s']:.0f} s")
    for key, reason in sorted(results["unavailable"].items()):
        say(f"null: {key}: {reason}")
    if failed:
        say(f"{len(failed)} group(s) failed and kept their previous figures: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
