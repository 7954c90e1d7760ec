"""`doc add|version|get|list` and `source add|remove|list`: documents on IPFS anchored by digest, and
external data sources.

A document version is stored on IPFS (CIDv1, raw leaves) and recorded on-chain as its CID plus the
keccak256 of its bytes. `doc get` refuses content whose blocks do not match the CID (the store checks
every block) or whose bytes do not match the on-chain digest, and writes nothing in that case.

`--encrypt` stores a sealed payload instead (docs/formats.md section 6), readable by the accounts the
chain lets read the document's component at that block (client/sharing.py); the on-chain digest is
then the sealed payload's, so integrity is checkable without a key. `doc get` decrypts with the
account's key, and `doc reencrypt` seals the current version again for today's readers.
"""
from __future__ import annotations

from pathlib import Path

import click
from ...crypto import CryptoError, Subject
from ...ipfs import IpfsError
from ..context import CliContext
from ...ledger.sharing import SealedVersion, describe_recipients, seal_version, sealed_header, short_address
from ...ledger.documents import (add_document, decrypt_version, document_version, fetch_verified,
                                 store_sealed_payload)
from ...ledger.twinview import ZERO32, LookupFailed, VersionInfo, document_versions, load_twin
from .base import (TWIN, Stored, cell, console, events_in, note, pass_cli, require_account, send, store_file,
                   table, when)
from ...ledger import contracts, transactions

IN_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


ENCRYPT = click.option("--encrypt/--plain", "encrypt", default=None,
                       help="Store the version encrypted for the parties that may read it now (default: --plain for "
                            "a new document, like the latest version for a new version).")


def _seal_file(cli: CliContext, twin: int, doc: int, component: bytes, version: int, data: bytes) -> Stored:
    return store_sealed(cli, seal_version(cli.chain, cli.store, twin, Subject.doc(doc), component, version, data))


def store_sealed(cli: CliContext, sealed: SealedVersion) -> Stored:
    """Report who a sealed version is for and store it on IPFS."""
    report_sealed(sealed)
    return store_sealed_payload(cli, sealed)


def report_sealed(sealed: SealedVersion) -> None:
    readers = describe_recipients(sealed.readers.addresses)
    note(f"encrypted (epoch {sealed.epoch}) for {readers}" + (
        f"; permitted but without a registered key: {describe_recipients(sealed.readers.without_key)}"
        if sealed.readers.without_key else ""))


def _document_meta(cli: CliContext, twin: int, doc: int) -> tuple[bytes, int]:
    record = contracts.document(cli.chain, doc)
    doc_twin, component, count = record.twin, record.component, record.versions
    if doc_twin != twin:
        raise LookupFailed(f"UnknownDocument: twin {twin} has no document {doc}")
    return bytes(component), count


# ------------------------------------------------------------------------------------------ documents


@click.group("doc")
def doc_group() -> None:
    """Documents of a twin (manuals, certificates, reports), versioned."""


@doc_group.command("add")
@click.argument("twin", type=TWIN)
@click.argument("file", type=IN_FILE)
@click.option("--name", required=True, help="Document name (1..64 bytes).")
@click.option("--component", help="Component it belongs to (name, AML ID or 0x id); default: the whole twin.")
@ENCRYPT
@pass_cli
def doc_add(cli: CliContext, twin: int, file: Path, name: str, component: str | None, encrypt: bool | None) -> None:
    """Store FILE on IPFS and register it as a new document of TWIN."""
    require_account(cli)
    component_id = ZERO32
    if component:
        component_id = load_twin(cli.chain, cli.store, twin).resolve_component(component).id
    doc_id, stored = add_document(cli, twin, file.read_bytes(), name, component_id, bool(encrypt), report_sealed)
    click.echo(f"Added document {doc_id} {name!r} to twin {twin}: version 0 = {stored.cid}"
               + (" (encrypted)" if encrypt else ""))


@doc_group.command("version")
@click.argument("twin", type=TWIN)
@click.argument("doc", type=click.IntRange(min=1))
@click.argument("file", type=IN_FILE)
@ENCRYPT
@pass_cli
def doc_version(cli: CliContext, twin: int, doc: int, file: Path, encrypt: bool | None) -> None:
    """Store FILE on IPFS as the next version of document DOC of TWIN."""
    require_account(cli)
    component, count = _document_meta(cli, twin, doc)
    if encrypt is None:
        encrypt = count > 0 and _is_sealed(cli, doc, document_versions(cli.chain, doc, count)[-1])
    if encrypt:
        stored = _seal_file(cli, twin, doc, component, count, file.read_bytes())
    else:
        stored = store_file(cli, file)
    _add_version(cli, twin, doc, stored, count, encrypt)


