"""The latest verification verdict of each twin, for the twins list, and when and at which block it was
computed.

A verdict is the CLI's `verify twin` run with the same `Verifier` on a `Ledger` pinned to one block,
so "pass at block N" means what the chain and the store proved up to N. A run from the verification
page records its verdict here; when the list is shown and a twin has none, or its verdict is older
than `REFRESH_S` and the chain has moved on since its block, one run starts in the background (one at
a time, in a thread of its own so the pages stay quick) and its verdict is pushed to the open pages.
A verdict is never shown without its block and time: a cached one says it may be behind the head.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from ..ledger.reader import Ledger
from ..verify import TwinResult, Verifier

REFRESH_S = 120.0  # a verdict younger than this is kept even if the head moved
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    twin: int
    status: str  # pass, warn or fail (`verify.Status`), or "error" when the run itself failed
    block: int  # the block the ledger was pinned to
    computed_at: float  # unix time the run ended
    seconds: float
    origin: str  # "background" or "page"
    problem: str = ""  # why a run failed

    @property
    def when(self) -> str:
        return datetime.fromtimestamp(self.computed_at, timezone.utc).strftime("%H:%M:%S UTC")

    def text(self) -> str:
        if self.status == "error":
            return f"could not verify at block {self.block}: {self.problem}"
        return self.status

    def detail(self) -> str:
        how = "in the background" if self.origin == "background" else "from the verification page"
        return f"at block {self.block}, computed {self.when} {how} in {self.seconds:.1f} s"

    def message(self) -> dict[str, Any]:
        return {"kind": "verdict", "twin": self.twin, "status": self.status, "text": self.text(),
                "detail": self.detail(), "block": self.block}


class VerdictCache:
    """Verdicts per twin, each with its block; background runs one at a time."""

    def __init__(self, verify: Callable[[int, int], TwinResult], refresh_s: float = REFRESH_S) -> None:
        self._verify = verify
        self.refresh_s = refresh_s
        self._latest: dict[int, Verdict] = {}
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, "twinledger-web-verdicts")
        self.publish: Callable[[dict[str, Any]], None] = lambda message: None  # the live hub's, once it runs

    def latest(self, twin: int) -> Verdict | None:
        with self._lock:
            return self._latest.get(twin)

    def all(self) -> list[Verdict]:
        with self._lock:
            return list(self._latest.values())

    def running(self, twin: int) -> bool:
        with self._lock:
            return twin in self._running

    def record(self, twin: int, result: TwinResult, block: int, origin: str) -> Verdict:
        verdict = Verdict(twin, result.status.value, block, time.time(), result.seconds, origin)
        self._keep(verdict)
        return verdict

    def _keep(self, verdict: Verdict) -> None:
        with self._lock:
            old = self._latest.get(verdict.twin)
            if old is None or old.block <= verdict.block:
                self._latest[verdict.twin] = verdict
        self.publish(verdict.message())

    def want(self, twin: int, head: int) -> None:
        """Start a background run for `twin` unless a fresh enough verdict or a run is there."""
        with self._lock:
            old = self._latest.get(twin)
            if twin in self._running:
                return
            if old is not None and (old.block >= head or time.time() - old.computed_at < self.refresh_s):
                return
            self._running.add(twin)
        self._pool.submit(self._background, twin, head)

    def _background(self, twin: int, head: int) -> None:
        started = time.monotonic()
        try:
            self._keep(Verdict(twin, self._verify(twin, head).status.value, head, time.time(),
                               time.monotonic() - started, "background"))
        except Exception as exc:  # noqa: BLE001 - a failed run is shown as such, not as a verdict
            log.warning("background verification of twin %s failed", twin, exc_info=True)
            self._keep(Verdict(twin, "error", head, time.time(), time.monotonic() - started, "background",
                               str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        finally:
            with self._lock:
                self._running.discard(twin)

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def pinned_verifier(chain: Any, store: Any, block: int | None = None) -> Verifier:
    """The CLI's `verify twin` verifier without extra keys, on the ledger at `block` (default: the head)."""
    return Verifier(Ledger(chain, to_block=block), store)
