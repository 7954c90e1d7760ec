"""Every on-chain event about one twin, from all three contracts, decoded and in block order.

Events are fetched with topic filters, not by scanning: for each contract, the events whose twin id
is an indexed argument are grouped by the topic position of that argument, and each group is one
`eth_getLogs` call (topic0 = any of the group's signatures, topicN = the twin). Feed events that only
carry a feed id are fetched for the twin's feeds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, cast

from eth_utils import event_abi_to_log_topic
from hexbytes import HexBytes
from web3.contract import Contract

from ..chain.connection import TwinLedgerChain
from ..chain.logs import LogReader, decode_log

TWIN_ARGUMENTS = ("twin", "child")  # ParentChanged names the twin it changes `child`
FEED_ARGUMENT = "feedId"
CONTRACTS = ("Authorization", "Specification", "SensorFeed")


@dataclass(frozen=True)
class ChainEvent:
    contract: str
    name: str
    args: dict[str, Any]
    block: int
    log_index: int
    tx_hash: str

    @property
    def order(self) -> tuple[int, int]:
        return (self.block, self.log_index)

    @property
    def twin(self) -> int | None:
        for key in TWIN_ARGUMENTS:
            if key in self.args:
                return int(self.args[key])
        return None


@dataclass(frozen=True)
class _EventGroup:
    position: int  # topic index of the filtered argument (1..3)
    topics: tuple[bytes, ...]  # signatures of the events in the group


def _indexed_position(entry: dict[str, Any], names: Iterable[str]) -> int | None:
    indexed = [i["name"] for i in entry.get("inputs", []) if i.get("indexed")]
    for name in names:
        if name in indexed:
            return indexed.index(name) + 1
    return None


def _groups(contract: Contract, names: tuple[str, ...], skip: Iterable[str] = ()) -> list[_EventGroup]:
    """Events of `contract` with one of `names` indexed and none of `TWIN_ARGUMENTS` listed before it."""
    by_position: dict[int, list[bytes]] = {}
    for entry in event_abis(contract):
        if entry["name"] in skip:
            continue
        position = _indexed_position(entry, names)
        if position is not None:
            by_position.setdefault(position, []).append(event_abi_to_log_topic(cast(Any, entry)))
    return [_EventGroup(p, tuple(t)) for p, t in sorted(by_position.items())]


def event_abis(contract: Contract) -> list[dict[str, Any]]:
    """The event entries of a contract's ABI, as plain dicts."""
    return [cast(dict[str, Any], e) for e in contract.abi if e.get("type") == "event"]


def _topic(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


@dataclass
class EventReader:
    """Fetches and decodes the events of one twin; also resolves a transaction's sender and a block's time."""

    chain: TwinLedgerChain
    from_block: int | None = None
    to_block: int | None = None  # None: the latest block when asked

    def _contract(self, name: str) -> Contract:
        return {"Authorization": self.chain.auth, "Specification": self.chain.spec, "SensorFeed": self.chain.feeds}[name]

    def _start(self) -> int:
        return self.deployment_block if self.from_block is None else self.from_block

    @property
    def deployment_block(self) -> int:
        return self.chain.deployment.block

    def _fetch(self, contract_name: str, group: _EventGroup, values: list[int]) -> list[ChainEvent]:
        contract = self._contract(contract_name)
        topics: list[Any] = [["0x" + t.hex() for t in group.topics]]
        topics += [None] * (group.position - 1) + [[_topic(v) for v in values]]
        end = self.chain.w3.eth.block_number if self.to_block is None else self.to_block
        logs = LogReader(self.chain.w3).logs(contract.address, topics, self._start(), end)
        return [self._decode(contract_name, contract, log) for log in logs]

    def _decode(self, contract_name: str, contract: Contract, log: Any) -> ChainEvent:
        topic0 = bytes(log["topics"][0])
        entry = next(e for e in event_abis(contract) if event_abi_to_log_topic(cast(Any, e)) == topic0)
        # by ABI entry, not by name: Authorization has two `RoleGranted` events (per twin, and AccessControl's)
        decoded = decode_log(entry, log)
        return ChainEvent(contract_name, decoded.name, decoded.args, log["blockNumber"], log["logIndex"],
                          HexBytes(log["transactionHash"]).to_0x_hex())

    def twin_events(self, twin: int, anchors: bool = True) -> list[ChainEvent]:
        events: list[ChainEvent] = []
        for name in CONTRACTS:
            for group in _groups(self._contract(name), TWIN_ARGUMENTS):
                events += self._fetch(name, group, [twin])
        feed_ids = sorted({e.args["feedId"] for e in events if e.name == "FeedRegistered"})
        if feed_ids:
            skip = ("FeedRegistered",) + (() if anchors else ("Anchored",))
            for group in _groups(self.chain.feeds, (FEED_ARGUMENT,), skip=skip):
                events += self._fetch("SensorFeed", group, feed_ids)
        return sorted(set_unique(events), key=lambda e: e.order)

    def events(self, contract_name: str, event_name: str, from_block: int, to_block: int,
               **indexed: int) -> list[ChainEvent]:
        """One event of one contract over a block range, paged; `indexed` filters indexed integer arguments."""
        contract = self._contract(contract_name)
        entry = next(e for e in event_abis(contract) if e["name"] == event_name)
        names = [i["name"] for i in entry["inputs"] if i.get("indexed")]
        topics: list[Any] = ["0x" + event_abi_to_log_topic(cast(Any, entry)).hex()] + [None] * len(names)
        for name, value in indexed.items():
            topics[names.index(name) + 1] = _topic(value)
        while topics and topics[-1] is None:
            topics.pop()
        logs = LogReader(self.chain.w3).logs(contract.address, topics, from_block, to_block)
        return [self._decode(contract_name, contract, log) for log in logs]

    def sender_of(self, tx_hash: str) -> str:
        return self.chain.sender_of(tx_hash)

    def time_of(self, block: int) -> int:
        return self.chain.block_time(block)


def set_unique(events: list[ChainEvent]) -> list[ChainEvent]:
    """Drop a log fetched twice (an event matching two groups)."""
    seen: dict[tuple[str, int, int], ChainEvent] = {}
    for e in events:
        seen.setdefault((e.tx_hash, e.block, e.log_index), e)
    return list(seen.values())
