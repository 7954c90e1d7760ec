"""Validation of raw samples: parse, then flag. A suspect reading is flagged and kept; only input
that cannot be turned into ``(sensor, t_ms, finite value)`` is rejected.

Checks and the quality flag each sets (docs/formats.md section 1):
- schema and types: a sensor name, a non-negative integer time in ms and a finite number, else
  ``Rejected`` with a reason (counted, logged);
- range, per sensor ``(min, max)`` from the config: ``OUT_OF_RANGE`` (1);
- the twin's safety & security rules, passed in as data (``{sensor: (min, max)}``, either bound may
  be ``None``), which the daemon reads from the chain: ``SAFETY_RULE`` (2);
- redundant sensors of one quantity must agree within a tolerance (with the one peer, or with the
  group median when there are more), each peer taken at its sample nearest in time within
  ``window_ms``: ``REDUNDANCY_MISMATCH`` (4);
- ``stuck_count`` identical consecutive values: ``STUCK`` (8);
- a value further than ``max_delta`` from the median of the sensor's last few values: ``SPIKE`` (16);
- what a plant source said about the value (a sample's ``source_quality``: OPC UA status code,
  Sparkplug quality): ``SOURCE_UNCERTAIN`` (32), ``SOURCE_BAD`` (64).
"""

from __future__ import annotations

import math
import time
import statistics
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

import structlog

from twinledger.formats.batch import MAX_UINT64, Quality
from twinledger.agent.sources import Sample

__all__ = [
    "Accepted",
    "Bounds",
    "RedundantGroup",
    "Rejected",
    "SpikeRule",
    "ValidationRules",
    "ValidationStats",
    "Validator",
]

log = structlog.get_logger(__name__)

Bounds = tuple[float | None, float | None]
_OUT_OF_RANGE, _SAFETY_RULE, _REDUNDANCY_MISMATCH = int(Quality.OUT_OF_RANGE), int(Quality.SAFETY_RULE), \
    int(Quality.REDUNDANCY_MISMATCH)
_STUCK, _SPIKE = int(Quality.STUCK), int(Quality.SPIKE)
_SOURCE_UNCERTAIN, _SOURCE_BAD = int(Quality.SOURCE_UNCERTAIN), int(Quality.SOURCE_BAD)
_QUALITY_OF = [Quality(q) for q in range(2 * int(max(Quality)))]  # every combination of the flags
MAX_SENSOR_NAME_BYTES = 128


