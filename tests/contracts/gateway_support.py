"""Helpers of the GatewayAnchors tests: window leaves built from FeedDriver batches, signed by a device key
(or forged), their window, and anchoring it. Unique module name: the test folders have no __init__.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twinledger.formats.aggregate import Window, WindowLeaf
from twinledger.formats.cids import pack, raw_cid_of
from twinledger.formats.headchain import GENESIS_HEAD

from sensorfeed_support import Batch, FeedDriver


@dataclass
class WindowBuilder:
    """Tracks each feed's head in the aggregated mode and turns batches into signed window leaves."""

    driver: FeedDriver
    heads: dict[int, bytes] = field(default_factory=dict)
    batches: dict[tuple[int, int], Batch] = field(default_factory=dict)

    def leaf(self, feed_id: int, seq: int, n: int = 3, *, key: Any = None, prev_head: bytes | None = None,
             t0: int | None = None) -> WindowLeaf:
        """Batch `seq` of the feed on top of its head here (or `prev_head`), signed by the device (or `key`)."""
        b = self.driver.batch(feed_id, seq, n, t0)
        prev = self.heads.get(feed_id, GENESIS_HEAD) if prev_head is None else prev_head
        sig = self.driver.sign(b, prev_head=prev, key=key)
        leaf = WindowLeaf(feed_id, seq, prev, b.root, b.cid, b.count, b.t_first, b.t_last, sig)
        self.heads[feed_id] = leaf.head()
        self.batches[(feed_id, seq)] = b
        return leaf


def anchor_window(gateways: Any, window: Window, sender: Any) -> tuple[int, Any]:
    """Anchors `window` and returns (window id, receipt)."""
    digest, codec = pack(raw_cid_of(window.encode()))
    receipt = gateways.anchorWindow(window.root, digest, codec, len(window.leaves), window.reading_count,
                                    sender=sender)
    [ev] = receipt.events.filter(gateways.WindowAnchored)
    return int(ev.windowId), receipt
