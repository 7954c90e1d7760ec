"""Encrypted feeds on the agent: each batch is sealed with its feed's current epoch key before storage.

The `Anchorer` hands every batch's encoded bytes to `BatchSealer.seal` just before they go to IPFS,
so what is stored (and what the anchored CID names) is the sealed payload of docs/formats.md section 6.
The Merkle root and the head stay over the plaintext readings: a reader with the key checks them, an
auditor without one still checks the CID, the head chain and the device signature.

Readers come from the chain at the latest block (`crypto.access.readers_at`), cached per component
and recomputed when an Authorization event that can change them (role, matrix, scope, key) shows up
since the last check. Before each batch the feed's `EpochManager` compares them with the current
epoch's recipients; a change starts a new epoch, whose envelope is published (IPFS, then
`publishKeyEnvelope`) before any batch is sealed with its key. The agent only ever holds the feed
keys it made itself.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import structlog

from ..chain.connection import TwinLedgerChain
from ..chain.logs import LogReader
from ..crypto import Envelope, EpochManager, KeyPolicy, Subject, seal_item
from ..ledger.access import ACCESS_EVENTS, KEY_REGISTERED, Readers, last_epoch, publish_envelope, readers_at
from ..ledger import contracts

log = structlog.get_logger(__name__)


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


@dataclass
class ReaderWatch:
    """Readers per component of one twin, refreshed when access events for the twin appear.

    One `eth_blockNumber` per check (at most every `min_interval_s`), plus one `eth_getLogs` when the
    chain moved on; the readers themselves are recomputed only after a relevant event.
    """

    chain: TwinLedgerChain
    twin: int
    min_interval_s: float = 0.0
    _cache: dict[bytes, Readers] = field(default_factory=dict)
    _checked_block: int | None = None
    _checked_at: float = 0.0

    def readers(self, component: bytes) -> Readers:
        self._refresh()
        cached = self._cache.get(component)
        if cached is None:
            cached = self._cache[component] = readers_at(self.chain, self.twin, component, self._checked_block)
        return cached

    def _refresh(self) -> None:
        now = time.monotonic()
        if self._checked_block is not None and now - self._checked_at < self.min_interval_s:
            return
        block = self.chain.w3.eth.block_number
        if self._checked_block is not None and block > self._checked_block and self._changed(block):
            self._cache.clear()
        self._checked_block, self._checked_at = max(block, self._checked_block or 0), now

    def _changed(self, block: int) -> bool:
        assert self._checked_block is not None
        logs = LogReader(self.chain.w3).logs(self.chain.auth.address, [["0x" + t.hex() for t in ACCESS_EVENTS]],
                                             self._checked_block + 1, block)
        twin = _word(self.twin)
        return any(bytes(log["topics"][0]) == KEY_REGISTERED or bytes(log["topics"][1]) == twin for log in logs)


@dataclass
class SealStats:
    batches: int = 0
    plain_bytes: int = 0
    sealed_bytes: int = 0
    envelopes: list[bytes] = field(default_factory=list)  # encoded envelopes this agent published


class BatchSealer:
    """Seals one agent's batches; one `EpochManager` per feed."""

    def __init__(self, chain: TwinLedgerChain, store, twin: int, *, policy: KeyPolicy = KeyPolicy(),
                 watch: ReaderWatch | None = None) -> None:
        self.chain, self.store, self.twin, self.policy = chain, store, twin, policy
        self.watch = watch or ReaderWatch(chain, twin)
        self.stats = SealStats()
        self._managers: dict[int, EpochManager] = {}
        self._components: dict[int, bytes] = {}
        self._unpublished: dict[int, Envelope] = {}

    def seal(self, feed: int, seq: int, data: bytes) -> bytes:
        """The sealed payload of batch `seq` of `feed` (the encoded plaintext batch `data`)."""
        component = self._component(feed)
        manager = self._manager(feed)
        update = manager.update(self.watch.readers(component).recipients)
        if update.envelope is not None:
            self._unpublished[feed] = update.envelope
            log.info("new feed key epoch", feed=feed, epoch=update.decision.epoch, action=update.decision.action.value,
                     readers=len(update.decision.recipients), removed=len(update.decision.removed))
        pending = self._unpublished.get(feed)
        if pending is not None:  # also retries an envelope whose publication failed last time
            publish_envelope(self.chain, self.store, pending, component)
            self.stats.envelopes.append(pending.to_bytes())
            del self._unpublished[feed]
        sealed = seal_item(data, update.key, seq)
        self.stats.batches += 1
        self.stats.plain_bytes += len(data)
        self.stats.sealed_bytes += len(sealed)
        return sealed

    def _component(self, feed: int) -> bytes:
        if feed not in self._components:
            self._components[feed] = contracts.feed(self.chain, feed).component
        return self._components[feed]

    def _manager(self, feed: int) -> EpochManager:
        manager = self._managers.get(feed)
        if manager is None:
            subject = Subject.feed(feed)
            # After a restart the keys are gone: continue after the highest published epoch.
            manager = self._managers[feed] = EpochManager(
                self.twin, subject, self.chain.sender.address, self.policy,
                last_epoch=last_epoch(self.chain, self.twin, subject, self._component(feed)))
        return manager
