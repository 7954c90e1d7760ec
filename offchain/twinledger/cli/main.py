"""The `twinledger` command: one group, shared options, and one error path.

Every expected failure (bad input, an unknown twin, a refused action, an unreachable node) ends as
one readable line on stderr and a non-zero exit, never a traceback. `--debug` shows the traceback.
"""
from __future__ import annotations

import sys

import click

from ..errors import TwinLedgerError
from ..ipfs.factory import StoreSpecError, parse_store_spec
from .agent import agent_group
from .commands.agreements import agreement_group
from .commands.demo import demo_group
from .commands.documents import doc_group, source_group
from .commands.parties import key_group, role_group, scope_group
from .commands.programs import program_group
from .commands.twins import component_group, phase_group, spec_group, twin_group
from .commands.feeds import feed_group
from .commands.gateway import gateway_group
from .commands.verification import audit_group, verify_group, watch_cmd
from .context import CliContext
from .dev import dev_group
from .ipfs import ipfs_group
from .sim import sim_group

EXIT_FAILURE = 1


class TwinLedgerGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - this is the one place that turns errors into a line
            if ctx.obj is not None and getattr(ctx.obj, "debug", False):
                raise
            raise click.ClickException(_one_line(exc)) from None


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    return message if message else type(exc).__name__


@click.group(cls=TwinLedgerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--network", envvar="TWINLEDGER_RPC", help="JSON-RPC URL or ape network choice (default: the dev stack).")
@click.option("--deployment", "deployment_path", envvar="TWINLEDGER_DEPLOYMENT", type=click.Path(dir_okay=False),
              help="Deployment file written by `ape run deploy` or `twinledger dev up`.")
@click.option("--account", "account_spec", envvar="TWINLEDGER_ACCOUNT",
              help="TEST::N, an ape account alias, or a file holding a private key.")
@click.option("--ipfs", "ipfs_spec", envvar="TWINLEDGER_IPFS",
              help="embedded:DIR (default), a directory path, kubo or kubo:http://HOST:PORT.")
@click.option("--confirmations", default=0, show_default=True, help="Blocks to wait for after each transaction.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, network, deployment_path, account_spec, ipfs_spec, confirmations, debug) -> None:
    """TwinLedger: secure multi-party data sharing for industrial digital twins."""
    if ipfs_spec is not None:
        _check_store_spec(ipfs_spec)
    obj = CliContext(network=network, deployment_path=deployment_path, account_spec=account_spec,
                     ipfs_spec=ipfs_spec, confirmations=confirmations)
    obj.debug = debug  # type: ignore[attr-defined]
    ctx.obj = obj


class BadOption(TwinLedgerError, click.ClickException):
    """A bad global option: one line, the usage exit status."""

    exit_code = 2


def _check_store_spec(spec: str) -> None:
    """Refuse a bad --ipfs (or TWINLEDGER_IPFS) before any command runs, not when it first opens the store."""
    try:
        parse_store_spec(spec)
    except StoreSpecError as exc:
        raise BadOption(f"--ipfs: {exc}") from None


def register_commands(group: click.Group) -> click.Group:
    """Every command group of the `twinledger` command, in help order."""
    for command in COMMANDS:
        group.add_command(command)
    return group


COMMANDS: tuple[click.Command, ...] = (
    ipfs_group, dev_group, agent_group, twin_group, spec_group, component_group, phase_group, role_group,
    scope_group, key_group, doc_group, source_group, program_group, verify_group, feed_group, gateway_group,
    watch_cmd,
    audit_group, agreement_group, demo_group, sim_group,
)
register_commands(cli)


PLUGIN_GROUP = "twinledger.commands"


def register_plugins(group: click.Group) -> click.Group:
    """Commands of the layers above the CLI (`twinledger web`), declared as entry points in
    pyproject.toml, so that the CLI never imports them."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=PLUGIN_GROUP):
        group.add_command(entry.load())
    return group


def main() -> None:
    register_plugins(cli)
    cli(prog_name="twinledger")


if __name__ == "__main__":
    sys.exit(main())
