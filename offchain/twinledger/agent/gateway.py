"""The gateway-aggregated anchorer (`anchoring: {mode: aggregated}`): the sealed batches of all feeds go into
windows, each window's content to IPFS and its root to `GatewayAnchors.anchorWindow` (docs/formats.md section 9).

It keeps the per-feed anchorer's guarantees with the same outbox states (pending -> stored -> submitted ->
anchored -> confirmed). Each feed's chain in this mode is the chain of its leaves in this gateway's windows, so
its tip (next seq, head) is derived from the chain (`chain_tips`: this gateway's `WindowAnchored` events and the
window contents they name). Every leaf carries the device's EIP-712 signature (a feed without a device key cannot
be aggregated: it is refused and its batches stay).

Several windows are in flight (up to `max_in_flight`, shared bookkeeping in agent/inflight.py). A round settles
the windows sent before in nonce order, then sends the next one at the next local nonce without waiting for a
receipt: its leaf for a feed chains on that feed's leaf in the latest window in flight (the tip is the chain's
tip extended by the windows in flight). A window is recorded as submitted under its hash before it is broadcast.
On a chain with a block time, windows are spaced so that about half of `max_in_flight` go per block, and just
before the next block is due one goes every few rounds, so a batch closed before a block is carried by it. Each
block also has a cut (`BlockCuts`): shortly before the block is due (by twice what the last cut took from the cut
to its broadcast, starting at a tenth of the block time), the batcher closes every open batch and this anchorer sends
them at once, so a reading waits for about one block, not a block plus its window plus the send spacing. The
block is due at the earliest of the recent blocks' times carried forward (a block is seen after it is mined).
Nothing on-chain refuses a second window of the same batches (as `SensorFeed` refuses a seq it has seen), so the
policy below makes sure a batch is never in two windows that can both be mined:

- stuck or dropped (no receipt `receipt_timeout` after its latest broadcast): the same window is sent again at
  its nonce with higher fees; no new window is sent until every replaced one is mined;
- mined, then gone in a reorganisation: the same signed transaction is broadcast again (same nonce, same
  window), and is in flight again;
- reverted, or its nonce taken by another transaction (its batches cannot be on-chain), and after any error in a
  round (IPFS or chain outage, a crash before this process started): the anchorer *recovers*. It sends no new
  window; the later windows in flight, whose leaves chain on the failed one, are replaced at their nonces by
  zero-value transfers (cancels), and so is anything of this account still waiting in the pool (e.g. windows
  sent before a crash); once nothing is in flight and the pool holds nothing of ours, the tips are re-read from
  the chain, whatever is in a window on-chain is marked anchored and the rest goes into the next windows, byte
  for byte as claimed. A window gas-estimated on top of the ones in flight reverts only if the gateway role was
  revoked meanwhile, which reverts the later ones too; one mined before its cancel could be is the single case
  that can leave leaves on-chain that extend no chain (window 1's nonce taken by another transaction of this
  key, window 2 mined behind it): `chain_tips` skips them, their batches go again into the next windows byte for
  byte, and verifiers count each such batch once, warning of the copy (REPEATED; it carries the same head and
  signature, so there is nothing to challenge).
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Any

import structlog

from ..chain.connection import TwinLedgerChain
from ..chain.errors import ContractRevert
from ..chain.logs import LogReader
from ..formats import cids
from ..formats.aggregate import Window, WindowLeaf, decode_window
from ..formats.headchain import GENESIS_HEAD
from ..ledger import gateway
from .anchorer import OPEN_STATES, AnchoredBatch
from .batcher import BlockCuts
from .inflight import AnchorStats, BatchStorer, BlockClock, InFlight, InFlightTxs, Sealer, found_on_chain
from .outbox import BatchRecord, BatchState, Outbox
from .publish import PreparedAnchor, prepare_chain

log = structlog.get_logger(__name__)

# The least lead of a block cut before the block is due: the batcher's tick (50 ms), the close, one round of
# this anchorer (store, sign, broadcast) and the node's own cut-off, when they are quick. The lead grows to
# twice what the last cuts took from the cut to the broadcast (at most a third of the block time).
CUT_LEAD_S = 0.25

Tip = tuple[int, bytes]  # (next seq, head) of a feed in this gateway's windows


def leaf_of(p: PreparedAnchor) -> WindowLeaf:
    """A prepared, device-signed batch as a window leaf."""
    return WindowLeaf(p.feed, p.seq, p.prev_head, p.root, p.cid_digest, p.count, p.t_first, p.t_last, p.signature)


def store_window(store: object, window: Window) -> tuple[str, bytes, int]:
    """The window's content on IPFS (a UnixFS file, CIDv1, raw leaves, pinned): (CID, digest, codec)."""
    cid = str(store.add_bytes(window.encode(), cid_version=1, raw_leaves=True, pin=True).cid)  # type: ignore[attr-defined]
    digest, codec = cids.pack(cid)
    return cid, digest, codec


