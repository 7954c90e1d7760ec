"""Documents of a twin as stored: content on IPFS checked against its on-chain digest, sealed
versions opened for a permitted reader, and new documents stored and registered. The CLI's `doc`
commands and the web client's documents page are two faces of these functions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ..chain.connection import TwinLedgerChain
from ..crypto import CryptoError, Subject
from .sharing import SealedVersion, open_version, seal_version
from ..formats.cids import pack
from ..ipfs import BlockNotFound, IntegrityError, IpfsError
from . import contracts, transactions
from .twinview import LookupFailed, VersionInfo, document_versions, require_twin
from .writes import events_in, send


class Session(Protocol):
    """Who acts where: the CLI's context and the web client's both are one."""

    @property
    def chain(self) -> TwinLedgerChain: ...

    @property
    def store(self) -> Any: ...

    @property
    def account(self) -> LocalAccount | None: ...


@dataclass(frozen=True)
class Stored:
    """A file on IPFS and the on-chain pointer to it: (CID digest, codec) plus keccak256 of the bytes."""

    cid: str
    cid_digest: bytes
    codec: int
    content_digest: bytes


def content_digest(data: bytes) -> bytes:
    """The `digest` recorded with a specification or document version: keccak256 of its bytes."""
    return keccak(data)


def store_bytes(session: Session, data: bytes) -> Stored:
    """Add bytes to IPFS as CIDv1 with raw leaves (docs/formats.md section 5)."""
    cid = session.store.add_bytes(data, cid_version=1, raw_leaves=True).cid
    digest, codec = pack(cid)
    return Stored(cid, digest, codec, content_digest(data))


class DigestMismatch(LookupFailed):
    """Fetched content differs from what the chain recorded."""


class NotReadable(LookupFailed):
    """An encrypted version this account cannot open."""



def store_sealed_payload(session: Session, sealed: SealedVersion) -> Stored:
    cid = session.store.add_bytes(sealed.payload, cid_version=1, raw_leaves=True).cid
    digest, codec = pack(cid)
    return Stored(cid, digest, codec, content_digest(sealed.payload))



def add_document(session: Session, twin: int, data: bytes, name: str, component_id: bytes, encrypt: bool,
                 on_sealed: Callable[[SealedVersion], None] | None = None) -> tuple[int, Stored]:
    """Store `data` on IPFS (sealed for today's readers with `encrypt`) and register it as a new document."""
    require_twin(session.chain, twin)
    if encrypt:
        # The document id is part of the sealed payload's place, so it is taken before it exists, and
        # addDocumentAt records the document under that id or not at all (IdTaken: nothing was written).
        expected_id = contracts.document_count(session.chain) + 1
        sealed = seal_version(session.chain, session.store, twin, Subject.doc(expected_id), component_id, 0, data)
        if on_sealed is not None:
            on_sealed(sealed)
        stored = store_sealed_payload(session, sealed)
        add = transactions.add_document_at(session.chain, expected_id, twin, component_id, name, stored.cid_digest,
                                           stored.codec, stored.content_digest)
    else:
        stored = store_bytes(session, data)
        add = transactions.add_document(session.chain, twin, component_id, name, stored.cid_digest, stored.codec,
                                        stored.content_digest)
    receipt = send(session.chain, add)
    doc_id = events_in(session.chain.spec, receipt, "DocumentAdded")[0]["docId"]
    return int(doc_id), stored



def document_version(session: Session, twin: int, doc: int, version: int | None) -> tuple[str, VersionInfo]:
    record = contracts.document(session.chain, doc)
    doc_twin, name, count = record.twin, record.name, record.versions
    if doc_twin != twin:
        raise LookupFailed(f"UnknownDocument: twin {twin} has no document {doc}")
    index = count - 1 if version is None else version
    if not 0 <= index < count:
        raise LookupFailed(f"VersionNotFound: document {doc} has versions 0..{count - 1}")
    return name, document_versions(session.chain, doc, count)[index]



def fetch_verified(session: Session, doc: int, v: VersionInfo) -> bytes:
    where = f"document {doc} v{v.index} ({v.cid})"
    try:
        data = session.store.cat(v.cid)
    except IntegrityError as exc:
        raise DigestMismatch(f"IntegrityError: {where}: stored blocks do not match the CID ({exc})") from None
    except BlockNotFound:
        raise LookupFailed(f"BlockNotFound: {where} is not in the IPFS store {session.store!r}") from None
    except IpfsError as exc:
        raise LookupFailed(f"{type(exc).__name__}: {where}: {exc}") from None
    actual = content_digest(data)
    if actual != bytes(v.digest):
        raise DigestMismatch(f"DigestMismatch: {where}: content keccak256 0x{actual.hex()} differs from the "
                             f"on-chain digest 0x{bytes(v.digest).hex()}; nothing written")
    return bytes(data)



def decrypt_version(session: Session, twin: int, doc: int, v: VersionInfo, data: bytes) -> bytes:
    where = f"document {doc} v{v.index}"
    if session.account is None:
        raise NotReadable(f"Encrypted: {where} is encrypted; pass --account of a party it was shared with")
    try:
        return open_version(session.chain, session.store, twin, Subject.doc(doc), v.index, data, bytes(session.account.key))
    except CryptoError as exc:
        raise NotReadable(f"{type(exc).__name__}: cannot decrypt {where}: {exc}") from None