def _add_version(cli: CliContext, twin: int, doc: int, stored: Stored, expected: int, encrypted: bool) -> None:
    receipt = send(cli, transactions.add_document_version(cli.chain, twin, doc, stored.cid_digest, stored.codec,
                                                                 stored.content_digest), "adding the version")
    version = events_in(cli.chain.spec, receipt, "DocumentVersionAdded")[0]["version"]
    if encrypted and version != expected:
        raise click.ClickException(f"another version was added meanwhile: version {version} holds a payload sealed "
                                   f"as version {expected}; add it again")
    click.echo(f"Document {doc} of twin {twin}: version {version} = {stored.cid}" + (" (encrypted)" if encrypted else ""))


def _is_sealed(cli: CliContext, doc: int, v: VersionInfo) -> bool:
    return sealed_header(fetch_verified(cli, doc, v)) is not None


@doc_group.command("get")
@click.argument("twin", type=TWIN)
@click.argument("doc", type=click.IntRange(min=1))
@click.option("--version", "version", type=click.IntRange(min=0), help="Version (default: the latest).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout).")
@pass_cli
def doc_get(cli: CliContext, twin: int, doc: int, version: int | None, output: Path | None) -> None:
    """Fetch a document version and check it against the on-chain digest before writing it.

    An encrypted version is decrypted with --account's key if the account was a reader when it was written."""
    name, v = document_version(cli, twin, doc, version)
    data = fetch_verified(cli, doc, v)
    header = sealed_header(data)
    if header is not None:
        data = decrypt_version(cli, twin, doc, v, data)
        note(f"decrypted (epoch {header.context.epoch}) with the key of {cli.account.address}")
    if output is None:
        click.get_binary_stream("stdout").write(data)
    else:
        output.write_bytes(data)
    note(f"{name!r} v{v.index}: {len(data)} bytes, matches the on-chain digest (by {v.author}, {when(v.time)})")


@doc_group.command("reencrypt")
@click.argument("twin", type=TWIN)
@click.argument("doc", type=click.IntRange(min=1))
@pass_cli
def doc_reencrypt(cli: CliContext, twin: int, doc: int) -> None:
    """Seal the current version of DOC again, as a new version, for the parties that may read it now.

    After a revocation the revoked party keeps what it could already read, but not this copy; a party
    granted since gets it. The account must be able to read the current version and to add versions."""
    require_account(cli)
    component, count = _document_meta(cli, twin, doc)
    _name, current = document_version(cli, twin, doc, None)
    data = fetch_verified(cli, doc, current)
    if sealed_header(data) is not None:
        data = decrypt_version(cli, twin, doc, current, data)
    stored = _seal_file(cli, twin, doc, component, count, data)
    _add_version(cli, twin, doc, stored, count, True)
    note(f"version {count} re-encrypts version {current.index}; earlier versions keep their readers")


@doc_group.command("list")
@click.argument("twin", type=TWIN)
@pass_cli
def doc_list(cli: CliContext, twin: int) -> None:
    """Documents of TWIN with their versions, and for encrypted ones the epoch and who may decrypt it."""
    view = load_twin(cli.chain, cli.store, twin)
    t = table(f"Documents of twin {twin}: {view.name}", "id", "name", "component", "v", "CID", "author", "time",
              "encrypted for")
    for d in view.documents:
        for v in d.versions:
            first = v.index == 0
            t.add_row(cell(d.doc_id if first else ""), cell(d.name + (" (archived)" if d.archived else "") if first else ""),
                      cell(view.component_label(d.component) if first else ""), cell(v.index), cell(v.cid),
                      cell(v.author), cell(when(v.time)), cell(_encryption_label(cli, twin, d.doc_id, v)))
    console().print(t)


def _encryption_label(cli: CliContext, twin: int, doc: int, v: VersionInfo) -> str:
    """'-' for plain content, else the epoch and every address its published envelopes wrap the key to."""
    from ...ledger.access import recipients_of

    try:
        header = sealed_header(cli.store.cat(v.cid))
    except IpfsError as exc:
        return f"? ({type(exc).__name__})"
    if header is None:
        return "-"
    epoch = header.context.epoch
    try:
        readers = recipients_of(cli.chain, cli.store, twin, Subject.doc(doc), epoch)
    except (CryptoError, IpfsError) as exc:
        return f"epoch {epoch}: ? ({type(exc).__name__})"
    return f"epoch {epoch}: {describe_recipients(readers, short_address)}"


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
    receipt = send(cli, transactions.add_source(cli.chain, twin, uri, description), "adding the source")
    source_id = events_in(cli.chain.spec, receipt, "SourceAdded")[0]["sourceId"]
    click.echo(f"Added source {source_id} to twin {twin}: {uri}")


@source_group.command("remove")
@click.argument("twin", type=TWIN)
@click.argument("source_id", metavar="ID", type=click.IntRange(min=1))
@pass_cli
def source_remove(cli: CliContext, twin: int, source_id: int) -> None:
    """Mark source ID of TWIN removed (its id stays taken)."""
    require_account(cli)
    send(cli, transactions.remove_source(cli.chain, twin, source_id), "removing the source")
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
