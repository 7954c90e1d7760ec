"""Documents of a twin: versions with their digest verdict, upload (sealed when the twin's
specification is), and download decrypted for a permitted account, byte for byte as stored."""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ...ledger.documents import add_document, decrypt_version, document_version, fetch_verified
from ...ledger.reader import DOC_READ
from ...crypto.payload import sealed_header
from ...ledger.twinview import ZERO32, DocumentInfo, LookupFailed, TwinView, VersionInfo
from ..context import WebContext
from ..present import component, party, when
from ..server import render
from .common import readable_twin

routes = web.RouteTableDef()


@dataclass(frozen=True)
class VersionRow:
    version: VersionInfo
    verdict: str  # "digest matches" or the one-line reason it does not
    encrypted: bool


def _version_row(ctx: WebContext, doc: int, v: VersionInfo) -> VersionRow:
    try:
        data = fetch_verified(ctx, doc, v)
    except LookupFailed as exc:
        return VersionRow(v, str(exc), False)
    return VersionRow(v, "digest matches", sealed_header(data) is not None)


def _documents(ctx: WebContext, view: TwinView) -> list[tuple[DocumentInfo, list[VersionRow]]]:
    return [(d, [_version_row(ctx, d.doc_id, v) for v in d.versions]) for d in view.documents
            if ctx.may_read(view.twin_id, DOC_READ, d.component)]


def twin_is_encrypted(ctx: WebContext, view: TwinView) -> bool:
    """A twin whose latest specification version is sealed keeps its documents sealed too."""
    latest = view.spec_versions[-1]
    return sealed_header(ctx.store.cat(latest.cid)) is not None


@routes.get("/twins/{twin}/documents")
async def documents_page(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request)
    return render(request, "documents.html", view=view, title=f"{view.name}: documents",
                  documents=await ctx.run(_documents, ctx, view), encrypted=await ctx.run(twin_is_encrypted, ctx, view),
                  component=lambda c: component(view, c), party=lambda a: party(view, a), when=when)


@routes.post("/twins/{twin}/documents/upload")
async def upload(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request, fresh=False)
    form = await request.post()
    file = form.get("file")
    if not isinstance(file, web.FileField):
        raise LookupFailed("choose a file to upload")
    data = file.file.read()
    name = str(form.get("name") or file.filename)
    target = str(form.get("component") or "")
    component_id = view.resolve_component(target).id if target else ZERO32
    encrypt = await ctx.run(twin_is_encrypted, ctx, view) or form.get("encrypt") == "on"
    doc_id, stored = await ctx.write(add_document, ctx, view.twin_id, data, name, component_id, encrypt)
    await ctx.run(ctx.twin_view, view.twin_id, True)  # the next page shows it, whatever the live channel's pace
    return render(request, "_uploaded.html", view=view, doc_id=doc_id, name=name, cid=stored.cid,
                  size=len(data), encrypted=encrypt)


def _download(ctx: WebContext, twin: int, doc: int, version: int | None) -> tuple[str, bytes]:
    name, v = document_version(ctx, twin, doc, version)
    data = fetch_verified(ctx, doc, v)
    if sealed_header(data) is not None:
        data = decrypt_version(ctx, twin, doc, v, data)
    return name, data


@routes.get("/twins/{twin}/documents/{doc}/download")
async def download(request: web.Request) -> web.Response:
    ctx, view = await readable_twin(request, fresh=False)
    doc = int(request.match_info["doc"])
    version = int(request.query["version"]) if "version" in request.query else None
    name, data = await ctx.run(_download, ctx, view.twin_id, doc, version)
    filename = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or f"document-{doc}"
    return web.Response(body=data, content_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
