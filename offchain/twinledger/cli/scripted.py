"""`twinledger` commands run in-process and shown as typed, with their output: the demos' narrated steps."""

from __future__ import annotations

import shlex

from click.testing import CliRunner, Result
from rich.console import Console

from . import main as cli_module


def run_shown(command: str, *, account: int, label: str, env: dict[str, str], console: Console) -> Result:
    """Run `twinledger --account TEST::account COMMAND` as `label` would type it, and print its output."""
    console.print(f"  [bold cyan]{label}[/]$ twinledger {command}")
    result = CliRunner().invoke(cli_module.cli, ["--account", f"TEST::{account}", *shlex.split(command)],
                                env=env, catch_exceptions=False)
    for line in result.output.rstrip().splitlines():
        console.print(f"      {line}", style="dim", markup=False)
    return result
