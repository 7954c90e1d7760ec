"""Reading the ledger's history straight from event logs, for the verifier, `feed`, `watch` and `audit`.

Nothing here trusts a contract's views more than its events: the verifier compares the two. Logs
are fetched in block ranges (`LogReader`), halving a range whenever the node refuses it as too
large, and the hot events (`Anchored`) are decoded by hand from their fixed layout because web3's
generic decoder costs more than verifying the batch they describe.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property, lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from eth_typing import HexStr
from web3.contract import Contract
from web3.types import BlockIdentifier

from ..chain.connection import TwinLedgerChain
from ..chain.errors import ChainError
from ..chain.logs import DEFAULT_LOG_CHUNK, LogReader, abi_type, decode_log
from .events import ChainEvent, EventReader, event_abis
from ..formats.cids import raw_cid_from_digest
from . import contracts
from .names import CallStatus, FeedStatus, Permission, Phase, label


ANCHOR_PERMISSION = int(Permission.ANCHOR)
SENSOR_READ = int(Permission.SENSOR_READ)
DOC_READ = int(Permission.DOC_READ)

FEED_STATUS = {s.value: label(s).lower() for s in FeedStatus}
PHASES = {p.value: label(p) for p in Phase}
CALL_STATUS = {s.value: label(s).lower() for s in CallStatus}


def topic(signature: str) -> HexBytes:
    return HexBytes(keccak(text=signature))


def word(value: int | bytes | str) -> HexBytes:
    """A 32-byte topic for an indexed uint, bytes32 or address."""
    if isinstance(value, int):
        return HexBytes(value.to_bytes(32, "big"))
    if isinstance(value, str):
        return HexBytes(bytes(12) + bytes.fromhex(value.removeprefix("0x")))
    return HexBytes(bytes(value).rjust(32, b"\x00"))


ANCHORED = topic("Anchored(uint256,uint64,bytes32,bytes32,uint32,uint64,uint64,bytes32)")
FEED_REGISTERED = topic("FeedRegistered(uint256,uint256,bytes32,address,bytes32)")
FEED_RETIRED = topic("FeedRetired(uint256,uint256)")
KEY_ROTATED = topic("DeviceKeyRotated(uint256,address,address)")

ANCHOR_SELECTOR = keccak(text="anchor(uint256,uint64,bytes32,bytes32,uint32,uint64,uint64,bytes)")[:4]
ANCHOR_MANY_SELECTOR = keccak(text="anchorMany((uint256,uint64,bytes32,bytes32,uint32,uint64,uint64,bytes)[])")[:4]
_ANCHOR_TYPES = ["uint256", "uint64", "bytes32", "bytes32", "uint32", "uint64", "uint64", "bytes"]
_ANCHOR_MANY_TYPES = ["(uint256,uint64,bytes32,bytes32,uint32,uint64,uint64,bytes)[]"]


# ---------------------------------------------------------------------------------------------
# Records


@lru_cache(maxsize=65536)
def _raw_cid(digest: bytes) -> str:
    return raw_cid_from_digest(digest)  # multiformats is slow and findings name the CID often


@dataclass(frozen=True, slots=True)
class AnchorRecord:
    """One `Anchored` event: every input of the head formula plus where it was logged."""

    feed_id: int
    seq: int
    root: bytes
    cid_digest: bytes
    count: int
    t_first: int
    t_last: int
    head: bytes
    block: int
    log_index: int
    tx_hash: str

    @property
    def cid(self) -> str:
        return _raw_cid(self.cid_digest)

    @property
    def position(self) -> tuple[int, int]:
        return (self.block, self.log_index)


@dataclass(frozen=True, slots=True)
class AnchorCall:
    """What the anchoring transaction's calldata says about one batch."""

    feed_id: int
    seq: int
    root: bytes
    cid_digest: bytes
    count: int
    t_first: int
    t_last: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class AnchorTx:
    """The transaction that logged an anchor: its sender and its decoded anchor calls (empty if the
    transaction did not call `anchor`/`anchorMany` of the SensorFeed directly, e.g. via a multisig)."""

    tx_hash: str
    sender: str
    to: str | None
    calls: tuple[AnchorCall, ...]

    def call_for(self, feed_id: int, seq: int) -> AnchorCall | None:
        for call in self.calls:
            if call.feed_id == feed_id and call.seq == seq:
                return call
        return None


