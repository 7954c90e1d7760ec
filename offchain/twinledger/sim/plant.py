"""A bottling/filling plant with coupled dynamics and fault injection. It also is the device that program
calls drive (`set_valve`, `set_inlet`, ...)."""
from __future__ import annotations

import heapq
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping

import structlog

from ..formats.samples import Sample, SensorSwapped, SourceItem
from .faults import Broken, Drift, Fault, Spikes, Stuck, Swap, _GARBAGE
from ..errors import TwinLedgerError


log = structlog.get_logger(__name__)
# -- the filling plant --------------------------------------------------------------------------

class CommandError(TwinLedgerError, ValueError):
    """A device command with an unknown program or an invalid parameter."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    program: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class PlantParams:
    """Physical parameters of the simulated plant (SI-ish units, litres and seconds)."""

    tank_area_m2: float = 0.5           # tank cross-section
    tank_height_m: float = 2.0
    tank_initial_level_m: float = 1.5
    valve_cv_l_s: float = 0.35          # flow at fully open valve and 1 m head
    valve_stroke_s: float = 0.4         # actuator time for a full 0 -> 1 stroke
    inlet_flow_l_s: float = 0.5         # refill pump flow when the inlet is on
    bottle_volume_l: float = 0.5
    fill_target: float = 0.95           # fraction at which the local controller closes the valve
    conveyor_s: float = 0.8             # time to bring the next bottle under the nozzle
    refill_low_m: float = 0.6           # local controller: inlet on below, off above refill_high_m
    refill_high_m: float = 1.6
    noise: Mapping[str, float] = field(default_factory=lambda: {  # in the reported units (%, l/min)
        "tank_level_a": 0.1, "tank_level_b": 0.1, "pipe_flow": 0.18,
        "bottle_level": 0.25, "valve_position": 0.0})


# Sensor name -> (serial, what it measures). Two level transmitters watch the same tank.
DEFAULT_SENSORS: dict[str, str] = {
    "tank_level_a": "LT101-0001",
    "tank_level_b": "LT102-0001",
    "pipe_flow": "FT201-0001",
    "bottle_level": "LT301-0001",
    "valve_position": "ZT401-0001",
}
_QUANTITY = {
    "tank_level_a": "tank_level",
    "tank_level_b": "tank_level",
    "pipe_flow": "flow",
    "bottle_level": "bottle_level",
    "valve_position": "valve",
}


class FillingPlantSimulator:
    """A gravity-fed bottling line: tank -> valve -> pipe -> bottle on a conveyor.

    Dynamics, integrated with a fixed step (``physics_dt_s``, never coarser than the fastest
    sensor): the valve moves towards its commanded position at a limited stroke rate; flow is
    ``cv * position * sqrt(2 g h)`` (Torricelli with the tank level ``h``), so it falls as the tank
    empties; the flow lowers the tank and fills the bottle under the nozzle; a bottle past its
    volume overflows ("floods") and the spill is counted. In ``auto`` mode a local controller
    closes the valve at the fill target, indexes the conveyor and refills the tank with
    hysteresis; in ``manual`` mode only commands move the valve, so a forgotten valve floods.

    Iterating yields ``Sample``s at each sensor's rate (Hz, up to 1000) in time order, plus
    ``SensorSwapped`` events. With ``realtime=False`` (the default) time is simulated and the
    iteration runs as fast as Python can; with ``realtime=True`` it sleeps to wall-clock pace.
    The output is a pure function of the constructor arguments and the commands.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        rates_hz: Mapping[str, float] | None = None,
        faults: Iterable[Fault] = (),
        params: PlantParams | None = None,
        start_ms: int = 1_700_000_000_000,
        duration_s: float | None = None,
        realtime: bool = False,
        mode: Literal["auto", "manual"] = "auto",
        physics_dt_s: float = 0.01,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        rates = dict(rates_hz) if rates_hz is not None else {name: 10.0 for name in DEFAULT_SENSORS}
        for name, hz in rates.items():
            if name not in DEFAULT_SENSORS:
                raise ValueError(f"unknown simulated sensor {name!r}; known: {', '.join(DEFAULT_SENSORS)}")
            if not 0 < hz <= 1000:
                raise ValueError(f"rate of {name} must be in (0, 1000] Hz, got {hz}")
        self.params = params or PlantParams()
        self.seed = seed
        self.start_ms = start_ms
        self.duration_s = duration_s
        self.realtime = realtime
        self.mode = mode
        self._sleep = sleep
        self._period_us = {name: max(1000, round(1e6 / hz)) for name, hz in rates.items()}
        self._dt_us = min([round(physics_dt_s * 1e6), *self._period_us.values()])
        self._faults = list(faults)
        self._rng = {name: random.Random(f"{seed}:{name}") for name in DEFAULT_SENSORS}
        self._names = {name: name for name in DEFAULT_SENSORS}       # physical slot -> current name
        self._serials = dict(DEFAULT_SENSORS)
        self._last_out: dict[str, float] = {}
        self._swaps = sorted((f for f in self._faults if isinstance(f, Swap)), key=lambda f: f.start_s)
        for swap in self._swaps:
            if not swap.new_name or swap.sensor not in DEFAULT_SENSORS:
                raise ValueError(f"swap needs a known sensor and a new name: {swap}")
        # state
        self.t_us = 0
        self.level_m = self.params.tank_initial_level_m
        self.valve_cmd = 0.0
        self.valve_pos = 0.0
        self.inlet_on = False
        self.flow_l_s = 0.0
        self.bottle_fill_l = 0.0
        self.bottles_done = 0
        self.spilled_l = 0.0
        self._conveyor_left_s = 0.0
        self._stopped = False

    # -- device interface (what program calls drive) --------------------------------------------

    def set_valve(self, position: float) -> CommandResult:
        """Command the fill valve to ``position`` in [0, 1] (0 closed)."""
        if isinstance(position, bool) or not isinstance(position, (int, float)) or not 0 <= position <= 1:
            raise CommandError(f"valve position must be a number in [0, 1], got {position!r}")
        if self._stopped and position > 0:
            raise CommandError("emergency stop is active; reset first")
        self.valve_cmd = float(position)
        return CommandResult("set_valve", True, f"valve -> {position}")

    def set_inlet(self, on: bool) -> CommandResult:
        """Switch the tank refill pump."""
        self.inlet_on = bool(on)
        return CommandResult("set_inlet", True, f"inlet {'on' if on else 'off'}")

    def set_mode(self, mode: Literal["auto", "manual"]) -> CommandResult:
        if mode not in ("auto", "manual"):
            raise CommandError(f"mode must be auto or manual, got {mode!r}")
        self.mode = mode
        return CommandResult("set_mode", True, mode)

    def next_bottle(self) -> CommandResult:
        """Index the conveyor: the current bottle leaves and a new empty one arrives."""
        self._conveyor_left_s = self.params.conveyor_s
        return CommandResult("next_bottle", True)

    def emergency_stop(self) -> CommandResult:
        self._stopped = True
        self.valve_cmd = 0.0
        self.inlet_on = False
        return CommandResult("emergency_stop", True)

    def reset(self) -> CommandResult:
        self._stopped = False
        return CommandResult("reset", True)

    def execute(self, program: str, args: Mapping[str, Any] | None = None) -> CommandResult:
        """Run a program call by name (the agent dispatches on-chain program calls here)."""
        handlers: dict[str, Callable[..., CommandResult]] = {
            "set_valve": self.set_valve, "set_inlet": self.set_inlet, "set_mode": self.set_mode,
            "next_bottle": self.next_bottle, "emergency_stop": self.emergency_stop, "reset": self.reset,
        }
        handler = handlers.get(program)
        if handler is None:
            raise CommandError(f"unknown program {program!r}; known: {', '.join(sorted(handlers))}")
        try:
            return handler(**dict(args or {}))
        except TypeError as exc:
            raise CommandError(f"{program}: bad arguments {dict(args or {})!r}: {exc}") from None

    @property
    def flooding(self) -> bool:
        return self.bottle_fill_l > self.params.bottle_volume_l

    @property
    def sensor_names(self) -> list[str]:
        return [self._names[slot] for slot in self._period_us]

    # -- simulation ------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[SourceItem]:
        end_us = None if self.duration_s is None else round(self.duration_s * 1e6)
        queue = [(0, slot) for slot in sorted(self._period_us)]
        heapq.heapify(queue)
        swaps = list(self._swaps)
        wall0 = time.monotonic()
        while queue:
            t_us, slot = queue[0]
            if end_us is not None and t_us >= end_us:
                return
            while self.t_us + self._dt_us <= t_us:
                self._step(self._dt_us)
            if self.t_us < t_us:
                self._step(t_us - self.t_us)
            while swaps and swaps[0].start_s * 1e6 <= t_us:
                swap = swaps.pop(0)
                yield self._do_swap(swap, t_us)
            if self.realtime:
                delay = t_us / 1e6 - (time.monotonic() - wall0)
                if delay > 0:
                    self._sleep(delay)
            heapq.heapreplace(queue, (t_us + self._period_us[slot], slot))
            yield Sample(self._names[slot], self.start_ms + t_us // 1000, self._measure(slot, t_us), "sim")

    def _do_swap(self, swap: Swap, t_us: int) -> SensorSwapped:
        old, old_serial = self._names[swap.sensor], self._serials[swap.sensor]
        self._names[swap.sensor] = swap.new_name
        self._serials[swap.sensor] = swap.new_serial or f"{old_serial.split('-')[0]}-{swap.new_name}"
        log.info("sensor swapped", old=old, new=swap.new_name)
        return SensorSwapped(old, swap.new_name, self.start_ms + t_us // 1000, old_serial, self._serials[swap.sensor])

    def _step(self, dt_us: int) -> None:
        p = self.params
        dt = dt_us / 1e6
        self.t_us += dt_us
        if self.mode == "auto" and not self._stopped:
            self._local_control()
        max_move = dt / p.valve_stroke_s
        self.valve_pos += max(-max_move, min(max_move, self.valve_cmd - self.valve_pos))
        head = max(self.level_m, 0.0)
        self.flow_l_s = p.valve_cv_l_s * self.valve_pos * math.sqrt(head)
        out_l = self.flow_l_s * dt
        in_l = p.inlet_flow_l_s * dt if self.inlet_on else 0.0
        volume_l = self.level_m * p.tank_area_m2 * 1000 - out_l + in_l
        self.level_m = min(max(volume_l / (p.tank_area_m2 * 1000), 0.0), p.tank_height_m)
        if self._conveyor_left_s > 0:
            self.spilled_l += out_l      # no bottle under the nozzle
            self._conveyor_left_s -= dt
            if self._conveyor_left_s <= 0:
                self.bottle_fill_l = 0.0
                self.bottles_done += 1
        else:
            self.bottle_fill_l += out_l
            overflow = self.bottle_fill_l - p.bottle_volume_l
            if overflow > 0:
                self.spilled_l += overflow
                self.bottle_fill_l = p.bottle_volume_l + 1e-9  # full to the brim, still flooding

    def _controller_fill_l(self) -> float:
        """The fill the local controller believes: the truth while the bottle-level transmitter is
        healthy, its stuck or broken output while it is not. So a failed sensor floods bottles, as on
        a real filler."""
        name = self._names["bottle_level"]
        t_s = self.t_us / 1e6
        if not any(f.sensor == name and isinstance(f, (Stuck, Broken)) and f.active(t_s) for f in self._faults):
            return self.bottle_fill_l
        seen = self._last_out.get("bottle_level")
        if not isinstance(seen, (int, float)) or math.isnan(seen):
            return 0.0  # no usable reading: it waits for a level it will never see
        return seen / 100.0 * self.params.bottle_volume_l

    def _local_control(self) -> None:
        p = self.params
        if self._conveyor_left_s > 0:
            self.valve_cmd = 0.0
        # Pre-act: the valve needs valve_stroke_s to close, so stop early by the volume that still
        # flows while it closes (flow falls roughly linearly with the position).
        elif self._controller_fill_l() + self.flow_l_s * self.valve_pos * p.valve_stroke_s / 2 >= p.fill_target * p.bottle_volume_l:
            self.valve_cmd = 0.0
            if self.valve_pos == 0.0:
                self.next_bottle()
        else:
            self.valve_cmd = 1.0
        if self.level_m < p.refill_low_m:
            self.inlet_on = True
        elif self.level_m > p.refill_high_m:
            self.inlet_on = False

    def _true_value(self, slot: str) -> float:
        """What a healthy transmitter reports, in the units of examples/bottling-plant.aml: levels and
        the valve in % of their span, the flow in l/min."""
        p = self.params
        quantity = _QUANTITY[slot]
        if quantity == "tank_level":
            return 100.0 * self.level_m / p.tank_height_m
        if quantity == "flow":
            return 60.0 * self.flow_l_s
        if quantity == "bottle_level":
            if self._conveyor_left_s > 0:
                return 0.0
            return 100.0 * min(self.bottle_fill_l / p.bottle_volume_l, 1.0)
        return 100.0 * self.valve_pos

    def _measure(self, slot: str, t_us: int) -> Any:
        rng = self._rng[slot]
        t_s = t_us / 1e6
        value: Any = self._true_value(slot) + rng.gauss(0.0, self.params.noise.get(slot, 0.0))
        name = self._names[slot]
        for fault in self._faults:
            if fault.sensor != name or isinstance(fault, Swap) or not fault.active(t_s):
                continue
            if isinstance(fault, Stuck):
                value = self._last_out.get(slot, value)
            elif isinstance(fault, Drift):
                value += fault.rate_per_s * (t_s - fault.start_s)
            elif isinstance(fault, Spikes):
                if rng.random() < fault.probability:
                    value += fault.magnitude * rng.choice((-1.0, 1.0))
            elif isinstance(fault, Broken):
                mode = fault.mode if fault.mode != "mixed" else rng.choice(("nan", "none", "garbage"))
                return {"nan": math.nan, "none": None}.get(mode, rng.choice(_GARBAGE))
        value = round(value, 6)   # transmitters have finite resolution
        self._last_out[slot] = value
        return value
