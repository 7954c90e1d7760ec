"""Device-agent throughput and latency through the agent's own stages: validation -> durable outbox ->
per-feed batching -> IPFS store -> EIP-712 signed anchor on SensorFeed (anvil), with the anchorer in its own
thread as in `AgentDaemon`. Also the naive baseline (one transaction per reading) and the cost of
encryption (the agent's own path: AES-256-GCM sealed batches, epoch keys wrapped to the readers the chain permits,
envelopes published on-chain) measured in the same run."""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from eth_utils import keccak

from .batches import DEVICE_ADDRESS, DEVICE_KEY
from .chainenv import AGENT_INDEX, DEVICE_AGENT, NAIVE_INDEX, T0_MS, BenchEnv
from .common import NotAvailable, ReceiptLog, Results, offer_in_real_time

WINDOW_S = 1.0
IDLE_SLEEP_S = 0.005
TICK_S = 0.05  # AgentDaemon.run ticks the pipeline every 50 ms


def _agent_modules() -> dict[str, Any]:
    """The agent's stages; NotAvailable if a module the measurement needs is not there yet."""
    try:
        from twinledger.agent.anchorer import AnchoredBatch, Anchorer
        from twinledger.agent.batch_roots import BackgroundRoots
        from twinledger.agent.batcher import Batcher, Pipeline
        from twinledger.agent.outbox import Outbox
        from twinledger.agent.sources import Sample
        from twinledger.agent.validation import ValidationRules, Validator
    except ImportError as exc:
        raise NotAvailable(f"agent module not available yet: {exc}") from exc
    return dict(Anchorer=Anchorer, AnchoredBatch=AnchoredBatch, BackgroundRoots=BackgroundRoots, Batcher=Batcher,
                Pipeline=Pipeline, Outbox=Outbox,
                Sample=Sample, ValidationRules=ValidationRules, Validator=Validator)


READER_INDEXES = (7, 8, 9)  # test accounts that read the encrypted feeds (AUDITOR, registered keys)
AUDITOR = keccak(text="AUDITOR")


class Sealer:
    """The agent's own encryption path (`twinledger.agent.sealing.BatchSealer`): per-feed epoch keys wrapped to
    the readers the chain permits (`readers` AUDITORs with registered keys), each batch sealed before storage."""

    def __init__(self, env: BenchEnv, twin: int, readers: int = 3) -> None:
        try:
            from twinledger.agent.sealing import BatchSealer
            from twinledger.crypto import public_key_from_private
        except ImportError as exc:
            raise NotAvailable(f"agent encryption not available yet: {exc}") from exc
        self._sealer_cls = BatchSealer
        self.env, self.twin = env, twin
        self.recipients = READER_INDEXES[:readers]
        auth = env.owner.auth.functions
        for index in self.recipients:
            account = env.chain(index)
            if not auth.publicKeyOf(account.sender.address).call():
                account.sender.transact(account.auth.functions.registerKey(
                    public_key_from_private(bytes(account.account.key))))
            if not auth.hasTwinRole(twin, AUDITOR, account.sender.address).call():
                env.grant(twin, AUDITOR, index)
        self.sealer: Any = None

    def bind(self, store: Any) -> Any:
        """The BatchSealer the rig's anchorer uses, on the agent's chain object and the rig's store."""
        self.sealer = self._sealer_cls(self.env.chain(AGENT_INDEX), store, self.twin)
        return self.sealer

    @property
    def stats(self) -> Any:
        return self.sealer.stats


@dataclass
class RunStats:
    """One agent run: readings pushed and anchored, wall time, per-reading latency and anchor gas."""

    pushed: int
    anchored: int
    seconds: float
    receipts: ReceiptLog = field(default_factory=ReceiptLog)  # per-reading latency
    gas: int = 0
    transactions: int = 0
    drain_s: float = 0.0  # from the last reading in to the last anchor's receipt (max_rate)

    @property
    def readings_per_s(self) -> float:
        return self.anchored / self.seconds

    @property
    def gas_per_reading(self) -> float:
        return self.gas / max(self.anchored, 1)