@dataclass(frozen=True, slots=True)
class KeyChange:
    """The device key of a feed from `position` on (registration or rotation)."""

    feed_id: int
    key: str
    previous: str | None
    block: int
    log_index: int
    tx_hash: str

    @property
    def position(self) -> tuple[int, int]:
        return (self.block, self.log_index)


@dataclass(frozen=True)
class FeedState:
    """`SensorFeed.feed(id)` at one block."""

    feed_id: int
    twin: int
    component: bytes
    device_key: str
    next_seq: int
    head: bytes
    status: str
    schema_cid: bytes
    successor: int


@dataclass(frozen=True)
class StoredVersion:
    """A document or specification version as the contract stores it."""

    index: int
    cid_digest: bytes
    codec: int
    digest: bytes
    author: str
    time: int


class NotFound(ChainError):
    """An unknown twin or feed id (`TwinNotFound`, `FeedNotFound`): one line that says where to look."""


def _known(count: int, what: str) -> str:
    return f"{what} are 1..{count}" if count else f"it has no {what} yet"


# One decoded event of any TwinLedger contract; `events.EventReader` reads a twin's events.
LedgerEvent = ChainEvent


def decode_anchored(log: Any) -> AnchorRecord:
    """An `Anchored` log from its fixed layout: topics (sig, feedId, seq), data six words."""
    topics = log["topics"]
    data = bytes(log["data"])
    return AnchorRecord(
        feed_id=int.from_bytes(topics[1], "big"),
        seq=int.from_bytes(topics[2], "big"),
        root=data[0:32],
        cid_digest=data[32:64],
        count=int.from_bytes(data[64:96], "big"),
        t_first=int.from_bytes(data[96:128], "big"),
        t_last=int.from_bytes(data[128:160], "big"),
        head=data[160:192],
        block=int(log["blockNumber"]),
        log_index=int(log["logIndex"]),
        tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
    )


def decode_anchor_input(data: bytes) -> tuple[AnchorCall, ...]:
    """The anchor calls in a SensorFeed transaction's input; empty for any other function."""
    selector, body = bytes(data[:4]), bytes(data[4:])
    try:
        if selector == ANCHOR_SELECTOR:
            return (AnchorCall(*abi_decode(_ANCHOR_TYPES, body)),)
        if selector == ANCHOR_MANY_SELECTOR:
            (items,) = abi_decode(_ANCHOR_MANY_TYPES, body)
            return tuple(AnchorCall(*item) for item in items)
    except Exception:  # noqa: BLE001 - malformed calldata simply carries no usable signature
        return ()
    return ()


# ---------------------------------------------------------------------------------------------
# Log reading


# ---------------------------------------------------------------------------------------------
# The ledger as seen from events and views


