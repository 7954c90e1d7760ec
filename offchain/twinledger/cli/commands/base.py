"""What every command module shares: the context decorator, output (rich), sending with feedback,
confirmations and argument types.

Output goes to stdout (tables, results), progress and notes to stderr, so results can be piped.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from ..context import CliContext
from ...ledger.documents import Stored, content_digest, store_bytes  # noqa: F401 - the commands import them from here
from ...ledger.writes import events_in, send as send_transaction  # noqa: F401 - events_in: as above
from ...ledger.names import MAX_TWIN_ID

pass_cli = click.make_pass_decorator(CliContext)
TWIN = click.IntRange(min=1, max=MAX_TWIN_ID)
WIDE = 200  # columns when not on a terminal, so ids and addresses are never wrapped


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else WIDE, highlight=False, soft_wrap=True)


def note(message: str) -> None:
    click.echo(message, err=True)


def table(title: str, *columns: str) -> Table:
    t = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        t.add_column(column, overflow="fold")
    return t


def cell(value: Any) -> Text:
    """Plain text: names from the chain or a file are never read as rich markup."""
    return Text("" if value is None else str(value))


def when(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if timestamp else "-"


def send(cli: CliContext, fn: ContractFunction, what: str) -> TxReceipt:
    """Send one transaction with a spinner; a revert becomes its decoded custom error line."""
    with console(stderr=True).status(f"{what}…"):
        return send_transaction(cli.chain, fn)


@contextmanager
def progress(description: str, total: int) -> Iterator[Any]:
    """A progress bar on stderr; yields `advance(label)`."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   console=console(stderr=True), transient=True)
    with bar:
        task = bar.add_task(description, total=total)

        def advance(label: str | None = None) -> None:
            bar.update(task, advance=1, description=label or description)

        yield advance


def confirm(question: str, yes: bool) -> None:
    """Go on with --yes, ask on a terminal, refuse otherwise (a script must say --yes)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.ClickException(f"{question} Not a terminal: pass --yes to go ahead")
    if not click.confirm(question, default=False):
        raise click.ClickException("cancelled, nothing was sent")


def require_account(cli: CliContext) -> None:
    if cli.account is None:
        raise click.ClickException("this command sends a transaction: choose an account with --account "
                                   "(TEST::N, an ape alias or a key file) or TWINLEDGER_ACCOUNT")


def store_file(cli: CliContext, path: Path) -> Stored:
    """Add the file to IPFS as CIDv1 with raw leaves (docs/formats.md section 5)."""
    return store_bytes(cli, path.read_bytes())
