"""Real time at real block times: S sensors at H Hz each, offered for a fixed wall time, against the bench's anvil
switched to interval mining (`evm_setIntervalMining`, as `anvil --block-time`) for the run. The agent's stages as
in bench/agent.py, in both anchoring modes in the same run, run by run alternately:

- aggregated (plant scale, the issue's keys): the gateway's `WindowAnchorer` (agent/gateway.py), told the block
  time: `GatewayAnchors.anchorWindow` transactions, several in flight, each carrying the device-signed batches
  every feed closed since the last one, from its own gateway account;
- per-feed (`..._perfeed` keys): the `Anchorer` keeping several `anchorMany` transactions in flight, told the
  block time, its window sized to what the chain carries (`Anchorer.suggested_window`).

Figures per case and mode: the kept ratio (readings whose anchor was mined within the offered time plus a grace of
one window and two blocks, over the readings offered) and p50/p99 of arrival → inclusion: a reading's arrival at
the agent (wall clock at push) to the moment the agent holds the receipt of the block that includes the window or
anchor carrying it (`AnchoredBatch.anchored_at`, set from the receipt in both anchorers), never an estimate.
The process's resident memory is sampled every second during the 100 × 100 Hz runs (both modes share the process;
the aggregated run of each pair goes first); the bench's own record of the readings is constant in size
(`common.ReceiptLog`), so what grows is the agent's."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .agent import TICK_S, AgentRig
from .batches import DEVICE_ADDRESS, DEVICE_KEY
from .chainenv import AGENT_INDEX, DEVICE_AGENT, T0_MS, BenchEnv, events, h
from .common import Results, offer_in_real_time

GATEWAY_INDEX = 5  # the real-time gateway's own account: it never rereads the gas group's 10,000-feed windows
MODES = ("aggregated", "perfeed")


@dataclass(frozen=True)
class Case:
    key: str  # realtime_<key>_kept_ratio / _p99_ms
    sensors: int
    hz: float
    block_s: int


CASES = (Case("100x100_block2", 100, 100.0, 2), Case("100x100_block12", 100, 100.0, 12),
         Case("1000x10_block2", 1000, 10.0, 2))
RSS_CASE = "100x100_block2"


def suffix(mode: str) -> str:
    """The issue's keys are the plant-scale (aggregated) mode; the per-feed figures sit beside them."""
    return "" if mode == "aggregated" else "_perfeed"


@dataclass
class RealtimePlan:
    runs: int = 2
    seconds: float = 30.0
    cases: Sequence[Case] = CASES
    max_in_flight: int = 16
    modes: Sequence[str] = MODES


@dataclass
class RealtimeRun:
    pushed: int
    kept: int
    p50_ms: float
    p99_ms: float
    window_s: float
    transactions: int
    max_in_flight: int
    rss_mb: list[float] = field(default_factory=list)


