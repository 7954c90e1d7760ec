"""Compiled contract artifacts (ABI and bytecode), read from ape's build manifest `.build/__local__.json`."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import TwinLedgerError

BUILD_ENV = "TWINLEDGER_BUILD_MANIFEST"


class ArtifactsMissing(TwinLedgerError, RuntimeError):
    """The contracts have not been compiled (run `make compile`)."""


@dataclass(frozen=True)
class ContractArtifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str


def project_root() -> Path:
    """The checkout this package was installed from (editable install), else the working directory."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "ape-config.yaml").exists():
            return parent
    return Path.cwd()


def manifest_path() -> Path:
    if os.environ.get(BUILD_ENV):
        return Path(os.environ[BUILD_ENV])
    return project_root() / ".build" / "__local__.json"


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, ContractArtifact]:
    if not path.exists():
        raise ArtifactsMissing(f"no compiled contracts at {path}: run `make compile`")
    manifest = json.loads(path.read_text())
    artifacts = {}
    for name, contract_type in manifest.get("contractTypes", {}).items():
        bytecode = (contract_type.get("deploymentBytecode") or {}).get("bytecode") or ""
        artifacts[name] = ContractArtifact(name=name, abi=contract_type["abi"], bytecode=bytecode)
    return artifacts


def load_artifacts(path: Path | None = None) -> dict[str, ContractArtifact]:
    return _load(path or manifest_path())


def artifact(name: str, path: Path | None = None) -> ContractArtifact:
    artifacts = load_artifacts(path)
    if name not in artifacts:
        raise ArtifactsMissing(f"contract {name!r} is not in the build manifest: run `make compile`")
    return artifacts[name]
