"""What every page handler needs: the CLI's context (chain, store, account), the identity, a thread
pool for the library's blocking calls, and what the server remembers between requests."""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from aiohttp import web

from ..client.context import CliContext
from ..client.twinview import ZERO32, TwinView, load_twin
from .identity import Identity

T = TypeVar("T")
WORKERS = 4


@dataclass
class WebContext:
    cli: CliContext
    identity: Identity
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(WORKERS, "twinledger-web"))
    write_lock: threading.Lock = field(default_factory=threading.Lock)  # one transaction at a time: one nonce
    verdicts: dict[int, str] = field(default_factory=dict)  # twin -> the latest verdict run from the page

    _views: dict[int, Any] = field(default_factory=dict)

    def twin_view(self, twin: int, fresh: bool = False) -> TwinView:
        """The twin as the CLI's `twin show` reads it, kept until an event may have changed it."""
        if fresh or twin not in self._views:
            self._views[twin] = load_twin(self.cli.chain, self.cli.store, twin)
        return self._views[twin]

    def may_read(self, twin: int, permission: int = 0, component: bytes = ZERO32) -> bool:
        """What the chain lets the acting account see (no account: a public view of everything)."""
        address = self.identity.address
        if address is None:
            return True
        auth = self.cli.chain.auth.functions
        if permission == 0:
            return bool(auth.canRead(twin, address, component).call())
        return bool(auth.can(twin, address, permission, component).call())

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """A blocking library call off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        def locked() -> T:
            with self.write_lock:
                return fn(*args)

        return await self.run(locked)


CONTEXT_KEY = web.AppKey("twinledger", WebContext)


def context_of(request: web.Request) -> WebContext:
    return request.app[CONTEXT_KEY]
