"""Shared helpers: repeated measurements summarised as median and spread, errors, and machine facts."""
from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, Sequence


class NotAvailable(RuntimeError):
    """The module a figure depends on is not there yet: the figure is recorded as null."""


@dataclass(frozen=True)
class Spread:
    """Median of several runs with its spread."""

    median: float
    min: float
    max: float
    q1: float
    q3: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.min, "max": self.max, "q1": self.q1, "q3": self.q3, "n": self.n}


def spread(values: Iterable[float]) -> Spread:
    """Summarise `values` (at least one): median, min, max and the quartiles."""
    xs = sorted(float(v) for v in values)
    if not xs:
        raise ValueError("no values to summarise")
    if len(xs) == 1:
        q1 = q3 = xs[0]
    else:
        q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return Spread(statistics.median(xs), xs[0], xs[-1], q1, q3, len(xs))


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0..100) by linear interpolation."""
    xs = sorted(values)
    if not xs:
        raise ValueError("no values")
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


class ReceiptLog:
    """Each tracked reading's arrival -> receipt latency and its receipt's wall time, in constant memory: counts per
    millisecond of latency and per 10 ms of receipt time. The resident memory of a long real-time run is then the
    agent's, not the bench's (three float arrays per reading grew the process by about 15 MB a minute at 10k/s)."""

    def __init__(self) -> None:
        self.count = 0
        self._latency_ms: Counter[int] = Counter()
        self._receipt_cs: Counter[int] = Counter()  # receipt wall time, rounded up to the centisecond

    def add(self, arrived: float, anchored: float) -> None:
        self.count += 1
        self._latency_ms[round((anchored - arrived) * 1000)] += 1
        self._receipt_cs[math.ceil(anchored * 100)] += 1

    def percentile(self, p: float) -> float:
        """The p-th percentile (0..100) of the latencies in ms, interpolated as `percentile` does."""
        if not self.count:
            raise ValueError("no values")
        k = (self.count - 1) * p / 100.0
        lo = int(k)
        low, high = self._nth(lo), self._nth(min(lo + 1, self.count - 1))
        return low + (high - low) * (k - lo)

    def received_by(self, deadline: float) -> int:
        """How many receipts came at or before the wall time `deadline` (to the 10 ms, never late ones)."""
        limit = math.floor(deadline * 100)
        return sum(n for cs, n in self._receipt_cs.items() if cs <= limit)

    def _nth(self, index: int) -> int:
        seen = 0
        for value in sorted(self._latency_ms):
            seen += self._latency_ms[value]
            if seen > index:
                return value
        raise IndexError(index)


@dataclass
class Results:
    """Figures of one bench run: `values` (key -> median) and `spreads` (key -> Spread)."""

    values: dict[str, Any] = field(default_factory=dict)
    spreads: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def put(self, key: str, samples: Iterable[float]) -> float:
        """Record the median of `samples` under `key`, and their spread."""
        s = spread(samples)
        self.values[key] = s.median
        self.spreads[key] = s.as_dict()
        return s.median

    def put_value(self, key: str, value: Any) -> None:
        self.values[key] = value

    def missing(self, keys: Iterable[str], reason: str) -> None:
        """Record `keys` as null because `reason`."""
        for key in keys:
            self.values[key] = None
            self.unavailable[key] = reason

    def merge(self, other: "Results") -> None:
        self.values.update(other.values)
        self.spreads.update(other.spreads)
        self.extra.update(other.extra)
        self.unavailable.update(other.unavailable)


class RealTimeRig(Protocol):
    """What `offer_in_real_time` drives (bench/agent.py's `AgentRig`)."""

    def push(self, sensor: str, t_ms: int, value: float, track: bool) -> None: ...

    def tick(self) -> None: ...


def offer_in_real_time(rig: RealTimeRig, names: Sequence[str], hz: float, seconds: float, t0_ms: int,
                       tick_s: float) -> tuple[int, float]:
    """One reading per sensor in `names` every 1/`hz` s of wall time for `seconds`, each tracked for latency, with
    the daemon's tick every `tick_s`; a late tick is pushed at once, never skipped. Returns the readings pushed and
    the `time.perf_counter()` at which the offer started."""
    period = 1.0 / hz
    start = time.perf_counter()
    pushed = 0
    last_tick = start
    for tick in range(int(seconds * hz)):
        delay = start + tick * period - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t_ms = t0_ms + int(tick * period * 1000)
        for name in names:
            rig.push(name, t_ms, 20.0 + (tick % 50) * 0.1, track=True)
            pushed += 1
        if time.perf_counter() - last_tick >= tick_s:
            rig.tick()
            last_tick = time.perf_counter()
    return pushed, start


def timed(fn: Callable[[], Any]) -> float:
    """Seconds `fn()` took (wall clock, perf_counter)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """Cores, CPU model and the software the figures were taken with."""
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }
