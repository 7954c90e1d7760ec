"""The device agent daemon: wires sources → validation → outbox/batching → IPFS → SensorFeed, plus
program calls back to the device and sensor replacement.

Threads: one per source ingests it (it may block, e.g. on stdin or a plant connection), one
anchors, one watches program calls. A plant connector's readings are acknowledged to it only once
the outbox committed them (MQTT PUBACK), and program calls reach the device through the connector
that maps them. The main thread ticks the batch windows, prints the status line, and handles SIGTERM/SIGINT
by flushing the open batches and anchoring them before it exits.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from web3.exceptions import Web3Exception

from ..chain.connection import TwinLedgerChain
from ..chain.deployment import Deployment
from ..chain.errors import ChainError
from ..chain.keystore import load_key
from ..ipfs import open_store
from ..ipfs.errors import IpfsError
from .anchorer import OPEN_STATES, AnchoredBatch, Anchorer
from .gateway import WindowAnchorer
from .batch_roots import BackgroundRoots
from .batcher import Batcher, Pipeline
from .commands import PlantDriver, ProgramCallWatcher
from .config import AgentConfig, FeedConfig
from .connectors.base import QueueConnector
from .connectors.device import Acknowledgements, ConnectorDevice
from .operations import Operations
from .guards import FeedCheck, bind_chain, check_feeds, discover_feeds, identity_of
from .outbox import BatchState, Outbox
from .retention import prune_confirmed_before
from .rules import SpecFollower, measurement_ranges, redundancy_groups, tighten
from .sealing import BatchSealer
from ..sim import FillingPlantSimulator
from .sources import Acknowledger, CsvReplay, JsonLinesReplay, SensorSwapped, StdinSource
from .swap import SensorReplacer
from ..ledger.twinspec import SpecError, load_spec
from .validation import Validator

log = structlog.get_logger(__name__)

MAX_BACKOFF_S = 10.0
IDLE_SLEEP_S = 0.05
DRAIN_TIMEOUT_S = 60.0


def _key(file: Path | None, account: str | None, passphrase_env: str) -> bytes | None:
    """A private key from a key file (a keystore, or legacy hex) or an account spec (TEST::N, an ape alias)."""
    if file is not None:
        return load_key(file, passphrase_env)
    if account is not None:
        from ..chain.accounts import resolve_account

        return bytes(resolve_account(account).key)
    return None


@dataclass
class Backoff:
    """Exponential backoff for a loop that keeps retrying a flaky dependency (IPFS, the chain)."""

    delay: float = 0.0
    failures: int = 0

    def fail(self) -> float:
        self.failures += 1
        self.delay = min(MAX_BACKOFF_S, 0.2 * 2 ** min(self.failures, 6))
        return self.delay

    def ok(self) -> None:
        self.delay, self.failures = 0.0, 0


@dataclass
class AgentStatus:
    started: float = field(default_factory=time.monotonic)
    latencies_ms: list[float] = field(default_factory=list)
    last_anchored_t_ms: int | None = None
    errors: int = 0


class AgentDaemon:
    def __init__(self, config: AgentConfig, *, record_latency: bool = False,
                 stop_event: threading.Event | None = None, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        self.config = config
        self.record_latency = record_latency
        # The CLI passes an event its signal handlers already set, so a SIGTERM during start-up counts too.
        self.stop_requested = stop_event or threading.Event()
        self.drain_timeout_s = drain_timeout_s
        self._stop_at: float | None = None  # when a stop was first seen; the drain deadline runs from here
        self.source_done = threading.Event()
        self.lock = threading.Lock()  # pipeline, batcher and validator are driven from two threads
        self.status = AgentStatus()
        self._setup()

    # -- wiring ------------------------------------------------------------------------------

    def _setup(self) -> None:
        c = self.config
        deployment = Deployment.load(c.chain.deployment_file) if c.chain.deployment_file else None
        if deployment is None:
            raise ChainError("the agent config needs chain.deployment_file")
        device_key = _key(c.device_key_file, c.device_account, c.keystore_passphrase_env)
        account_key = _key(c.account_key_file, c.account, c.keystore_passphrase_env) or device_key
        from eth_account import Account

        self.chain = TwinLedgerChain.open(c.chain.rpc_url, deployment, Account.from_key(account_key),
                                          c.chain.confirmations)
        self.store = open_store(c.ipfs)
        c.outbox_path.parent.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(c.outbox_path, synchronous=c.synchronous)
        # Before anything is sent: the outbox is this chain's, and every feed is the chain's idea of it.
        try:
            bind_chain(self.outbox, identity_of(self.chain, deployment))
            if not c.feeds:  # taken from the chain: the twin's active feeds this device key signs
                c = self.config = self._feeds_from_chain(c, deployment.block,
                                                         Account.from_key(device_key).address if device_key else "")
            check_feeds(self.chain, c.twin_id, [FeedCheck(s, f.feed_id, f.component) for s, f in c.feeds.items()],
                        Account.from_key(device_key).address if device_key else "")
        except BaseException:
            self.outbox.close()
            raise
        self.validator = Validator(c.validation_rules())
        self.roots = BackgroundRoots.for_this_machine() if c.batching.background_roots else None
        self.batcher = Batcher(self.outbox, c.feed_map(), window_s=c.batching.window_s,
                               max_readings=c.batching.max_readings, max_bytes=c.batching.max_bytes,
                               roots=self.roots)
        self.pipeline = Pipeline(self.validator, self.batcher, on_event=self._on_swap,
                                 group_size=c.batching.group_commit, group_delay_s=c.batching.group_delay_s)
        keys: dict[int, bytes | None] = {feed.feed_id: device_key for feed in c.feeds.values()}
        self.sealer = BatchSealer(self.chain, self.store, c.twin_id) if c.encryption.enabled else None
        anchorer_class = WindowAnchorer if c.anchoring.mode == "aggregated" else Anchorer
        self.anchorer = anchorer_class(self.outbox, self.store, self.chain, keys, on_anchored=self._on_anchored,
                                       sealer=self.sealer, **c.anchoring.anchorer_kwargs())
        # the window the chain carries: one batch per feed per window must fit its block time and gas limit
        self.batcher.window_s = self.anchorer.suggested_window(len(c.feeds), c.batching.window_s)
        self.batcher.cuts = self.anchorer.cuts  # aggregated: every batch closes just before the block is due
        self.replacer = SensorReplacer(self.chain, c.twin_id, self.outbox, c.outbox_path.parent,
                                       passphrase_env=c.keystore_passphrase_env)
        self.replacer.resume()  # a swap a crash interrupted is finished before anything is ingested
        for r in self.replacer.done.values():  # a restart after a swap keeps the new mapping
            self._apply_replacement(r)
        self.spec = load_spec(self.chain, self.store, c.twin_id)
        self._apply_spec(self.spec)
        self.spec_follower = SpecFollower(self.chain, self.store, c.twin_id, self.spec,
                                          self.chain.w3.eth.block_number + 1, self._reload_spec)
        self.sources = c.build_sources(last_committed=self.outbox.last_source_time)
        self.ack: Acknowledger | None = None
        for source in self.sources:
            if isinstance(source, (CsvReplay, JsonLinesReplay)):  # resume after the last committed line
                source.start_offset = self.outbox.checkpoint(source.checkpoint_key)
            if isinstance(source, StdinSource):
                self.ack = Acknowledger(next(s.ack for s in c.all_sources() if s.kind == "stdin"))
        self.pipeline.on_committed = self._acknowledge
        self.source = self.sources[0]
        self.connectors = [s for s in self.sources if isinstance(s, QueueConnector)]
        self.acks = Acknowledgements()
        simulator = next((s for s in self.sources if isinstance(s, FillingPlantSimulator)), None)
        plant_device = ConnectorDevice(self.connectors)
        device = PlantDriver(simulator) if simulator is not None else (plant_device or None)
        self.watcher = (ProgramCallWatcher(self.chain, self.store, c.twin_id, self.spec.programs_by_id(), device,
                                           deployment.block, operations=Operations(self.outbox))
                        if device is not None else None)
        self.anchorer.reconcile_all(sorted({f.feed_id for f in c.feeds.values()}))
        self.outbox.check_integrity()

    def _feeds_from_chain(self, c: AgentConfig, from_block: int, device_address: str) -> AgentConfig:
        spec = load_spec(self.chain, self.store, c.twin_id).spec
        found = discover_feeds(self.chain, spec, c.twin_id, device_address, from_block)
        log.info("feeds taken from the chain", feeds={s: f for s, (f, _) in found.items()})
        return c.model_copy(update={"feeds": {s: FeedConfig(feed_id=f, component=aml) for s, (f, aml) in found.items()}})

    def _apply_spec(self, spec) -> None:
        """Safety limits, measurement ranges and redundancy groups from the on-chain specification, only
        ever tightened by the local config."""
        local = self.config.validation_rules()
        limits, notes = tighten(spec.safety_rules(), local.safety)
        ranges, range_notes = tighten(measurement_ranges(spec), local.ranges, "validation.ranges")
        groups, group_notes = redundancy_groups(spec, local.groups)
        for note in notes + range_notes + group_notes:
            log.warning("local limit ignored", detail=note)
        self.validator.set_safety_rules(limits)
        self.validator.set_ranges(ranges)
        self.validator.set_groups(groups)

    def _reload_spec(self, spec) -> None:
        with self.lock:
            self.spec = spec
            self._apply_spec(spec)

    def _acknowledge(self, positions) -> None:
        if self.ack is not None and "stdin" in positions:
            self.ack.ack(positions["stdin"])

    def _apply_replacement(self, r) -> None:
        self.batcher.set_feed(r.new_sensor, r.new_feed)
        self.validator.rename_sensor(r.old_sensor, r.new_sensor)
        self.anchorer.device_keys[r.new_feed] = self.replacer.key_of(r)

    def _on_swap(self, event: SensorSwapped) -> None:
        old_feed = self.batcher.feed_of(event.old)
        component = next(f.component for s, f in self.config.feeds.items() if f.feed_id == old_feed)
        self._apply_replacement(self.replacer.replace(event, old_feed, component))

    def _on_anchored(self, batch: AnchoredBatch) -> None:
        self.status.last_anchored_t_ms = batch.t_last
        if self.record_latency:
            from ..formats.batch import decode_batch

            readings = decode_batch(self.outbox.batch_data(batch.feed, batch.seq)).readings
            self.status.latencies_ms.extend(batch.anchored_at * 1000 - r.t_ms for r in readings)

    # -- threads -------------------------------------------------------------------------------

    def _ingest(self, source) -> None:
        connector = source if isinstance(source, QueueConnector) else None
        key = getattr(source, "checkpoint_key", None)  # line sources: checkpointed / acknowledged position
        try:
            for item in source:
                # A connector ends by itself once stopped, after what it had queued: that is pushed too.
                if connector is None and self.stop_requested.is_set():
                    break
                with self.lock:
                    self.pipeline.push(item)
                    if key is not None:  # read right after the item: the source has not moved on yet
                        self.pipeline.note_position(key, source.position)
                    if connector is not None:
                        self.acks.pushed(connector, item)
                    self._settle()
        except Exception as exc:  # noqa: BLE001 - a broken source stops ingest, not the anchoring of what we have
            log.error("source failed", error=str(exc))
            self.status.errors += 1
        finally:
            with self.lock:
                self._ingesting -= 1
                if self._ingesting == 0:
                    self.pipeline.flush()
                    self._settle()
                    self.source_done.set()

    def _settle(self) -> None:
        """Everything pushed is committed (or rejected): acknowledge it to the connectors."""
        if self.pipeline.uncommitted == 0:
            self.acks.committed()

    def _stop_connectors(self) -> None:
        for connector in self.connectors:
            connector.stop()

    def _housekeeping(self) -> None:
        """Every poll interval: follow the specification; every retention.every_s: prune the outbox."""
        now = time.monotonic()
        if now >= self._next_spec_poll:
            self._next_spec_poll = now + self.config.chain.poll_interval_s
            try:
                self.spec_follower.poll()
            except SpecError as exc:  # a version that does not check out: keep the rules we have
                log.error("new specification version not applied", error=str(exc))
        if now >= self._next_prune:
            self._next_prune = now + self.config.retention.every_s
            prune_confirmed_before(self.outbox, time.time_ns() // 1_000_000
                                   - int(self.config.retention.confirmed_s * 1000))

    def _anchor_loop(self) -> None:
        backoff = Backoff()
        self._next_spec_poll = self._next_prune = 0.0
        while True:
            try:
                anchored = self.anchorer.run_once()
                self.replacer.retire_drained(self._has_open_batches)
                self._housekeeping()
                backoff.ok()
            except (IpfsError, ChainError, OSError, Web3Exception) as exc:
                self.status.errors += 1
                self.chain.sender.resync_nonce()  # a transaction may or may not have reached the node
                delay = backoff.fail()
                log.warning("storage or chain unavailable, retrying", error=str(exc), retry_in_s=delay)
                if self._finished():
                    return
                time.sleep(delay)
                continue
            if anchored == 0:
                if self._finished():
                    return
                time.sleep(IDLE_SLEEP_S)

    def _has_open_batches(self, feed: int) -> bool:
        unbatched, _ = self.outbox.unbatched(feed)
        return unbatched > 0 or any(True for _ in self.outbox.batches(feed, states=list(OPEN_STATES)))

    def _finished(self) -> bool:
        """Done once the source ended (or we were asked to stop) and nothing is left to anchor."""
        if not self.source_done.is_set():
            return False
        return self._waiting() == 0 or self._drain_expired()

    def _waiting(self) -> int:
        """This agent's batches not yet on-chain, less those of feeds the chain refuses for good."""
        states = [BatchState.PENDING, BatchState.STORED, BatchState.SUBMITTED]
        own, refused = self.anchorer.device_keys, self.anchorer.stats.refused
        return sum(1 for r in self.outbox.batches(states=states) if r.feed in own and r.feed not in refused)

    def refusals(self) -> str | None:
        """One line naming the feeds the chain refused for good, or None."""
        refused = self.anchorer.stats.refused
        if not refused:
            return None
        named = ", ".join(f"feed {feed} ({error})" for feed, error in sorted(refused.items()))
        return (f"the chain refused anchoring for {named}: their batches stay in the outbox; fix the feed "
                "on-chain (or the config) and run the agent again")

    def _drain_expired(self) -> bool:
        return self._stop_at is not None and time.monotonic() - self._stop_at > self.drain_timeout_s

    def _watch_calls(self) -> None:
        while not (self.source_done.is_set() and self.stop_requested.is_set()) and not self._anchor_done.is_set():
            try:
                self.watcher.poll()
            except (ChainError, IpfsError, OSError, Web3Exception) as exc:
                # A call left Delivered is finished on the next poll: its events are read again.
                log.warning("program-call watch failed, retrying", error=str(exc))
            time.sleep(self.config.chain.poll_interval_s)

    # -- main ----------------------------------------------------------------------------------

    def request_stop(self, *_: object) -> None:
        self.stop_requested.set()

    def run(self, status_every_s: float = 1.0, install_signals: bool = True) -> dict[str, float | int]:
        self._anchor_done = threading.Event()
        if install_signals and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        self._ingesting = len(self.sources)
        ingests = [threading.Thread(target=self._ingest, args=(source,), name=f"ingest-{i}", daemon=True)
                   for i, source in enumerate(self.sources)]
        anchor = threading.Thread(target=lambda: (self._anchor_loop(), self._anchor_done.set()), name="anchor",
                                  daemon=True)
        for ingest in ingests:
            ingest.start()
        anchor.start()
        calls = threading.Thread(target=self._watch_calls, name="calls", daemon=True)
        if self.watcher is not None:
            calls.start()
        last_status = time.monotonic()
        while anchor.is_alive():
            if self.stop_requested.is_set() and self._stop_at is None:  # set by a signal or the CLI's handler
                self._stop_at = time.monotonic()
                log.info("stop requested: flushing open batches")
                threading.Thread(target=self._stop_connectors, name="stop-connectors", daemon=True).start()
            with self.lock:
                if not self.source_done.is_set():
                    self.pipeline.tick()
                    self._settle()
            if time.monotonic() - last_status >= status_every_s:
                self._print_status()
                last_status = time.monotonic()
            anchor.join(timeout=0.05)
        for ingest in ingests:
            ingest.join(timeout=5)
        self._stop_connectors()
        if calls.is_alive():
            calls.join(timeout=self.config.chain.poll_interval_s + 30)  # it writes call records to the outbox
        summary = self.summary()
        log.info("agent stopped", **summary)
        self.outbox.close()
        if self.roots is not None:
            self.roots.close()
        return summary

    def summary(self) -> dict[str, float | int]:
        stats = self.anchorer.stats
        ingest = self.pipeline.stats
        return {"accepted": ingest.accepted, "rejected": ingest.rejected, "duplicates": ingest.duplicates,
                "source_rejects": sum(c.rejects.total for c in self.connectors),
                "batches_anchored": stats.batches,
                "readings_anchored": stats.readings, "transactions": stats.transactions, "gas": stats.gas,
                "errors": self.status.errors, "program_calls": len(self.watcher.outcomes) if self.watcher else 0,
                "rejected_future": self.validator.stats.rejected_by_reason.get("time in the future", 0),
                "rejected_long_lines": self.validator.stats.rejected_by_reason.get("line too long", 0),
                "refused_feeds": len(self.anchorer.stats.refused)}

    def _print_status(self) -> None:
        elapsed = max(time.monotonic() - self.status.started, 1e-9)
        stats, ingest = self.anchorer.stats, self.pipeline.stats
        lag = (time.time() * 1000 - self.status.last_anchored_t_ms) / 1000 if self.status.last_anchored_t_ms else 0.0
        line = (f"readings/s {ingest.accepted / elapsed:8.1f} | batches anchored {stats.batches:6d} | "
                f"outbox depth {self.anchorer.pending():4d} | lag {lag:6.1f}s | gas {stats.gas:,}")
        print(line, file=sys.stderr, flush=True)
