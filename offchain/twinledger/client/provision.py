"""Putting a twin on the ledger from its AutomationML file: the AML goes to IPFS, the twin and its
spec version on-chain, then the component tree (parents first) and the programs with their bounds.
Also registers sensor feeds. Used by `twin create`, the agent's tests, the demo and the benchmarks."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_utils import keccak
from web3.logs import DISCARD

from ..chain.connection import TwinLedgerChain
from ..formats import cids
from .aml import TwinSpec, parse_aml

COMPONENTS_PER_TX = 32


@dataclass(frozen=True)
class ProvisionedTwin:
    twin_id: int
    spec: TwinSpec
    spec_cid: str


def store_aml(store, data: bytes) -> tuple[str, bytes, int, bytes]:
    """Store AML bytes; returns (cid, cid digest, codec, content digest) for the chain."""
    cid = str(store.add_bytes(data).cid)
    digest, codec = cids.pack(cid)
    return cid, digest, codec, keccak(data)


def create_twin_from_aml(chain: TwinLedgerChain, store, aml: Path | bytes, name: str | None = None,
                         progress=None) -> ProvisionedTwin:
    data = aml.read_bytes() if isinstance(aml, Path) else aml
    spec = parse_aml(data, source=str(aml) if isinstance(aml, Path) else "<aml>")
    cid, cid_digest, codec, digest = store_aml(store, data)
    device_id = keccak(text=spec.device_id)
    receipt = chain.sender.transact(chain.spec.functions.createTwin(name or spec.name, device_id, cid_digest,
                                                                    codec, digest))
    twin_id = chain.spec.events.TwinCreated().process_receipt(receipt, errors=DISCARD)[0]["args"]["twin"]
    register_components(chain, twin_id, spec, progress)
    register_programs(chain, twin_id, spec, progress)
    return ProvisionedTwin(twin_id, spec, cid)


def register_components(chain: TwinLedgerChain, twin_id: int, spec: TwinSpec, progress=None) -> None:
    components = list(spec.components)  # the parser yields parents before their children
    for start in range(0, len(components), COMPONENTS_PER_TX):
        chunk = components[start:start + COMPONENTS_PER_TX]
        chain.sender.transact(chain.spec.functions.addComponents(
            twin_id, [c.component_id for c in chunk], [c.parent_id or b"\0" * 32 for c in chunk],
            [c.name for c in chunk], [c.kind_bytes32 for c in chunk]))
        if progress:
            progress(len(chunk))


def register_programs(chain: TwinLedgerChain, twin_id: int, spec: TwinSpec, progress=None) -> None:
    for program in spec.programs:
        chain.sender.transact(chain.spec.functions.setProgram(
            twin_id, program.component_id, program.program_id, [p.name_bytes32 for p in program.params],
            [p.bounds.scaled_min for p in program.params], [p.bounds.scaled_max for p in program.params]))
        if progress:
            progress(1)


def register_feed(chain: TwinLedgerChain, twin_id: int, component_id: bytes, device_address: str,
                  schema_cid: bytes = b"\0" * 32) -> int:
    receipt = chain.sender.transact(chain.feeds.functions.registerFeed(twin_id, component_id, device_address,
                                                                       schema_cid))
    return chain.feeds.events.FeedRegistered().process_receipt(receipt, errors=DISCARD)[0]["args"]["feedId"]
