"""`agreement create|accept|show|list|prove-breach|confirm|settle|withdraw|cancel|watch`: agreements over a
twin's sensor feeds, escrowed on-chain and settled by proven readings (docs/agreements.md).

The library is `ledger/agreements` (with `agent/watchtower.py`); these commands only parse, print and call
it. Every refusal, the contract's or a check made before sending, is one line and a non-zero exit.
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

import click

from ...ledger.agreements.model import (
    ZERO_ADDRESS,
    AgreementState,
    DeliveryKind,
    Outcome,
    Status,
    checksum,
    role_name,
    terms_from_json,
    units,
)
from ...ledger.agreements.registry import AgreementClient
from ...formats.valuekey import from_order_key
from ...agent.watchtower import Watchtower
from ...chain.accounts import resolve_account
from ..context import CliContext
from .base import cell, console, pass_cli, require_account, table

AGREEMENT = click.IntRange(min=1)


def _client(cli: CliContext) -> AgreementClient:
    return AgreementClient(cli.chain)


def _account_address(text: str) -> str:
    if text.upper().startswith("TEST::"):
        account = resolve_account(text)
        assert account is not None
        return account.address
    return checksum(text)


def _tx(receipt: dict) -> str:  # type: ignore[type-arg]
    return "0x" + bytes(receipt["transactionHash"]).hex()


def _ms(t: int) -> str:
    if not t:
        return "-"
    return datetime.fromtimestamp(t / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _token_label(client: AgreementClient, state: AgreementState) -> str:
    return client.token_symbol(state)


def _bound(value: float | None) -> str:
    return "-inf" if value is None else f"{value:g}"


@click.group("agreement")
def agreement_group() -> None:
    """Agreements over a twin's feeds, settled by proven sensor readings."""


