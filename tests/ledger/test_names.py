"""`twinledger.ledger.names` is the one definition of the chain's numbers: it must match the Solidity
sources (enum members in order, permission bits, role constants) and the compiled ABI (which enum
each status/phase argument is, and a public constant per built-in role)."""
from __future__ import annotations

import json
import re
from enum import Enum
from pathlib import Path

import pytest
from eth_utils import keccak

from twinledger.ledger.names import CallStatus, FeedStatus, GatewayFault, Permission, Phase, Role, label

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
BUILD = ROOT / ".build" / "__local__.json"

ENUMS: dict[type[Enum], tuple[str, str]] = {  # Python enum -> (Solidity file, enum name)
    Phase: ("interfaces/ISpecification.sol", "Phase"),
    CallStatus: ("interfaces/ISpecification.sol", "CallStatus"),
    FeedStatus: ("interfaces/ISensorFeed.sol", "FeedStatus"),
    GatewayFault: ("interfaces/IGatewayAnchors.sol", "Fault"),
}


def solidity_enum(path: str, name: str) -> list[str]:
    source = (CONTRACTS / path).read_text()
    match = re.search(rf"\benum\s+{name}\s*\{{([^}}]*)\}}", source)
    assert match, f"no enum {name} in contracts/{path}"
    return [m.strip() for m in re.sub(r"//[^\n]*", "", match.group(1)).split(",") if m.strip()]


def abi_enum_types() -> set[str]:
    types: set[str] = set()
    for contract in json.loads(BUILD.read_text())["contractTypes"].values():
        for entry in contract["abi"]:
            for arg in entry.get("inputs", []) + entry.get("outputs", []):
                if arg.get("internalType", "").startswith("enum "):
                    types.add(arg["internalType"].removeprefix("enum "))
    return types


@pytest.mark.parametrize("python_enum", list(ENUMS), ids=lambda e: e.__name__)
def test_enums_match_the_solidity_enums(python_enum: type[Enum]) -> None:
    path, name = ENUMS[python_enum]
    assert [label(m) for m in python_enum] == solidity_enum(path, name)
    assert [m.value for m in python_enum] == list(range(len(python_enum)))


def test_the_abi_uses_these_enums() -> None:
    used = {t.rsplit(".", 1)[-1] for t in abi_enum_types()}
    assert {"Phase", "CallStatus"} <= used, used  # FeedStatus is returned inside the feed tuple as uint8
    source = (CONTRACTS / "SensorFeed.sol").read_text()
    assert re.search(r"\bFeedStatus\s+status\b", source), "SensorFeed's feed record no longer has a FeedStatus"


def test_permission_bits_match_the_solidity_library() -> None:
    source = (CONTRACTS / "interfaces" / "IAuthorization.sol").read_text()
    bits = {name: 1 << int(shift) for name, shift in
            re.findall(r"uint256\s+internal\s+constant\s+(\w+)\s*=\s*1\s*<<\s*(\d+)", source)}
    assert len(bits) >= 14
    assert {p.name: int(p) for p in Permission} == bits


def test_roles_match_the_authorization_constants() -> None:
    source = (CONTRACTS / "Authorization.sol").read_text()
    declared = dict(re.findall(r"bytes32\s+public\s+constant\s+(\w+)\s*=\s*keccak256\(\"(\w+)\"\)", source))
    abi = json.loads(BUILD.read_text())["contractTypes"]["Authorization"]["abi"]
    getters = {e["name"] for e in abi if e["type"] == "function" and not e["inputs"]}
    for role in Role:
        assert declared.get(role.name) == role.value, role
        assert role.name in getters, f"Authorization has no public {role.name}()"
        assert role.id == keccak(text=role.value)