def publish_window(chain: TwinLedgerChain, store: object, prepared: Sequence[PreparedAnchor]) -> tuple[int, Window]:
    """Stores and anchors one window of `prepared` batches in one transaction; returns (window id, window)."""
    window = Window([leaf_of(p) for p in prepared])
    _, digest, codec = store_window(store, window)
    receipt = chain.sender.transact(gateway.anchor_window(chain, window, digest, codec))
    return gateway.receipt_window_id(chain, receipt), window


def chain_tips(chain: TwinLedgerChain, store: object, gateway_address: str, from_block: int,
               to_block: int | None = None) -> dict[int, Tip]:
    """Each feed's tip in `gateway_address`'s windows on-chain (the leaves that extend its chain, in order)."""
    reader = LogReader(chain.w3)
    tips: dict[int, Tip] = {}
    end = chain.w3.eth.block_number if to_block is None else to_block
    for record in gateway.window_records(chain, reader, from_block, end):
        if record.gateway != gateway_address:
            continue
        window = decode_window(store.cat(cids.unpack(record.cid_digest, record.codec)))  # type: ignore[attr-defined]
        if window.root != record.root:
            continue  # not this gateway's content: nothing in it extends a chain
        for leaf in window.leaves:
            next_seq, head = tips.get(leaf.feed_id, (0, GENESIS_HEAD))
            if leaf.seq == next_seq and leaf.prev_head == head:
                tips[leaf.feed_id] = (next_seq + 1, leaf.head())
    return tips


