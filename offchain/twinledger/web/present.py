"""Turning the library's records into what a page shows: names instead of ids (the id stays a
tooltip), the component tree, reading marks, and the JSON messages pushed to open pages."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from ..ledger.events import ChainEvent
from ..ledger.history import describe
from ..ledger.twinview import ZERO32, ComponentInfo, TwinView
from ..verify import BatchResult
from ..formats.batch import Quality

if TYPE_CHECKING:
    from .context import WebContext

AUTHOR_ARGS = ("sender", "author", "creator", "publisher", "agent", "caller", "account", "by", "from", "to")


def short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


def when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if timestamp else "-"


@dataclass(frozen=True)
class Named:
    """A name to show and the id behind it (the tooltip)."""

    label: str
    id: str


def party(view: TwinView, address: str) -> Named:
    address = to_checksum_address(address)
    return Named(view.party_label(address), address)


def component(view: TwinView, cid: bytes) -> Named:
    return Named(view.component_label(cid), "0x" + bytes(cid).hex())


def program_name(view: TwinView, comp: bytes, pid: bytes) -> Named:
    return Named(view.program_label(comp, pid), "0x" + bytes(pid).hex())


def event_party(view: TwinView, event: ChainEvent) -> Named | None:
    for key in AUTHOR_ARGS:
        value = event.args.get(key)
        if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
            return party(view, value)
    return None


@dataclass(frozen=True)
class TreeNode:
    component: ComponentInfo
    children: tuple["TreeNode", ...]


def component_tree(view: TwinView) -> list[TreeNode]:
    """The active components under their parents (the twin itself is the root)."""
    active = view.active_components

    def below(parent: bytes) -> tuple[TreeNode, ...]:
        return tuple(TreeNode(c, below(c.id)) for c in active if c.parent == parent)

    known = {c.id for c in active}
    roots = [c for c in active if c.parent == ZERO32 or c.parent not in known]
    return [TreeNode(c, below(c.id)) for c in roots]


def quality_flags(q: int) -> list[str]:
    return [flag.name for flag in Quality if flag.value and q & flag.value and flag.name]


def mark(batch_verified: bool, q: int) -> str:
    """verified, suspect (a validation flag is set) or unverified (its batch did not verify)."""
    if not batch_verified:
        return "unverified"
    return "suspect" if q else "verified"


def readings_message(feed: int, result: BatchResult) -> dict[str, Any]:
    readings = result.readings or ()
    return {"kind": "readings", "feed": feed, "seq": result.anchor.seq, "block": result.anchor.block,
            "verified": result.verified, "findings": [str(f) for f in result.findings],
            "points": [{"t": r.t_ms, "v": r.value, "q": r.quality, "flags": quality_flags(r.quality), "index": i,
                        "mark": mark(result.verified, r.quality)} for i, r in enumerate(readings)]}


def event_message(ctx: "WebContext", twin: int, event: ChainEvent) -> dict[str, Any]:
    if event.name == "Anchored":
        text = f"feed {event.args['feedId']}: batch {event.args['seq']} anchored ({event.args['count']} readings)"
    else:
        view = ctx.twin_view(twin, fresh=True)
        who = event_party(view, event)
        text = f"{event.name}: {describe(event, view)}" + (f" (by {who.label})" if who else "")
    return {"kind": "event", "twin": twin, "name": event.name, "block": event.block, "text": text,
            "args": {k: _jsonable(v) for k, v in event.args.items()}}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)
