"""The twin's rules as the agent applies them: the chain's specification is the source of truth.

- ``tighten``: a local ``validation.safety_limits`` (or ``ranges``) entry may only narrow the on-chain
  limit (or AML ``MeasurementRange``) of a sensor: a higher min, a lower max; a looser local bound is
  ignored with a warning.
- ``redundancy_groups``: the AML's ``RedundancyGroup`` sensors with their ``Tolerance``; a local
  ``validation.redundant_groups`` entry for the same sensors may only lower the tolerance, and a local
  group the AML does not declare adds a check (which only tightens).
- ``SpecFollower``: follows the twin's ``SpecUpdated`` events while the agent runs and hands each
  new specification version to the daemon, which reloads its safety rules from it.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import structlog

from ..chain.connection import TwinLedgerChain
from ..ledger.events import EventReader
from ..ledger.twinspec import OnChainSpec, load_spec
from .validation import RedundantGroup

__all__ = ["Bounds", "SpecFollower", "measurement_ranges", "redundancy_groups", "tighten"]

log = structlog.get_logger(__name__)
Bounds = tuple[float | None, float | None]


def tighten(chain: Mapping[str, Bounds], local: Mapping[str, Bounds],
            where: str = "validation.safety_limits") -> tuple[dict[str, Bounds], list[str]]:
    """The chain's limits, narrowed by the local ones; returns them and one note per ignored loosening."""
    out = dict(chain)
    notes: list[str] = []
    for sensor, (lo, hi) in local.items():
        chain_lo, chain_hi = chain.get(sensor, (None, None))
        if lo is not None and chain_lo is not None and lo < chain_lo:
            notes.append(f"{where}.{sensor}.min {lo} is below the chain's {chain_lo}: "
                         "a local rule may only tighten, the chain's limit applies")
        if hi is not None and chain_hi is not None and hi > chain_hi:
            notes.append(f"{where}.{sensor}.max {hi} is above the chain's {chain_hi}: "
                         "a local rule may only tighten, the chain's limit applies")
        out[sensor] = (_pick(chain_lo, lo, max), _pick(chain_hi, hi, min))
    return out, notes


def measurement_ranges(spec: OnChainSpec) -> dict[str, Bounds]:
    """Sensor name -> (min, max) of its AML ``MeasurementRange`` in the on-chain specification."""
    return {c.name: (float(c.sensor.measurement_range.min), float(c.sensor.measurement_range.max))
            for c in spec.spec.sensors if c.sensor is not None}


def redundancy_groups(spec: OnChainSpec, local: Sequence[RedundantGroup],
                      where: str = "validation.redundant_groups") -> tuple[list[RedundantGroup], list[str]]:
    """The AML's redundancy groups (tolerance: the smallest a member declares), each narrowed by a local
    group of the same sensors; local groups the AML lacks are added. Returns them and one note per
    ignored loosening or per AML group that declares no tolerance and has no local one."""
    members: dict[str, list[str]] = {}
    declared: dict[str, list[float]] = {}
    for c in spec.spec.sensors:
        if c.sensor is None or c.sensor.redundancy_group is None:
            continue
        members.setdefault(c.sensor.redundancy_group, []).append(c.name)
        if c.sensor.redundancy_tolerance is not None:
            declared.setdefault(c.sensor.redundancy_group, []).append(float(c.sensor.redundancy_tolerance))
    by_sensors = {frozenset(g.sensors): g for g in local}
    out: list[RedundantGroup] = []
    notes: list[str] = []
    for name, sensors in members.items():
        if len(sensors) < 2:
            continue
        mine = by_sensors.pop(frozenset(sensors), None)
        chain_tolerance = min(declared[name]) if name in declared else None
        if chain_tolerance is None and mine is None:
            notes.append(f"redundancy group {name!r} declares no Tolerance in the AML and {where} has none: "
                         "its sensors are not compared")
            continue
        if mine is not None and chain_tolerance is not None and mine.tolerance > chain_tolerance:
            notes.append(f"{where} tolerance {mine.tolerance} for {', '.join(sensors)} is above the AML's "
                         f"{chain_tolerance}: a local rule may only tighten, the AML's tolerance applies")
        tolerances = [t for t in (chain_tolerance, mine.tolerance if mine else None) if t is not None]
        out.append(RedundantGroup(tuple(sensors), min(tolerances), mine.window_ms if mine else 1000))
    return out + list(by_sensors.values()), notes


def _pick(chain: float | None, local: float | None, stricter: Callable[[float, float], float]) -> float | None:
    if chain is None:
        return local
    return chain if local is None else stricter(chain, local)


class SpecFollower:
    """Polls the twin's ``SpecUpdated`` events from ``from_block`` on; ``poll`` reloads on a new version."""

    def __init__(self, chain: TwinLedgerChain, store: Any, twin: int, current: OnChainSpec, from_block: int,
                 on_spec: Callable[[OnChainSpec], None]) -> None:
        self.chain = chain
        self.store = store
        self.twin = twin
        self.current = current
        self.next_block = from_block
        self.on_spec = on_spec
        self.reader = EventReader(chain)

    def poll(self) -> bool:
        """True if a new specification version was loaded and handed on."""
        tip = self.chain.w3.eth.block_number
        if tip < self.next_block:
            return False
        events = self.reader.events("Specification", "SpecUpdated", self.next_block, tip, twin=self.twin)
        if not any(int(e.args["version"]) > self.current.version for e in events):
            self.next_block = tip + 1
            return False
        spec = load_spec(self.chain, self.store, self.twin)  # if it fails, the next poll reads the range again
        self.next_block = tip + 1
        log.info("specification updated on-chain: rules reloaded", twin=self.twin, old=self.current.version,
                 new=spec.version, cid=spec.cid)
        self.current = spec
        self.on_spec(spec)
        return True
