"""Storage and anchoring: closed batches go from the outbox to IPFS and then to `SensorFeed`.

Each feed's on-chain `nextSeq` and head are read from the chain, and cached only while anchoring
succeeds. Any failure, revert, dropped transaction or reorganisation drops the cached entry, so the
next round re-reads the chain. A crash, a dropped transaction and a reorganisation are therefore all
repaired the same way: whatever is not on-chain yet is (re)submitted, byte for byte as claimed, and
whatever already is on-chain is marked as such. The contract refuses a seq it has already seen, so
no batch can be anchored twice.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import groupby
from typing import Callable, Protocol, Sequence

import structlog

from ..chain.connection import TwinLedgerChain
from ..chain.errors import ChainError, ContractRevert
from ..formats.batch import decode_batch
from .outbox import BatchRecord, BatchState, Outbox
from .publish import PreparedAnchor, prepare_anchor, store_batch
from ..ledger import contracts

log = structlog.get_logger(__name__)

OPEN_STATES = (BatchState.PENDING, BatchState.STORED, BatchState.SUBMITTED, BatchState.ANCHORED)
# Reverts that waiting cannot cure: the batches stay in the outbox until an operator acts.
PERMANENT_REVERTS = {"Unauthorized", "FeedIsRetired", "TwinFrozen", "UnknownFeed", "WrongSigner", "FeedIsPaused",
                     "EnforcedPause"}


class Sealer(Protocol):
    """Turns a batch's encoded bytes into what is stored (agent/sealing.py's BatchSealer encrypts them)."""

    def seal(self, feed: int, seq: int, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class AnchoredBatch:
    feed: int
    seq: int
    count: int
    t_first: int
    t_last: int
    block: int
    gas_share: int
    anchored_at: float  # wall clock (time.time()) when the receipt was seen


@dataclass
class AnchorStats:
    batches: int = 0
    readings: int = 0
    transactions: int = 0
    gas: int = 0
    last_error: str | None = None
    refused: dict[int, str] = field(default_factory=dict)  # feed -> the custom error that refuses it


class Anchorer:
    """Moves batches pending → stored → submitted → anchored → confirmed, one transaction per round."""

    def __init__(self, outbox: Outbox, store, chain: TwinLedgerChain, device_keys: dict[int, bytes | None], *,
                 max_items: int = 64, receipt_timeout: float = 30.0,
                 on_anchored: Callable[[AnchoredBatch], None] | None = None, sealer: Sealer | None = None) -> None:
        self.outbox = outbox
        self.store = store
        self.chain = chain
        self.device_keys = device_keys
        self.max_items = max_items
        self.receipt_timeout = receipt_timeout
        self.on_anchored = on_anchored
        self.sealer = sealer  # None: batches are stored as they are
        self.stats = AnchorStats()
        self._tip: dict[int, tuple[int, bytes]] = {}  # feed -> (next seq, head) known to be on-chain

    # -- the round ---------------------------------------------------------------------------

    def run_once(self) -> int:
        """Do one round; returns how many batches it anchored. Raises on IPFS or chain trouble."""
        try:
            return self._round()
        except Exception:
            self._tip.clear()  # whatever happened, trust only the chain next round
            raise

    def _round(self) -> int:
        records = self._due(self.max_items)
        if not records:
            return 0
        self._settle(r for r in records if r.state is BatchState.ANCHORED)
        todo = [r for r in records if r.state is not BatchState.ANCHORED and r.feed not in self.stats.refused]
        prepared = self._prepare(todo)
        if not prepared:
            return 0
        return self._submit(prepared)

    def pending(self) -> int:
        """Batches not yet confirmed (the outbox depth)."""
        return sum(1 for _ in self.outbox.batches(states=list(OPEN_STATES)))

    def unanchored(self) -> int:
        """Batches not yet on-chain; anchored ones only wait for confirmations, settled next round or start."""
        states = [BatchState.PENDING, BatchState.STORED, BatchState.SUBMITTED]
        return sum(1 for _ in self.outbox.batches(states=states))

    def _due(self, limit: int) -> list[BatchRecord]:
        out = []
        for record in self.outbox.batches(states=list(OPEN_STATES)):
            if record.feed not in self.device_keys:  # another config's batch in a shared outbox: not ours
                continue
            out.append(record)
            if len(out) >= limit:
                break
        return out

    # -- steps ---------------------------------------------------------------------------------

    def _settle(self, anchored: Sequence[BatchRecord] | object) -> None:
        """Confirm anchored batches once deep enough; a reorg that removed one sends it back."""
        tip = None
        for record in anchored:  # type: ignore[union-attr]
            on_chain_next = contracts.next_seq_of(self.chain, record.feed)
            if on_chain_next <= record.seq:
                log.warning("anchor gone after reorganisation, resubmitting", feed=record.feed, seq=record.seq)
                self._tip.pop(record.feed, None)
                self.outbox.reconcile(record.feed, on_chain_next)
                continue
            tip = self.chain.w3.eth.block_number if tip is None else tip  # once per round, not per batch
            depth = tip - (record.block or 0) + 1
            if record.block is None or depth >= max(self.chain.confirmations, 1):
                self.outbox.mark_confirmed(record.feed, record.seq)

    def _prepare(self, records: list[BatchRecord]) -> list[tuple[BatchRecord, PreparedAnchor]]:
        prepared: list[tuple[BatchRecord, PreparedAnchor]] = []
        for feed, group in groupby(records, key=lambda r: r.feed):
            prepared.extend(self._prepare_feed(feed, list(group)))
        return prepared

    def _chain_tip(self, feed: int) -> tuple[int, bytes]:
        if feed not in self._tip:
            functions = self.chain.feeds.functions
            self._tip[feed] = (functions.nextSeqOf(feed).call(), bytes(functions.headOf(feed).call()))
        return self._tip[feed]

    def _prepare_feed(self, feed: int, records: list[BatchRecord]) -> list[tuple[BatchRecord, PreparedAnchor]]:
        next_seq, head = self._chain_tip(feed)
        if any(r.seq < next_seq for r in records):
            self.outbox.reconcile(feed, next_seq)  # they made it (e.g. before a crash)
            records = [r for r in records if r.seq >= next_seq]
        if not records:
            return []
        if records[0].seq != next_seq:
            log.error("outbox is ahead of the chain with a gap", feed=feed, chain_next=next_seq, first=records[0].seq)
            return []
        out = []
        for record in records:
            data = self.outbox.batch_data(feed, record.seq)
            cid = record.cid or self._store(record, data)
            anchor = prepare_anchor(decode_batch(data), cid, head, self.device_keys.get(feed),
                                    self.chain.sender.chain_id, self.chain.feeds.address)
            out.append((record, anchor))
            head = anchor.head
        return out

    def _store(self, record: BatchRecord, data: bytes) -> str:
        if self.sealer is not None:  # the CID is of what is stored; the root stays over the plaintext
            data = self.sealer.seal(record.feed, record.seq, data)
        cid = store_batch(self.store, data)
        self.outbox.mark_stored(record.feed, record.seq, cid)
        return cid

    def _submit(self, prepared: list[tuple[BatchRecord, PreparedAnchor]]) -> int:
        feeds = self.chain.feeds.functions
        if len(prepared) == 1:
            call = feeds.anchor(*prepared[0][1].anchor_args())
        else:
            call = feeds.anchorMany([p.as_input() for _, p in prepared])
        try:
            sent = self.chain.sender.submit(call)
        except ContractRevert as exc:
            self._tip.clear()
            self._handle_revert(exc, prepared)
            return 0
        for record, anchor in prepared:
            self.outbox.mark_submitted(anchor.feed, anchor.seq, sent.tx_hash, sent.nonce)
        try:
            receipt = self.chain.sender.wait(sent, timeout=self.receipt_timeout, confirmations=0)
        except ChainError as exc:  # not mined in time: dropped, or stuck behind a fee spike
            log.warning("anchor transaction not mined, will resubmit", tx=sent.tx_hash, error=str(exc))
            self.chain.sender.resync_nonce()
            self._tip.clear()
            for record, anchor in prepared:
                self.outbox.mark_dropped(anchor.feed, anchor.seq)
            return 0
        return self._record_success(prepared, receipt)

    def _record_success(self, prepared: list[tuple[BatchRecord, PreparedAnchor]], receipt) -> int:
        now = time.time()
        gas_share = receipt["gasUsed"] // len(prepared)
        self.stats.transactions += 1
        self.stats.gas += receipt["gasUsed"]
        for record, anchor in prepared:
            self._tip[anchor.feed] = (anchor.seq + 1, anchor.head)
            self.outbox.mark_anchored(anchor.feed, anchor.seq, receipt["blockNumber"])
            if self.chain.confirmations <= 0:
                self.outbox.mark_confirmed(anchor.feed, anchor.seq)
            self.stats.batches += 1
            self.stats.readings += anchor.count
            if self.on_anchored:
                self.on_anchored(AnchoredBatch(anchor.feed, anchor.seq, anchor.count, anchor.t_first, anchor.t_last,
                                               receipt["blockNumber"], gas_share, now))
        log.info("anchored", batches=len(prepared), readings=sum(p.count for _, p in prepared),
                 block=receipt["blockNumber"], gas=receipt["gasUsed"])
        return len(prepared)

    def _handle_revert(self, exc: ContractRevert, prepared: list[tuple[BatchRecord, PreparedAnchor]]) -> None:
        if exc.error_name == "SeqMismatch":  # someone (an earlier run of ours) got there first: re-read next round
            log.info("seq already moved on-chain, reconciling", error=str(exc))
            return
        if exc.error_name in PERMANENT_REVERTS:
            feed = int(exc.error_args.get("feedId", prepared[0][1].feed))
            self.stats.refused[feed] = exc.error_name
            log.error("anchoring refused; batches kept in the outbox", feed=feed, error=str(exc))
            return
        raise exc

    def reconcile_all(self, feeds: Sequence[int]) -> None:
        """At start: align the outbox with the chain for every configured feed."""
        for feed in feeds:
            report = self.outbox.reconcile(feed, contracts.next_seq_of(self.chain, feed))
            log.info("reconciled with chain", feed=feed, next_seq=report.next_seq,
                     found_on_chain=len(report.marked_anchored), reorged_out=len(report.reverted))
