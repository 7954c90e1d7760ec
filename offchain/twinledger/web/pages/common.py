"""What the page modules share: the twin id of a route, and the readability check."""
from __future__ import annotations

from aiohttp import web

from ...ledger.twinview import TwinView
from ..context import WebContext, context_of


def twin_id(request: web.Request) -> int:
    try:
        return int(request.match_info["twin"])
    except ValueError:
        raise web.HTTPNotFound(text="a twin id is a number") from None


async def readable_twin(request: web.Request, fresh: bool = False) -> tuple[WebContext, TwinView]:
    """The twin of the route as the acting account may see it; 404 when it may not read it. The view
    is the one the live channel keeps: it reloads a twin on each of its events but anchors."""
    ctx = context_of(request)
    twin = twin_id(request)
    view = await ctx.run(ctx.twin_view, twin, fresh)
    if not await ctx.run(ctx.may_read, twin):
        raise web.HTTPNotFound(text=f"twin {twin} is not readable by {ctx.identity.address}")
    return ctx, view
