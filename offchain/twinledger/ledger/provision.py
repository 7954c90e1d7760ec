"""Putting a twin on the ledger from its AutomationML file, as a library call: the AML goes to IPFS,
the twin and its first spec version on-chain, then the component tree and the programs through the
same chain-derived plan that `twin create` and `spec update` use (specsync). Also registers feeds.
Used by the agent's tests, the demo and the benchmarks; the CLI adds progress and messages."""
from __future__ import annotations

from typing import Any

from dataclasses import dataclass
from pathlib import Path

from eth_utils import keccak
from web3.logs import DISCARD

from ..chain.connection import TwinLedgerChain
from ..formats import cids
from ..formats.aml import TwinSpec, parse_aml, to_bytes32
from .specsync import plan_sync
from .twinview import load_twin


@dataclass(frozen=True)
class ProvisionedTwin:
    twin_id: int
    spec: TwinSpec
    spec_cid: str


def device_id_bytes(device_id: str) -> bytes:
    """The AML device id as the chain's `bytes32 deviceId`: its UTF-8 if it fits, else its keccak256."""
    raw = device_id.encode("utf-8")
    return to_bytes32(device_id) if len(raw) <= 32 else keccak(raw)


def create_twin_from_aml(chain: TwinLedgerChain, store: Any, aml: Path | bytes, name: str | None = None) -> ProvisionedTwin:
    data = aml.read_bytes() if isinstance(aml, Path) else aml
    spec = parse_aml(data, source=str(aml) if isinstance(aml, Path) else "<aml>")
    cid = str(store.add_bytes(data).cid)
    cid_digest, codec = cids.pack(cid)
    receipt = chain.sender.transact(chain.spec.functions.createTwin(
        name or spec.name, device_id_bytes(spec.device_id), cid_digest, codec, keccak(data)))
    twin_id = chain.spec.events.TwinCreated().process_receipt(receipt, errors=DISCARD)[0]["args"]["twin"]
    for step in plan_sync(chain, load_twin(chain, store, twin_id, with_aml=False), spec):
        chain.sender.transact(step.fn)
    return ProvisionedTwin(twin_id, spec, cid)


def register_feed(chain: TwinLedgerChain, twin_id: int, component_id: bytes, device_address: str,
                  schema_cid: bytes = b"\0" * 32) -> int:
    receipt = chain.sender.transact(chain.feeds.functions.registerFeed(twin_id, component_id, device_address,
                                                                       schema_cid))
    return int(chain.feeds.events.FeedRegistered().process_receipt(receipt, errors=DISCARD)[0]["args"]["feedId"])


def anchor_batch(chain: TwinLedgerChain, feed_id: int, seq: int, root: bytes, cid: bytes, count: int, t_first: int,
                 t_last: int, signature: bytes) -> Any:
    """Sends one `SensorFeed.anchor` (a device-signed batch relayed by the chain's account); returns the receipt."""
    return chain.sender.transact(chain.feeds.functions.anchor(feed_id, seq, root, cid, count, t_first, t_last,
                                                              signature))
