"""`twinledger web`: serve the client application for the account chosen with `--account`.

The CLI does not import this package: `cli.main` finds the command through the `twinledger.commands`
entry point (pyproject.toml), and the command gets the CLI's context object as it is."""
from __future__ import annotations

from typing import Any

import click

from .identity import Identity

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


@click.command("web")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on (loopback only unless you choose another).")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535))
@click.option("--read-only", is_flag=True, help="Refuse every write (for an auditor).")
@click.pass_obj
def web_cmd(session: Any, host: str, port: int, read_only: bool) -> None:
    """Serve the client application in a browser, acting for --account (its key stays here)."""
    from .context import WebContext
    from .server import serve

    chain = session.chain  # refuses a wrong chain or deployment with one line before listening
    account = chain.account
    identity = Identity(address=account.address if account is not None else None,
                        read_only=read_only or account is None)
    serve(WebContext(chain, session.store, identity), host, port)