def rss_mb() -> float:
    """This process's resident set (the agent's stages all run in it; anvil is a separate process)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def many_feeds(env: BenchEnv, twin: int, n: int) -> list[int]:
    """`env.new_feeds`, pipelined: every transaction sent before the first receipt is awaited."""
    owner = env.owner
    spec, feeds = owner.spec.functions, owner.feeds.functions
    names = [env.unique("Sensor") for _ in range(n)]
    comps = [h(f"{twin}/{name}") for name in names]
    gas = int(owner.sender.estimate(spec.addComponent(twin, comps[0], b"\x00" * 32, names[0], h("Sensor"))) * 1.5)
    sent = [owner.sender.submit(spec.addComponent(twin, c, b"\x00" * 32, name, h("Sensor")), gas=gas)
            for c, name in zip(comps, names)]
    for s in sent:
        owner.sender.wait(s)
    gas = int(owner.sender.estimate(feeds.registerFeed(twin, comps[0], DEVICE_ADDRESS, h("schema"))) * 1.5)
    sent = [owner.sender.submit(feeds.registerFeed(twin, c, DEVICE_ADDRESS, h("schema")), gas=gas) for c in comps]
    out = []
    for s in sent:
        out.append(int(events(owner.feeds.events.FeedRegistered(), owner.sender.wait(s))[0]["feedId"]))
    return out


class _Mining:
    """Interval mining at `block_s` for the duration of a run, automine again after it."""

    def __init__(self, env: BenchEnv, block_s: int) -> None:
        self.w3, self.block_s = env.owner.w3, block_s

    def __enter__(self) -> "_Mining":
        self.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_setIntervalMining", [self.block_s])  # type: ignore[arg-type]
        return self

    def __exit__(self, *exc: object) -> None:
        self.w3.provider.make_request("evm_setIntervalMining", [0])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]


def window_anchorer(env: BenchEnv, rig: AgentRig, **kwargs: Any) -> Any:
    """The gateway's anchorer over the rig's outbox and store, as the daemon builds it for `mode: aggregated`."""
    from twinledger.agent.gateway import WindowAnchorer

    key = bytes.fromhex(DEVICE_KEY[2:])
    return WindowAnchorer(rig.outbox, rig.store, env.chain(GATEWAY_INDEX), {f: key for f in rig.feed_ids},
                          max_items=10_000, on_anchored=rig._on_anchored, **kwargs)


def run_case(env: BenchEnv, twin: int, workdir: Path, case: Case, seconds: float, max_in_flight: int,
             sample_rss: bool, mode: str = "aggregated") -> RealtimeRun:
    feeds = many_feeds(env, twin, case.sensors)
    with _Mining(env, case.block_s):
        rig = AgentRig(env, twin, workdir, case.sensors, feed_ids=feeds, max_items=10_000,
                       anchorer_kwargs=dict(block_time=case.block_s, max_in_flight=max_in_flight))
        if mode == "aggregated":
            rig.anchorer = window_anchorer(env, rig, block_time=case.block_s, max_in_flight=max_in_flight)
            rig.batcher.cuts = rig.anchorer.cuts  # as the daemon wires it
        window = rig.anchorer.suggested_window(case.sensors)
        rig.batcher.window_s = window
        rss: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                rss.append(rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        if sample_rss:
            rss.append(rss_mb())
            sampler.start()
        rig.thread.start()
        pushed, _ = offer_in_real_time(rig, list(rig.sensors), case.hz, seconds, T0_MS, TICK_S)
        offered_until = time.time()
        rig.finish(timeout=600.0)
        stop.set()
    grace = window + 2 * case.block_s
    kept = rig.receipts.received_by(offered_until + grace)
    out = RealtimeRun(pushed, kept, rig.receipts.percentile(50), rig.receipts.percentile(99), window,
                      rig.anchorer.stats.transactions, rig.anchorer.stats.max_in_flight, rss)
    rig.close()
    return out


def _gateway(env: BenchEnv) -> bool:
    """Grant the real-time gateway account its role; False if the deployment has no GatewayAnchors."""
    from twinledger.ledger import gateway

    if not gateway.has_gateway(env.owner):
        return False
    env.owner.sender.transact(gateway.grant_gateway(env.owner, env.chain(GATEWAY_INDEX).sender.address))
    return True


def measure(env: BenchEnv, workdir: Path, plan: RealtimePlan = RealtimePlan()) -> Results:
    res = Results()
    twin, _ = env.create_twin("Realtime bench")
    env.grant(twin, DEVICE_AGENT, AGENT_INDEX)
    modes = list(plan.modes)
    if "aggregated" in modes and not _gateway(env):
        modes.remove("aggregated")
        res.missing([f"realtime_{c.key}_{f}" for c in plan.cases for f in ("kept_ratio", "p99_ms")]
                    + ["agent_rss_mb_100x100_short"], "the deployment has no GatewayAnchors contract")
    runs = iter(range(10**6))
    details: dict[str, Any] = {}
    rss_all: dict[str, list[float]] = {m: [] for m in modes}
    rss_peaks: dict[str, list[float]] = {m: [] for m in modes}
    for case in plan.cases:
        kept: dict[str, list[float]] = {m: [] for m in modes}
        p99: dict[str, list[float]] = {m: [] for m in modes}
        p50: dict[str, list[float]] = {m: [] for m in modes}
        info: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
        for _ in range(plan.runs):
            for mode in modes:  # alternately, so both modes see the same machine load
                r = run_case(env, twin, Path(workdir) / f"rt-{next(runs)}", case, plan.seconds, plan.max_in_flight,
                             sample_rss=case.key == RSS_CASE, mode=mode)
                kept[mode].append(r.kept / r.pushed)
                p99[mode].append(r.p99_ms)
                p50[mode].append(r.p50_ms)
                rss_all[mode].extend(r.rss_mb)
                if r.rss_mb:
                    rss_peaks[mode].append(max(r.rss_mb))
                info[mode].append(dict(pushed=r.pushed, kept=r.kept, window_s=r.window_s,
                                       transactions=r.transactions, max_in_flight=r.max_in_flight))
        for mode in modes:
            sx = suffix(mode)
            res.put(f"realtime_{case.key}_kept_ratio{sx}", kept[mode])
            res.put(f"realtime_{case.key}_p99_ms{sx}", p99[mode])
            res.extra[f"realtime_{case.key}_p50_ms{sx}"] = sorted(p50[mode])[len(p50[mode]) // 2]
        details[case.key] = dict(sensors=case.sensors, hz=case.hz, block_s=case.block_s,
                                 runs=info.get("aggregated", []), runs_perfeed=info.get("perfeed", []))
    for mode in modes:
        if rss_all[mode]:  # the aggregated mode's issue key is the soak's (`measure_soak`): these are "_short"
            key = f"agent_rss_mb_100x100{'_short' if mode == 'aggregated' else suffix(mode)}"
            res.put(key, rss_peaks[mode])
            res.extra.update(thirds(key, rss_all[mode]))
    res.extra["realtime"] = details
    res.extra["realtime_modes"] = modes
    res.extra["realtime_seconds"] = plan.seconds
    res.extra["realtime_runs"] = plan.runs
    res.extra["realtime_max_in_flight"] = plan.max_in_flight
    res.extra["realtime_rss_seconds"] = plan.seconds * plan.runs
    return res


def thirds(key: str, series: Sequence[float]) -> dict[str, float]:
    """Mean of the first and of the last third of an RSS series, under `key` + _first_third / _last_third."""
    third = max(1, len(series) // 3)
    return {f"{key}_first_third": sum(series[:third]) / third, f"{key}_last_third": sum(series[-third:]) / third}


def measure_soak(env: BenchEnv, workdir: Path, seconds: float) -> Results:
    """The issue's memory figure: 100 sensors at 100 Hz for `seconds` (10 minutes by default) in the aggregated
    mode at 2 s blocks, one run, the resident memory sampled every second; flat means the last third's mean is
    within 10% of the first third's (the first minute, imports and warm-up, is left out of the thirds)."""
    res = Results()
    twin, _ = env.create_twin("Soak bench")
    env.grant(twin, DEVICE_AGENT, AGENT_INDEX)
    if not _gateway(env):
        res.missing(["agent_rss_mb_100x100"], "the deployment has no GatewayAnchors contract")
        return res
    case = next(c for c in CASES if c.key == RSS_CASE) if seconds >= 60 else Case(RSS_CASE, 10, 20.0, 1)
    r = run_case(env, twin, Path(workdir) / "soak", case, seconds, RealtimePlan().max_in_flight, sample_rss=True)
    res.put("agent_rss_mb_100x100", [max(r.rss_mb)])
    warm = r.rss_mb[60:] if len(r.rss_mb) > 180 else r.rss_mb
    res.extra.update(thirds("agent_rss_mb_100x100", warm))
    res.extra["agent_rss_soak_seconds"] = seconds
    res.extra["agent_rss_soak_samples"] = len(r.rss_mb)
    res.extra["agent_rss_soak_series_mb"] = r.rss_mb[::10]  # every 10 s, for the record
    res.extra["soak_kept_ratio"] = r.kept / r.pushed
    res.extra["soak_p99_ms"] = r.p99_ms
    return res
