"""`role grant|revoke|list`, `scope set|clear` and `key register|show`: who may do what on a twin."""
from __future__ import annotations

import click

from ...crypto import public_key_from_private
from ..context import CliContext
from ...ledger.names import checksum_address, permission_names, role_id, role_name
from ...ledger.twinview import load_twin
from .base import TWIN, cell, console, pass_cli, require_account, send, table
from ...ledger import contracts, transactions, writes


def address(text: str) -> str:
    return checksum_address(text)


ADDRESS = click.argument("account", metavar="ADDRESS")


# ------------------------------------------------------------------------------------------ roles


@click.group("role")
def role_group() -> None:
    """Roles of parties on a twin (OWNER, MANUFACTURER, MAINTAINER, DISTRIBUTOR, AUDITOR, DEVICE_AGENT, ...)."""


@role_group.command("grant")
@click.argument("twin", type=TWIN)
@click.argument("role")
@ADDRESS
@pass_cli
def role_grant(cli: CliContext, twin: int, role: str, account: str) -> None:
    """Give ROLE (a name or 0x bytes32) on TWIN to ADDRESS. OWNER moves only by offer and accept."""
    rid, who = role_id(role), address(account)
    require_account(cli)
    send(cli, transactions.grant_role(cli.chain, twin, rid, who), f"granting {role_name(rid)}")
    click.echo(f"Granted {role_name(rid)} on twin {twin} to {who}")


@role_group.command("revoke")
@click.argument("twin", type=TWIN)
@click.argument("role")
@ADDRESS
@pass_cli
def role_revoke(cli: CliContext, twin: int, role: str, account: str) -> None:
    """Take ROLE on TWIN away from ADDRESS."""
    rid, who = role_id(role), address(account)
    require_account(cli)
    send(cli, transactions.revoke_role(cli.chain, twin, rid, who), f"revoking {role_name(rid)}")
    click.echo(f"Revoked {role_name(rid)} on twin {twin} from {who}")


@role_group.command("offer-owner")
@click.argument("twin", type=TWIN)
@ADDRESS
@click.option("--keep", is_flag=True, help="Stay an owner too (co-ownership) instead of handing over.")
@pass_cli
def role_offer_owner(cli: CliContext, twin: int, account: str, keep: bool) -> None:
    """Offer OWNER of TWIN to ADDRESS; it becomes theirs when they accept (two steps, never one)."""
    who = address(account)
    require_account(cli)
    send(cli, transactions.offer_ownership(cli.chain, twin, who, keep=keep), "offering ownership")
    click.echo(f"Offered {'co-' if keep else ''}ownership of twin {twin} to {who}; they accept with "
               f"`twinledger role accept-owner {twin}`")


@role_group.command("accept-owner")
@click.argument("twin", type=TWIN)
@pass_cli
def role_accept_owner(cli: CliContext, twin: int) -> None:
    """Accept the pending ownership offer of TWIN made to this account."""
    require_account(cli)
    send(cli, transactions.accept_ownership(cli.chain, twin), "accepting ownership")
    click.echo(f"{cli.account.address} is now an OWNER of twin {twin}")


@role_group.command("list")
@click.argument("twin", type=TWIN)
@pass_cli
def role_list(cli: CliContext, twin: int) -> None:
    """Parties of TWIN with their roles, permissions, component scope and key."""
    view = load_twin(cli.chain, cli.store, twin)
    t = table(f"Parties of twin {twin}: {view.name}", "account", "roles", "permissions", "scope", "key")
    for m in view.members:
        perms = contracts.effective_permissions(cli.chain, twin, m.account)
        scope = ", ".join(view.component_label(c) for c in m.scope) if m.scoped else "whole twin"
        t.add_row(cell(m.account), cell(", ".join(role_name(r) for r in m.roles)),
                  cell(" ".join(permission_names(perms))), cell(scope), cell("yes" if m.has_key else "-"))
    console().print(t)


# ------------------------------------------------------------------------------------------ scopes


@click.group("scope")
def scope_group() -> None:
    """Limit a party to some components of a twin."""


@scope_group.command("set")
@click.argument("twin", type=TWIN)
@ADDRESS
@click.argument("components", nargs=-1, required=True)
@pass_cli
def scope_set(cli: CliContext, twin: int, account: str, components: tuple[str, ...]) -> None:
    """Limit ADDRESS on TWIN to COMPONENTS (names, AML IDs or 0x ids); replaces its previous scope."""
    who = address(account)
    require_account(cli)
    view = load_twin(cli.chain, cli.store, twin)
    scope = writes.scope_components(view, components)
    send(cli, transactions.set_scope(cli.chain, twin, who, scope), "setting the scope")
    click.echo(f"Scope of {who} on twin {twin}: {', '.join(view.component_label(c) for c in scope)}")


@scope_group.command("clear")
@click.argument("twin", type=TWIN)
@ADDRESS
@pass_cli
def scope_clear(cli: CliContext, twin: int, account: str) -> None:
    """Lift the component scope of ADDRESS on TWIN."""
    who = address(account)
    require_account(cli)
    send(cli, transactions.clear_scope(cli.chain, twin, who), "clearing the scope")
    click.echo(f"{who} is no longer scoped on twin {twin}")


# ------------------------------------------------------------------------------------------ keys


@click.group("key")
def key_group() -> None:
    """Public keys for encrypted sharing (ECIES key envelopes)."""


@key_group.command("register")
@pass_cli
def key_register(cli: CliContext) -> None:
    """Publish this account's secp256k1 public key so writers can wrap data keys to it."""
    require_account(cli)
    public = public_key_from_private(bytes(cli.account.key))
    send(cli, transactions.register_key(cli.chain, public), "registering the public key")
    click.echo(f"Registered the public key of {cli.account.address}: 0x{public.hex()}")


@key_group.command("show")
@click.argument("account", metavar="[ADDRESS]", required=False)
@pass_cli
def key_show(cli: CliContext, account: str | None) -> None:
    """The registered public key of ADDRESS (default: this account)."""
    if account is None:
        require_account(cli)
    who = address(account) if account else cli.account.address
    key = contracts.public_key_of(cli.chain, who)
    if not key:
        raise click.ClickException(f"{who} has no registered key")
    click.echo(f"0x{bytes(key).hex()}")


