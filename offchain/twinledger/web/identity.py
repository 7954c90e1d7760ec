"""Who the server acts for, and which requests may write.

The server holds one local account's key (chosen at start like the CLI's `--account`); the browser
never sees it, only the address. A read-only server (for auditors) refuses every write. A write is a
POST that carries the per-server CSRF token (a header set by the page, or a form field) and, if the
browser says where it comes from, comes from this very origin: a page of another site can neither
read the token nor pass the origin check.
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POSTs that change nothing on the chain (running the verifier) stay open in read-only mode.
READ_ONLY_POSTS = frozenset({"verify"})


@dataclass(frozen=True)
class Identity:
    address: str | None  # None: no account, nothing can be written
    read_only: bool
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def can_write(self) -> bool:
        return self.address is not None and not self.read_only

    def token_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf_token.encode())


def same_origin(request: web.Request) -> bool:
    """False when the browser names another origin (Origin, or Sec-Fetch-Site) for this request."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return False
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


async def presented_token(request: web.Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def write_guard(identity: Identity) -> Middleware:
    """Middleware: every non-GET request passes the CSRF checks; writes need a writing account."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in SAFE_METHODS:
            return await handler(request)
        if not same_origin(request) or not identity.token_matches(await presented_token(request)):
            raise web.HTTPForbidden(text="refused: a cross-site request or a missing CSRF token; reload the page")
        action = request.match_info.get("action") or request.path.rstrip("/").rsplit("/", 1)[-1]
        if action not in READ_ONLY_POSTS and not identity.can_write:
            why = "this server is read-only" if identity.read_only else "no account was chosen at start"
            raise web.HTTPForbidden(text=f"refused: {why}; start `twinledger web` with --account to write")
        return await handler(request)

    return guard
