"""One module per page; each holds an aiohttp `RouteTableDef` named `routes`."""
from __future__ import annotations

from aiohttp import web


def register_all(router: web.UrlDispatcher) -> None:
    from . import calls, documents, feeds, parties, twins, verification

    for module in (twins, feeds, calls, documents, parties, verification):
        router.add_routes(module.routes)
