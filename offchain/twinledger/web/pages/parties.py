"""Parties of a twin: their roles, the permission matrix (role x permission bits) and component scopes,
editable by an account with ROLE_ADMIN (the matrix by an OWNER, as the contract wants); the two-step
ownership offer and acceptance. Every write is a `ledger.writes` function, which sends the same
transaction the CLI's `role` and `scope` commands build; the chain's refusal is one line."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from multidict import MultiMapping

from ...ledger import writes
from ...ledger.contracts import effective_permissions, pending_ownership_offer, permissions_of
from ...ledger.names import BUILTIN_ROLES, PERMISSIONS, Permission, checksum_address, role_id, role_name
from ...ledger.twinview import MemberInfo, TwinView
from ..context import WebContext, context_of
from ..present import Named, component, party
from ..server import render
from .common import readable_twin, twin_id

routes = web.RouteTableDef()
ROLE_ADMIN = int(Permission.ROLE_ADMIN)
OWNER = "OWNER"
Form = MultiMapping[str | bytes | bytearray | web.FileField]


@dataclass(frozen=True)
class PartyRow:
    member: MemberInfo
    name: Named
    roles: list[str]
    permissions: set[str]
    scope: list[Named]


@dataclass(frozen=True)
class MatrixRow:
    """One role's row of the twin's permission matrix."""

    role: str
    permissions: set[str]


def _rows(ctx: WebContext, view: TwinView) -> list[PartyRow]:
    rows = []
    for m in view.members:
        mask = effective_permissions(ctx.chain, view.twin_id, m.account)
        rows.append(PartyRow(m, party(view, m.account), [role_name(r) for r in m.roles],
                             {p for bit, p in enumerate(PERMISSIONS) if mask >> bit & 1},
                             [component(view, c) for c in m.scope]))
    return rows


def matrix_roles(view: TwinView) -> list[str]:
    """The roles with a row in the matrix: every built-in role but OWNER (fixed: all bits), then the
    custom roles some party holds."""
    custom = [role_name(r) for m in view.members for r in m.roles if role_name(r) not in BUILTIN_ROLES]
    return [r for r in BUILTIN_ROLES if r != OWNER] + list(dict.fromkeys(custom))


def _matrix(ctx: WebContext, view: TwinView) -> list[MatrixRow]:
    rows = []
    for role in matrix_roles(view):
        mask = permissions_of(ctx.chain, view.twin_id, role_id(role))
        rows.append(MatrixRow(role, {p for bit, p in enumerate(PERMISSIONS) if mask >> bit & 1}))
    return rows


def refusal(ctx: WebContext, is_admin: bool) -> str | None:
    """Why this server shows no editing forms, in one line (None: it shows them)."""
    if ctx.identity.read_only or ctx.identity.address is None:
        return "Changing parties is refused: this server is read-only."
    if not is_admin:
        return f"Changing parties is refused: {ctx.identity.address} lacks ROLE_ADMIN on this twin."
    return None


@routes.get("/twins/{twin}/parties")
async def parties_page(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request)
    me = ctx.identity.address
    is_admin = bool(me) and await ctx.run(ctx.may_read, view.twin_id, ROLE_ADMIN)
    is_owner = bool(me) and any(m.account == me and role_id(OWNER) in m.roles for m in view.members)
    return render(request, "parties.html", view=view, title=f"{view.name}: parties", rows=await ctx.run(_rows, ctx, view),
                  permissions=PERMISSIONS, roles=BUILTIN_ROLES, is_admin=is_admin, is_owner=is_owner,
                  refused=refusal(ctx, is_admin), matrix=await ctx.run(_matrix, ctx, view),
                  components=[component(view, c.id) for c in view.active_components],
                  offer=await ctx.run(pending_ownership_offer, ctx.chain, view.twin_id), me=me)


def _text(form: Form, name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise web.HTTPBadRequest(text=f"the form lacks {name!r}; reload the page")
    return value.strip()


def _texts(form: Form, name: str) -> list[str]:
    return [v.strip() for v in form.getall(name, []) if isinstance(v, str) and v.strip()]


def _mask(names: list[str]) -> int:
    unknown = [n for n in names if n not in PERMISSIONS]
    if unknown:
        raise web.HTTPBadRequest(text=f"unknown permission {', '.join(unknown)}; choose from {', '.join(PERMISSIONS)}")
    return sum(1 << PERMISSIONS.index(n) for n in set(names))


async def _send(request: web.Request, action: Callable[[WebContext, int, Form], str]) -> web.Response:
    """Run one write for the route's twin; the answer says what changed, the twin view is reloaded."""
    ctx = context_of(request)
    twin = twin_id(request)
    form = await request.post()
    done = await ctx.write(lambda: action(ctx, twin, form))
    await ctx.run(ctx.twin_view, twin, True)
    return web.Response(text=f'<p class="ok" role="status">Done: {done}. Reload to see the change.</p>',
                        content_type="text/html", headers={"HX-Trigger": "parties-changed"})


