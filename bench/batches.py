"""Synthetic but real batches: readings encoded with the version-1 format, stored on the embedded IPFS node,
and signed anchors prepared by the agent's own publish code."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_account import Account

from twinledger.agent.publish import PreparedAnchor, prepare_anchor, store_batch
from twinledger.formats.batch import Batch, Reading, encode_batch
from twinledger.formats.headchain import GENESIS_HEAD

from .chainenv import T0_MS

DEVICE_KEY = "0x" + "d3" * 32
DEVICE_ADDRESS: str = Account.from_key(DEVICE_KEY).address


def make_batch(feed: int, seq: int, n: int, sensor: str = "FillLevel", rid0: int = 1, t0: int = T0_MS) -> Batch:
    """Batch `seq` of `feed` with `n` readings 10 ms apart (a 100 Hz sensor)."""
    base = t0 + seq * n * 10
    readings = tuple(Reading(rid=rid0 + seq * n + i, sensor=sensor, t_ms=base + 10 * i, value=0.5 + (i % 97) * 0.01,
                             quality=0) for i in range(n))
    return Batch(feed=feed, seq=seq, readings=readings)


@dataclass
class FeedWriter:
    """Builds consecutive batches of one or more feeds and the signed anchors for them, tracking each head."""

    store: Any
    chain_id: int
    feed_contract: str
    device_key: str | None = DEVICE_KEY
    heads: dict[int, bytes] = field(default_factory=dict)
    seqs: dict[int, int] = field(default_factory=dict)

    def next(self, feed: int, n: int) -> PreparedAnchor:
        """Store the feed's next batch of `n` readings on IPFS and prepare its anchor (the agent's code path)."""
        seq = self.seqs.get(feed, 0)
        batch = make_batch(feed, seq, n)
        cid = store_batch(self.store, encode_batch(batch))
        prepared = prepare_anchor(batch, cid, self.heads.get(feed, GENESIS_HEAD), self.device_key, self.chain_id,
                                  self.feed_contract)
        self.heads[feed] = prepared.head
        self.seqs[feed] = seq + 1
        return prepared
