"""What every page handler needs: the chain, the store and the account the server acts for (a
`ledger.documents.Session`, like the CLI's context), the identity, a thread pool for the library's
blocking calls, and what the server remembers between requests (twin views, verdicts)."""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from aiohttp import web
from eth_account.signers.local import LocalAccount

from ..chain.connection import TwinLedgerChain
from ..ledger.contracts import can, can_read
from ..ledger.twinview import ZERO32, TwinView, load_twin
from .identity import Identity
from .verdicts import VerdictCache, pinned_verifier

T = TypeVar("T")
WORKERS = 4


@dataclass
class WebContext:
    chain: TwinLedgerChain
    store: Any
    identity: Identity
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(WORKERS, "twinledger-web"))
    write_lock: threading.Lock = field(default_factory=threading.Lock)  # one transaction at a time: one nonce
    verdicts: VerdictCache = field(init=False)  # twin -> its latest verdict and the block it holds at
    _views: dict[int, TwinView] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.verdicts = VerdictCache(lambda twin, block: pinned_verifier(self.chain, self.store, block).verify_twin(twin))

    @property
    def account(self) -> LocalAccount | None:
        return self.chain.account

    def twin_view(self, twin: int, fresh: bool = False) -> TwinView:
        """The twin as `twin show` reads it, kept until a page or an event asks for it fresh."""
        if fresh or twin not in self._views:
            self._views[twin] = load_twin(self.chain, self.store, twin)
        return self._views[twin]

    def may_read(self, twin: int, permission: int = 0, component: bytes = ZERO32) -> bool:
        """What the chain lets the acting account see (no account: a public view of everything)."""
        address = self.identity.address
        if address is None:
            return True
        if permission == 0:
            return can_read(self.chain, twin, address, component)
        return can(self.chain, twin, address, permission, component)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """A blocking library call off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """One transaction at a time; the nonce is read again first, since the same account may also
        send from the CLI."""
        def locked() -> T:
            with self.write_lock:
                self.chain.sender.resync_nonce()
                return fn(*args)

        return await self.run(locked)


CONTEXT_KEY = web.AppKey("twinledger", WebContext)


def context_of(request: web.Request) -> WebContext:
    return request.app[CONTEXT_KEY]
