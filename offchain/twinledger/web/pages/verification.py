"""Verification from the page: `verify twin` with the same verifier as the CLI, every finding located
on its feed, batch and reading (with links to them), and the audit report to download."""
from __future__ import annotations

from aiohttp import web

from ...verify.audit import build_report
from ...verify.report import render_html
from ...verify import Severity, TwinResult, Verifier
from ..context import WebContext
from ..verdicts import pinned_verifier
from ..server import render
from .common import readable_twin

routes = web.RouteTableDef()


def make_verifier(ctx: WebContext) -> Verifier:
    """The CLI's `verify twin` verifier without extra keys, on the ledger at the head: what the chain and
    the store prove up to it."""
    return pinned_verifier(ctx.chain, ctx.store)


def _verify(ctx: WebContext, twin: int) -> TwinResult:
    verifier = make_verifier(ctx)
    result = verifier.verify_twin(twin)
    ctx.verdicts.record(twin, result, verifier.ledger.to_block, "page")
    return result


@routes.get("/twins/{twin}/verify")
async def verify_page(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request)
    return render(request, "verify.html", view=view, title=f"{view.name}: verification",
                  verdict=ctx.verdicts.latest(view.twin_id))


@routes.post("/twins/{twin}/verify")
async def run_verify(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request, fresh=False)
    result = await ctx.run(_verify, ctx, view.twin_id)
    return render(request, "_findings.html", view=view, result=result, Severity=Severity)


def _report(ctx: WebContext, twin: int) -> str:
    verifier = make_verifier(ctx)
    result = verifier.verify_twin(twin, keep_readings=True)
    ctx.verdicts.record(twin, result, verifier.ledger.to_block, "page")
    return render_html(build_report(verifier, result))


@routes.get("/twins/{twin}/report.html")
async def report(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request, fresh=False)
    html = await ctx.run(_report, ctx, view.twin_id)
    return web.Response(text=html, content_type="text/html", headers={
        "Content-Disposition": f'attachment; filename="audit-report-twin-{view.twin_id}.html"'})
