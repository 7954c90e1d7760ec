"""Feeds of a twin: a live chart of readings (new batches pushed over SSE), each reading marked
verified, suspect (its validation flags) or unverified; coverage and gaps; a reading's proof."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ...ledger.reader import SENSOR_READ, Ledger
from ...ledger.twinview import FeedInfo, TwinView
from ...ledger.names import FEED_STATUSES, enum_name
from ...verify import ReadingResult, Verifier, coverage
from ..context import WebContext
from ..present import component, readings_message, when
from ..server import render
from .common import readable_twin

routes = web.RouteTableDef()
RECENT_BATCHES = 5


def _verifier(ctx: WebContext) -> Verifier:
    return Verifier(Ledger(ctx.chain), ctx.store)


def _feed_or_404(ctx: WebContext, view: TwinView, feed: int) -> FeedInfo:
    info = next((f for f in view.feeds if f.feed_id == feed), None)
    if info is None or not ctx.may_read(view.twin_id, SENSOR_READ, info.component):
        raise web.HTTPNotFound(text=f"twin {view.twin_id} has no feed {feed} readable by {ctx.identity.address}")
    return info


@routes.get("/twins/{twin}/feeds")
async def feeds_page(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request)
    readable = [f for f in view.feeds if await ctx.run(ctx.may_read, view.twin_id, SENSOR_READ, f.component)]
    return render(request, "feeds.html", view=view, title=f"{view.name}: feeds", feeds=readable,
                  component=lambda c: component(view, c), feed_status=lambda s: enum_name(FEED_STATUSES, s))


def _feed_data(ctx: WebContext, feed: int) -> dict[str, Any]:
    verifier = _verifier(ctx)
    anchors = sorted(verifier.ledger.anchors(feed), key=lambda a: a.seq)
    covered, gaps, gap_ms = coverage(anchors)
    batches = [readings_message(feed, verifier.verify_batch(feed, a.seq)) for a in anchors[-RECENT_BATCHES:]]
    return {"batches": batches, "coverage": covered, "gaps": gaps, "gap_ms": gap_ms, "anchored": len(anchors)}


@routes.get("/twins/{twin}/feeds/{feed}")
async def feed_page(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request)
    feed = int(request.match_info["feed"])
    info = await ctx.run(_feed_or_404, ctx, view, feed)
    data = await ctx.run(_feed_data, ctx, feed)
    return render(request, "feed.html", view=view, title=f"{view.name}: feed {feed}", feed=info, data=data,
                  component=component(view, info.component), feed_status=enum_name(FEED_STATUSES, info.status),
                  ms=lambda t: when(t // 1000))


@routes.get("/twins/{twin}/feeds/{feed}/proof")
async def proof_fragment(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request, fresh=False)
    feed = int(request.match_info["feed"])
    await ctx.run(_feed_or_404, ctx, view, feed)
    seq, index = int(request.query["seq"]), int(request.query["index"])
    result: ReadingResult = await ctx.run(lambda: _verifier(ctx).verify_reading(feed, seq, index))
    return render(request, "_proof.html", r=result, a=result.batch.anchor, ms=lambda t: when(t // 1000))
