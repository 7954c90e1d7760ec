"""Encrypted documents for the CLI: seal a version for the readers the chain permits, open one as a reader.

A document version is one write, and the CLI keeps no keys between runs, so every encrypted version
gets a new epoch (the highest published one plus one) with a fresh key wrapped to the accounts that
may read the document's component at the latest block (`DOC_READ` within their scope, with a
registered key). The on-chain digest of an encrypted version is keccak256 of the stored sealed
payload, so anyone can check integrity without a key; the AES-GCM tag covers the plaintext.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..chain.connection import TwinLedgerChain
from ..crypto import (
    CryptoError,
    EpochKey,
    SealedHeader,
    Subject,
    build_envelope,
    new_data_key,
    open_payload,
    read_header,
    seal_item,
)
from ..crypto.access import (
    PublishedEnvelope,
    Readers,
    envelopes_for,
    last_epoch,
    publish_envelope,
    published_envelope_for,
    readers_at,
    recipients_of,
)

SEALED_MAP_PREFIX = b"\xa9"  # the sealed payload is a 9-key DAG-CBOR map; no plain file is checked further


@dataclass(frozen=True)
class SealedVersion:
    payload: bytes
    epoch: int
    readers: Readers
    envelope: PublishedEnvelope


def seal_version(chain: TwinLedgerChain, store: Any, twin: int, doc_id: int, component: bytes, version: int,
                 plaintext: bytes) -> SealedVersion:
    """Seal `plaintext` as `version` of document `doc_id` under a new epoch; the envelope is published first."""
    subject = Subject.doc(doc_id)
    readers = readers_at(chain, twin, component, kind="doc")
    previous = last_epoch(chain, twin, subject)
    epoch = 0 if previous is None else previous + 1
    key = new_data_key()
    envelope = build_envelope(twin, subject, epoch, key, readers.recipients, chain.sender.address)
    published = publish_envelope(chain, store, envelope, component)
    payload = seal_item(plaintext, EpochKey.from_envelope(envelope, key), version)
    return SealedVersion(payload, epoch, readers, published)


def sealed_header(content: bytes) -> SealedHeader | None:
    """The header of a sealed payload, or None for plain content."""
    if content[:1] != SEALED_MAP_PREFIX:
        return None
    try:
        return read_header(content)
    except CryptoError:
        return None


def open_version(chain: TwinLedgerChain, store: Any, twin: int, doc_id: int, version: int, content: bytes,
                 private_key: bytes) -> bytes:
    """Decrypt a document version as a reader, with the envelope published on-chain for its epoch.

    Raises a `CryptoError`: `NotARecipient`, `EnvelopeWrongKey`, `EnvelopeMismatch` or `DecryptionFailed`.
    """
    subject = Subject.doc(doc_id)

    def envelope_for(header: SealedHeader):
        return published_envelope_for(chain, store, twin, subject, header.context.epoch, private_key)

    return open_payload(content, private_key, envelope_for, twin=twin, subject=subject, item=version)


@dataclass(frozen=True)
class Sharing:
    """Who a subject's latest epoch is shared with (for listings)."""

    epoch: int
    recipients: frozenset[str]


def latest_sharing(chain: TwinLedgerChain, store: Any, twin: int, subject: Subject) -> Sharing | None:
    """The latest published epoch of `subject` and every address its envelopes wrap to; None: never encrypted."""
    published = envelopes_for(chain, twin, subject)
    if not published:
        return None
    epoch = max(p.epoch for p in published)
    return Sharing(epoch, recipients_of(chain, store, twin, subject, epoch))


def short_address(address: str) -> str:
    """`0x3c44cd…4293bc`: enough to tell parties apart in a table."""
    return f"{address[:8]}…{address[-6:]}"


def describe_recipients(recipients: frozenset[str], label=lambda a: a) -> str:
    return ", ".join(sorted(label(a) for a in recipients)) if recipients else "nobody"

