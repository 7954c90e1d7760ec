"""Shared helpers: repeated measurements summarised as median and spread, errors, and machine facts."""
from __future__ import annotations

import os
import platform
import statistics
import time
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