class Ledger:
    """Read-only access to the deployed contracts' history, pinned to one `to_block`."""

    def __init__(self, chain: TwinLedgerChain, *, chunk: int = DEFAULT_LOG_CHUNK, from_block: int | None = None,
                 to_block: int | None = None) -> None:
        self.chain = chain
        self.w3 = chain.w3
        self.reader = LogReader(self.w3, chunk)
        self.from_block = chain.deployment.block if from_block is None else from_block
        self.to_block = self.w3.eth.block_number if to_block is None else to_block
        self._tx_cache: dict[str, AnchorTx] = {}

    def refresh(self) -> int:
        """Move `to_block` to the chain's latest block (for following new events)."""
        self.to_block = self.w3.eth.block_number
        return self.to_block

    @property
    def feeds(self) -> Contract:
        return self.chain.feeds

    @property
    def spec(self) -> Contract:
        return self.chain.spec

    @property
    def auth(self) -> Contract:
        return self.chain.auth

    @cached_property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    # ---- sensor feeds --------------------------------------------------------------------

    def anchors(self, feed_id: int, seq: int | None = None, from_block: int | None = None,
                to_block: int | None = None) -> list[AnchorRecord]:
        """`Anchored` events of a feed (or of one batch), in log order."""
        topics: list[Any] = [ANCHORED, word(feed_id)]
        if seq is not None:
            topics.append(word(seq))
        logs = self.reader.logs(self.feeds.address, topics, self.from_block if from_block is None else from_block,
                                self.to_block if to_block is None else to_block)
        return [decode_anchored(log) for log in logs]

    def feed_state(self, feed_id: int, block: BlockIdentifier | None = None) -> FeedState:
        v = self.feeds.functions.feed(feed_id).call(block_identifier=self.to_block if block is None else block)
        return FeedState(feed_id=feed_id, twin=int(v[0]), component=bytes(v[1]), device_key=to_checksum_address(v[2]),
                         next_seq=int(v[3]), head=bytes(v[4]), status=FEED_STATUS.get(int(v[5]), str(v[5])),
                         schema_cid=bytes(v[6]), successor=int(v[7]))

    def feed_count(self) -> int:
        return int(self.feeds.functions.feedCount().call(block_identifier=self.to_block))

    def require_feed(self, feed_id: int) -> None:
        """Raises `NotFound` unless `feed_id` is registered (feed ids are 1..feedCount)."""
        count = self.feed_count()
        if not 1 <= feed_id <= count:
            raise NotFound(f"FeedNotFound: there is no feed {feed_id} on this chain ({_known(count, 'feeds')}); "
                           "`twinledger feed list` shows them")

    def require_twin(self, twin: int) -> None:
        """Raises `NotFound` unless `twin` exists."""
        if not contracts.twin_exists(self.chain, twin, self.to_block):
            raise NotFound(f"TwinNotFound: there is no twin {twin} on this chain ({_known(self.twin_count(), 'twins')}); "
                           "`twinledger twin list` shows them")

    def key_history(self, feed_id: int) -> list[KeyChange]:
        """The feed's device keys in order: registration, then every rotation."""
        return self._key_changes([[FEED_REGISTERED, KEY_ROTATED], word(feed_id)]).get(feed_id, [])

    def key_histories(self) -> dict[int, list[KeyChange]]:
        """`key_history` of every feed registered in the range, from one log query (not one per feed)."""
        return self._key_changes([[FEED_REGISTERED, KEY_ROTATED]])

    def _key_changes(self, topics: list[Any]) -> dict[int, list[KeyChange]]:
        changes: dict[int, list[KeyChange]] = {}
        for log in self.reader.logs(self.feeds.address, topics, self.from_block, self.to_block):
            feed_id = int.from_bytes(log["topics"][1], "big")
            tx = HexBytes(log["transactionHash"]).to_0x_hex()
            if log["topics"][0] == FEED_REGISTERED:
                key = to_checksum_address(bytes(log["data"])[12:32])
                change = KeyChange(feed_id, key, None, log["blockNumber"], log["logIndex"], tx)
            else:
                old = to_checksum_address(bytes(log["topics"][2])[12:])
                new = to_checksum_address(bytes(log["topics"][3])[12:])
                change = KeyChange(feed_id, new, old, log["blockNumber"], log["logIndex"], tx)
            changes.setdefault(feed_id, []).append(change)
        return {feed: sorted(found, key=lambda c: c.position) for feed, found in changes.items()}

    def feeds_of_twin(self, twin: int) -> list[int]:
        """Every feed ever registered for `twin` (retired ones too), by id."""
        logs = self.reader.logs(self.feeds.address, [FEED_REGISTERED, None, word(twin)], self.from_block,
                                self.to_block)
        return sorted({int.from_bytes(log["topics"][1], "big") for log in logs})

    def retirements(self, feed_ids: Iterable[int]) -> dict[int, int]:
        """feed -> successor (0: none) from `FeedRetired` events."""
        ids = [word(f) for f in feed_ids]
        if not ids:
            return {}
        out: dict[int, int] = {}
        for log in self.reader.logs(self.feeds.address, [FEED_RETIRED, ids], self.from_block, self.to_block):
            out[int.from_bytes(log["topics"][1], "big")] = int.from_bytes(log["topics"][2], "big")
        return out

    def anchor_tx(self, tx_hash: str) -> AnchorTx:
        """The anchoring transaction, decoded (cached: one `anchorMany` covers many anchors)."""
        cached = self._tx_cache.get(tx_hash)
        if cached is not None:
            return cached
        tx = self.w3.eth.get_transaction(HexStr(tx_hash))
        to = tx.get("to")
        calls = decode_anchor_input(bytes(tx["input"])) if to and to.lower() == self.feeds.address.lower() else ()
        result = AnchorTx(tx_hash, to_checksum_address(tx["from"]), to, calls)
        self._tx_cache[tx_hash] = result
        return result

    def can(self, twin: int, account: str, permission: int, component: bytes, block: int) -> bool:
        return contracts.can(self.chain, twin, account, permission, component, block)

    def verify_batch(self, anchor: AnchorRecord, prev_head: bytes) -> bool:
        """`SensorFeed.verifyBatch`: the head the contract stored for this seq commits to the event's header."""
        return contracts.verify_batch(self.chain, anchor.feed_id, anchor.seq, _header(anchor, prev_head), self.to_block)

    def verify_reading(self, anchor: AnchorRecord, prev_head: bytes, reading_hash: bytes, proof: list[bytes]) -> bool:
        """`SensorFeed.verifyReading`: the contract's own check of a reading (its hash) and its Merkle proof."""
        return contracts.verify_reading(self.chain, anchor.feed_id, anchor.seq, _header(anchor, prev_head),
                                        reading_hash, proof, self.to_block)

    def component(self, twin: int, component: bytes,
                  block: BlockIdentifier | None = None) -> contracts.ComponentRecord:
        return contracts.component(self.chain, twin, component, self.to_block if block is None else block)

    # ---- twins, documents, specification -------------------------------------------------

    def twin_info(self, twin: int) -> dict[str, Any]:
        name, device_id, phase, parent, created_at, spec_count = self.spec.functions.twinInfo(twin).call(
            block_identifier=self.to_block)
        return {"name": name, "device_id": bytes(device_id), "phase": PHASES.get(int(phase), str(phase)),
                "parent": int(parent), "created_at": int(created_at), "spec_versions": int(spec_count)}

    def twin_count(self) -> int:
        return int(self.spec.functions.twinCount().call(block_identifier=self.to_block))

    def spec_versions(self, twin: int) -> list[StoredVersion]:
        count = int(self.spec.functions.specVersionCount(twin).call(block_identifier=self.to_block))
        return [self._version(self.spec.functions.specVersion(twin, i), i) for i in range(count)]

    def documents_of_twin(self, twin: int) -> list[int]:
        return sorted({int(e.args["docId"]) for e in self.events("Specification", "DocumentAdded", twin=twin)})

    def document(self, doc_id: int) -> dict[str, Any]:
        twin, component, name, count, archived, created = self.spec.functions.document(doc_id).call(
            block_identifier=self.to_block)
        return {"twin": int(twin), "component": bytes(component), "name": name, "versions": int(count),
                "archived": bool(archived), "created_at": int(created)}

    def document_versions(self, doc_id: int, count: int) -> list[StoredVersion]:
        return [self._version(self.spec.functions.documentVersion(doc_id, i), i) for i in range(count)]

    def _version(self, fn: Any, index: int) -> StoredVersion:
        cid, codec, digest, author, time = fn.call(block_identifier=self.to_block)
        return StoredVersion(index, bytes(cid), int(codec), bytes(digest), to_checksum_address(author), int(time))

    # ---- generic events ------------------------------------------------------------------

    @cached_property
    def _contracts(self) -> dict[str, Contract]:
        return {"Authorization": self.auth, "Specification": self.spec, "SensorFeed": self.feeds}

    @cached_property
    def _event_abis(self) -> dict[tuple[str, bytes], dict[str, Any]]:
        """(contract, topic0) -> event ABI entry. Keyed by signature: names are overloaded (OpenZeppelin's
        `RoleGranted(bytes32,address,address)` next to the twin-scoped one)."""
        out: dict[tuple[str, bytes], dict[str, Any]] = {}
        for cname, contract in self._contracts.items():
            for entry in event_abis(contract):
                if not entry.get("anonymous"):
                    sig = f"{entry['name']}({','.join(abi_type(i) for i in entry['inputs'])})"
                    out[(cname, bytes(topic(sig)))] = entry
        return out

    def topic_of(self, contract: str, event: str) -> HexBytes:
        for (cname, t), entry in self._event_abis.items():
            if cname == contract and entry["name"] == event:
                return HexBytes(t)
        raise KeyError(f"{contract} has no event {event}")

    def decode(self, contract: str, log: Any) -> LedgerEvent | None:
        entry = self._event_abis.get((contract, bytes(log["topics"][0])))
        if entry is None:
            return None
        try:
            args = decode_log(entry, log, checksum=False).args
        except Exception:  # noqa: BLE001 - an undecodable log is skipped, never fatal
            return None
        return LedgerEvent(contract, entry["name"], args, int(log["blockNumber"]), int(log["logIndex"]),
                           HexBytes(log["transactionHash"]).to_0x_hex())

    def events(self, contract: str, name: str | None = None, *, twin: int | None = None, twin_topic: int = 1,
               from_block: int | None = None, to_block: int | None = None,
               extra_topics: Sequence[Any] = ()) -> list[LedgerEvent]:
        """Decoded events of one contract, optionally of one name and one twin (its indexed position)."""
        topics: list[Any] = [self.topic_of(contract, name) if name else None]
        if twin is not None:
            topics += [None] * (twin_topic - 1) + [word(twin)]
        topics += list(extra_topics)
        while topics and topics[-1] is None:
            topics.pop()
        address = self._contracts[contract].address
        out = []
        for log in self.reader.logs(address, topics, self.from_block if from_block is None else from_block,
                                    self.to_block if to_block is None else to_block):
            ev = self.decode(contract, log)
            if ev is not None:
                out.append(ev)
        return out

    def twin_events(self, twin: int, from_block: int | None = None, to_block: int | None = None) -> list[LedgerEvent]:
        """Every event about `twin` but its anchors, in chain order, up to this ledger's block."""
        reader = EventReader(self.chain, from_block=self.from_block if from_block is None else from_block,
                             to_block=self.to_block if to_block is None else to_block)
        return reader.twin_events(twin, anchors=False)

    def block_time(self, block: int) -> int:
        """Unix seconds of a block (cached)."""
        return self.chain.block_time(block)

    def block_datetime(self, block: int) -> datetime:
        return datetime.fromtimestamp(self.block_time(block), tz=timezone.utc)


def _header(a: AnchorRecord, prev_head: bytes) -> contracts.BatchHeader:
    """`ISensorFeedProofs.BatchHeader` of an anchored batch."""
    return (prev_head, a.root, a.cid_digest, a.count, a.t_first, a.t_last)
