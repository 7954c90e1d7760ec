"""`gateway`: the gateway-aggregated windows on `GatewayAnchors`: list them, find the faults a challenge proves
and prove them (any account may), and let an account anchor windows (the contract's admin only).

`gateway check` exits 1 when any window holds a fault, challenged or not, so a script or a cron job notices;
with `--challenge` it first sends one challenge per unchallenged faulty window.
"""
from __future__ import annotations

import click

from ...chain.errors import ContractRevert
from ...ledger import gateway as gateway_ledger
from ...ledger.reader import Ledger
from ..context import CliContext
from .base import cell, console, note, pass_cli, require_account, send, table, when
from .parties import address as _address
from .verification import EXIT_FAILED


@click.group("gateway")
def gateway_group() -> None:
    """Windows of gateway-aggregated anchors: list, check and challenge them."""


def _require_gateways(cli: CliContext) -> None:
    if not gateway_ledger.has_gateway(cli.chain):
        raise click.ClickException("this deployment has no GatewayAnchors contract: redeploy with "
                                   "`twinledger dev up --reset` (or deploy it) to use aggregated anchoring")


@gateway_group.command("windows")
@click.option("--gateway", "gateway_address", metavar="ADDRESS", help="Only this gateway's windows.")
@click.option("--last", type=click.IntRange(min=1), default=20, show_default=True, help="How many, newest last.")
@pass_cli
def windows_cmd(cli: CliContext, gateway_address: str | None, last: int) -> None:
    """List the newest windows: id, gateway, feeds, readings, block, time and whether one was challenged."""
    _require_gateways(cli)
    ledger = Ledger(cli.chain)
    records = gateway_ledger.window_records(cli.chain, ledger.reader, ledger.from_block, ledger.to_block)
    if gateway_address is not None:
        wanted = _address(gateway_address)
        records = [r for r in records if r.gateway == wanted]
    t = table(f"{len(records)} window(s) at block {ledger.to_block}", "window", "gateway", "feeds", "readings",
              "block", "anchored", "challenged")
    shown = records[-last:]
    for r, view in zip(shown, gateway_ledger.windows(cli.chain, [r.window_id for r in shown], ledger.to_block)):
        t.add_row(cell(r.window_id), cell(r.gateway), cell(r.feed_count), cell(r.reading_count), cell(r.block),
                  cell(when(view.anchored_at)), cell("yes" if view.challenged else "no"))
    console().print(t)


@gateway_group.command("check")
@click.option("--gateway", "gateway_address", metavar="ADDRESS", help="Only this gateway's windows.")
@click.option("--challenge", is_flag=True, help="Send a challenge for each faulty window not yet challenged "
              "(needs --account; any account may challenge).")
@pass_cli
def check_cmd(cli: CliContext, gateway_address: str | None, challenge: bool) -> None:
    """Read every window's content and list the faults the contract accepts as challenges (forged device
    signature, broken head chain, conflict with the per-feed anchors); exit 1 if there is any."""
    from ...verify.challenges import ChallengeFinder

    _require_gateways(cli)
    if challenge:
        require_account(cli)
    finder = ChallengeFinder(Ledger(cli.chain), cli.store,
                             _address(gateway_address) if gateway_address is not None else None)
    faults = finder.faults()
    for fault in faults:
        if fault.challenge is None:
            click.echo(f"window {fault.window_id} of gateway {fault.gateway}: already challenged by "
                       f"{fault.challenged_by}")
            continue
        c = fault.challenge
        line = (f"window {fault.window_id} of gateway {fault.gateway}: feed {c.feed_id} seq {c.seq}: "
                f"{c.kind.value} fault: {c.reason}")
        if not challenge:
            click.echo(f"{line} (provable: run with --challenge)")
            continue
        try:
            receipt = send(cli, finder.transaction(c), f"challenging window {fault.window_id}")
        except ContractRevert as exc:  # e.g. someone else challenged it first
            click.echo(f"{line}: challenge refused: {exc}")
            continue
        click.echo(f"{line}: challenged in tx {receipt['transactionHash'].to_0x_hex()}")
    if faults:
        raise SystemExit(EXIT_FAILED)
    note("no window holds a provable fault")


@gateway_group.command("grant")
@click.argument("account")
@pass_cli
def grant_cmd(cli: CliContext, account: str) -> None:
    """Let ACCOUNT (an address) anchor windows; sent by GatewayAnchors' admin."""
    _require_gateways(cli)
    require_account(cli)
    address = _address(account)
    send(cli, gateway_ledger.grant_gateway(cli.chain, address), f"granting the gateway role to {address}")
    click.echo(f"{address} may now anchor windows (gateway faults so far: "
               f"{gateway_ledger.gateway_faults(cli.chain, address)})")
