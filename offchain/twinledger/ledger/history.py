"""One readable line per on-chain event of a twin, for `twin history`."""
from __future__ import annotations

from typing import Any, Callable

from ..formats.cids import unpack
from .events import ChainEvent
from .names import CALL_STATUSES, PHASES, enum_name, permission_names, role_name
from .twinview import TwinView, bytes32_text

HIDDEN = {"twin", "sender", "author", "creator", "publisher", "agent"}  # shown as the author column
ROLE_ARGS = {"role"}
COMPONENT_ARGS = {"component", "components", "parent", "oldComponent", "newComponent", "componentId", "subject"}
PERMISSION_ARGS = {"permissions", "permission", "defaultPermissions"}


def _cid(args: dict[str, Any], key: str, codec_key: str) -> str | None:
    digest, codec = args.get(key), args.get(codec_key)
    if not isinstance(digest, (bytes, bytearray)) or not codec:
        return None
    try:
        return unpack(bytes(digest), codec)
    except ValueError:
        return None


def _value(view: TwinView, key: str, value: Any) -> str:
    if key in ROLE_ARGS:
        return role_name(value)
    if key in COMPONENT_ARGS and isinstance(value, (bytes, bytearray)):
        return view.component_label(bytes(value))
    if key in PERMISSION_ARGS:
        return "|".join(permission_names(int(value))) or "none"
    if key in ("kind", "paramNames", "deviceId") and isinstance(value, (bytes, bytearray)):
        return bytes32_text(bytes(value))
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(view, key, v) for v in value) + "]"
    return str(value)


SPECIAL: dict[str, Callable[[TwinView, dict[str, Any]], str]] = {
    "PhaseChanged": lambda v, a: f"phase {' → '.join(enum_name(PHASES, x) for x in _ints(a))}",
    "SpecUpdated": lambda v, a: f"specification v{a['version']}: {_cid(a, 'cid', 'codec')}",
    "DocumentVersionAdded": lambda v, a: f"document {a['docId']} v{a['version']}: {_cid(a, 'cid', 'codec')}",
    "CallCompleted": lambda v, a: (f"call {a['callId']} {'Done' if a['ok'] else 'Failed'}"
                                   + (f": result {_cid(a, 'resultCid', 'resultCodec')}" if a['resultCodec'] else "")),
    "ComponentAdded": lambda v, a: f"{a['name']} ({bytes32_text(a['kind'])}) under {v.component_label(a['parent'])}",
    "ProgramSet": lambda v, a: _program_set(v, a),
    "ProgramCalled": lambda v, a: _program_called(v, a),
}


def _program_name(view: TwinView, component: bytes, pid: bytes) -> str:
    program = view.program(bytes(component), bytes(pid))
    name = program.name if program and program.name else "0x" + bytes(pid).hex()[:8]
    return f"{view.component_label(component)}.{name}"


def _program_called(view: TwinView, args: dict[str, Any]) -> str:
    program = view.program(bytes(args["component"]), bytes(args["program"]))
    values = ([f"{p.name}={p.human(v)}" for p, v in zip(program.params, args["params"])] if program
              else [str(v) for v in args["params"]])
    return f"call {args['callId']}: {_program_name(view, args['component'], args['program'])}({', '.join(values)})"


def _program_set(view: TwinView, args: dict[str, Any]) -> str:
    program = view.program(bytes(args["component"]), bytes(args["program"]))
    params = {p.raw_name: p for p in program.params} if program else {}
    bounds = []
    for raw, lo, hi in zip(args["paramNames"], args["mins"], args["maxs"]):
        p = params.get(bytes(raw))
        shown = (p.human(lo), p.human(hi)) if p else (lo, hi)
        bounds.append(f"{bytes32_text(raw)} ∈ [{shown[0]}, {shown[1]}]")
    return (f"{_program_name(view, args['component'], args['program'])} r{args['revision']} "
            f"({', '.join(bounds) or 'no parameters'})")


def _ints(args: dict[str, Any]) -> list[int]:
    """The small integer (enum) arguments in ABI order, whatever the contract names them."""
    return [v for k, v in args.items() if k not in HIDDEN and isinstance(v, int) and not isinstance(v, bool)]


def describe(event: ChainEvent, view: TwinView) -> str:
    special = SPECIAL.get(event.name)
    if special is not None:
        try:
            return special(view, event.args)
        except (KeyError, TypeError, ValueError):
            pass  # an argument was renamed in the contract: the generic line still says everything
    return ", ".join(f"{k}={_value(view, k, v)}" for k, v in event.args.items() if k not in HIDDEN)


def call_status(value: int) -> str:
    return enum_name(CALL_STATUSES, value)
