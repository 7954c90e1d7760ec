"""Faults the simulator injects into one sensor: stuck, broken (garbage), drift, spikes, a swap."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal




# -- faults -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fault:
    """A fault on ``sensor`` active for ``start_s <= t < end_s`` (simulation seconds)."""

    sensor: str
    start_s: float
    end_s: float = math.inf

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s


@dataclass(frozen=True)
class Stuck(Fault):
    """The sensor repeats the last value it produced before the fault."""


@dataclass(frozen=True)
class Broken(Fault):
    """The sensor emits NaN, ``None`` or garbage text (``mode="mixed"`` cycles through all)."""

    mode: Literal["nan", "none", "garbage", "mixed"] = "mixed"


@dataclass(frozen=True)
class Drift(Fault):
    """An offset that grows by ``rate_per_s`` from the fault's start."""

    rate_per_s: float = 0.01


@dataclass(frozen=True)
class Spikes(Fault):
    """With ``probability`` per sample, add ``±magnitude``."""

    probability: float = 0.05
    magnitude: float = 1.0


@dataclass(frozen=True)
class Swap(Fault):
    """At ``start_s`` the sensor is replaced by ``new_name`` (serial ``new_serial``); faults on the
    old name stop applying."""

    new_name: str = ""
    new_serial: str = ""


_GARBAGE = ("", "ERR", "0x7fc00000", "--", "\x00\x01", "1.2.3", "nan%", "{}")
