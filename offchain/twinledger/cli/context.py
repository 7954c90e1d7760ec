"""What every CLI command needs: which chain, which deployment, which account, which IPFS store.

Resolution order for each: the command-line option, then the environment, then the state file that
`twinledger dev up` writes (`.twinledger/dev.json` in the working directory).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from ..chain.connection import TwinLedgerChain
from ..chain.deployment import Deployment
from ..chain.accounts import resolve_account
from ..chain.errors import ChainError

STATE_DIR = Path(".twinledger")
STATE_FILE = STATE_DIR / "dev.json"
APE_NETWORK_DEFAULTS = {"ethereum:local:foundry": "http://127.0.0.1:8545"}


class UsageError(ChainError):
    """A missing or contradictory option."""


def load_dev_state(path: Path = STATE_FILE) -> dict[str, Any]:
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def _ask_passphrase(question: str) -> str:
    import click

    return str(click.prompt(question, hide_input=True))


@dataclass
class CliContext:
    network: str | None = None
    deployment_path: str | None = None
    account_spec: str | None = None
    ipfs_spec: str | None = None
    confirmations: int = 0
    state: dict[str, Any] = field(default_factory=load_dev_state)

    @property
    def rpc_url(self) -> str:
        url = self.network or os.environ.get("TWINLEDGER_RPC") or self.state.get("rpc_url")
        if not url:
            raise UsageError("no chain chosen: pass --network URL, set TWINLEDGER_RPC, or run `twinledger dev up`")
        return APE_NETWORK_DEFAULTS.get(url, url)

    @property
    def store_spec(self) -> str:
        return (self.ipfs_spec or os.environ.get("TWINLEDGER_IPFS") or self.state.get("ipfs")
                or f"embedded:{STATE_DIR / 'ipfs'}")

    @cached_property
    def deployment(self) -> Deployment:
        path = self.deployment_path or os.environ.get("TWINLEDGER_DEPLOYMENT") or self.state.get("deployment")
        if not path:
            raise UsageError("no deployment file: pass --deployment FILE or run `twinledger dev up`")
        return Deployment.load(Path(path))

    @cached_property
    def account(self) -> LocalAccount | None:
        return resolve_account(self.account_spec or os.environ.get("TWINLEDGER_ACCOUNT"), prompt=_ask_passphrase)

    @cached_property
    def chain(self) -> TwinLedgerChain:
        return TwinLedgerChain.open(self.rpc_url, self.deployment, self.account, self.confirmations)

    @cached_property
    def store(self):
        from ..ipfs import open_store

        return open_store(self.store_spec)
