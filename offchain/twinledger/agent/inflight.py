"""What both anchorers share: anchoring transactions in flight in nonce order (receipts, fee bumps on a stuck or
dropped one, giving up on one whose nonce another transaction took), the chain's block time, and the store step
(every batch without a CID to IPFS in one `block_put_many`, the CIDs recorded in one outbox commit).

`InFlightTxs.poll` only reports what happened; what a mined, reverted or lost transaction means for the outbox
and the feeds' tips is each anchorer's business (agent/anchorer.py, agent/gateway.py).
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import structlog

from ..chain.tx import SentTx, TxSender
from .outbox import BatchRecord, BatchState, Outbox, ReconcileReport
from .publish import PreparedAnchor, store_batches

log = structlog.get_logger(__name__)

class Sealer(Protocol):
    """Turns a batch's encoded bytes into what is stored (agent/sealing.py's BatchSealer encrypts them)."""

    def seal(self, feed: int, seq: int, data: bytes) -> bytes: ...


@dataclass
class AnchorStats:
    """What this process saw anchored. A reorganisation that removes an anchor takes it out again (`undo`), so a
    batch anchored, reorganised away and anchored again counts once; the per-feed anchorer keeps the gas and the
    transaction of a removed anchor (one transaction carries batches a reorganisation may split)."""

    batches: int = 0
    readings: int = 0
    transactions: int = 0
    gas: int = 0
    last_error: str | None = None
    bumps: int = 0  # replacements of a stuck or dropped transaction
    max_in_flight: int = 0  # most transactions seen in flight at once
    gap_fills: int = 0  # empty transfers that used up nonces a reorganisation left below those in flight
    refused: dict[int, str] = field(default_factory=dict)  # feed -> the custom error that refuses it

    def undo(self, batches: int, readings: int, *, transactions: int = 0, gas: int = 0) -> None:
        """A reorganisation removed what was counted as anchored; it is counted again once it is mined again."""
        self.batches -= batches
        self.readings -= readings
        self.transactions -= transactions
        self.gas -= gas


@dataclass
class InFlight:
    """One anchoring transaction sent and not yet settled, under every hash its nonce was sent as."""

    sent: SentTx
    prepared: list[tuple[BatchRecord, PreparedAnchor]]
    sent_at: float  # monotonic time of the latest (re)broadcast
    hashes: list[str] = field(default_factory=list)

    @functools.cached_property
    def feeds(self) -> frozenset[int]:
        """The feeds it carries (`prepared` is fixed once the transaction is sent)."""
        return frozenset(a.feed for _, a in self.prepared)


@dataclass(frozen=True)
class Settled:
    """A transaction that left the in-flight set: mined (`receipt`, which may say reverted) or lost (`why`)."""

    nonce: int
    flight: InFlight
    receipt: Any = None
    why: str = ""

    @property
    def ok(self) -> bool:
        return self.receipt is not None and int(self.receipt["status"]) == 1


class InFlightTxs:
    """One sender's anchoring transactions in flight, by nonce. `poll` walks them in nonce order once per block
    (or when one is overdue): a receipt settles it; one not mined `receipt_timeout` after its latest broadcast is
    replaced at its nonce with higher fees (which also resubmits one the pool dropped), its batches recorded
    under the new hash; one whose nonce another transaction took is settled as lost."""

    def __init__(self, sender: TxSender, outbox: Outbox, stats: AnchorStats, receipt_timeout: float) -> None:
        self.sender = sender
        self.outbox = outbox
        self.stats = stats
        self.receipt_timeout = receipt_timeout
        self.txs: dict[int, InFlight] = {}
        self._polled_block = -1
        self._busy: tuple[tuple[tuple[int, int], ...], frozenset[int]] | None = None

    def __len__(self) -> int:
        return len(self.txs)

    def add(self, sent: SentTx, prepared: list[tuple[BatchRecord, PreparedAnchor]]) -> InFlight:
        """Track `sent` and record its batches as submitted under its hash and nonce (one commit)."""
        flight = InFlight(sent, prepared, time.monotonic(), [sent.tx_hash])
        self.txs[sent.nonce] = flight
        self._polled_block = -1  # the next poll looks, whatever the block
        self.stats.max_in_flight = max(self.stats.max_in_flight, len(self.txs))
        self._record_sent(flight)
        return flight

    def busy_feeds(self) -> frozenset[int]:
        """The feeds of every transaction in flight; asked once per feed per round, so kept until the set of
        transactions changes (at 1,000 feeds rebuilding it each time was a quadratic second per round)."""
        key = tuple((nonce, id(f)) for nonce, f in self.txs.items())
        if self._busy is None or self._busy[0] != key:
            self._busy = (key, frozenset().union(*(f.feeds for f in self.txs.values())))
        return self._busy[1]

    def taken(self) -> set[tuple[int, int]]:
        """(feed, seq) of every batch in flight."""
        return {(a.feed, a.seq) for f in self.txs.values() for _, a in f.prepared}

    def overdue(self) -> bool:
        """Whether a transaction is not mined `receipt_timeout` after its latest broadcast."""
        now = time.monotonic()
        return any(now - f.sent_at >= self.receipt_timeout for f in self.txs.values())

    def lowest_nonce(self) -> int:
        return min(self.txs)

    def bumped(self) -> bool:
        """Whether a transaction had to be replaced and is not mined yet (the chain or the pool is in trouble)."""
        return any(len(f.hashes) > 1 for f in self.txs.values())

    def poll(self, force: bool = False) -> Iterator[Settled]:
        """Settle in nonce order: receipts, stuck or dropped transactions (bumped), nonces taken (lost)."""
        if not self.txs:
            return
        now = time.monotonic()
        block = self.sender.w3.eth.block_number
        if block == self._polled_block and not force and not self.overdue():
            return
        self._polled_block = block
        for nonce in sorted(self.txs):
            flight = self.txs.get(nonce)
            if flight is None:
                continue  # settled by the caller while this walk went on
            receipt = self.receipt_of(flight)
            if receipt is not None:
                del self.txs[nonce]
                yield Settled(nonce, flight, receipt=receipt)
            elif now - flight.sent_at >= self.receipt_timeout:
                why = self._unstick(nonce, flight)
                if why:
                    del self.txs[nonce]
                    yield Settled(nonce, flight, why=why)

    def receipt_of(self, flight: InFlight) -> Any:
        for tx_hash in flight.hashes:
            receipt = self.sender.receipt(tx_hash)
            if receipt is not None:
                return receipt
        return None

    def _unstick(self, nonce: int, flight: InFlight) -> str:
        """Not mined in time: stuck behind a fee spike or dropped from the pool. Same nonce, higher fees.
        Returns why the transaction is lost, or "" if it is still in flight."""
        dropped = not self.sender.is_pending(flight.sent.tx_hash)
        try:
            sent = self.sender.bump(flight.sent)
        except ValueError as exc:  # the node refused the replacement
            if "nonce too low" in str(exc) and self.receipt_of(flight) is None:
                return "nonce taken by another transaction"
            log.warning("fee bump refused, will retry", tx=flight.sent.tx_hash, error=str(exc))
            flight.sent_at = time.monotonic()
            return ""
        self.stats.bumps += 1
        log.warning("anchor transaction " + ("dropped, resubmitted" if dropped else "stuck, fee bumped"),
                    old=flight.sent.tx_hash, new=sent.tx_hash, nonce=nonce)
        flight.sent, flight.sent_at = sent, time.monotonic()
        flight.hashes.append(sent.tx_hash)
        self._record_sent(flight)
        return ""

    def _record_sent(self, flight: InFlight) -> None:
        if flight.prepared:
            self.outbox.move_many([(a.feed, a.seq, {"txhash": flight.sent.tx_hash, "nonce": flight.sent.nonce})
                                   for _, a in flight.prepared], BatchState.SUBMITTED)


def found_on_chain(outbox: Outbox, feed: int, next_seq: int, confirmations: int) -> ReconcileReport:
    """Align the feed's batches with the chain's next seq (`Outbox.reconcile`). With no confirmations to wait for,
    the anchorers' rounds settle nothing, so what is on-chain is confirmed here (else it stayed anchored, never
    pruned)."""
    report = outbox.reconcile(feed, next_seq)
    if confirmations <= 0:
        final = [(feed, r.seq, {}) for r in outbox.batches(feed, states=[BatchState.ANCHORED]) if r.seq < next_seq]
        if final:
            outbox.move_many(final, BatchState.CONFIRMED)
    return report


def measured_block_time(sender: TxSender) -> float:
    """Seconds between the last ten blocks; 0 on a chain that mines a block per transaction (automine)."""
    eth = sender.w3.eth
    latest = eth.get_block("latest")
    back = max(0, latest["number"] - 10)
    span = latest["number"] - back
    old = eth.get_block(back)
    measured = (latest["timestamp"] - old["timestamp"]) / span if span else 0.0
    return measured if measured >= 1.0 else 0.0


REMEASURE_S = 60.0  # a measured block time is measured again this often (a chain switched from automine, say)


class BlockClock:
    """The chain's block time: as configured, or measured from its last blocks and measured again every
    `REMEASURE_S` (an agent started right after the chain mined on demand would otherwise keep 0 for good)."""

    def __init__(self, sender: TxSender, configured: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sender = sender
        self.configured = configured
        self.clock = clock
        self._measured: tuple[float, float] | None = None  # (seconds, clock time of the measurement)

    def seconds(self) -> float:
        if self.configured is not None:
            return self.configured
        now = self.clock()
        if self._measured is None or now - self._measured[1] >= REMEASURE_S:
            self._measured = (measured_block_time(self.sender), now)
        return self._measured[0]


class BatchStorer:
    """Stores every batch that has no CID yet in one `block_put_many` (the blocks' fsyncs overlap, the pins are
    one commit) and records the CIDs in one outbox commit; a crash before it only stores the same blocks again.
    A sealer (which may publish a key epoch) seals each batch first, one at a time, in seq order."""

    def __init__(self, outbox: Outbox, store: object, sealer: Sealer | None) -> None:
        self.outbox = outbox
        self.store = store
        self.sealer = sealer

    def store_all(self, records: list[BatchRecord], data: dict[tuple[int, int], bytes],
                  wanted: Callable[[BatchRecord], bool] = lambda r: True) -> list[BatchRecord]:
        """`records` with a CID for each `wanted` one that had none (those moved to stored)."""
        new = [r for r in records if r.cid is None and wanted(r)]
        if not new:
            return records
        found = store_batches(self.store, [self._sealed(r, data[(r.feed, r.seq)]) for r in new])
        by_key = {(r.feed, r.seq): cid for r, cid in zip(new, found)}
        self.outbox.move_many([(f, q, {"cid": cid}) for (f, q), cid in by_key.items()], BatchState.STORED)
        return [replace(r, cid=by_key[(r.feed, r.seq)], state=BatchState.STORED) if (r.feed, r.seq) in by_key
                else r for r in records]

    def _sealed(self, record: BatchRecord, data: bytes) -> bytes:
        if self.sealer is None:
            return data
        return self.sealer.seal(record.feed, record.seq, data)  # the CID is of what is stored; the root stays over the plaintext
