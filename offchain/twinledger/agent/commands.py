"""Commands to the device: program calls queued on-chain are picked up, checked again against their
bounds, executed on the device, and acknowledged on-chain with a result stored on IPFS.

A device action runs at most once per call id. The agent commits "executing call N" to the outbox
(agent/operations.py) before the device acts and the device's answer right after; a call found
"executing" after a crash is not driven again but completed as failed with an "outcome unknown"
result, so an operator looks at the plant before calling again. The call id also travels to the
device (`Device.execute(..., call_id=N)`) as an idempotency key for devices that can use one."""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import structlog

from ..chain.connection import TwinLedgerChain
from ..formats.aml import Program
from ..formats import cids
from ..ledger import contracts, transactions
from ..ledger.events import EventReader
from ..ledger.names import CallStatus
from ..sim import CommandError
from .operations import CallState, Operations, crash_point

log = structlog.get_logger(__name__)

UNKNOWN_OUTCOME = ("outcome unknown: the agent stopped while the device was executing call {call_id}; "
                   "it was not driven again. Check the device before calling {program} again.")


class Device(Protocol):
    def execute(self, program: str, args: dict[str, Any], *, call_id: int) -> Any:
        """Act once for `call_id`; a repeated call id must not act again (raise `CommandError`).

        `CommandError`: the device refused (the call is failed with its message). Any other exception
        means the device did not act (e.g. unreachable), so the call may be tried again later."""


@dataclass(frozen=True)
class CallOutcome:
    call_id: int
    program: str
    ok: bool
    message: str
    result_cid: str


class PlantDriver:
    """Maps the AML programs of the bottling plant onto the simulated plant's commands."""

    MAX_FILL_RATE_L_MIN = 40.0

    def __init__(self, plant) -> None:
        self.plant = plant
        self.executed: set[int] = set()  # call ids this driver acted on (the plant lives as long as it)

    def execute(self, program: str, args: dict[str, Any], *, call_id: int) -> Any:
        if call_id in self.executed:
            raise CommandError(f"call {call_id} was executed before; the device does not act twice")
        result = self.act(program, args)
        self.executed.add(call_id)
        log.info("device acted", call=call_id, program=program)
        return result

    def act(self, program: str, args: dict[str, Any]) -> Any:
        """Drive the plant now, with no call id (a command arriving over the plant's own network)."""
        if program == "SetValvePosition":
            return self.plant.set_valve(float(args["position"]) / 100.0)
        if program == "CloseValve":
            # Take the filler out of auto first: its controller, blind with a failed level sensor,
            # would reopen the valve for the next bottle.
            self.plant.set_mode("manual")
            return self.plant.set_valve(0.0)
        if program == "SetFillRate":
            return self.plant.set_valve(min(1.0, float(args["rate"]) / self.MAX_FILL_RATE_L_MIN))
        if program == "EmergencyStop":
            return self.plant.emergency_stop()
        raise CommandError(f"the plant has no program {program!r}")


