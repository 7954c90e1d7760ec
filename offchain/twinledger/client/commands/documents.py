"""`doc add|version|get|list` and `source add|remove|list`: documents on IPFS anchored by digest, and
external data sources.

A document version is stored on IPFS (CIDv1, raw leaves) and recorded on-chain as its CID plus the
keccak256 of its bytes. `doc get` refuses content whose blocks do not match the CID (the store checks
every block) or whose bytes do not match the on-chain digest, and writes nothing in that case.
"""
from __future__ import annotations

from pathlib import Path

import click
from ...ipfs import BlockNotFound, IntegrityError, IpfsError
from ..context import CliContext
from ..twinview import ZERO32, LookupFailed, VersionInfo, document_versions, load_twin, read, require_twin
from .base import (TWIN, cell, console, content_digest, events_in, note, pass_cli, require_account, send, store_file,
                   table, when)

IN_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


class DigestMismatch(LookupFailed):
    """Fetched content differs from what the chain recorded."""


# ------------------------------------------------------------------------------------------ documents


@click.group("doc")
def doc_group() -> None:
    """Documents of a twin (manuals, certificates, reports), versioned."""


@doc_group.command("add")
@click.argument("twin", type=TWIN)
@click.argument("file", type=IN_FILE)
@click.option("--name", required=True, help="Document name (1..64 bytes).")
@click.option("--component", help="Component it belongs to (name, AML ID or 0x id); default: the whole twin.")
@pass_cli
def doc_add(cli: CliContext, twin: int, file: Path, name: str, component: str | None) -> None:
    """Store FILE on IPFS and register it as a new document of TWIN."""
    require_account(cli)
    component_id = ZERO32
    if component:
        component_id = load_twin(cli.chain, cli.store, twin).resolve_component(component).id
    else:
        require_twin(cli.chain, twin)
    stored = store_file(cli, file)
    receipt = send(cli, cli.chain.spec.functions.addDocument(twin, component_id, name, stored.cid_digest, stored.codec,
                                                             stored.content_digest), "adding the document")
    doc_id = events_in(cli.chain.spec, receipt, "DocumentAdded")[0]["docId"]
    click.echo(f"Added document {doc_id} {name!r} to twin {twin}: version 0 = {stored.cid}")


@doc_group.command("version")
@click.argument("twin", type=TWIN)
@click.argument("doc", type=click.IntRange(min=1))
@click.argument("file", type=IN_FILE)
@pass_cli
def doc_version(cli: CliContext, twin: int, doc: int, file: Path) -> None:
    """Store FILE on IPFS as the next version of document DOC of TWIN."""
    require_account(cli)
    stored = store_file(cli, file)
    receipt = send(cli, cli.chain.spec.functions.addDocumentVersion(twin, doc, stored.cid_digest, stored.codec,
                                                                    stored.content_digest), "adding the version")
    version = events_in(cli.chain.spec, receipt, "DocumentVersionAdded")[0]["version"]
    click.echo(f"Document {doc} of twin {twin}: version {version} = {stored.cid}")


def _document_version(cli: CliContext, twin: int, doc: int, version: int | None) -> tuple[str, VersionInfo]:
    doc_twin, _component, name, count, _archived, _created = read(cli.chain, cli.chain.spec.functions.document(doc))
    if doc_twin != twin:
        raise LookupFailed(f"UnknownDocument: twin {twin} has no document {doc}")
    index = count - 1 if version is None else version
    if not 0 <= index < count:
        raise LookupFailed(f"VersionNotFound: document {doc} has versions 0..{count - 1}")
    return name, document_versions(cli.chain, doc, count)[index]


