"""The chain facts and transactions behind the agent's durable operations (sensor swaps, program calls).

Each read answers "is this step already on-chain?", so a step retried after a crash is skipped
rather than sent twice; each `*_fn` builds the transaction that carries out the step. The agent
(agent/operations.py, agent/swap.py, agent/commands.py) decides the order and records progress.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD

from ..chain.connection import TwinLedgerChain
from ..formats import cids
from .names import CALL_STATUSES
from .reader import Ledger, word

QUEUED, DELIVERED = CALL_STATUSES.index("Queued"), CALL_STATUSES.index("Delivered")


@dataclass(frozen=True)
class ComponentRecord:
    exists: bool
    active: bool
    kind: bytes
    replaced_by: bytes


def component(chain: TwinLedgerChain, twin: int, component_id: bytes) -> ComponentRecord:
    exists, active, _parent, kind, replaced_by, _added, _name = chain.spec.functions.component(twin, component_id).call()
    return ComponentRecord(bool(exists), bool(active), bytes(kind), bytes(replaced_by))


def replace_component_fn(chain: TwinLedgerChain, twin: int, old: bytes, new: bytes, name: str,
                         kind: bytes) -> ContractFunction:
    return chain.spec.functions.replaceComponent(twin, old, new, name, kind)


def feed_schema(chain: TwinLedgerChain, feed: int) -> bytes:
    return Ledger(chain).feed_state(feed, block="latest").schema_cid


def feed_retired_to(chain: TwinLedgerChain, feed: int) -> int | None:
    """The successor a retired feed points to (0: none), or None while the feed is not retired."""
    state = Ledger(chain).feed_state(feed, block="latest")
    return state.successor if state.status == "retired" else None


def feeds_registered(chain: TwinLedgerChain, twin: int, component_id: bytes, device: str) -> list[int]:
    """Ids of the feeds registered for `component_id` of `twin` with device key `device`, in order."""
    events = Ledger(chain).events("SensorFeed", "FeedRegistered", twin=twin, twin_topic=2,
                                  extra_topics=[word(component_id)])
    return [int(e.args["feedId"]) for e in events
            if to_checksum_address(e.args["deviceKey"]) == to_checksum_address(device)]


def register_feed_fn(chain: TwinLedgerChain, twin: int, component_id: bytes, device: str,
                     schema: bytes) -> ContractFunction:
    return chain.feeds.functions.registerFeed(twin, component_id, device, schema)


def registered_feed_id(chain: TwinLedgerChain, receipt: Any) -> int:
    return int(chain.feeds.events.FeedRegistered().process_receipt(receipt, errors=DISCARD)[0]["args"]["feedId"])


def retire_feed_fn(chain: TwinLedgerChain, feed: int, successor: int) -> ContractFunction:
    return chain.feeds.functions.retireFeed(feed, successor)


# -- program calls --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CallRecord:
    status: int
    result_cid: str | None  # the acknowledged result on IPFS, once the call is finished


def program_call(chain: TwinLedgerChain, call_id: int) -> CallRecord:
    _twin, _component, _program, _caller, status, digest, codec = chain.spec.functions.programCall(call_id).call()
    return CallRecord(int(status), cids.unpack(bytes(digest), int(codec)) if any(digest) else None)


def program_bounds(chain: TwinLedgerChain, twin: int, component_id: bytes,
                   program: bytes) -> tuple[list[bytes], list[int], list[int]]:
    names, mins, maxs = chain.spec.functions.programBounds(twin, component_id, program).call()
    return list(names), list(mins), list(maxs)


def mark_delivered_fn(chain: TwinLedgerChain, call_id: int) -> ContractFunction:
    return chain.spec.functions.markDelivered(call_id)


def complete_call_fn(chain: TwinLedgerChain, call_id: int, ok: bool, digest: bytes, codec: int) -> ContractFunction:
    return chain.spec.functions.completeCall(call_id, ok, digest, codec)