class WindowAnchorer:
    """Moves the batches of every feed through the outbox states, one window (one transaction) at a time, several
    in flight. Same interface as `Anchorer`, so the daemon drives either."""

    def __init__(self, outbox: Outbox, store: object, chain: TwinLedgerChain, device_keys: dict[int, bytes | None],
                 *, max_items: int = 10_000, receipt_timeout: float = 30.0,
                 on_anchored: Callable[[AnchoredBatch], None] | None = None, sealer: Sealer | None = None,
                 max_in_flight: int = 8, block_time: float | None = None) -> None:
        self.outbox = outbox
        self.store = store
        self.chain = chain
        self.device_keys = device_keys
        self.max_items = max_items
        self.receipt_timeout = receipt_timeout
        self.on_anchored = on_anchored
        self.max_in_flight = max(1, max_in_flight)
        self._block_clock = BlockClock(chain.sender, block_time)  # None: measured from the chain
        self.stats = AnchorStats()
        self._tips: dict[int, Tip] | None = None  # on-chain, extended by the windows in flight; None: re-read
        self._flights = InFlightTxs(chain.sender, outbox, self.stats, receipt_timeout)
        self._mined: dict[int, tuple[InFlight, int, int]] = {}  # nonce -> (window, block, gas) until confirmed
        self._recovering = True  # at start: whatever a previous run left in flight is settled first
        self._cancel_factor: dict[int, float] = {}  # nonce -> fee factor of the next cancel there
        self._storer = BatchStorer(outbox, store, sealer)
        self._last_send = 0.0
        self._last_round = 0.0
        self._round_gap = 0.05  # seconds between rounds, smoothed
        self._block_seen = (-1, 0.0)  # (latest block number, monotonic time it was first seen)
        self.cuts = BlockCuts()  # the batcher closes every feed's batch just before a block is due
        self._cut_lead = max(CUT_LEAD_S, (block_time or 0.0) / 10)  # how long before the block is due the cut falls
        self._cut_sent = 0.0  # the latest cut whose batches were sent
        self._seen: deque[tuple[int, float]] = deque(maxlen=8)  # (block, monotonic time first seen), latest last

    def run_once(self) -> int:
        """One round; returns how many batches it saw anchored. Raises on IPFS or chain trouble."""
        try:
            return self._round()
        except Exception:
            self._recovering = True
            raise

    @property
    def in_flight(self) -> int:
        """Window transactions sent and not yet mined (or given up)."""
        return len(self._flights)

    def pending(self) -> int:
        return sum(1 for _ in self.outbox.batches(states=list(OPEN_STATES)))

    def unanchored(self) -> int:
        states = [BatchState.PENDING, BatchState.STORED, BatchState.SUBMITTED]
        return sum(1 for _ in self.outbox.batches(states=states))

    def suggested_window(self, feeds: int, window_s: float = 1.0) -> float:
        """One window transaction (about 78k gas) whatever the number of feeds: the configured window always
        fits the chain."""
        return window_s

    def block_time(self) -> float:
        return self._block_clock.seconds()

    def reconcile_all(self, feeds: Sequence[int]) -> None:
        """At start: align the outbox with this gateway's windows for every configured feed."""
        tips = chain_tips(self.chain, self.store, self.chain.sender.address, self.chain.deployment.block)
        for feed in feeds:
            report = found_on_chain(self.outbox, feed, tips.get(feed, (0, GENESIS_HEAD))[0], self.chain.confirmations)
            log.info("reconciled with windows", feed=feed, next_seq=report.next_seq,
                     found_on_chain=len(report.marked_anchored), reorged_out=len(report.reverted))

    # -- the round -----------------------------------------------------------------------------

    def _round(self) -> int:
        if self.chain.confirmations > 0:
            self._settle()  # first: a window gone in a reorganisation is in flight again for the poll
        self._observe_round()
        done = self._poll()
        if self._recovering and not self._recover():
            return done
        if len(self._flights) >= self.max_in_flight or self._flights.bumped():
            return done
        taken = self._flights.taken()
        cut_closed = self.cuts.closed  # read first: every batch of that cut is among the records read next
        records = []
        for record in self.outbox.batches(states=[BatchState.PENDING, BatchState.STORED, BatchState.SUBMITTED]):
            if record.feed in self.stats.refused or (record.feed, record.seq) in taken:
                continue
            if record.state is BatchState.SUBMITTED:  # sent, but not by a window this process tracks
                self._recovering = True
                return done
            records.append(record)
            if len(records) >= self.max_items:
                break
        if not records:
            return done
        if not self._time_to_send(len(records), cut_closed):
            self._store(records)  # ahead of the send: a cut's round then stores only what the cut closed
            return done
        records = self._store(records)
        data = self.outbox.batch_data_many((r.feed, r.seq) for r in records if r.root is None)
        prepared: list[tuple[BatchRecord, PreparedAnchor]] = []
        for feed, group in groupby(records, key=lambda r: r.feed):
            prepared.extend(self._prepare_feed(feed, list(group), data))
        if prepared and self._submit(prepared, cut_closed):
            done += self._poll(force=True)  # on an automining chain the receipt is there already
        return done

    def _store(self, records: list[BatchRecord]) -> list[BatchRecord]:
        """`records`, each batch of a feed with a device key on IPFS (those without a CID stored now)."""
        new = [r for r in records if r.cid is None]
        data = self.outbox.batch_data_many((r.feed, r.seq) for r in new)
        return self._storer.store_all(records, data, lambda r: self.device_keys.get(r.feed) is not None)

    def _observe_round(self) -> None:
        """The time between rounds (smoothed) and when the current block was first seen."""
        now = time.monotonic()
        if self._last_round:
            self._round_gap = 0.8 * self._round_gap + 0.2 * (now - self._last_round)
        self._last_round = now
        block_time = self.block_time()
        if block_time > 0:
            block = self.chain.w3.eth.block_number
            if block != self._block_seen[0]:  # one cut per block, before the next one is due
                self._block_seen = (block, now)
                self._seen.append((block, now))
                self.cuts.next = self._next_block_due(block, block_time) - self._cut_lead
        else:
            self.cuts.next = None

    def _next_block_due(self, block: int, block_time: float) -> float:
        """When block `block + 1` is due: a block is seen some time after it was mined (up to a round later), never
        before, so the earliest of the recent blocks' times carried forward at the block time is the best guess."""
        return min(seen + (block + 1 - number) * block_time for number, seen in self._seen)

    def _time_to_send(self, n: int, cut_closed: float) -> bool:
        """A full window goes now, and any window on automine. Otherwise windows are spaced so that about half
        of `max_in_flight` go per block, and in the last moments before the next block is due (a few rounds)
        one goes every few rounds: a batch closed before a block is in it unless it closed in the last round."""
        block_time = self.block_time()
        if n >= self.max_items or block_time <= 0 or cut_closed > self._cut_sent:
            return True  # full, automine, or the batcher has just closed a block cut's batches
        now = time.monotonic()
        since = now - self._last_send
        if since >= 2 * block_time / self.max_in_flight:
            return True
        zone = min(max(3 * self._round_gap, 0.1), block_time / 4)
        return self._block_seen[1] + block_time - now <= zone and since >= zone / 3

    def _tips_now(self) -> dict[int, Tip]:
        if self._tips is None:
            self._tips = chain_tips(self.chain, self.store, self.chain.sender.address, self.chain.deployment.block)
        return self._tips

    def _prepare_feed(self, feed: int, records: list[BatchRecord],
                      data: dict[tuple[int, int], bytes]) -> list[tuple[BatchRecord, PreparedAnchor]]:
        key = self.device_keys.get(feed)
        if key is None:
            self.stats.refused[feed] = "NoDeviceKey"
            log.error("a feed without a device key cannot be aggregated; batches kept in the outbox", feed=feed)
            return []
        next_seq, head = self._tips_now().get(feed, (0, GENESIS_HEAD))
        chained = feed in self._flights.busy_feeds()  # the tip is what our windows in flight will leave
        if any(r.seq < next_seq for r in records):
            if not chained:
                found_on_chain(self.outbox, feed, next_seq, self.chain.confirmations)  # already in a window
            records = [r for r in records if r.seq >= next_seq]
        if not records:
            return []
        if records[0].seq != next_seq:
            log.error("outbox is ahead of the windows with a gap", feed=feed, next=next_seq, first=records[0].seq)
            return []
        return prepare_chain(records, data, next_seq, head, key, self.chain.sender.chain_id,
                             self.chain.feeds.address)

    def _submit(self, prepared: list[tuple[BatchRecord, PreparedAnchor]], cut_closed: float = 0.0) -> bool:
        window = Window([leaf_of(p) for _, p in prepared])
        _, digest, codec = store_window(self.store, window)
        try:
            sent = self.chain.sender.sign(gateway.anchor_window(self.chain, window, digest, codec),
                                          estimate_on="pending" if self._flights else None)
        except ContractRevert as exc:
            self._recovering = True
            self.stats.last_error = str(exc)
            log.error("window refused; batches kept in the outbox", error=str(exc))
            return False
        self._last_send = time.monotonic()
        if cut_closed > self._cut_sent:  # the cut's window: lead the next cuts by what this one took
            self._cut_sent = cut_closed
            took = self._last_send - self._cut_sent  # a cut sent late misses its block: grow at once, shrink slowly
            wanted = 2 * took + 2 * self._round_gap
            self._cut_lead = min(max(CUT_LEAD_S, wanted, 0.8 * self._cut_lead + 0.2 * wanted), self.block_time() / 3)
        flight = self._flights.add(sent, prepared)  # recorded as submitted before it can reach the node
        tips = self._tips_now()
        for _, p in prepared:
            tips[p.feed] = (p.seq + 1, p.head)
        try:
            self.chain.sender.broadcast(sent)
        except Exception:
            flight.sent_at = float("-inf")  # it may or may not have reached the node: sent again at once
            raise
        return True

    # -- receipts --------------------------------------------------------------------------------

    def _poll(self, force: bool = False) -> int:
        done = 0
        for settled in self._flights.poll(force):
            if not settled.flight.prepared:
                continue  # a cancel
            if settled.ok:
                done += self._record_success(settled.nonce, settled.flight, settled.receipt)
            else:
                self._give_up(settled.flight, settled.why or "reverted on-chain")
        return done

    def _give_up(self, flight: InFlight, why: str) -> None:
        """The window's batches are not on-chain: they go back to stored, every later window in flight (whose
        leaves chain on this one's) is cancelled, and the anchorer recovers."""
        log.warning("window transaction failed, recovering", tx=flight.sent.tx_hash, why=why)
        self.stats.last_error = why
        self._send_back(flight)
        for nonce in sorted(n for n, f in self._flights.txs.items() if f.prepared and n > flight.sent.nonce):
            self._cancel(nonce, self._flights.txs[nonce])
        self._recovering = True

    def _send_back(self, flight: InFlight) -> None:
        for _, p in flight.prepared:
            if self.outbox.get_batch(p.feed, p.seq).state is BatchState.SUBMITTED:
                self.outbox.mark_dropped(p.feed, p.seq)

    def _cancel(self, nonce: int, flight: InFlight | None) -> None:
        """Replace what waits at `nonce` (our window `flight`, or something of ours we do not track) by a
        zero-value transfer; if the window is mined first, recovery finds its batches on-chain."""
        factor = self._cancel_factor.get(nonce, 1.25 if flight is not None else 3.0)
        try:
            cancel = self.chain.sender.cancel(nonce, above=flight.sent if flight is not None else None, factor=factor)
        except ValueError as exc:  # mined meanwhile ("nonce too low"), or priced too low: dearer next round
            self._cancel_factor[nonce] = factor * 2
            log.warning("could not cancel a transaction in flight, will retry", nonce=nonce, error=str(exc))
            return
        log.warning("cancelled a transaction in flight", nonce=nonce, window=flight.sent.tx_hash if flight else None)
        if flight is not None:
            del self._flights.txs[nonce]
            self._send_back(flight)
        self._flights.add(cancel, [])

    def _record_success(self, nonce: int, flight: InFlight, receipt: Any) -> int:
        prepared = flight.prepared
        now = time.time()
        block, gas_used = int(receipt["blockNumber"]), int(receipt["gasUsed"])
        self.stats.transactions += 1
        self.stats.gas += gas_used
        self.outbox.move_many([(p.feed, p.seq, {"block": block}) for _, p in prepared], BatchState.ANCHORED)
        if self.chain.confirmations <= 0:
            self.outbox.move_many([(p.feed, p.seq, {}) for _, p in prepared], BatchState.CONFIRMED)
        else:
            self._mined[nonce] = (flight, block, gas_used)
        for _, p in prepared:
            self.stats.batches += 1
            self.stats.readings += p.count
            if self.on_anchored:
                self.on_anchored(AnchoredBatch(p.feed, p.seq, p.count, p.t_first, p.t_last, block,
                                               gas_used // len(prepared), now))
        log.info("window anchored", batches=len(prepared), readings=sum(p.count for _, p in prepared),
                 block=block, gas=gas_used, in_flight=len(self._flights))
        return len(prepared)

    # -- confirmations and reorganisations -------------------------------------------------------------------

    def _settle(self) -> None:
        """Confirm the batches of mined windows once deep enough. A window gone in a reorganisation is broadcast
        again as it was; one this process did not send (mined before a restart) makes the anchorer recover."""
        tip = self.chain.w3.eth.block_number
        for nonce, (flight, _block, gas_used) in sorted(self._mined.items()):
            receipt = self._flights.receipt_of(flight)
            if receipt is None or not self.chain.sender.is_canonical(receipt):
                del self._mined[nonce]
                self.stats.undo(len(flight.prepared), sum(p.count for _, p in flight.prepared), transactions=1,
                                gas=gas_used)
                log.warning("window gone after reorganisation, broadcasting it again", tx=flight.sent.tx_hash,
                            nonce=nonce)
                self.chain.sender.rebroadcast(flight.sent)
                self._flights.add(flight.sent, flight.prepared)
            elif tip - int(receipt["blockNumber"]) + 1 >= self.chain.confirmations:
                del self._mined[nonce]
                self.outbox.move_many([(p.feed, p.seq, {}) for _, p in flight.prepared], BatchState.CONFIRMED)
        mine = {(p.feed, p.seq) for f, _, _ in self._mined.values() for _, p in f.prepared} | self._flights.taken()
        for record in self.outbox.batches(states=[BatchState.ANCHORED]):
            if (record.feed, record.seq) in mine:
                continue
            if record.txhash is None or not self._still_mined(record):
                self._recovering = True  # found on-chain by a reconcile, or mined before a restart, and gone
                return
            if record.block is None or tip - record.block + 1 >= self.chain.confirmations:
                self.outbox.mark_confirmed(record.feed, record.seq)

    def _still_mined(self, record: BatchRecord) -> bool:
        receipt = self.chain.sender.receipt(record.txhash)  # type: ignore[arg-type]
        return receipt is not None and (record.block is None or int(receipt["blockNumber"]) == record.block)

    # -- recovery --------------------------------------------------------------------------------

    def _recover(self) -> bool:
        """Settle everything in flight (our windows as they come, anything else of ours in the pool cancelled),
        then re-read the tips from the chain and align the outbox; True once done, so the round may send."""
        sender = self.chain.sender
        mined = sender.mined_nonce()
        in_pool = int(self.chain.w3.eth.get_transaction_count(sender.address, "pending"))
        for nonce in range(mined, in_pool):
            if nonce not in self._flights.txs:
                self._cancel(nonce, None)
        if self._flights or in_pool > mined:
            return False
        self._mined.clear()
        self._cancel_factor.clear()
        self._tips = None
        tips = self._tips_now()
        sender.resync_nonce()
        feeds = sorted({r.feed for r in self.outbox.batches(states=list(OPEN_STATES))})
        for feed in feeds:
            found_on_chain(self.outbox, feed, tips.get(feed, (0, GENESIS_HEAD))[0], self.chain.confirmations)
        for r in list(self.outbox.batches(states=[BatchState.SUBMITTED])):
            self.outbox.mark_dropped(r.feed, r.seq)  # not on-chain, and nothing of ours can be mined any more
        self._recovering = False
        log.info("recovered: tips re-read from the chain", feeds=len(feeds))
        return True
