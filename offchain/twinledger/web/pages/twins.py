"""The twins list, one twin (component tree, specification versions and their diff, phase, parent and
child twins) and its history with names instead of ids."""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from aiohttp import web

from ...ledger.contracts import child_twins, twin_count
from ...verify.audit import current_owners
from ...ledger.history import describe
from ...ledger.names import PHASES, enum_name
from ...ledger.sharing import account_key, spec_plaintext
from ...ledger.twinview import TwinView, VersionInfo
from ..context import WebContext, context_of
from ..present import component_tree, event_party, party, when
from ..server import render
from ..verdicts import Verdict
from .common import readable_twin

routes = web.RouteTableDef()
DIFF_CONTEXT = 2


@dataclass(frozen=True)
class TwinRow:
    twin_id: int
    name: str
    phase: str
    owners: list[str]
    verdict: Verdict | None
    verifying: bool


def _twin_rows(ctx: WebContext) -> tuple[list[TwinRow], int]:
    """Each readable twin with its latest verdict; one missing or stale starts a background run."""
    rows = []
    head = ctx.chain.w3.eth.block_number
    for twin in range(1, twin_count(ctx.chain) + 1):
        if not ctx.may_read(twin):
            continue
        view = ctx.twin_view(twin)
        ctx.verdicts.want(twin, head)
        rows.append(TwinRow(twin, view.name, enum_name(PHASES, view.phase), current_owners(view.events),
                            ctx.verdicts.latest(twin), ctx.verdicts.running(twin)))
    return rows, head


@routes.get("/")
async def twins_list(request: web.Request) -> web.Response:
    ctx = context_of(request)
    rows, head = await ctx.run(_twin_rows, ctx)
    return render(request, "twins.html", rows=rows, head=head, title="Twins")


def _spec_text(ctx: WebContext, view: TwinView, version: VersionInfo) -> list[str]:
    data = ctx.store.cat(version.cid)
    plain = spec_plaintext(ctx.chain, ctx.store, view.twin_id, version.index, data, account_key(ctx.chain))
    return plain.decode("utf-8", errors="replace").splitlines()


def spec_diff(ctx: WebContext, view: TwinView, a: int, b: int) -> list[str]:
    """The unified diff of two specification versions' AML files."""
    versions = {v.index: v for v in view.spec_versions}
    if a not in versions or b not in versions:
        raise LookupError(f"twin {view.twin_id} has specification versions 0..{len(versions) - 1}")
    return list(difflib.unified_diff(_spec_text(ctx, view, versions[a]), _spec_text(ctx, view, versions[b]),
                                     f"v{a}", f"v{b}", n=DIFF_CONTEXT, lineterm=""))


@routes.get("/twins/{twin}")
async def twin_page(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request)
    latest = len(view.spec_versions) - 1
    a = int(request.query.get("a", max(latest - 1, 0)))
    b = int(request.query.get("b", latest))
    diff = await ctx.run(spec_diff, ctx, view, a, b) if "a" in request.query else None
    parent = (view.parent, (await ctx.run(ctx.twin_view, view.parent)).name) if view.parent else None
    return render(request, "twin.html", view=view, title=view.name, tree=component_tree(view),
                  phase=enum_name(PHASES, view.phase), diff=diff, a=a, b=b, parent=parent,
                  children=await ctx.run(child_twins, ctx.chain, view.twin_id), party=lambda addr: party(view, addr),
                  when=when, owners=current_owners(view.events))


@routes.get("/twins/{twin}/history")
async def history_page(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request)
    rows = [(e, describe(e, view), event_party(view, e)) for e in view.events]
    return render(request, "history.html", view=view, title=f"{view.name}: history", rows=rows)
