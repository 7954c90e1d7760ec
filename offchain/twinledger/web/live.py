"""One poller of the chain for the whole server, and the pages it pushes to over server-sent events.

The server follows new blocks (the same decoder and readability filter as `twinledger watch`); pages
never poll. Each open page holds one `Subscription`: it gets every new event of a twin the account
may read, as a notification, and, for the feeds it shows, the new batches' readings already checked
by the verifier (verified, suspect with its flags, or unverified).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from ..ledger.follow import TwinFilter, ledger_events
from ..ledger.events import ChainEvent
from ..ledger.reader import Ledger
from ..verify import Verifier
from .context import WebContext
from .present import event_message, readings_message

POLL_S = 0.5
QUEUE_LIMIT = 1000
log = logging.getLogger(__name__)


@dataclass(eq=False)
class Subscription:
    feeds: frozenset[int]
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))


class LiveHub:
    def __init__(self, ctx: WebContext, loop: asyncio.AbstractEventLoop, poll_s: float = POLL_S) -> None:
        self.ctx = ctx
        self.loop = loop
        self.poll_s = poll_s
        self.subscriptions: set[Subscription] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="twinledger-web-live", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def subscribe(self, feeds: frozenset[int]) -> Subscription:
        sub = Subscription(feeds)
        self.subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.discard(sub)

    def broadcast(self, message: dict[str, Any]) -> None:
        """Push a message to every open page (from any thread)."""
        self._publish(message, None)

    # ---- the poller thread -------------------------------------------------------------------

    def _follow(self) -> None:
        ledger = Ledger(self.ctx.chain)
        readable = TwinFilter(ledger, None, self.ctx.identity.address)
        start = ledger.to_block + 1
        while not self._stop.wait(self.poll_s):
            try:
                end = ledger.refresh()
                if end >= start:
                    self._deliver(ledger, readable, ledger_events(ledger, start, end))
                    start = end + 1
            except Exception:  # noqa: BLE001 - a node hiccup must not end notifications; try again next round
                log.warning("following the chain failed; retrying", exc_info=True)

    def _deliver(self, ledger: Ledger, readable: TwinFilter, events: list[ChainEvent]) -> None:
        for e in events:
            twin = readable.twin_of(e)
            if twin is None or not readable.allows(twin):
                continue
            self._publish(event_message(self.ctx, twin, e), None)
            if e.name != "Anchored":
                continue
            feed = int(e.args["feedId"])
            if any(feed in s.feeds for s in list(self.subscriptions)):
                verifier = Verifier(Ledger(self.ctx.chain), self.ctx.store)
                result = verifier.verify_batch(feed, int(e.args["seq"]))
                self._publish(readings_message(feed, result), feed)

    def _publish(self, message: dict[str, Any], feed: int | None) -> None:
        for sub in list(self.subscriptions):
            if feed is None or feed in sub.feeds:
                self.loop.call_soon_threadsafe(_offer, sub.queue, message)


def _offer(queue: asyncio.Queue[dict[str, Any]], message: dict[str, Any]) -> None:
    if not queue.full():  # a page too slow to read loses pushes, never the server's memory
        queue.put_nowait(message)
