"""Parties of a twin: their roles, the permission matrix and component scopes; role grants for an
account with ROLE_ADMIN; the two-step ownership offer and acceptance. Every write is the same
transaction the `role` commands send."""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ...ledger.contracts import effective_permissions, pending_ownership_offer
from ...ledger.names import BUILTIN_ROLES, PERMISSIONS, checksum_address, role_id, role_name
from ...ledger.twinview import MemberInfo, TwinView
from ...ledger import transactions
from ...ledger.writes import send
from ..context import WebContext, context_of
from ..present import component, party
from ..server import render
from .common import readable_twin, twin_id

routes = web.RouteTableDef()
ROLE_ADMIN = 1 << PERMISSIONS.index("ROLE_ADMIN")


@dataclass(frozen=True)
class PartyRow:
    member: MemberInfo
    name: object
    roles: list[str]
    permissions: set[str]
    scope: list[object]


def _rows(ctx: WebContext, view: TwinView) -> list[PartyRow]:
    rows = []
    for m in view.members:
        mask = effective_permissions(ctx.chain, view.twin_id, m.account)
        rows.append(PartyRow(m, party(view, m.account), [role_name(r) for r in m.roles],
                             {p for bit, p in enumerate(PERMISSIONS) if mask >> bit & 1},
                             [component(view, c) for c in m.scope]))
    return rows


@routes.get("/twins/{twin}/parties")
async def parties_page(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request)
    me = ctx.identity.address
    is_admin = bool(me) and await ctx.run(ctx.may_read, view.twin_id, ROLE_ADMIN)
    return render(request, "parties.html", view=view, title=f"{view.name}: parties", rows=await ctx.run(_rows, ctx, view),
                  permissions=PERMISSIONS, roles=BUILTIN_ROLES, is_admin=is_admin,
                  offer=await ctx.run(pending_ownership_offer, ctx.chain, view.twin_id), me=me)


async def _send(request: web.Request, action, what: str) -> web.Response:
    ctx = context_of(request)
    twin = twin_id(request)
    form = await request.post()
    await ctx.write(lambda: action(ctx, twin, form))
    await ctx.run(ctx.twin_view, twin, True)
    return web.Response(text=f'<p class="ok" role="status">Done: {what}. Reload to see the change.</p>',
                        content_type="text/html")


@routes.post("/twins/{twin}/parties/grant")
async def grant(request: web.Request) -> web.Response:
    return await _send(request, lambda ctx, twin, f: send(ctx.chain, transactions.grant_role(
        ctx.chain, twin, role_id(str(f["role"])), checksum_address(str(f["account"])))), "granting the role")


@routes.post("/twins/{twin}/parties/offer-owner")
async def offer_owner(request: web.Request) -> web.Response:
    return await _send(request, lambda ctx, twin, f: send(ctx.chain, transactions.offer_ownership(
        ctx.chain, twin, checksum_address(str(f["account"])), keep=False)), "offering ownership")


@routes.post("/twins/{twin}/parties/accept-owner")
async def accept_owner(request: web.Request) -> web.Response:
    return await _send(request, lambda ctx, twin, f: send(ctx.chain, transactions.accept_ownership(ctx.chain, twin)),
                       "accepting ownership")
