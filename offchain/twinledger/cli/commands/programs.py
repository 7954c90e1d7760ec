"""`program call|status|list`: commands to a device, checked against the safety & security bounds.

Values are given in the units of the specification and scaled by `10**Decimals` (docs/aml.md) to the
on-chain integers. Every value is checked against the chain's bounds before anything is sent, so a
value out of bounds never costs a transaction; `callProgram` then checks again on-chain.
"""
from __future__ import annotations


import click

from ...formats.cids import unpack
from ..context import CliContext
from ...ledger.names import CALL_STATUSES, enum_name
from ...ledger.programs import check_arguments, find_program, parse_assignments
from ...ledger.twinview import LookupFailed, ProgramInfo, load_twin
from .base import TWIN, cell, console, events_in, pass_cli, require_account, send, table
from ...ledger import contracts, transactions


@click.group("program")
def program_group() -> None:
    """Program calls to a twin's devices."""


@program_group.command("call")
@click.argument("twin", type=TWIN)
@click.argument("component")
@click.argument("program")
@click.argument("assignments", nargs=-1, metavar="[PARAM=VALUE]...")
@click.option("--raw", is_flag=True, help="Values are the on-chain integers (already scaled by 10**decimals).")
@pass_cli
def program_call(cli: CliContext, twin: int, component: str, program: str, assignments: tuple[str, ...],
                 raw: bool) -> None:
    """Queue PROGRAM of COMPONENT on TWIN with checked parameter values."""
    view = load_twin(cli.chain, cli.store, twin)
    target = view.resolve_component(component)
    if not target.active:
        raise LookupFailed(f"ComponentNotActive: {target.name} is no longer in place on twin {twin}")
    found = find_program(view, target.id, program)
    args = check_arguments(found, parse_assignments(assignments), raw)
    t = table(f"{target.name}.{found.name or program}", "parameter", "value", "bounds", "on-chain")
    for a in args:
        t.add_row(cell(a.param.name), cell(a.text), cell(a.param.bounds_text), cell(a.scaled))
    console().print(t)
    require_account(cli)
    receipt = send(cli, transactions.call_program(cli.chain, twin, target.id, found.program_id, [a.scaled for a in args]),
                   "queueing the call")
    call_id = events_in(cli.chain.spec, receipt, "ProgramCalled")[0]["callId"]
    click.echo(f"Queued call {call_id}: {target.name}.{found.name or program} (status Queued)")


@program_group.command("status")
@click.argument("call_id", metavar="CALLID", type=click.IntRange(min=1))
@pass_cli
def program_status(cli: CliContext, call_id: int) -> None:
    """Status of program call CALLID and its result CID once done."""
    call = contracts.program_call(cli.chain, call_id)
    twin, component, pid, caller, status, result, codec = (call.twin, call.component, call.program, call.caller,
                                                           call.status, call.result, call.codec)
    if status == 0:
        raise LookupFailed(f"UnknownCall: there is no program call {call_id}")
    view = load_twin(cli.chain, cli.store, twin)
    info = view.program(bytes(component), bytes(pid))
    called = next((e for e in view.events if e.name == "ProgramCalled" and e.args["callId"] == call_id), None)
    t = table(f"Program call {call_id}", "field", "value")
    rows = [("twin", f"{twin} ({view.name})"), ("component", view.component_label(component)),
            ("program", info.name if info and info.name else "0x" + bytes(pid).hex()),
            ("parameters", _shown_params(info, called.args["params"]) if called else "-"),
            ("caller", caller), ("status", enum_name(CALL_STATUSES, status)),
            ("result", unpack(bytes(result), codec) if codec else "-")]
    if called:
        rows.append(("block", str(called.block)))
    for name, value in rows:
        t.add_row(cell(name), cell(value))
    console().print(t)


def _shown_params(info: ProgramInfo | None, values: list[int]) -> str:
    if info is None:
        return ", ".join(map(str, values))
    return ", ".join(f"{p.name}={p.human(v)}" for p, v in zip(info.params, values)) or "none"


@program_group.command("list")
@click.argument("twin", type=TWIN)
@pass_cli
def program_list(cli: CliContext, twin: int) -> None:
    """Programs of TWIN's components with their bounds, and the calls made so far."""
    view = load_twin(cli.chain, cli.store, twin)
    t = table(f"Programs of twin {twin}: {view.name}", "component", "program", "bounds", "enabled")
    active = {c.id for c in view.active_components}
    for p in view.programs:
        label = view.component_label(p.component) + ("" if p.component in active else " (no longer in place)")
        t.add_row(cell(label), cell(p.name or "0x" + p.program_id.hex()[:10]),
                  cell("; ".join(x.bounds_text for x in p.params) or "-"), cell("yes" if p.enabled else "no"))
    console().print(t)
    calls = [e for e in view.events if e.name == "ProgramCalled"]
    if calls:
        c = table("Calls", "call", "component", "program", "parameters", "caller", "status")
        for e in calls:
            info = view.program(bytes(e.args["component"]), bytes(e.args["program"]))
            status = contracts.program_call(cli.chain, e.args["callId"]).status
            c.add_row(cell(e.args["callId"]), cell(view.component_label(e.args["component"])),
                      cell(info.name if info and info.name else "?"), cell(_shown_params(info, e.args["params"])),
                      cell(e.args["caller"]), cell(enum_name(CALL_STATUSES, status)))
        console().print(c)
