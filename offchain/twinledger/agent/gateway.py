"""The gateway-aggregated anchorer (`anchoring: {mode: aggregated}`): the sealed batches of all feeds go into one
window per round, its content to IPFS and its root to `GatewayAnchors.anchorWindow` (docs/formats.md section 9).

It keeps the per-feed anchorer's guarantees with the same outbox states (pending -> stored -> submitted ->
anchored -> confirmed). Each feed's chain in this mode is the chain of its leaves in this gateway's windows, so
its tip (next seq, head) is re-derived from the chain exactly as the per-feed anchorer re-reads `nextSeq`: from
this gateway's `WindowAnchored` events and the window contents they name, cached only while anchoring succeeds.
After a crash, a dropped transaction or a reorganisation it is re-read, whatever is in a window on-chain is
marked anchored and the rest goes into the next window, byte for byte as claimed. Every leaf carries the device's
EIP-712 signature (a feed without a device key cannot be aggregated: it is refused and its batches stay).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from itertools import groupby

import structlog

from ..chain.connection import TwinLedgerChain
from ..chain.errors import ChainError, ContractRevert
from ..chain.logs import LogReader
from ..formats import cids
from ..formats.aggregate import Window, WindowLeaf, decode_window
from ..formats.headchain import GENESIS_HEAD
from ..ledger import gateway
from .anchorer import OPEN_STATES, STORE_THREADS, AnchoredBatch, AnchorStats, Sealer
from .outbox import BatchRecord, BatchState, Outbox
from .publish import PreparedAnchor, prepare_stored, store_batch

log = structlog.get_logger(__name__)

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
    """Moves the batches of every feed through the outbox states, one window (one transaction) per round.
    Same interface as `Anchorer`, so the daemon drives either."""

    def __init__(self, outbox: Outbox, store: object, chain: TwinLedgerChain, device_keys: dict[int, bytes | None],
                 *, max_items: int = 10_000, receipt_timeout: float = 30.0,
                 on_anchored: Callable[[AnchoredBatch], None] | None = None, sealer: Sealer | None = None) -> None:
        self.outbox = outbox
        self.store = store
        self.chain = chain
        self.device_keys = device_keys
        self.max_items = max_items
        self.receipt_timeout = receipt_timeout
        self.on_anchored = on_anchored
        self.sealer = sealer
        self.stats = AnchorStats()
        self._tips: dict[int, Tip] | None = None  # known to be on-chain; None: re-read the chain
        self._pool: ThreadPoolExecutor | None = None  # stores batches on IPFS in parallel

    def run_once(self) -> int:
        """One round; returns how many batches it anchored. Raises on IPFS or chain trouble."""
        try:
            return self._round()
        except Exception:
            self._tips = None
            raise

    def pending(self) -> int:
        return sum(1 for _ in self.outbox.batches(states=list(OPEN_STATES)))

    def unanchored(self) -> int:
        states = [BatchState.PENDING, BatchState.STORED, BatchState.SUBMITTED]
        return sum(1 for _ in self.outbox.batches(states=states))

    def suggested_window(self, feeds: int, window_s: float = 1.0) -> float:
        """One window transaction per round whatever the number of feeds (about 78k gas): the configured
        window always fits the chain."""
        return window_s

    def reconcile_all(self, feeds: Sequence[int]) -> None:
        """At start: align the outbox with this gateway's windows for every configured feed."""
        tips = self._chain_tips()
        for feed in feeds:
            report = self.outbox.reconcile(feed, tips.get(feed, (0, GENESIS_HEAD))[0])
            log.info("reconciled with windows", feed=feed, next_seq=report.next_seq,
                     found_on_chain=len(report.marked_anchored), reorged_out=len(report.reverted))

    # -- the round -----------------------------------------------------------------------------

    def _chain_tips(self) -> dict[int, Tip]:
        if self._tips is None:
            self._tips = chain_tips(self.chain, self.store, self.chain.sender.address, self.chain.deployment.block)
        return self._tips

    def _round(self) -> int:
        records = []
        for record in self.outbox.batches(states=list(OPEN_STATES)):
            records.append(record)
            if len(records) >= self.max_items:
                break
        if not records:
            return 0
        self._settle([r for r in records if r.state is BatchState.ANCHORED])
        if self._landed([r for r in records if r.state is BatchState.SUBMITTED]):
            return 0  # an earlier window was mined after all: its batches are marked, the rest go next round
        todo = [r for r in records if r.state is not BatchState.ANCHORED and r.feed not in self.stats.refused]
        data = {(r.feed, r.seq): self.outbox.batch_data(r.feed, r.seq) for r in todo}
        todo = self._store_all(todo, data)
        prepared: list[tuple[BatchRecord, PreparedAnchor]] = []
        for feed, group in groupby(todo, key=lambda r: r.feed):
            prepared.extend(self._prepare_feed(feed, list(group), data))
        return self._submit(prepared) if prepared else 0

    def _store_all(self, records: list[BatchRecord], data: dict[tuple[int, int], bytes]) -> list[BatchRecord]:
        """Store every batch of a feed with a device key that has no CID yet, several at once (each store waits
        on its own fsyncs), and record the CIDs in one commit, as the per-feed anchorer does; a crash before it
        only stores the same blocks again."""
        new = [r for r in records if r.cid is None and self.device_keys.get(r.feed) is not None]
        if not new:
            return records
        if len(new) == 1 or self.sealer is not None:  # a sealer may publish a key epoch: one at a time
            cids = [self._store(r, data[(r.feed, r.seq)]) for r in new]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=STORE_THREADS, thread_name_prefix="window-store")
            cids = list(self._pool.map(lambda r: self._store(r, data[(r.feed, r.seq)]), new))
        by_key = {(r.feed, r.seq): cid for r, cid in zip(new, cids)}
        self.outbox.move_many([(f, q, {"cid": cid}) for (f, q), cid in by_key.items()], BatchState.STORED)
        return [replace(r, cid=by_key[(r.feed, r.seq)], state=BatchState.STORED) if (r.feed, r.seq) in by_key
                else r for r in records]

    def _settle(self, anchored: list[BatchRecord]) -> None:
        """Confirm anchored batches once deep enough; a window gone in a reorganisation sends them back."""
        if not anchored:
            return
        gone = [r for r in anchored if r.txhash is None or not self._still_mined(r)]
        if gone:
            self._tips = None
            tips = self._chain_tips()
            for feed in sorted({r.feed for r in gone}):
                log.warning("window gone after reorganisation, resubmitting", feed=feed)
                self.outbox.reconcile(feed, tips.get(feed, (0, GENESIS_HEAD))[0])
        tip = self.chain.w3.eth.block_number
        for r in anchored:
            if r in gone:
                continue
            if r.block is None or tip - r.block + 1 >= max(self.chain.confirmations, 1):
                self.outbox.mark_confirmed(r.feed, r.seq)

    def _landed(self, submitted: list[BatchRecord]) -> bool:
        """Whether the window these batches were sent in has been mined (after a timeout or a crash); if so,
        the outbox is aligned with the chain's windows."""
        mined: set[str] = set()
        for h in {r.txhash for r in submitted if r.txhash is not None}:
            receipt = self.chain.sender.receipt(h)
            if receipt is not None:
                mined.add(h)
        if not mined:
            return False
        self._tips = None
        tips = self._chain_tips()
        for feed in sorted({r.feed for r in submitted if r.txhash in mined}):
            self.outbox.reconcile(feed, tips.get(feed, (0, GENESIS_HEAD))[0])
        for r in submitted:  # mined but not extending the chain (reverted, or not ours): send them again
            if r.txhash in mined and self.outbox.get_batch(r.feed, r.seq).state is BatchState.SUBMITTED:
                self.outbox.mark_dropped(r.feed, r.seq)
        log.info("an earlier window was mined after all", txs=sorted(mined))
        return True

    def _still_mined(self, record: BatchRecord) -> bool:
        try:
            receipt = self.chain.w3.eth.get_transaction_receipt(record.txhash)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - web3 raises TransactionNotFound (or a node error): not mined here
            return False
        return record.block is None or int(receipt["blockNumber"]) == record.block

    def _prepare_feed(self, feed: int, records: list[BatchRecord],
                      data: dict[tuple[int, int], bytes]) -> list[tuple[BatchRecord, PreparedAnchor]]:
        key = self.device_keys.get(feed)
        if key is None:
            self.stats.refused[feed] = "NoDeviceKey"
            log.error("a feed without a device key cannot be aggregated; batches kept in the outbox", feed=feed)
            return []
        next_seq, head = self._chain_tips().get(feed, (0, GENESIS_HEAD))
        if any(r.seq < next_seq for r in records):
            self.outbox.reconcile(feed, next_seq)  # already in a window (e.g. before a crash)
            records = [r for r in records if r.seq >= next_seq]
        if not records:
            return []
        if records[0].seq != next_seq:
            log.error("outbox is ahead of the windows with a gap", feed=feed, chain_next=next_seq,
                      first=records[0].seq)
            return []
        out = []
        for record in records:
            assert record.cid is not None  # _store_all gave every record of a keyed feed one
            anchor = prepare_stored(data[(feed, record.seq)], record.cid, head, key, self.chain.sender.chain_id,
                                    self.chain.feeds.address)
            out.append((record, anchor))
            head = anchor.head
        return out

    def _store(self, record: BatchRecord, data: bytes) -> str:
        if self.sealer is not None:  # the CID is of what is stored; the root stays over the plaintext
            data = self.sealer.seal(record.feed, record.seq, data)
        return store_batch(self.store, data)

    def _submit(self, prepared: list[tuple[BatchRecord, PreparedAnchor]]) -> int:
        window = Window([leaf_of(p) for _, p in prepared])
        _, digest, codec = store_window(self.store, window)
        try:
            sent = self.chain.sender.submit(gateway.anchor_window(self.chain, window, digest, codec),
                                            nonce=self._resubmit_nonce([r for r, _ in prepared]))
        except ContractRevert as exc:
            self._tips = None
            self.stats.last_error = str(exc)
            log.error("window refused; batches kept in the outbox", error=str(exc))
            return 0
        self.outbox.move_many([(p.feed, p.seq, {"txhash": sent.tx_hash, "nonce": sent.nonce}) for _, p in prepared],
                              BatchState.SUBMITTED)  # one commit for the window, not one per batch
        try:
            receipt = self.chain.sender.wait(sent, timeout=self.receipt_timeout, confirmations=0)
        except ChainError as exc:
            # Not mined in time: dropped, or stuck in the pool. The batches stay submitted with this nonce, so
            # the next window replaces this transaction (same nonce) instead of joining it; if it is mined
            # meanwhile, `_landed` finds it. Marking them dropped would let both reach the chain.
            log.warning("window transaction not mined, will replace it", tx=sent.tx_hash, error=str(exc))
            self.chain.sender.resync_nonce()
            self._tips = None
            return 0
        return self._record_success(prepared, receipt)

    def _resubmit_nonce(self, records: list[BatchRecord]) -> int | None:
        """The nonce of an earlier window of these batches that is not mined (e.g. sent just before a crash):
        the new window replaces it, so at most one of the two reaches the chain. Nothing on-chain refuses a
        second window of the same batches, as `SensorFeed` refuses a seq it has seen."""
        nonces = [r.nonce for r in records if r.state is BatchState.SUBMITTED and r.nonce is not None]
        if not nonces:
            return None
        used = self.chain.w3.eth.get_transaction_count(self.chain.sender.address, "latest")
        if min(nonces) >= used:
            return min(nonces)
        for r in records:  # that nonce went to another transaction: the old window can never be mined
            if r.state is BatchState.SUBMITTED:
                self.outbox.mark_dropped(r.feed, r.seq)
        return None

    def _record_success(self, prepared: list[tuple[BatchRecord, PreparedAnchor]], receipt: object) -> int:
        now = time.time()
        block, gas_used = int(receipt["blockNumber"]), int(receipt["gasUsed"])  # type: ignore[index]
        self.stats.transactions += 1
        self.stats.gas += gas_used
        tips = self._chain_tips()
        self.outbox.move_many([(p.feed, p.seq, {"block": block}) for _, p in prepared], BatchState.ANCHORED)
        if self.chain.confirmations <= 0:
            self.outbox.move_many([(p.feed, p.seq, {}) for _, p in prepared], BatchState.CONFIRMED)
        for _, p in prepared:
            tips[p.feed] = (p.seq + 1, p.head)
            self.stats.batches += 1
            self.stats.readings += p.count
            if self.on_anchored:
                self.on_anchored(AnchoredBatch(p.feed, p.seq, p.count, p.t_first, p.t_last, block,
                                               gas_used // len(prepared), now))
        log.info("window anchored", batches=len(prepared), readings=sum(p.count for _, p in prepared),
                 block=block, gas=gas_used)
        return len(prepared)
