"""Deployment files: where the TwinLedger contracts live on one chain, with their ABIs.

`scripts/deploy.py` (ape) and `twinledger dev up` write them; the agent and the client load them.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TwinLedgerError

FORMAT_VERSION = 1


class DeploymentError(TwinLedgerError, RuntimeError):
    """A deployment file is missing, unreadable or lacks a contract."""


@dataclass(frozen=True)
class DeployedContract:
    address: str
    abi: list[dict[str, Any]]


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    block: int
    deployer: str
    contracts: dict[str, DeployedContract]
    rpc_url: str | None = None
    version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def address(self, name: str) -> str:
        return self.contract(name).address

    def contract(self, name: str) -> DeployedContract:
        if name not in self.contracts:
            raise DeploymentError(f"the deployment has no {name} contract")
        return self.contracts[name]

    def all_abis(self) -> list[dict[str, Any]]:
        return [entry for c in self.contracts.values() for entry in c.abi]

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> "Deployment":
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise DeploymentError(f"no deployment file at {path}") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise DeploymentError(f"cannot read deployment file {path}: {exc}") from None
        if data.get("version") != FORMAT_VERSION:
            raise DeploymentError(f"deployment file {path} has version {data.get('version')}, expected {FORMAT_VERSION}")
        contracts = {name: DeployedContract(**c) for name, c in data.pop("contracts").items()}
        return cls(contracts=contracts, **data)