class AgentRig:
    """One agent over fresh feeds: the pipeline in the caller's thread, the anchorer in a background thread."""

    def __init__(self, env: BenchEnv, twin: int, workdir: Path, feeds: int, *, window_s: float = WINDOW_S,
                 max_readings: int = 10_000, max_items: int = 32, sealer: Sealer | None = None,
                 feed_ids: list[int] | None = None, anchorer_kwargs: dict[str, Any] | None = None) -> None:
        m = _agent_modules()
        self.feed_ids = feed_ids or env.new_feeds(twin, feeds, DEVICE_ADDRESS)
        self.sensors = {f"S{feed}": feed for feed in self.feed_ids}
        workdir.mkdir(parents=True, exist_ok=True)
        self.outbox = m["Outbox"](workdir / "outbox.sqlite")
        self.validator = m["Validator"](m["ValidationRules"](ranges={s: (0.0, 100.0) for s in self.sensors},
                                                             known_sensors=frozenset(self.sensors)))
        self.roots = m["BackgroundRoots"].for_this_machine()  # as AgentDaemon does by default
        self.batcher = m["Batcher"](self.outbox, self.sensors, window_s=window_s, max_readings=max_readings,
                                    roots=self.roots)
        self.pipeline = m["Pipeline"](self.validator, self.batcher)
        self.Sample = m["Sample"]
        self.store = env.stack.store()
        self.anchorer = m["Anchorer"](self.outbox, self.store, env.chain(AGENT_INDEX),
                                      {f: bytes.fromhex(DEVICE_KEY[2:]) for f in self.feed_ids},
                                      max_items=max_items, on_anchored=self._on_anchored,
                                      sealer=sealer.bind(self.store) if sealer is not None else None,
                                      **(anchorer_kwargs or {}))
        self.lock = threading.Lock()
        self.arrivals: dict[int, deque[tuple[int, float]]] = {f: deque() for f in self.feed_ids}
        self.receipts = ReceiptLog()  # per tracked reading: wall time in, and of its anchor's receipt
        self.anchored = 0
        self.done = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._anchor_loop, name="bench-anchor", daemon=True)

    def _on_anchored(self, batch: Any) -> None:
        self.anchored += batch.count
        queue = self.arrivals[batch.feed]
        while queue and queue[0][0] <= batch.t_last:
            _, arrived = queue.popleft()
            self.receipts.add(arrived, batch.anchored_at)

    def _anchor_loop(self) -> None:
        try:
            while True:
                if self.anchorer.run_once() == 0:
                    if self.done.is_set() and self.anchorer.pending() == 0:
                        return
                    time.sleep(IDLE_SLEEP_S)
        except BaseException as exc:  # surfaced by finish()
            self.errors.append(exc)

    def push(self, sensor: str, t_ms: int, value: float, track: bool) -> None:
        if track:
            self.arrivals[self.sensors[sensor]].append((t_ms, time.time()))
        with self.lock:
            self.pipeline.push(self.Sample(sensor, t_ms, value))

    def tick(self) -> None:
        """What the daemon's main loop does every 50 ms: commit a group that waited long enough, close due
        batches (`Pipeline.tick`)."""
        with self.lock:
            self.pipeline.tick()

    def finish(self, timeout: float = 300.0) -> None:
        with self.lock:
            self.pipeline.flush()
        self.done.set()
        self.thread.join(timeout)
        if self.errors:
            raise self.errors[0]
        if self.thread.is_alive():
            raise RuntimeError("the anchorer did not drain the outbox in time")

    def close(self) -> None:
        self.outbox.close()
        self.store.close()
        if self.roots is not None:
            self.roots.close()


