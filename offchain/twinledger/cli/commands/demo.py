"""`twinledger demo cold-chain`: the scenarios live above the CLI (the demo layer drives the CLI), so this
command runs them as their own process, `python -m twinledger.demo_cold_chain`, and passes its exit status on."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click


@click.group("demo")
def demo_group() -> None:
    """Scenarios that run end to end on a fresh dev stack."""


@demo_group.command("cold-chain")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path(".twinledger/cold-chain"),
              show_default=True, help="Where the demo's chain, IPFS store and report go (wiped first).")
def cold_chain_cmd(workdir: Path) -> None:
    """The patent's delivery: a lorry twin, a cold trip settled paid and a door-open trip proven breached."""
    status = subprocess.call([sys.executable, "-m", "twinledger.demo_cold_chain", "--workdir", str(workdir)])
    if status != 0:
        raise click.ClickException(f"the cold-chain demo failed (exit status {status}); its output says where")