@dataclass(frozen=True, slots=True)
class Accepted:
    """A parsed reading with its quality flags, ready for the outbox."""

    sensor: str
    t_ms: int
    value: float
    quality: Quality = Quality.GOOD


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input that could not be parsed; never stored, only counted and logged."""

    reason: str
    sample: Sample


@dataclass(frozen=True)
class RedundantGroup:
    """Sensors observing the same quantity."""

    sensors: tuple[str, ...]
    tolerance: float
    window_ms: int = 1000


@dataclass(frozen=True)
class SpikeRule:
    max_delta: float
    window: int = 5


@dataclass(frozen=True)
class ValidationRules:
    """Everything validation needs, as plain data."""

    ranges: Mapping[str, Bounds] = field(default_factory=dict)
    safety: Mapping[str, Bounds] = field(default_factory=dict)
    groups: Sequence[RedundantGroup] = ()
    stuck_count: int = 0                          # 0 disables stuck detection
    stuck_overrides: Mapping[str, int] = field(default_factory=dict)   # per sensor; 0 disables
    spikes: Mapping[str, SpikeRule] = field(default_factory=dict)
    known_sensors: frozenset[str] | None = None   # None accepts any sensor name
    max_future_ms: int | None = None              # a source time further ahead of the clock is rejected


@dataclass
class ValidationStats:
    accepted: int = 0
    rejected: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)


class _Reject(Exception):
    pass


def _outside(value: float, bounds: Bounds) -> bool:
    lo, hi = bounds
    return (lo is not None and value < lo) or (hi is not None and value > hi)


LONG_LINE = "line longer than"   # how the line sources describe a line over max_line_bytes


def _reason_key(reason: str) -> str:
    return reason.split(":", 1)[0]


class Validator:
    """Stateful (stuck, spike and redundancy need recent history), one instance per agent."""

    def __init__(self, rules: ValidationRules, *, log_first: int = 10, log_every: int = 1000,
                 history: int = 16) -> None:
        self.stats = ValidationStats()
        self._log_first = log_first
        self._log_every = log_every
        self._history = history
        self._load(rules)

    def _load(self, rules: ValidationRules) -> None:
        self.rules = rules
        self._names_ok: set[str] = set()  # names that passed the sensor checks under these rules (bounded)
        self._group_of: dict[str, RedundantGroup] = {s: g for g in rules.groups for s in g.sensors}
        self._recent: dict[str, deque[tuple[int, float]]] = {}
        self._run: dict[str, tuple[float, int]] = {}
        self._spike_window: dict[str, deque[float]] = {}

    def set_safety_rules(self, safety: Mapping[str, Bounds]) -> None:
        """Replace the S&S limits (the daemon calls this when the twin's specification changes)."""
        self.rules = replace(self.rules, safety=dict(safety))

    def set_groups(self, groups: Sequence[RedundantGroup]) -> None:
        """Replace the redundancy groups (from the on-chain AML, tightened by the config)."""
        self.rules = replace(self.rules, groups=tuple(groups))
        self._group_of = {s: g for g in self.rules.groups for s in g.sensors}

    def set_ranges(self, ranges: Mapping[str, Bounds]) -> None:
        """Replace the measurement ranges (from the on-chain AML, tightened by the config)."""
        self.rules = replace(self.rules, ranges=dict(ranges))

    def rename_sensor(self, old: str, new: str) -> None:
        """After a sensor swap, the new sensor inherits the old one's rules and group membership."""
        r = self.rules
        def moved(m: Mapping[str, Any]) -> dict[str, Any]:
            return {(new if k == old else k): v for k, v in m.items()}
        groups = tuple(
            RedundantGroup(tuple(new if s == old else s for s in g.sensors), g.tolerance, g.window_ms)
            for g in r.groups)
        known = None if r.known_sensors is None else frozenset((r.known_sensors - {old}) | {new})
        self._load(replace(r, ranges=moved(r.ranges), safety=moved(r.safety), groups=groups,
                           stuck_overrides=moved(r.stuck_overrides), spikes=moved(r.spikes), known_sensors=known))

    def validate(self, sample: Sample) -> Accepted | Rejected:
        fields = self.check(sample)
        if type(fields) is Rejected:
            return fields
        sensor, t_ms, value, quality = fields
        return Accepted(sensor, t_ms, value, _QUALITY_OF[quality])

    def check(self, sample: Sample) -> tuple[str, int, float, int] | Rejected:
        """``validate`` as plain fields ``(sensor, t_ms, value, quality flags as an int)`` (the pipeline's path,
        no object per reading). The common sample (a known name seen before, integer ms, a finite float) is
        recognised by its types before the general parser runs; both apply the same checks."""
        sensor, t_ms, value = sample.sensor, sample.t_ms, sample.value
        if (sample.error is None and type(t_ms) is int and 0 <= t_ms <= MAX_UINT64 and type(value) is float
                and -math.inf < value < math.inf and type(sensor) is str and sensor in self._names_ok
                and self.rules.max_future_ms is None):
            pass
        else:
            try:
                sensor, t_ms, value = self._parse(sample)
            except _Reject as exc:
                return self._reject(str(exc), sample)
        # Plain ints on the hot path: IntFlag arithmetic costs more than all the checks together.
        quality = self._flags(sensor, t_ms, value)
        if type(sample) is not Sample:
            quality |= _source_flags(sample)
        self.stats.accepted += 1
        if quality:
            for flag in Quality:
                if flag and flag & quality:
                    self.stats.flagged[flag.name or str(int(flag))] += 1
        return sensor, t_ms, value, quality

    def validate_many(self, samples: Iterable[Sample]) -> Iterable[Accepted | Rejected]:
        return (self.validate(s) for s in samples)

    # -- parsing ---------------------------------------------------------------------------------

    def _parse(self, sample: Sample) -> tuple[str, int, float]:
        if sample.error and sample.error.startswith(LONG_LINE):
            raise _Reject(f"line too long: {sample.error}")
        if sample.error:
            raise _Reject(f"unparseable: {sample.error}")
        sensor = sample.sensor
        if not isinstance(sensor, str) or not sensor.strip():
            raise _Reject(f"bad sensor: expected a non-empty name, got {_short(sensor)}")
        sensor = sensor.strip()
        try:
            if len(sensor.encode("utf-8")) > MAX_SENSOR_NAME_BYTES:
                raise _Reject(f"bad sensor: name longer than {MAX_SENSOR_NAME_BYTES} bytes")
        except UnicodeEncodeError:
            raise _Reject("bad sensor: not valid UTF-8") from None
        known = self.rules.known_sensors
        if known is not None and sensor not in known:
            raise _Reject(f"unknown sensor: {_short(sensor)}")
        if sensor == sample.sensor and len(self._names_ok) < 4096:
            self._names_ok.add(sensor)
        t_ms = _parse_time(sample.t_ms)
        if self.rules.max_future_ms is not None:
            ahead = t_ms - time.time_ns() // 1_000_000
            if ahead > self.rules.max_future_ms:
                raise _Reject(f"time in the future: {t_ms} is {ahead / 1000:.0f} s ahead of the agent's clock "
                              f"(more than validation.max_clock_skew_s = {self.rules.max_future_ms / 1000:g}); "
                              "fix the source's clock")
        return sensor, t_ms, _parse_value(sample.value)

    # -- flags ---------------------------------------------------------------------------------

    def _flags(self, sensor: str, t_ms: int, value: float) -> int:
        rules = self.rules
        quality = 0
        bounds = rules.ranges.get(sensor)
        if bounds is not None and _outside(value, bounds):
            quality |= _OUT_OF_RANGE
        limits = rules.safety.get(sensor)
        if limits is not None and _outside(value, limits):
            quality |= _SAFETY_RULE
        if self._group_of and self._disagrees(sensor, t_ms, value):
            quality |= _REDUNDANCY_MISMATCH
        if self._stuck(sensor, value):
            quality |= _STUCK
        if rules.spikes and self._spike(sensor, value):
            quality |= _SPIKE
        return quality

    def _disagrees(self, sensor: str, t_ms: int, value: float) -> bool:
        group = self._group_of.get(sensor)
        if group is None:
            return False
        recent = self._recent.setdefault(sensor, deque(maxlen=self._history))
        recent.append((t_ms, value))
        others = []
        for other in group.sensors:
            if other == sensor or other not in self._recent:
                continue
            nearest = min(self._recent[other], key=lambda tv: abs(tv[0] - t_ms))
            if abs(nearest[0] - t_ms) <= group.window_ms:
                others.append(nearest[1])
        if not others:
            return False
        # With two or more peers, vote: the group median (self included) lets the majority win,
        # so only the odd one out is flagged. With one peer there is no majority; both get flagged.
        reference = others[0] if len(others) == 1 else statistics.median([*others, value])
        return abs(value - reference) > group.tolerance

    def _stuck(self, sensor: str, value: float) -> bool:
        limit = self.rules.stuck_overrides.get(sensor, self.rules.stuck_count)
        if limit <= 0:
            return False
        last, run = self._run.get(sensor, (math.nan, 0))
        run = run + 1 if value == last else 1
        self._run[sensor] = (value, run)
        return run >= limit

    def _spike(self, sensor: str, value: float) -> bool:
        rule = self.rules.spikes.get(sensor)
        if rule is None:
            return False
        window = self._spike_window.setdefault(sensor, deque(maxlen=max(1, rule.window)))
        spike = len(window) > 0 and abs(value - statistics.median(window)) > rule.max_delta
        window.append(value)
        return spike

    def _reject(self, reason: str, sample: Sample) -> Rejected:
        self.stats.rejected += 1
        key = _reason_key(reason)
        self.stats.rejected_by_reason[key] += 1
        n = self.stats.rejected_by_reason[key]
        if n <= self._log_first or n % self._log_every == 0:
            log.warning("reading rejected", reason=reason, origin=sample.origin, sensor=_short(sample.sensor),
                        value=_short(sample.value), count=n)
        return Rejected(reason, sample)


def _parse_time(raw: Any) -> int:
    if isinstance(raw, bool) or raw is None:
        raise _Reject(f"bad time: expected integer milliseconds, got {_short(raw)}")
    if isinstance(raw, int):
        t = raw
    elif isinstance(raw, float) and raw.is_integer():
        t = int(raw)
    elif isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        t = int(raw.strip())
    else:
        raise _Reject(f"bad time: expected integer milliseconds, got {_short(raw)}")
    if not 0 <= t <= MAX_UINT64:
        raise _Reject(f"bad time: {t} is outside 0..2^64-1")
    return t


def _source_flags(sample: Any) -> int:
    """``connectors.base.SourceQuality``: 1 uncertain, 2 bad (4, historical, is not a quality)."""
    flags = int(getattr(sample, "source_quality", 0))
    if not flags & 3:
        return 0
    return (_SOURCE_UNCERTAIN if flags & 1 else 0) | (_SOURCE_BAD if flags & 2 else 0)


def _parse_value(raw: Any) -> float:
    if raw is None:
        raise _Reject("bad value: missing")
    if isinstance(raw, bool):
        raise _Reject("bad value: boolean is not a measurement")
    if isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError:
            value = math.inf
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise _Reject(f"bad value: not a number: {_short(raw)}") from None
    else:
        raise _Reject(f"bad value: expected a number, got {type(raw).__name__}")
    if not math.isfinite(value):
        raise _Reject(f"bad value: not finite: {_short(raw)}")
    return value


def _short(raw: Any, limit: int = 60) -> str:
    text = repr(raw)
    return text if len(text) <= limit else text[: limit - 3] + "..."
