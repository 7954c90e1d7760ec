"""`feed register`: a sensor feed for a component, signed by a device key given by address or made here in an
encrypted keystore (eth-account's format; the passphrase from $TWINLEDGER_KEYSTORE_PASSPHRASE, else asked)."""
from __future__ import annotations

import os
from pathlib import Path

import click
from eth_account import Account

from ...chain.keystore import DEFAULT_PASSPHRASE_ENV, write_keystore
from ..context import CliContext, UsageError
from .base import pass_cli


@click.command("register")
@click.argument("twin", type=click.IntRange(min=1))
@click.argument("component")
@click.option("--device", "device", metavar="ADDRESS",
              help="Address of the device key that signs this feed's batches.")
@click.option("--new-device-key", "new_key", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Make a fresh device key in an encrypted keystore FILE and register its address (passphrase "
                   "from $TWINLEDGER_KEYSTORE_PASSPHRASE, else asked).")
@pass_cli
def feed_register_cmd(cli: CliContext, twin: int, component: str, device: str | None, new_key: Path | None) -> None:
    """Register a sensor feed for COMPONENT (name, AML ID or 0x id) of TWIN, signed by --device (or by a new key
    made with --new-device-key)."""
    from .base import require_account
    from .parties import address
    from ...ledger.provision import register_feed
    from ...ledger.twinview import load_twin

    if (device is None) == (new_key is None):
        raise UsageError("give exactly one of --device ADDRESS and --new-device-key FILE")
    require_account(cli)
    info = load_twin(cli.chain, cli.store, twin).resolve_component(component)
    signer = address(device) if device is not None else _new_device_key(new_key)
    feed = register_feed(cli.chain, twin, info.id, signer)
    click.echo(f"Registered feed {feed} for {info.name} of twin {twin}, device key {signer}")
    if new_key is not None:
        click.echo(f"Its key is in {new_key}: give it to the agent as device_key_file.")


def _new_device_key(path: Path | None) -> str:
    """Write a fresh key to an encrypted keystore at `path` and return its address."""
    assert path is not None
    if path.exists():
        raise UsageError(f"{path} exists: pass --device with its address, or choose a new file")
    passphrase = os.environ.get(DEFAULT_PASSPHRASE_ENV) or click.prompt(
        "passphrase for the new device keystore", hide_input=True, confirmation_prompt=True)
    key = Account.create()
    write_keystore(path, bytes(key.key), passphrase)
    return str(key.address)