def fetch_verified(cli: CliContext, doc: int, v: VersionInfo) -> bytes:
    where = f"document {doc} v{v.index} ({v.cid})"
    try:
        data = cli.store.cat(v.cid)
    except IntegrityError as exc:
        raise DigestMismatch(f"IntegrityError: {where}: stored blocks do not match the CID ({exc})") from None
    except BlockNotFound:
        raise LookupFailed(f"BlockNotFound: {where} is not in the IPFS store {cli.store_spec}") from None
    except IpfsError as exc:
        raise LookupFailed(f"{type(exc).__name__}: {where}: {exc}") from None
    actual = content_digest(data)
    if actual != bytes(v.digest):
        raise DigestMismatch(f"DigestMismatch: {where}: content keccak256 0x{actual.hex()} differs from the "
                             f"on-chain digest 0x{bytes(v.digest).hex()}; nothing written")
    return data


@doc_group.command("get")
@click.argument("twin", type=TWIN)
@click.argument("doc", type=click.IntRange(min=1))
@click.option("--version", "version", type=click.IntRange(min=0), help="Version (default: the latest).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout).")
@pass_cli
def doc_get(cli: CliContext, twin: int, doc: int, version: int | None, output: Path | None) -> None:
    """Fetch a document version and check it against the on-chain digest before writing it."""
    name, v = _document_version(cli, twin, doc, version)
    data = fetch_verified(cli, doc, v)
    if output is None:
        click.get_binary_stream("stdout").write(data)
    else:
        output.write_bytes(data)
    note(f"{name!r} v{v.index}: {len(data)} bytes, matches the on-chain digest (by {v.author}, {when(v.time)})")


@doc_group.command("list")
@click.argument("twin", type=TWIN)
@pass_cli
def doc_list(cli: CliContext, twin: int) -> None:
    """Documents of TWIN with their versions."""
    view = load_twin(cli.chain, cli.store, twin)
    t = table(f"Documents of twin {twin}: {view.name}", "id", "name", "component", "v", "CID", "author", "time")
    for d in view.documents:
        for v in d.versions:
            first = v.index == 0
            t.add_row(cell(d.doc_id if first else ""), cell(d.name + (" (archived)" if d.archived else "") if first else ""),
                      cell(view.component_label(d.component) if first else ""), cell(v.index), cell(v.cid),
                      cell(v.author), cell(when(v.time)))
    console().print(t)


# ------------------------------------------------------------------------------------------ sources


@click.group("source")
def source_group() -> None:
    """External data sources of a twin (historians, MES, vendor portals)."""


@source_group.command("add")
@click.argument("twin", type=TWIN)
@click.argument("uri")
@click.option("--description", "-d", default="", help="What the source holds (up to 1024 bytes).")
@pass_cli
def source_add(cli: CliContext, twin: int, uri: str, description: str) -> None:
    """Register URI as an external source of TWIN (owned by this account)."""
    require_account(cli)
    receipt = send(cli, cli.chain.spec.functions.addSource(twin, uri, description), "adding the source")
    source_id = events_in(cli.chain.spec, receipt, "SourceAdded")[0]["sourceId"]
    click.echo(f"Added source {source_id} to twin {twin}: {uri}")


@source_group.command("remove")
@click.argument("twin", type=TWIN)
@click.argument("source_id", metavar="ID", type=click.IntRange(min=1))
@pass_cli
def source_remove(cli: CliContext, twin: int, source_id: int) -> None:
    """Mark source ID of TWIN removed (its id stays taken)."""
    require_account(cli)
    send(cli, cli.chain.spec.functions.removeSource(twin, source_id), "removing the source")
    click.echo(f"Removed source {source_id} from twin {twin}")


@source_group.command("list")
@click.argument("twin", type=TWIN)
@pass_cli
def source_list(cli: CliContext, twin: int) -> None:
    """External sources of TWIN."""
    view = load_twin(cli.chain, cli.store, twin, with_aml=False)
    t = table(f"Sources of twin {twin}: {view.name}", "id", "URI", "description", "owner", "status")
    for s in view.sources:
        t.add_row(cell(s.source_id), cell(s.uri), cell(s.description), cell(s.owner),
                  cell("removed" if s.removed else "active"))
    console().print(t)
