"""Storage and anchoring: closed batches go from the outbox to IPFS and then to `SensorFeed`.

Each feed's on-chain `nextSeq` and head are read from the chain, and cached only while anchoring
succeeds. Any failure, revert, dropped transaction or reorganisation drops the cached entry, so the
next round re-reads the chain. A crash, a dropped transaction and a reorganisation are therefore all
repaired the same way: whatever is not on-chain yet is (re)submitted, byte for byte as claimed, and
whatever already is on-chain is marked as such. The contract refuses a seq it has already seen, so
no batch can be anchored twice.

Several transactions are in flight at once (up to `max_in_flight`): a round polls the receipts of
those sent before, then sends the next batches at the next local nonce, chaining each feed's head
on the one its in-flight transaction will produce; it never waits for a receipt. A transaction not
mined `receipt_timeout` after it was (re)broadcast is replaced at the same nonce with higher fees,
which also resubmits one the pool dropped; nonces below those in flight that no transaction holds any
more (a reorganisation removed it and the node did not keep it) are used up by empty transfers, so the
ones above can be mined. One that reverted, or whose nonce another transaction
took, sends its batches back to `stored`; its feeds wait until nothing of theirs is in flight and
are then re-read from the chain. Transaction sizes follow the chain: at most a quarter of the block
gas limit each, and on a chain with a block time a partly filled transaction is sent at most every
eighth of a block; `suggested_window` sizes the batcher's window to what the chain can carry.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import groupby
from typing import Callable, Iterator, Sequence

import structlog

from ..chain.connection import TwinLedgerChain
from ..chain.errors import ContractRevert
from .batcher import BlockCuts
from .inflight import AnchorStats, BatchStorer, BlockClock, InFlight, InFlightTxs, Sealer, found_on_chain
from .outbox import BatchRecord, BatchState, Outbox
from .publish import PreparedAnchor, prepare_chain
from ..ledger import contracts

log = structlog.get_logger(__name__)

OPEN_STATES = (BatchState.PENDING, BatchState.STORED, BatchState.SUBMITTED, BatchState.ANCHORED)
# Reverts that waiting cannot cure: the batches stay in the outbox until an operator acts.
PERMANENT_REVERTS = {"Unauthorized", "FeedIsRetired", "TwinFrozen", "UnknownFeed", "WrongSigner", "FeedIsPaused",
                     "EnforcedPause"}


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


DEFAULT_GAS_PER_ITEM = 60_000  # until a receipt says better (device-signed anchorMany is ~49k)
TX_GAS_SHARE = 0.25  # one transaction takes at most this share of a block
WINDOW_GAS_SHARE = 0.8  # suggested_window leaves this much of each block to the agent


class Anchorer:
    """Moves batches pending → stored → submitted → anchored → confirmed, several transactions in flight."""

    def __init__(self, outbox: Outbox, store, chain: TwinLedgerChain, device_keys: dict[int, bytes | None], *,
                 max_items: int = 64, receipt_timeout: float = 30.0,
                 on_anchored: Callable[[AnchoredBatch], None] | None = None, sealer: Sealer | None = None,
                 max_in_flight: int = 8, block_time: float | None = None) -> None:
        self.outbox = outbox
        self.store = store
        self.chain = chain
        self.device_keys = device_keys
        self.max_items = max_items
        self.receipt_timeout = receipt_timeout
        self.on_anchored = on_anchored
        self.sealer = sealer  # None: batches are stored as they are
        self.max_in_flight = max(1, max_in_flight)
        self._block_clock = BlockClock(chain.sender, block_time)  # None: measured from the chain
        self.cuts: BlockCuts | None = None  # per-feed anchors are not block-aligned (the gateway's are)
        self.stats = AnchorStats()
        self._tip: dict[int, tuple[int, bytes]] = {}  # feed -> (next seq, head) after our last tx for it
        self._flights = InFlightTxs(chain.sender, outbox, self.stats, receipt_timeout)
        self._last_send = 0.0
        self._gas_per_item = DEFAULT_GAS_PER_ITEM
        self._gas_limit: int | None = None
        self._storer = BatchStorer(outbox, store, sealer)

    # -- the round ---------------------------------------------------------------------------

    def run_once(self) -> int:
        """Do one round; returns how many batches it saw anchored. Raises on IPFS or chain trouble."""
        try:
            return self._round()
        except Exception:
            # whatever happened, trust only the chain next round, except for the heads our in-flight
            # transactions will produce (their batches are excluded until those settle)
            busy = self._busy_feeds()
            self._tip = {f: t for f, t in self._tip.items() if f in busy}
            raise

    def _round(self) -> int:
        done = self._poll()
        if self.chain.confirmations > 0:
            self._settle(list(self._records([BatchState.ANCHORED], self.max_items)))
        if len(self._flights) >= self.max_in_flight:
            return done
        cap = self.items_per_tx()
        busy = self._busy_feeds()
        records = [r for r in self._records([BatchState.PENDING, BatchState.STORED, BatchState.SUBMITTED], cap)
                   if r.feed not in self.stats.refused and (r.feed in self._tip or r.feed not in busy)]
        if not records or not self._time_to_send(len(records), cap):
            return done
        prepared = self._prepare(records)
        if not prepared:
            return done
        if self._submit(prepared):
            done += self._poll(force=True)  # on an automining chain the receipt is there already
        return done

    @property
    def in_flight(self) -> int:
        """Anchoring transactions sent and not yet mined (or given up)."""
        return len(self._flights)

    def pending(self) -> int:
        """Batches not yet confirmed (the outbox depth)."""
        return sum(1 for _ in self.outbox.batches(states=list(OPEN_STATES)))

    def unanchored(self) -> int:
        """Batches not yet on-chain; anchored ones only wait for confirmations, settled next round or start."""
        states = [BatchState.PENDING, BatchState.STORED, BatchState.SUBMITTED]
        return sum(1 for _ in self.outbox.batches(states=states))

    def _records(self, states: list[BatchState], limit: int) -> Iterator[BatchRecord]:
        """Up to `limit` of this agent's records in `states`, leaving out batches of transactions in flight."""
        taken = self._flights.taken()
        n = 0
        for record in self.outbox.batches(states=states):
            if record.feed not in self.device_keys:  # another config's batch in a shared outbox: not ours
                continue
            if (record.feed, record.seq) in taken:
                continue
            yield record
            n += 1
            if n >= limit:
                return

    def _busy_feeds(self) -> set[int]:
        return self._flights.busy_feeds()

    # -- sizing to the chain ---------------------------------------------------------------------

    def block_time(self) -> float:
        """Seconds between blocks (0: a block per transaction), given or measured over recent blocks."""
        return self._block_clock.seconds()

    def gas_limit(self) -> int:
        if self._gas_limit is None:
            self._gas_limit = int(self.chain.w3.eth.get_block("latest")["gasLimit"])
        return self._gas_limit

    def items_per_tx(self) -> int:
        """Batches one transaction carries: `max_items`, and no more than a quarter of a block's gas."""
        return max(1, min(self.max_items, int(self.gas_limit() * TX_GAS_SHARE / self._gas_per_item)))

    def suggested_window(self, feeds: int, window_s: float = 1.0) -> float:
        """The batch window (s) at which `feeds` feeds fit the chain: one batch per feed per window may use
        at most `WINDOW_GAS_SHARE` of each block's gas; never below `window_s`."""
        per_s = self.gas_limit() * WINDOW_GAS_SHARE / max(self.block_time(), 1.0)
        return max(window_s, feeds * self._gas_per_item / per_s)

    def _time_to_send(self, n: int, cap: int) -> bool:
        """A full transaction goes now; a partial one at most every eighth of a block (at once on automine)."""
        return n >= cap or time.monotonic() - self._last_send >= self.block_time() / 8

    # -- receipts ------------------------------------------------------------------------------

    def _poll(self, force: bool = False) -> int:
        """Settle in-flight transactions in nonce order: receipts, reverts, stuck or dropped ones."""
        if self._flights.overdue():
            self._fill_nonce_gap()
        done = 0
        for settled in self._flights.poll(force):
            if settled.ok:
                done += self._record_success(settled.flight.prepared, settled.receipt)
            else:
                self._give_up(settled.flight, settled.why or "reverted on-chain")
                if settled.why:  # another transaction took its nonce: our count is off
                    self.chain.sender.resync_nonce()
        return done

    def _fill_nonce_gap(self) -> None:
        """Nonces between the chain's and our lowest in flight belong to no transaction of ours any more (a
        reorganisation removed theirs and the node did not keep them): nothing of ours above them can be mined,
        however often it is bumped, until each is used, so each gets an empty transfer."""
        mined = self.chain.sender.mined_nonce()
        for nonce in range(mined, self._flights.lowest_nonce()):
            try:
                sent = self.chain.sender.cancel(nonce)
            except ValueError as exc:  # the node holds one there (e.g. one an earlier run sent)
                log.info("nonce below those in flight is taken, not filled", nonce=nonce, error=str(exc))
                continue
            self.stats.gap_fills += 1
            log.warning("nonce gap below transactions in flight filled", nonce=nonce, tx=sent.tx_hash)

    def _give_up(self, flight: InFlight, why: str) -> None:
        """Its batches go back to stored; their feeds are re-read from the chain once nothing is in flight."""
        log.warning("anchor transaction failed, will resubmit", tx=flight.sent.tx_hash, why=why)
        self.stats.last_error = why
        for _, anchor in flight.prepared:
            self._tip.pop(anchor.feed, None)
            record = self.outbox.get_batch(anchor.feed, anchor.seq)
            if record.state is BatchState.SUBMITTED:
                self.outbox.mark_dropped(anchor.feed, anchor.seq)
        if not self._flights:
            self.chain.sender.resync_nonce()

    # -- steps ---------------------------------------------------------------------------------

    def _settle(self, anchored: Sequence[BatchRecord]) -> None:
        """Confirm anchored batches once deep enough; a reorg that removed one sends it back."""
        tip = None
        next_of: dict[int, int] = {}
        for record in anchored:
            if record.feed not in next_of:
                next_of[record.feed] = contracts.next_seq_of(self.chain, record.feed)
            on_chain_next = next_of[record.feed]
            if on_chain_next <= record.seq:
                if record.feed in self._busy_feeds():
                    continue  # settled once its in-flight successors are
                log.warning("anchor gone after reorganisation, resubmitting", feed=record.feed, seq=record.seq)
                self.stats.undo(1, record.count)
                self._tip.pop(record.feed, None)
                self.outbox.reconcile(record.feed, on_chain_next)
                continue
            tip = self.chain.w3.eth.block_number if tip is None else tip  # once per round, not per batch
            depth = tip - (record.block or 0) + 1
            if record.block is None or depth >= max(self.chain.confirmations, 1):
                self.outbox.mark_confirmed(record.feed, record.seq)

    def _prepare(self, records: list[BatchRecord]) -> list[tuple[BatchRecord, PreparedAnchor]]:
        data = self.outbox.batch_data_many((r.feed, r.seq) for r in records)
        unread = sorted({r.feed for r in records} - self._tip.keys())
        if len(unread) > 1:  # the chain tips of a round's new feeds in one round trip (_chain_tip reads one)
            self._tip.update(contracts.tips_of(self.chain, unread))
        records = self._storer.store_all(records, data)
        prepared: list[tuple[BatchRecord, PreparedAnchor]] = []
        for feed, group in groupby(records, key=lambda r: r.feed):
            prepared.extend(self._prepare_feed(feed, list(group), data))
        return prepared

    def _chain_tip(self, feed: int) -> tuple[int, bytes]:
        if feed not in self._tip:
            functions = self.chain.feeds.functions
            self._tip[feed] = (functions.nextSeqOf(feed).call(), bytes(functions.headOf(feed).call()))
        return self._tip[feed]

    def _prepare_feed(self, feed: int, records: list[BatchRecord],
                      data: dict[tuple[int, int], bytes]) -> list[tuple[BatchRecord, PreparedAnchor]]:
        chained = feed in self._busy_feeds()  # the tip is what our in-flight transactions will leave
        next_seq, head = self._chain_tip(feed)
        if any(r.seq < next_seq for r in records):
            if not chained:
                # they made it (e.g. before a crash)
                found_on_chain(self.outbox, feed, next_seq, self.chain.confirmations)
            records = [r for r in records if r.seq >= next_seq]
        if not records:
            return []
        if records[0].seq != next_seq:
            if not chained:
                log.error("outbox is ahead of the chain with a gap", feed=feed, chain_next=next_seq,
                          first=records[0].seq)
            return []
        return prepare_chain(records, data, next_seq, head, self.device_keys.get(feed), self.chain.sender.chain_id,
                             self.chain.feeds.address)

    def _submit(self, prepared: list[tuple[BatchRecord, PreparedAnchor]]) -> bool:
        feeds = self.chain.feeds.functions
        if len(prepared) == 1:
            call = feeds.anchor(*prepared[0][1].anchor_args())
        else:
            call = feeds.anchorMany([p.as_input() for _, p in prepared])
        chained = bool(self._flights)
        try:
            sent = self.chain.sender.sign(call, estimate_on="pending" if chained else None)
        except ContractRevert as exc:
            for _, anchor in prepared:
                self._tip.pop(anchor.feed, None)
            self._handle_revert(exc, prepared)
            return False
        self._last_send = time.monotonic()
        # recorded as in flight before it can reach the node: if the broadcast fails half way (the node got it,
        # the answer was lost), its receipt still settles it, and a bump at its nonce resends one that never arrived
        self._flights.add(sent, prepared)
        for _, anchor in prepared:
            self._tip[anchor.feed] = (anchor.seq + 1, anchor.head)
        self.chain.sender.broadcast(sent)
        return True

    def _record_success(self, prepared: list[tuple[BatchRecord, PreparedAnchor]], receipt) -> int:
        now = time.time()
        gas_share = receipt["gasUsed"] // len(prepared)
        self._gas_per_item = max(gas_share + 2_000, self._gas_per_item * 3 // 4)  # follows the receipts
        self.stats.transactions += 1
        self.stats.gas += receipt["gasUsed"]
        self.outbox.move_many([(a.feed, a.seq, {"block": receipt["blockNumber"]}) for _, a in prepared],
                              BatchState.ANCHORED)
        if self.chain.confirmations <= 0:
            self.outbox.move_many([(a.feed, a.seq, {}) for _, a in prepared], BatchState.CONFIRMED)
        for record, anchor in prepared:
            self.stats.batches += 1
            self.stats.readings += anchor.count
            if self.on_anchored:
                self.on_anchored(AnchoredBatch(anchor.feed, anchor.seq, anchor.count, anchor.t_first, anchor.t_last,
                                               receipt["blockNumber"], gas_share, now))
        log.info("anchored", batches=len(prepared), readings=sum(p.count for _, p in prepared),
                 block=receipt["blockNumber"], gas=receipt["gasUsed"], in_flight=len(self._flights))
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
            report = found_on_chain(self.outbox, feed, contracts.next_seq_of(self.chain, feed),
                                    self.chain.confirmations)
            log.info("reconciled with chain", feed=feed, next_seq=report.next_seq,
                     found_on_chain=len(report.marked_anchored), reorged_out=len(report.reverted))