def max_rate(env: BenchEnv, twin: int, workdir: Path, total: int, feeds: int = 10, *, max_readings: int = 10_000,
             max_items: int = 32, window_s: float = WINDOW_S, sealer: Sealer | None = None) -> RunStats:
    """Push `total` readings round-robin over `feeds` sensors as fast as the agent takes them; readings/s from the
    first push until the last anchor is mined. The batches still open after the last push are closed, stored and
    anchored after it (`drain_s`), so a run must be long against the window for the figure to be the sustained
    rate and not that of a burst followed by its drain."""
    rig = AgentRig(env, twin, workdir, feeds, window_s=window_s, max_readings=max_readings, max_items=max_items,
                   sealer=sealer)
    sensors = list(rig.sensors)
    gas0, tx0 = rig.anchorer.stats.gas, rig.anchorer.stats.transactions
    t0 = time.perf_counter()
    rig.thread.start()
    for i in range(total):
        rig.push(sensors[i % feeds], T0_MS + 10 * (i // feeds), 20.0 + (i % 50) * 0.1, track=False)
    pushed_at = time.perf_counter()
    rig.finish()
    seconds = time.perf_counter() - t0
    stats = RunStats(total, rig.anchored, seconds, gas=rig.anchorer.stats.gas - gas0,
                     transactions=rig.anchorer.stats.transactions - tx0, drain_s=seconds - (pushed_at - t0))
    rig.close()
    return stats


def real_time(env: BenchEnv, twin: int, workdir: Path, sensors: int, hz: float, seconds: float) -> RunStats:
    """`sensors` sensors at `hz` each for `seconds` of wall time with the 1 s window; latency from a reading's
    arrival to the receipt of the block that anchors it."""
    rig = AgentRig(env, twin, workdir, sensors)
    rig.thread.start()
    pushed, start = offer_in_real_time(rig, list(rig.sensors), hz, seconds, T0_MS, TICK_S)
    rig.finish()
    elapsed = time.perf_counter() - start
    stats = RunStats(pushed, rig.anchored, elapsed, receipts=rig.receipts, gas=rig.anchorer.stats.gas,
                     transactions=rig.anchorer.stats.transactions)
    rig.close()
    return stats


def naive_rate(env: BenchEnv, total: int) -> tuple[float, int]:
    """One transaction (one new storage slot) per reading, after the same validation and leaf hashing; the
    transactions are pipelined (fixed gas, local nonces) and the clock stops at the last receipt."""
    m = _agent_modules()
    from twinledger.formats.batch import Reading, encode_reading
    from twinledger.formats.merkle import leaf_hash

    contract, _ = env.deploy("NaiveReadings", index=NAIVE_INDEX)
    sender = env.chain(NAIVE_INDEX).sender
    validator = m["Validator"](m["ValidationRules"](ranges={"S": (0.0, 100.0)}))
    gas = int(sender.estimate(contract.functions.store(10**9, b"\x01" * 32)) * 1.2)
    t0 = time.perf_counter()
    sent = []
    for i in range(total):
        ok = validator.validate(m["Sample"]("S", T0_MS + 10 * i, 20.0 + (i % 50) * 0.1))
        digest = leaf_hash(encode_reading(Reading(i + 1, ok.sensor, ok.t_ms, ok.value, int(ok.quality))))
        sent.append(sender.submit(contract.functions.store(i + 1, digest), gas=gas))
    receipts = [sender.wait(s) for s in sent]
    seconds = time.perf_counter() - t0
    return total / seconds, sum(r["gasUsed"] for r in receipts) // total


@dataclass
class AgentPlan:
    """Sizes of the agent measurements (the quick mode shrinks them)."""

    runs: int = 3
    total: int = 300_000  # several seconds at the agent's rate: the drain after the last push is a few % of a run
    short_total: int = 50_000  # the earlier size (about 1 s): most batches close and anchor after the last push
    feeds: int = 10
    naive_total: int = 500
    latency_sensors: int = 10
    latency_hz: float = 100.0
    latency_s: float = 8.0
    batch_sizes: Sequence[int] = (1, 10, 100, 1000)
    batch_size_batches: int = 60
    feed_counts: Sequence[int] = (1, 10, 100)
    feed_scaling_s: float = 6.0


def _setup_twin(env: BenchEnv) -> int:
    twin, _ = env.create_twin("Agent bench")
    env.grant(twin, DEVICE_AGENT, AGENT_INDEX)
    return twin


def _guard(res: Results, keys: Sequence[str], fn: Callable[[], None]) -> None:
    """Run one measurement; a missing module records `keys` as null with the reason."""
    try:
        fn()
    except NotAvailable as exc:
        res.missing(keys, str(exc))


def measure(env: BenchEnv, workdir: Path, plan: AgentPlan = AgentPlan()) -> Results:
    """Every agent figure; plaintext and encrypted throughput alternate run by run, as do agent and naive."""
    res = Results()
    twin = _setup_twin(env)
    runs = iter(range(10**6))

    def wd() -> Path:
        return Path(workdir) / f"agent-{next(runs)}"

    def throughput() -> None:
        plain, enc, naive, gas, naive_gas, drain, short = [], [], [], [], [], [], []
        sealers: list[Sealer] = []
        enc_error: str | None = None
        for _ in range(plan.runs):
            s = max_rate(env, twin, wd(), plan.total, plan.feeds)
            plain.append(s.readings_per_s)
            gas.append(s.gas_per_reading)
            drain.append(s.drain_s / s.seconds)
            short.append(max_rate(env, twin, wd(), plan.short_total, plan.feeds).readings_per_s)
            rate, g = naive_rate(env, plan.naive_total)
            naive.append(rate)
            naive_gas.append(g)
            if enc_error is None:
                try:
                    sealer = Sealer(env, twin)
                    enc.append(max_rate(env, twin, wd(), plan.total, plan.feeds, sealer=sealer).readings_per_s)
                    sealers.append(sealer)
                except NotAvailable as exc:
                    enc_error = str(exc)
        res.put("agent_readings_per_s", plain)
        res.put("agent_drain_share", drain)
        res.put("agent_readings_per_s_short_run", short)
        res.put("agent_gas_per_reading", gas)
        res.put("naive_readings_per_s", naive)
        res.put("naive_gas_per_reading_agent_run", naive_gas)
        if enc:
            res.put("agent_readings_per_s_encrypted", enc)
            plain_b = sum(s.stats.plain_bytes for s in sealers)
            sealed_b = sum(s.stats.sealed_bytes for s in sealers)
            n = sum(s.stats.batches for s in sealers)
            res.put_value("encryption_overhead_bytes_per_batch", (sealed_b - plain_b) / n)
            res.put_value("encryption_overhead_pct", 100.0 * (sealed_b - plain_b) / plain_b)
            res.extra["encryption_mean_batch_bytes"] = plain_b / n
            envelopes = sealers[0].stats.envelopes
            res.extra["encryption_envelope_bytes"] = len(envelopes[0]) if envelopes else None
            res.extra["encryption_readers"] = len(sealers[0].recipients)
        else:
            res.missing(["agent_readings_per_s_encrypted", "encryption_overhead_bytes_per_batch"],
                        enc_error or "not measured")
        res.extra["agent_total_readings"] = plan.total
        res.extra["agent_short_total_readings"] = plan.short_total
        res.extra["agent_feeds"] = plan.feeds
        res.extra["naive_total_readings"] = plan.naive_total

    def latency() -> None:
        p50, p99, rates = [], [], []
        for _ in range(plan.runs):
            s = real_time(env, twin, wd(), plan.latency_sensors, plan.latency_hz, plan.latency_s)
            p50.append(s.receipts.percentile(50))
            p99.append(s.receipts.percentile(99))
            rates.append(s.readings_per_s)
        res.put("agent_latency_p50_ms", p50)
        res.put("agent_latency_p99_ms", p99)
        res.extra["latency_offered_readings_per_s"] = plan.latency_sensors * plan.latency_hz
        res.extra["latency_sensors"] = plan.latency_sensors

    def by_batch_size() -> None:
        series: dict[str, float] = {}
        for n in plan.batch_sizes:
            total = n * plan.batch_size_batches if n > 1 else plan.batch_size_batches * 3
            s = max_rate(env, twin, wd(), total, 1, max_readings=n, max_items=1, window_s=3600.0)
            series[str(n)] = res.put(f"agent_readings_per_s_batch_{n}", [s.readings_per_s])
        res.extra["agent_readings_per_s_by_batch_size"] = series

    def by_feeds() -> None:
        rate: dict[str, float] = {}
        p50: dict[str, float] = {}
        gas: dict[str, float] = {}
        for n in plan.feed_counts:
            s = real_time(env, twin, wd(), n, 100.0, plan.feed_scaling_s)
            rate[str(n)] = s.readings_per_s
            p50[str(n)] = s.receipts.percentile(50)
            gas[str(n)] = s.gas_per_reading
        res.extra["agent_readings_per_s_by_feeds"] = rate
        res.extra["agent_latency_p50_ms_by_feeds"] = p50
        res.extra["agent_gas_per_reading_by_feeds"] = gas

    _guard(res, ["agent_readings_per_s", "agent_gas_per_reading", "naive_readings_per_s",
                 "agent_readings_per_s_encrypted"], throughput)
    _guard(res, ["agent_latency_p50_ms", "agent_latency_p99_ms"], latency)
    _guard(res, [f"agent_readings_per_s_batch_{n}" for n in plan.batch_sizes], by_batch_size)
    _guard(res, [], by_feeds)
    return res
