"""What every plant connector shares: the reading it yields, the delivery it acknowledges, the
device answer of a program call, and the counted, logged rejects.

A connector runs its own I/O (a thread with an asyncio loop, paho's network thread, a polling
thread) and puts ``PlantSample``s on a queue. The agent iterates the connector, commits what it
accepted to the outbox and only then calls ``acknowledge`` with the samples' deliveries: an MQTT
message is PUBACKed then, and the OPC UA / Modbus connectors learn the last committed source time.
A sample the connector could not even parse arrives with ``error`` set, so validation rejects and
counts it in the one place it counts everything else.
"""
from __future__ import annotations

import queue
import threading
from collections import Counter
from dataclasses import dataclass, field
from enum import IntFlag
from typing import Any, Callable, Iterator, Mapping

import structlog

from ...errors import TwinLedgerError

__all__ = [
    "CallAnswer",
    "ConnectorError",
    "Delivery",
    "DeviceUnavailable",
    "PlantSample",
    "QueueConnector",
    "RejectCounter",
    "SourceQuality",
]

log = structlog.get_logger(__name__)


class ConnectorError(TwinLedgerError, RuntimeError):
    """A connector that cannot do what it was asked (bad mapping, device refused a call)."""


class DeviceUnavailable(ConnectorError, ConnectionError):
    """The device cannot be reached right now: a program call is retried, not failed on-chain."""


class SourceQuality(IntFlag):
    """What the plant itself says about a value (OPC UA status code, Sparkplug quality)."""

    GOOD = 0
    UNCERTAIN = 1
    BAD = 2
    HISTORICAL = 4     # delivered late: a HistoryRead backfill or a Sparkplug is_historical metric


@dataclass
class Delivery:
    """One unit the source wants acknowledged (an MQTT message, a batch of polled registers).

    ``pending`` counts its samples not yet committed; ``settle`` runs once every one of them was.
    """

    settle: Callable[[], None] | None = None
    pending: int = 0
    done: bool = False

    def committed(self) -> None:
        self.pending -= 1
        if self.pending <= 0 and not self.done:
            self.done = True
            if self.settle is not None:
                self.settle()


@dataclass(frozen=True, slots=True)
class PlantSample:
    """A raw reading from a plant: the same fields as ``agent.sources.Sample`` plus the source's
    quality and the delivery to acknowledge once it is committed."""

    sensor: Any
    t_ms: Any
    value: Any
    origin: str = ""
    error: str | None = None
    source_quality: SourceQuality = SourceQuality.GOOD
    delivery: Delivery | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class CallAnswer:
    """The device's answer to a program call (``ok`` False: the device's error)."""

    program: str
    ok: bool
    message: str = ""
    value: Any = None


class RejectCounter:
    """Counts rejects by reason and logs the first few of each reason in full, then every 1000th."""

    def __init__(self, connector: str, *, log_first: int = 5, log_every: int = 1000) -> None:
        self.connector = connector
        self.by_reason: Counter[str] = Counter()
        self._log_first = log_first
        self._log_every = log_every

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def reject(self, reason: str, hint: str, /, **context: Any) -> None:
        self.by_reason[reason] += 1
        n = self.by_reason[reason]
        if n <= self._log_first or n % self._log_every == 0:
            log.warning(f"{self.connector}: {reason}", hint=hint, count=n, **context)


_STOP = object()


def _with_delivery(sample: PlantSample, delivery: Delivery) -> PlantSample:
    if sample.delivery is delivery:
        return sample
    return PlantSample(sample.sensor, sample.t_ms, sample.value, sample.origin, sample.error,
                       sample.source_quality, delivery)


class QueueConnector:
    """Base of the connectors: a bounded queue between the I/O side and the agent's ingest loop.

    ``__iter__`` yields until ``stop()``; the queue bound makes a slow outbox push back on the
    source (an MQTT message is then simply not read, and stays with the broker).
    """

    name = "connector"

    def __init__(self, *, max_queue: int = 100_000) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(max_queue)
        self.rejects = RejectCounter(self.name)
        self.stopped = threading.Event()
        self.delivered = 0

    def emit(self, samples: list[PlantSample], delivery: Delivery | None = None) -> None:
        """Queue the samples of one delivery; it is settled once all of them were committed (at
        once when there are none). The count is set before any sample is visible to the agent."""
        if delivery is not None:
            delivery.pending = len(samples)
            if not samples:
                delivery.pending = 1
                delivery.committed()
        for sample in samples:
            self.delivered += 1
            self.queue.put(sample if delivery is None else _with_delivery(sample, delivery))

    def __iter__(self) -> Iterator[PlantSample]:
        self.start()
        try:
            while True:
                item = self.queue.get()
                if item is _STOP:
                    return
                yield item
        finally:
            self.stop()

    def start(self) -> None:
        """Connect and start delivering (idempotent): runs ``_run`` in the connector's own thread."""
        if getattr(self, "_thread", None) is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        raise NotImplementedError

    def stop(self, join_timeout_s: float = 5.0) -> None:
        """Disconnect; the iteration ends after the samples already queued."""
        if not self.stopped.is_set():
            self.stopped.set()
            self.queue.put(_STOP)
        thread = getattr(self, "_thread", None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=join_timeout_s)

    def acknowledge(self, samples: list[PlantSample]) -> None:
        """The agent committed (or rejected for good) these samples: settle their deliveries. A
        connector's ``SensorSwapped`` events pass through here too; they carry no delivery."""
        for sample in samples:
            delivery = getattr(sample, "delivery", None)
            if delivery is not None:
                delivery.committed()

    def call(self, program: str, args: Mapping[str, Any]) -> CallAnswer:
        raise ConnectorError(f"{self.name}: no program calls are mapped")
