"""The aiohttp application: routes of every page, the live channel, static files, and errors as one
line in the page.

Loopback only unless `--host` says otherwise. Every library call runs in the context's thread pool.
"""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from ..errors import TwinLedgerError
from .context import CONTEXT_KEY, WebContext, context_of
from .identity import write_guard
from .live import LiveHub

HERE = Path(__file__).parent
STATIC = HERE / "static"
VENDOR_FILES = ("htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css")
KEEPALIVE_S = 15.0
HUB_KEY = web.AppKey("hub", LiveHub)
log = logging.getLogger(__name__)

templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                               undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


class AssetsMissing(TwinLedgerError, RuntimeError):
    """htmx and uPlot were not copied into the package (run `make`)."""


def check_assets() -> None:
    missing = [name for name in VENDOR_FILES if not (STATIC / "vendor" / name).is_file()]
    if missing:
        raise AssetsMissing(f"the web client's scripts are missing ({', '.join(missing)} in {STATIC / 'vendor'}): "
                            "run `make compile` to copy them from node_modules")


def render(request: web.Request, template: str, /, *, http_status: int = 200, **values: Any) -> web.Response:
    """A page or fragment; `values` are the template's names (any name, `name` and `status` too)."""
    ctx = context_of(request)
    html = templates.get_template(template).render(identity=ctx.identity, request=request, **values)
    return web.Response(text=html, content_type="text/html", status=http_status)


def fragment_error(message: str, status: int = 200) -> web.Response:
    """A refusal shown in the page as one line (htmx swaps it in)."""
    text = templates.get_template("_error.html").render(message=message)
    return web.Response(text=text, content_type="text/html", status=status)


def one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines and lines[0] else type(exc).__name__


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An expected failure (unknown twin, refused action, unreachable node) as one readable line."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into a page
        log.warning("%s %s refused: %s", request.method, request.path, one_line(exc), exc_info=True)
        if request.headers.get("HX-Request"):
            return fragment_error(one_line(exc))
        return render(request, "error.html", http_status=400, message=one_line(exc), title="Refused")


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ledger notifications, new readings of the feeds named in `?feeds=`, and
    verification verdicts (the ones known so far first)."""
    feeds = frozenset(int(f) for f in request.query.get("feeds", "").split(",") if f.isdigit())
    hub = request.app[HUB_KEY]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    sub = hub.subscribe(feeds)
    try:
        await response.write(b": connected\n\n")
        for verdict in context_of(request).verdicts.all():  # one that ended while the page was loading
            await response.write(f"event: verdict\ndata: {json.dumps(verdict.message())}\n\n".encode())
        while True:
            try:
                message = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_S)
            except asyncio.TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            await response.write(f"event: {message['kind']}\ndata: {json.dumps(message)}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(sub)
    return response


def create_app(ctx: WebContext) -> web.Application:
    from .pages import register_all

    check_assets()
    app = web.Application(middlewares=[errors, write_guard(ctx.identity)], client_max_size=64 * 1024 * 1024)
    app[CONTEXT_KEY] = ctx
    app.router.add_get("/events", events)
    app.router.add_static("/static", STATIC)
    register_all(app.router)

    async def start_hub(app: web.Application) -> None:
        app[HUB_KEY] = LiveHub(ctx, asyncio.get_running_loop())
        app[HUB_KEY].start()
        ctx.verdicts.publish = app[HUB_KEY].broadcast

    async def stop_hub(app: web.Application) -> None:
        app[HUB_KEY].stop()
        ctx.verdicts.stop()
        ctx.executor.shutdown(wait=False, cancel_futures=True)

    app.on_startup.append(start_hub)
    app.on_cleanup.append(stop_hub)
    return app


def serve(ctx: WebContext, host: str, port: int) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(ctx)
    print(f"TwinLedger web client for {ctx.identity.address or 'no account'}"
          f"{' (read-only)' if ctx.identity.read_only else ''} on http://{host}:{port}/", flush=True)
    web.run_app(app, host=host, port=port, print=None, handle_signals=True, shutdown_timeout=2)
