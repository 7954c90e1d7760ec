"""`ape run demo` (what `make demo` runs): the bottling-plant scenario end to end.

The scenario itself lives in `twinledger.demo`; this script only gives it a fresh working folder.
"""
import shutil
import sys
from pathlib import Path

import click


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path(".twinledger/demo"),
              show_default=True, help="Where the demo's chain, IPFS store, agent and report go (wiped first).")
def cli(workdir: Path) -> None:
    """Run the bottling-plant scenario: twin, roles, streaming, failure, program call, repair, audit."""
    from twinledger.demo import Demo

    shutil.rmtree(workdir, ignore_errors=True)
    demo = Demo(workdir.resolve())
    try:
        ok, _report = demo.run()
    except Exception as exc:  # noqa: BLE001 - one readable line for whoever ran `make demo`
        click.echo(f"demo failed: {exc}", err=True)
        sys.exit(1)
    finally:
        if demo.stack is not None:
            demo.stack.stop()
    sys.exit(0 if ok else 1)