@agreement_group.command("create")
@click.argument("terms_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_cli
def create_cmd(cli: CliContext, terms_file: Path) -> None:
    """Propose the agreement in TERMS_FILE (JSON: twin, token, start, end, challenge, parties, conditions,
    delivery). Each party then accepts with `agreement accept`."""
    require_account(cli)
    client = _client(cli)

    def token_for(text: str) -> str:
        if text.lower() == "ether":
            return ZERO_ADDRESS
        if text.lower() == "dev":
            return client.dev_token
        return checksum(text)

    terms = terms_from_json(terms_file.read_text(), client.now_ms(), _account_address, token_for)
    agreement_id, receipt = client.create(terms)
    escrow = sum(p.deposit for p in terms.parties)
    click.echo(f"Created agreement {agreement_id} on twin {terms.twin}: {len(terms.parties)} parties, "
               f"{len(terms.conditions)} condition(s), escrow {units(escrow)}, period {_ms(terms.start_ms)} to "
               f"{_ms(terms.end_ms)} (tx {_tx(receipt)}, gas {receipt['gasUsed']:,})")


@agreement_group.command("accept")
@click.argument("agreement_id", type=AGREEMENT)
@pass_cli
def accept_cmd(cli: CliContext, agreement_id: int) -> None:
    """Accept AGREEMENT_ID as the current account and pay its deposit (approving the token if needed)."""
    require_account(cli)
    client = _client(cli)
    receipt = client.accept(agreement_id)
    state = client.state(agreement_id)
    party = state.party_of(cli.chain.sender.address)
    deposit = units(party.deposit) if party else "0"
    tail = "; every party accepted: the agreement is active" if state.status == Status.ACTIVE else (
        f"; {state.accepted_count} of {len(state.parties)} parties accepted")
    click.echo(f"Accepted agreement {agreement_id} as party {party.index if party else '?'}, deposit {deposit} "
               f"{_token_label(client, state)}{tail} (tx {_tx(receipt)})")


@agreement_group.command("show")
@click.argument("agreement_id", type=AGREEMENT)
@pass_cli
def show_cmd(cli: CliContext, agreement_id: int) -> None:
    """Terms, parties, conditions, status and the on-chain history of AGREEMENT_ID."""
    client = _client(cli)
    state = client.state(agreement_id)
    token = _token_label(client, state)
    out = console()
    outcome = f", outcome {state.outcome.name.title()}" if state.outcome != Outcome.NONE else ""
    out.print(f"Agreement {state.id} on twin {state.twin}: {state.status.name.title()}{outcome}; escrow "
              f"{units(state.escrow)} {token}", markup=False)
    out.print(f"  period {_ms(state.start_ms)} to {_ms(state.end_ms)}, challenge window "
              f"{state.challenge_ms / 1000:g} s, settles from {_ms(state.settles_at())}", markup=False)
    d = state.delivery
    if d.kind != DeliveryKind.NONE:
        shown = {DeliveryKind.CONFIRMATION: f"confirmation by party {d.confirmer}",
                 DeliveryKind.PROGRAM_DONE: "a program call finished Done",
                 DeliveryKind.READING: f"a reading of feed {d.feed_id}"}[d.kind]
        out.print(f"  delivery: {shown} by {_ms(d.deadline_ms)}; recorded {_ms(state.delivered_at)}", markup=False)
    t = table("parties", "#", "account", "role", "deposit", "completed", "breached", "expired", "accepted", "withdrawn")
    for p in state.parties:
        t.add_row(cell(p.index), cell(p.account), cell(role_name(p.role)), cell(units(p.deposit)),
                  cell(units(p.on_completed)), cell(units(p.on_breached)), cell(units(p.on_expired)),
                  cell("yes" if p.accepted else "no"), cell("yes" if p.withdrawn else "no"))
    out.print(t)
    if state.conditions:
        t = table("conditions", "#", "feed", "sensor", "range", "max gap", "coverage shown")
        for c in state.conditions:
            t.add_row(cell(c.index), cell(c.feed_id), cell(_sensor_name(client, state.twin, c.feed_id, c.sensor)),
                      cell(f"[{_bound(c.minimum)}, {'+inf' if c.maximum is None else f'{c.maximum:g}'}]"),
                      cell(f"{c.max_gap_ms / 1000:g} s" if c.max_gap_ms else "-"), cell(_ms(c.covered_at)))
        out.print(t)
    t = table("history", "block", "event", "details")
    for e in client.history(agreement_id):
        args = {k: v for k, v in e.args.items() if k != "id"}
        t.add_row(cell(e.block), cell(e.name), cell(", ".join(f"{_label(k)}={_arg(k, v)}" for k, v in args.items())))
    out.print(t)


_TIMES = {"tMs", "gapFrom", "gapTo", "tLast", "atMs"}
_AMOUNTS = {"escrow", "deposit", "amount"}


def _label(key: str) -> str:
    return "value" if key == "valueKey" else key


def _arg(key: str, value: object) -> str:
    """An event argument as a person reads it: times as UTC, amounts in token units, values as numbers."""
    if key == "valueKey":
        return f"{from_order_key(int(value)):g}"  # type: ignore[call-overload]
    if key in _TIMES:
        return _ms(int(value))  # type: ignore[call-overload]
    if key in _AMOUNTS:
        return units(int(value))  # type: ignore[call-overload]
    if key == "outcome":
        return Outcome(int(value)).name.title()  # type: ignore[call-overload]
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def _sensor_name(client: AgreementClient, twin: int, feed_id: int, sensor: bytes) -> str:
    return client.sensor_name(twin, feed_id, sensor) or "0x" + sensor.hex()[:12] + "…"


@agreement_group.command("list")
@click.option("--twin", type=click.IntRange(min=1), help="Only the agreements of this twin.")
@pass_cli
def list_cmd(cli: CliContext, twin: int | None) -> None:
    """Every agreement (of one twin) with its status and outcome."""
    client = _client(cli)
    t = table("agreements", "id", "twin", "status", "outcome", "parties", "accepted", "escrow", "token", "end")
    for s in client.states(twin):
        t.add_row(cell(s.id), cell(s.twin), cell(s.status.name.title()), cell(s.outcome.name.title()),
                  cell(len(s.parties)), cell(s.accepted_count), cell(units(s.escrow)), cell(_token_label(client, s)),
                  cell(_ms(s.end_ms)))
    console().print(t)


def _watchtower(cli: CliContext, ids: list[int] | None, settle: bool) -> Watchtower:
    return Watchtower(_client(cli), cli.store, ids, settle=settle, on_action=lambda a: click.echo(str(a)))


@agreement_group.command("prove-breach")
@click.argument("agreement_id", type=AGREEMENT)
@pass_cli
def prove_breach_cmd(cli: CliContext, agreement_id: int) -> None:
    """Search the anchored batches of AGREEMENT_ID's feeds for a reading out of bounds or a coverage gap, and
    submit its proof. Refused if none exists (nothing is sent)."""
    require_account(cli)
    state = _client(cli).state(agreement_id)
    if state.status != Status.ACTIVE:
        raise click.ClickException(f"agreement {agreement_id} is {state.status.name.title()}, not Active: "
                                   "only an active agreement can be breached")
    tower = _watchtower(cli, [agreement_id], settle=False)
    tower.poll()
    proven = [a for a in tower.actions if a.kind in ("breach", "gap")]
    if not proven:
        raise click.ClickException(f"no reading out of bounds and no gap in the anchored batches of agreement "
                                   f"{agreement_id}: nothing was sent")
    if proven[-1].refused:
        raise click.ClickException(proven[-1].refused)


@agreement_group.command("confirm")
@click.argument("agreement_id", type=AGREEMENT)
@click.option("--call", "call_id", type=click.IntRange(min=1), help="The Done program call that is the delivery.")
@pass_cli
def confirm_cmd(cli: CliContext, agreement_id: int, call_id: int | None) -> None:
    """Record the delivery of AGREEMENT_ID: the confirming party's confirmation, or with --call a Done
    program call on the twin."""
    require_account(cli)
    client = _client(cli)
    receipt = (client.record_delivery_call(agreement_id, call_id) if call_id
               else client.confirm_delivery(agreement_id))
    click.echo(f"Recorded the delivery of agreement {agreement_id} (tx {_tx(receipt)})")


@agreement_group.command("settle")
@click.argument("agreement_id", type=AGREEMENT)
@click.option("--withdraw", "and_withdraw", is_flag=True, help="Then withdraw the current account's payout.")
@pass_cli
def settle_cmd(cli: CliContext, agreement_id: int, and_withdraw: bool) -> None:
    """Settle AGREEMENT_ID: at once if breached, else after its end and challenge window."""
    require_account(cli)
    client = _client(cli)
    outcome, receipt = client.settle(agreement_id)
    click.echo(f"Settled agreement {agreement_id}: {outcome.name.title()} (tx {_tx(receipt)}, gas "
               f"{receipt['gasUsed']:,})")
    if and_withdraw:
        _withdraw(client, agreement_id)


@agreement_group.command("withdraw")
@click.argument("agreement_id", type=AGREEMENT)
@pass_cli
def withdraw_cmd(cli: CliContext, agreement_id: int) -> None:
    """Withdraw the current account's payout from a settled or cancelled agreement."""
    require_account(cli)
    _withdraw(_client(cli), agreement_id)


def _withdraw(client: AgreementClient, agreement_id: int) -> None:
    amount, receipt = client.withdraw(agreement_id)
    state = client.state(agreement_id)
    click.echo(f"Withdrew {units(amount)} {_token_label(client, state)} from agreement {agreement_id} "
               f"(outcome {state.outcome.name.title()}, tx {_tx(receipt)})")


@agreement_group.command("cancel")
@click.argument("agreement_id", type=AGREEMENT)
@pass_cli
def cancel_cmd(cli: CliContext, agreement_id: int) -> None:
    """Cancel a proposed agreement that not every party accepted before its start."""
    require_account(cli)
    receipt = _client(cli).cancel(agreement_id)
    click.echo(f"Cancelled agreement {agreement_id}: the parties that paid withdraw their deposits (tx {_tx(receipt)})")


@agreement_group.command("watch")
@click.argument("agreement_ids", nargs=-1, type=AGREEMENT)
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(min=0.05),
              help="Seconds between polls for new anchors.")
@click.option("--once", is_flag=True, help="Poll once and stop.")
@click.option("--settle", is_flag=True, help="Also settle agreements once breached or past their window.")
@click.option("--until-settled", is_flag=True, help="Stop when no watched agreement is open any more.")
@pass_cli
def watch_cmd(cli: CliContext, agreement_ids: tuple[int, ...], interval: float, once: bool, settle: bool,
              until_settled: bool) -> None:
    """Watch agreements (all if none given): prove every breach as soon as its batch is anchored, show
    coverage of the end, record delivery readings and, with --settle, settle."""
    require_account(cli)
    tower = _watchtower(cli, list(agreement_ids) or None, settle)
    if once:
        tower.poll()
    else:
        try:
            tower.run(interval, threading.Event(), until_settled=until_settled)
        except KeyboardInterrupt:
            pass
    refused = [a for a in tower.actions if a.refused]
    click.echo(f"watchtower: {len(tower.actions) - len(refused)} action(s), {len(refused)} refused", err=True)

