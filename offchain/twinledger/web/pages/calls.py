"""Program calls: a form per program built from the on-chain bounds, the same bounds check as
`program call` before anything is sent, the chain's refusal as one line, and each call's status
moving live (Queued, Delivered, Done or Failed) as the agent acknowledges it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from decimal import Decimal

from aiohttp import web
from multidict import MultiDictProxy

from ...formats.cids import unpack
from ...ledger.contracts import program_call
from ...ledger.programs import check_arguments, find_program
from ...ledger.writes import call_program
from ...ledger.names import CALL_STATUSES, enum_name, parse_bytes32
from ...ledger.twinview import LookupFailed, ParamInfo, TwinView
from ..context import WebContext
from ..present import component, party, program_name
from ..server import render
from .common import readable_twin

routes = web.RouteTableDef()


@dataclass(frozen=True)
class CallRow:
    call_id: int
    program: object
    params: str
    caller: object
    status: str
    result: str


def step_of(param: ParamInfo) -> str:
    return "1" if not param.decimals else f"{Decimal(1).scaleb(-param.decimals):f}"


def call_rows(ctx: WebContext, view: TwinView) -> list[CallRow]:
    rows = []
    for e in (e for e in view.events if e.name == "ProgramCalled"):
        state = program_call(ctx.chain, int(e.args["callId"]))
        info = view.program(bytes(e.args["component"]), bytes(e.args["program"]))
        params = (", ".join(f"{p.name}={p.human(v)}" for p, v in zip(info.params, e.args["params"])) if info
                  else ", ".join(map(str, e.args["params"])))
        rows.append(CallRow(int(e.args["callId"]), program_name(view, e.args["component"], e.args["program"]),
                            params or "none", party(view, e.args["caller"]), enum_name(CALL_STATUSES, state.status),
                            unpack(state.result, state.codec) if state.codec else ""))
    return rows


@routes.get("/twins/{twin}/calls")
async def calls_page(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request)
    active = {c.id for c in view.active_components}
    programs = [p for p in view.programs if p.enabled and p.component in active]
    return render(request, "calls.html", view=view, title=f"{view.name}: program calls", programs=programs,
                  rows=await ctx.run(call_rows, ctx, view), component=lambda c: component(view, c),
                  step_of=step_of)


def _queue_call(ctx: WebContext, view: TwinView, form: MultiDictProxy[Any]) -> int:
    comp = parse_bytes32(str(form.get("component", "")))
    target = view.component_by_id(comp) if comp else None
    if target is None or not target.active:
        raise LookupFailed("ComponentNotActive: choose a component that is in place now")
    program = find_program(view, target.id, str(form.get("program", "")))
    values = {p.name: str(form.get(f"param:{p.name}", "")) for p in program.params}
    args = check_arguments(program, values, raw=False)
    return call_program(ctx.chain, view.twin_id, target.id, program.program_id, [a.scaled for a in args])


@routes.post("/twins/{twin}/calls/call")
async def queue_call(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request, fresh=False)
    form = await request.post()
    call_id = await ctx.write(_queue_call, ctx, view, form)
    view = await ctx.run(ctx.twin_view, view.twin_id, True)
    row = next(r for r in await ctx.run(call_rows, ctx, view) if r.call_id == call_id)
    return render(request, "_call_queued.html", row=row)
