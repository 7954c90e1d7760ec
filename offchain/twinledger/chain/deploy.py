"""Deploying the TwinLedger system: one plan, walked by the web3 deployer here and by `scripts/deploy.py` (ape)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from eth_account.signers.local import LocalAccount
from web3 import Web3

from .artifacts import load_artifacts
from .deployment import DeployedContract, Deployment
from .errors import ErrorDecoder
from .tx import TxSender

Addresses = dict[str, str]


@dataclass(frozen=True)
class DeployStep:
    contract: str
    args: Callable[[Addresses, str], list[Any]]  # (addresses so far, deployer) -> constructor args


@dataclass(frozen=True)
class WireStep:
    contract: str
    function: str  # full signature, so overloads stay unambiguous
    args: Callable[[Addresses], list[Any]]


DEPLOY_PLAN: tuple[DeployStep, ...] = (
    DeployStep("Authorization", lambda a, deployer: [deployer]),
    DeployStep("Specification", lambda a, deployer: [a["Authorization"]]),
    DeployStep("SensorFeed", lambda a, deployer: [a["Authorization"], a["Specification"]]),
    DeployStep("AgreementRegistry", lambda a, deployer: [a["SensorFeed"], a["Specification"]]),
    DeployStep("DevToken", lambda a, deployer: []),  # the dev chain's ERC-20 for escrow; the deployer mints
    # Gateway-aggregated anchors judged against SensorFeed (docs/formats.md section 9); the deployer grants gateways.
    DeployStep("GatewayAnchors", lambda a, deployer: [a["SensorFeed"]]),
)

WIRE_PLAN: tuple[WireStep, ...] = (
    # Binds the twin registry once and for good: afterwards not even the admin can initialize or freeze twins.
    WireStep("Authorization", "bindRegistry(address)", lambda a: [a["Specification"]]),
)


def deploy_system(w3: Web3, deployer: LocalAccount, rpc_url: str | None = None) -> Deployment:
    """Deploy and wire every contract of DEPLOY_PLAN; returns the deployment to save."""
    artifacts = load_artifacts()
    sender = TxSender(w3, deployer, ErrorDecoder(a for art in artifacts.values() for a in art.abi))
    first_block = w3.eth.block_number + 1
    addresses: Addresses = {}
    for step in DEPLOY_PLAN:
        art = artifacts[step.contract]
        factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        receipt = sender.transact(factory.constructor(*step.args(addresses, deployer.address)))
        addresses[step.contract] = str(receipt["contractAddress"])
    for wire in WIRE_PLAN:
        contract = w3.eth.contract(address=Web3.to_checksum_address(addresses[wire.contract]),
                                   abi=artifacts[wire.contract].abi)
        sender.transact(contract.get_function_by_signature(wire.function)(*wire.args(addresses)))
    return Deployment(
        chain_id=w3.eth.chain_id,
        block=first_block,
        deployer=deployer.address,
        rpc_url=rpc_url,
        contracts={name: DeployedContract(address=addresses[name], abi=artifacts[name].abi) for name in addresses},
    )