class ProgramCallWatcher:
    """Polls `ProgramCalled` for one twin and drives each call to Done or Failed exactly once."""

    def __init__(self, chain: TwinLedgerChain, store, twin: int, programs: dict[bytes, Program], device: Device,
                 from_block: int, *, operations: Operations | None = None) -> None:
        self.chain = chain
        self.store = store
        self.twin = twin
        self.programs = programs
        self.device = device
        self.operations = operations  # None: no durable record (one-shot use, e.g. tests of the checks)
        self.next_block = from_block
        self.outcomes: list[CallOutcome] = []

    def poll(self) -> list[CallOutcome]:
        latest = self.chain.w3.eth.block_number
        if latest < self.next_block:
            return []
        called = EventReader(self.chain).events("Specification", "ProgramCalled", self.next_block, latest,
                                                twin=self.twin)
        done = [o for o in (self._handle(event.args) for event in called) if o is not None]
        self.next_block = latest + 1
        self.outcomes.extend(done)
        return done

    def _handle(self, call: Any) -> CallOutcome | None:
        call_id = call["callId"]
        on_chain = contracts.program_call(self.chain, call_id)
        status = on_chain.status
        if status not in (CallStatus.Queued, CallStatus.Delivered):
            if self.operations is not None:  # acknowledged before a crash: agree with the chain
                result = cids.unpack(on_chain.result, on_chain.codec) if any(on_chain.result) else None
                self.operations.complete_call(call_id, result)
            return None  # handled before (e.g. by this agent before a restart)
        program = self.programs.get(bytes(call["program"]))
        stale = self._stale_reason(call_id, call)
        if stale is not None:  # the contract refuses to deliver or complete it: leave it to be cancelled
            name = program.name if program else call["program"].hex()
            log.warning("program call not executed", call=call_id, program=name, reason=stale)
            return CallOutcome(call_id, name, False, stale, "")
        send = self.chain.sender.transact
        if status == CallStatus.Queued:
            send(transactions.mark_delivered(self.chain, call_id))
            crash_point("call-delivered-sent")
        program = self.programs.get(bytes(call["program"]))
        name, ok, message = self._outcome(call, program)
        result_cid = self._store_result(call_id, name, ok, message, call["params"])
        digest, codec = cids.pack(result_cid)
        send(transactions.complete_call(self.chain, call_id, ok, digest, codec))
        crash_point("call-completed-sent")
        if self.operations is not None:
            self.operations.complete_call(call_id, result_cid)
        log.info("program call acknowledged", call=call_id, program=name, ok=ok, message=message)
        return CallOutcome(call_id, name, ok, message, result_cid)

    def _outcome(self, call: Any, program: Program | None) -> tuple[str, bool, str]:
        """(program, ok, message): the recorded answer of an earlier run, or the device's answer now."""
        call_id = call["callId"]
        name = program.name if program else call["program"].hex()
        record = self.operations.call(call_id) if self.operations is not None else None
        if record is not None and record.state is CallState.EXECUTING:
            message = UNKNOWN_OUTCOME.format(call_id=call_id, program=record.program)
            log.warning("program call interrupted while executing: not driven again", call=call_id)
            self.operations.finish_call(call_id, record.program, False, message)
            return record.program, False, message
        if record is not None:
            return record.program, bool(record.ok), record.message or ""
        try:
            name, args = self._checked_args(call, program)
        except CommandError as exc:
            return self._finished(call_id, name, False, str(exc))
        return self._execute(call_id, name, args)

    def _execute(self, call_id: int, name: str, args: dict[str, Any]) -> tuple[str, bool, str]:
        if self.operations is not None:
            self.operations.begin_call(call_id, name)
        crash_point("call-executing")
        try:
            result = self.device.execute(name, args, call_id=call_id)
        except CommandError as exc:
            return self._finished(call_id, name, False, str(exc))
        except Exception:
            if self.operations is not None:  # by the protocol it did not act: a later poll may try again
                self.operations.forget_call(call_id)
            raise
        crash_point("call-device-acted")
        return self._finished(call_id, name, True, str(getattr(result, "message", "") or result))

    def _finished(self, call_id: int, name: str, ok: bool, message: str) -> tuple[str, bool, str]:
        if self.operations is not None:
            self.operations.finish_call(call_id, name, ok, message)
        crash_point("call-executed")
        return name, ok, message

    def _stale_reason(self, call_id: int, call: Any) -> str | None:
        """Why the call's program revision is no longer in force (Specification's `StaleCall`), or None."""
        program = contracts.program_state(self.chain, self.twin, bytes(call["component"]), bytes(call["program"]))
        if not program.enabled:
            return "stale call: its program was removed; its caller or an OWNER can cancel it"
        if program.revision != contracts.call_revision(self.chain, call_id):
            return "stale call: its program was redefined after it was queued; its caller or an OWNER can cancel it"
        if not contracts.component(self.chain, self.twin, bytes(call["component"])).active:
            return "stale call: its component was removed or replaced; its caller or an OWNER can cancel it"
        return None

    def _checked_args(self, call: Any, program: Program | None) -> tuple[str, dict[str, Any]]:
        """The contract checked the bounds when the call was queued; check again against them now."""
        if program is None:
            raise CommandError(f"program {call['program'].hex()} is not in the twin's specification")
        bounds = contracts.program_bounds(self.chain, self.twin, bytes(call["component"]), bytes(call["program"]))
        names, mins, maxs = bounds.names, bounds.mins, bounds.maxs
        params = list(call["params"])
        if len(params) != len(names) or len(params) != len(program.params):
            raise CommandError(f"{program.name}: expected {len(names)} parameters, got {len(params)}")
        args = {}
        for value, low, high, spec_param in zip(params, mins, maxs, program.params):
            if not low <= value <= high:
                raise CommandError(f"{program.name}: {spec_param.name}={value} outside [{low}, {high}]")
            args[spec_param.name] = float(Decimal(value).scaleb(-spec_param.bounds.decimals))
        return program.name, args

    def _store_result(self, call_id: int, program: str, ok: bool, message: str, params: list[int]) -> str:
        body = json.dumps({"call": call_id, "twin": self.twin, "program": program, "ok": ok, "message": message,
                           "params": list(params)}, sort_keys=True).encode()
        return str(self.store.add_bytes(body).cid)
