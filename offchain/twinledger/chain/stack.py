"""A complete local TwinLedger stack: an anvil chain, the deployed contracts and an embedded IPFS store.

`twinledger dev up`, the end-to-end tests, the demo and the benchmarks all start the system this way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from .connection import TwinLedgerChain, connect
from .deploy import deploy_system
from .deployment import Deployment
from .devnet import Anvil, test_account


@dataclass
class DevStack:
    """Start with `DevStack(workdir).start()` or as a context manager; `stop()` ends the chain."""

    workdir: Path
    block_time: float | None = None
    port: int = 0
    state_file: Path | None = None   # anvil's --state: the chain survives a stop() and start() of anvil
    anvil: Anvil = field(init=False)
    deployment: Deployment | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.anvil = Anvil(port=self.port, block_time=self.block_time, log_file=self.workdir / "anvil.log",
                           state_file=self.state_file)

    @property
    def rpc_url(self) -> str:
        return self.anvil.url

    @property
    def deployment_path(self) -> Path:
        return self.workdir / "deployment.json"

    @property
    def ipfs_path(self) -> Path:
        return self.workdir / "ipfs"

    @property
    def ipfs_spec(self) -> str:
        return f"embedded:{self.ipfs_path}"

    def start(self) -> "DevStack":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.anvil.start()
        self.deployment = deploy_system(connect(self.rpc_url), test_account(0), rpc_url=self.rpc_url)
        self.deployment.save(self.deployment_path)
        return self

    def stop(self) -> None:
        self.anvil.stop()

    def chain(self, account: LocalAccount | int | None = None, confirmations: int = 0) -> TwinLedgerChain:
        """The system as seen by `account` (a test-account index, a LocalAccount, or None for read-only)."""
        if isinstance(account, int):
            account = test_account(account)
        assert self.deployment is not None, "start() the stack first"
        return TwinLedgerChain.open(self.rpc_url, self.deployment, account, confirmations)

    def store(self) -> Any:
        from ..ipfs import open_store

        return open_store(self.ipfs_spec)

    def __enter__(self) -> "DevStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