def _account(form: Form) -> str:
    return checksum_address(_text(form, "account"))


@routes.post("/twins/{twin}/parties/grant")
async def grant(request: web.Request) -> web.Response:
    def action(ctx: WebContext, twin: int, f: Form) -> str:
        role = role_id(_text(f, "role"))
        writes.grant_role(ctx.chain, twin, role, _account(f))
        return f"granted {role_name(role)} to {_account(f)}"
    return await _send(request, action)


@routes.post("/twins/{twin}/parties/revoke")
async def revoke(request: web.Request) -> web.Response:
    def action(ctx: WebContext, twin: int, f: Form) -> str:
        role = role_id(_text(f, "role"))
        writes.revoke_role(ctx.chain, twin, role, _account(f))
        return f"revoked {role_name(role)} from {_account(f)}"
    return await _send(request, action)


@routes.post("/twins/{twin}/parties/scope")
async def set_scope(request: web.Request) -> web.Response:
    def action(ctx: WebContext, twin: int, f: Form) -> str:
        view = ctx.twin_view(twin, True)
        ids = writes.scope_components(view, _texts(f, "component"))
        writes.set_scope(ctx.chain, twin, _account(f), ids)
        return f"{_account(f)} is scoped to {', '.join(view.component_label(c) for c in ids)}"
    return await _send(request, action)


@routes.post("/twins/{twin}/parties/scope-clear")
async def clear_scope(request: web.Request) -> web.Response:
    def action(ctx: WebContext, twin: int, f: Form) -> str:
        writes.clear_scope(ctx.chain, twin, _account(f))
        return f"{_account(f)} is no longer scoped"
    return await _send(request, action)


@routes.post("/twins/{twin}/parties/permissions")
async def set_permissions(request: web.Request) -> web.Response:
    def action(ctx: WebContext, twin: int, f: Form) -> str:
        role, names = role_id(_text(f, "role")), list(dict.fromkeys(_texts(f, "permission")))
        writes.set_permissions(ctx.chain, twin, role, _mask(names))
        return f"{role_name(role)} may now {' '.join(names) or 'nothing'}"
    return await _send(request, action)


@routes.post("/twins/{twin}/parties/permissions-reset")
async def reset_permissions(request: web.Request) -> web.Response:
    def action(ctx: WebContext, twin: int, f: Form) -> str:
        role = role_id(_text(f, "role"))
        writes.reset_permissions(ctx.chain, twin, role)
        return f"{role_name(role)} has its default permissions again"
    return await _send(request, action)


@routes.post("/twins/{twin}/parties/offer-owner")
async def offer_owner(request: web.Request) -> web.Response:
    def action(ctx: WebContext, twin: int, f: Form) -> str:
        keep = f.get("keep") == "on"
        writes.offer_ownership(ctx.chain, twin, _account(f), keep=keep)
        return f"offered {'co-' if keep else ''}ownership to {_account(f)}; it becomes theirs when they accept"
    return await _send(request, action)


@routes.post("/twins/{twin}/parties/accept-owner")
async def accept_owner(request: web.Request) -> web.Response:
    def action(ctx: WebContext, twin: int, f: Form) -> str:
        writes.accept_ownership(ctx.chain, twin)
        return f"{ctx.identity.address} is now an OWNER"
    return await _send(request, action)
