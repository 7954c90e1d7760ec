"""An agreement as the audit report shows it: the parties and their payouts, the conditions, every proof
submitted (the proven reading with its value, time and batch; a gap; coverage; the delivery) and the
settlement with what each party withdrew. Read from the registry's state and events only."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from ..chain.connection import TwinLedgerChain
from ..formats.valuekey import from_order_key
from ..ledger.agreements.model import AgreementState, Outcome, role_name, units
from ..ledger.agreements.registry import AgreementClient, AgreementEvent
from .report import AgreementRow

def agreement_rows(chain: TwinLedgerChain, twin: int, block_time: Callable[[int], datetime]) -> list[AgreementRow]:
    client = AgreementClient(chain)
    return [_row(state, client.history(state.id), block_time) for state in client.states(twin)]


def _fmt_ms(t_ms: int) -> str:
    from datetime import timezone

    return datetime.fromtimestamp(t_ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _row(state: AgreementState, events: list[AgreementEvent], block_time: Callable[[int], datetime]) -> AgreementRow:
    status = state.status.name.title() + (f": {state.outcome.name.title()}" if state.outcome != Outcome.NONE else "")
    parties = [f"{role_name(p.role)} {p.account}: deposit {units(p.deposit)}; completed {units(p.on_completed)}, "
               f"breached {units(p.on_breached)}, expired {units(p.on_expired)}" for p in state.parties]
    conditions = []
    for c in state.conditions:
        lo = "-inf" if c.minimum is None else f"{c.minimum:g}"
        hi = "+inf" if c.maximum is None else f"{c.maximum:g}"
        gap = f", no gap over {c.max_gap_ms / 1000:g} s" if c.max_gap_ms else ""
        conditions.append(f"feed {c.feed_id}: every reading in [{lo}, {hi}]{gap}")
    if state.delivery.kind.value:
        conditions.append(f"delivery ({state.delivery.kind.name.lower().replace('_', ' ')}) by "
                          f"{_fmt_ms(state.delivery.deadline_ms)}")
    proofs, settlement = [], []
    for e in events:
        a = e.args
        at = f"block {e.block}"
        if e.name == "RangeBreachProven":
            proofs.append(f"{at}: reading {from_order_key(a['valueKey']):g} at {_fmt_ms(a['tMs'])} in batch {a['seq']} "
                          f"(reading hash 0x{bytes(a['readingHash']).hex()[:16]}…) proven out of bounds by {a['prover']}")
        elif e.name == "GapProven":
            proofs.append(f"{at}: no batch from {_fmt_ms(a['gapFrom'])} to {_fmt_ms(a['gapTo'])} before batch "
                          f"{a['seq']}, proven by {a['prover']}")
        elif e.name == "CoverageProven":
            proofs.append(f"{at}: batch {a['seq']} covers the end (last reading {_fmt_ms(a['tLast'])})")
        elif e.name == "DeliveryRecorded":
            proofs.append(f"{at}: delivery recorded by {a['recorder']}")
        elif e.name == "AgreementSettled":
            settlement.append(f"{at} ({block_time(e.block):%Y-%m-%d %H:%M:%S} UTC): "
                              f"{Outcome(a['outcome']).name.title()}, settled by {a['settler']}")
        elif e.name == "PayoutWithdrawn":
            settlement.append(f"{at}: {a['account']} withdrew {units(a['amount'])}")
    period = f"{_fmt_ms(state.start_ms)} to {_fmt_ms(state.end_ms)}, challenge {state.challenge_ms / 1000:g} s"
    return AgreementRow(state.id, status, parties, conditions, period, proofs, settlement)
