"""Program calls checked against the safety & security bounds before anything is sent.

Values are given in the units of the specification and scaled by `10**Decimals` (docs/aml.md) to the
on-chain integers; a value out of bounds never costs a transaction. `callProgram` checks again on-chain.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .names import parse_bytes32
from .twinview import LookupFailed, ParamInfo, ProgramInfo, TwinView, program_id


class BoundsError(LookupFailed):
    """A parameter value is malformed, missing, unknown or out of bounds; nothing was sent."""


@dataclass(frozen=True)
class Argument:
    param: ParamInfo
    text: str
    scaled: int


def find_program(view: TwinView, component_id: bytes, name: str) -> ProgramInfo:
    pid = parse_bytes32(name) or program_id(component_id, name)
    program = view.program(component_id, pid)
    if program is None or not program.enabled:
        known = ", ".join(p.name or "0x" + p.program_id.hex()[:8] for p in view.programs
                          if p.component == component_id and p.enabled) or "none"
        raise LookupFailed(f"UnknownProgram: {view.component_label(component_id)} has no program {name!r} "
                           f"(programs: {known})")
    return program


def parse_assignments(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise BoundsError(f"bad argument {pair!r}: use name=value")
        if name in values:
            raise BoundsError(f"parameter {name} given twice")
        values[name] = value
    return values


def scale(param: ParamInfo, text: str, raw: bool) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BoundsError(f"parameter {param.name}: {text!r} is not a number") from None
    if not value.is_finite():
        raise BoundsError(f"parameter {param.name}: {text!r} is not a finite number")
    decimals = 0 if raw else param.decimals
    if decimals is None:
        raise BoundsError(f"parameter {param.name}: its decimals are in the specification file, which is not "
                          "readable; pass --raw with the on-chain integer values")
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise BoundsError(f"parameter {param.name}: {text} has more than {decimals} decimal(s)")
    return int(scaled)


def check_arguments(program: ProgramInfo, values: dict[str, str], raw: bool) -> list[Argument]:
    names = [p.name for p in program.params]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise BoundsError(f"unknown parameter(s) {', '.join(unknown)}: the program takes {', '.join(names) or 'none'}")
    missing = [n for n in names if n not in values]
    if missing:
        raise BoundsError(f"missing parameter(s) {', '.join(missing)}: give name=value for each")
    args = []
    for param in program.params:
        scaled = scale(param, values[param.name], raw)
        if not param.min <= scaled <= param.max:
            shown = f"[{param.min}, {param.max}] (on-chain integers)" if raw else param.range_text
            raise BoundsError(f"ParameterOutOfBounds: {param.name}={values[param.name]} is outside {shown}; "
                              "checked before sending, nothing was sent")
        args.append(Argument(param, values[param.name], scaled))
    return args
