"""The `twinledger` command: one group, shared options, and one error path.

Every expected failure (bad input, an unknown twin, a refused action, an unreachable node) ends as
one readable line on stderr and a non-zero exit, never a traceback. `--debug` shows the traceback.
"""
from __future__ import annotations

import sys

import click

from .context import CliContext

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
              help="embedded:DIR (default) or kubo:http://HOST:PORT.")
@click.option("--confirmations", default=0, show_default=True, help="Blocks to wait for after each transaction.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, network, deployment_path, account_spec, ipfs_spec, confirmations, debug) -> None:
    """TwinLedger: secure multi-party data sharing for industrial digital twins."""
    obj = CliContext(network=network, deployment_path=deployment_path, account_spec=account_spec,
                     ipfs_spec=ipfs_spec, confirmations=confirmations)
    obj.debug = debug  # type: ignore[attr-defined]
    ctx.obj = obj


def _register_commands() -> None:
    from importlib import import_module

    for module, attribute in COMMAND_MODULES:
        cli.add_command(getattr(import_module(module, __package__), attribute))


COMMAND_MODULES: list[tuple[str, str]] = [
    ("..ipfs.cli", "ipfs_group"),
    (".dev", "dev_group"),
    ("..agent.cli", "agent_group"),
    (".commands.twins", "twin_group"),
    (".commands.twins", "spec_group"),
    (".commands.twins", "component_group"),
    (".commands.twins", "phase_group"),
    (".commands.parties", "role_group"),
    (".commands.parties", "scope_group"),
    (".commands.parties", "key_group"),
    (".commands.documents", "doc_group"),
    (".commands.documents", "source_group"),
    (".commands.programs", "program_group"),
    (".commands.verification", "verify_group"),
    (".commands.verification", "feed_group"),
    (".commands.verification", "watch_cmd"),
    (".commands.verification", "audit_group"),
    ("..web.cli", "web_cmd"),
]


def main() -> None:
    _register_commands()
    cli(prog_name="twinledger")


if __name__ == "__main__":
    sys.exit(main())
