"""Encrypted documents and AML specification versions for the CLI: seal a version for the readers the
chain permits, open one as a reader.

A document (subject `doc(id)`) or specification (subject `aml(twin id)`, component 0) version is one
write, and the CLI keeps no keys between runs, so every encrypted version gets a new epoch (the
highest published one plus one) with a fresh key wrapped to the accounts that may read the subject's
component at the latest block (`DOC_READ` within their scope, with a registered key). The on-chain
digest of an encrypted version is keccak256 of the stored sealed payload, so anyone can check
integrity without a key; the AES-GCM tag covers the plaintext.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..chain.connection import TwinLedgerChain
from ..crypto import (
    CryptoError,
    Envelope,
    EpochKey,
    SealedHeader,
    Subject,
    build_envelope,
    new_data_key,
    open_payload,
    seal_item,
)
from .access import (
    ZERO32,
    PublishedEnvelope,
    Readers,
    envelopes_for,
    last_epoch,
    publish_envelope,
    published_envelope_for,
    readers_at,
    recipients_of,
)
from ..crypto.errors import NotARecipient
from ..crypto.payload import sealed_header
from ..crypto.keys import Recipient, address_from_private_key
from . import contracts



@dataclass(frozen=True)
class SealedVersion:
    payload: bytes
    epoch: int
    readers: Readers
    envelope: PublishedEnvelope


def seal_version(chain: TwinLedgerChain, store: Any, twin: int, subject: Subject, component: bytes, version: int,
                 plaintext: bytes) -> SealedVersion:
    """Seal `plaintext` as `version` of `subject` (a document or AML model) under a new epoch for the accounts
    that may read `component` now (`DOC_READ`, readers_at kind = the subject's); the envelope is published first."""
    readers = readers_at(chain, twin, component, kind=subject.kind)
    envelope, key, epoch = _new_epoch(chain, twin, subject, readers.recipients, component)
    published = publish_envelope(chain, store, envelope, component)
    payload = seal_item(plaintext, EpochKey.from_envelope(envelope, key), version)
    return SealedVersion(payload, epoch, readers, published)


def _new_epoch(chain: TwinLedgerChain, twin: int, subject: Subject, recipients: Iterable[Recipient],
               component: bytes) -> tuple[Envelope, bytes, int]:
    previous = last_epoch(chain, twin, subject, component)
    epoch = 0 if previous is None else previous + 1
    key = new_data_key()
    return build_envelope(twin, subject, epoch, key, recipients, chain.sender.address), key, epoch


@dataclass(frozen=True)
class PendingSpec:
    """The first specification version of a twin that does not exist yet, sealed for its creator alone.

    The envelope cannot be published before `createTwin` (nobody holds `KEY_PUBLISH` on a twin that does not
    exist, and the creator becomes its only reader in that block), so it is stored first and recorded
    right after the twin is created (`publish_pending`), before any other party can be granted a role."""

    payload: bytes
    envelope: Envelope
    readers: Readers


def seal_first_spec(chain: TwinLedgerChain, store: Any, twin: int, plaintext: bytes) -> PendingSpec:
    """Seal `plaintext` as version 0 of subject aml(`twin`) for the creator (the twin's future OWNER)."""
    me = chain.sender.address
    public_key = contracts.public_key_of(chain, me)
    if not public_key:
        raise NoReaders(f"{me} has no registered key: run `twinledger key register` before creating a twin with an "
                        "encrypted specification, or nobody could read it")
    recipient = Recipient.from_public_key(public_key)
    envelope, key, _epoch = _new_epoch(chain, twin, Subject.aml(twin), [recipient], ZERO32)
    payload = seal_item(plaintext, EpochKey.from_envelope(envelope, key), 0)
    block = chain.w3.eth.block_number
    return PendingSpec(payload, envelope, Readers(block, frozenset({recipient}), frozenset()))


def publish_pending(chain: TwinLedgerChain, store: Any, pending: PendingSpec) -> PublishedEnvelope:
    return publish_envelope(chain, store, pending.envelope, ZERO32)


class NoReaders(CryptoError):
    """Nobody could read what would be sealed."""


def open_version(chain: TwinLedgerChain, store: Any, twin: int, subject: Subject, version: int, content: bytes,
                 private_key: bytes) -> bytes:
    """Decrypt a document or AML version as a reader, with the envelope published on-chain for its epoch.

    Raises a `CryptoError`: `NotARecipient`, `EnvelopeWrongKey`, `EnvelopeMismatch` or `DecryptionFailed`.
    """
    def envelope_for(header: SealedHeader) -> Envelope:
        return published_envelope_for(chain, store, twin, subject, header.context.epoch, private_key)

    return open_payload(content, private_key, envelope_for, twin=twin, subject=subject, item=version)


class KeyRequired(CryptoError):
    """The content is encrypted and no private key was given."""


def spec_plaintext(chain: TwinLedgerChain, store: Any, twin: int, version: int, content: bytes,
                   private_key: bytes | None) -> bytes:
    """The AML of specification `version` of `twin` from its stored (digest-checked) content.

    Plain content is returned as it is; a sealed payload is opened with `private_key` as a reader of
    subject aml(`twin`). Every reader of the AML (twin views, program calls, `spec update`, the agent) goes
    through here. Raises `KeyRequired`, or the `CryptoError` of the failure (`NotARecipient`, ...) with a
    message that names the version and the permission a reader needs."""
    if sealed_header(content) is None:
        return content
    where = f"specification v{version} of twin {twin} is encrypted"
    if private_key is None:
        raise KeyRequired(f"{where}; pass the account of a party with DOC_READ on the twin")
    try:
        return open_version(chain, store, twin, Subject.aml(twin), version, content, private_key)
    except NotARecipient as exc:
        raise NotARecipient(f"{where} and {address_from_private_key(private_key)} is not a recipient: only the "
                            f"parties with DOC_READ on the twin (and a registered key) when it was written can read "
                            f"it ({exc})") from None
    except CryptoError as exc:
        raise type(exc)(f"{where}: {exc}") from None


def account_key(chain: TwinLedgerChain) -> bytes | None:
    """The private key of the account the chain acts as (None: read-only)."""
    return bytes(chain.account.key) if chain.account is not None else None


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


def describe_recipients(recipients: frozenset[str], label: Callable[[str], str] = lambda a: a) -> str:
    return ", ".join(sorted(label(a) for a in recipients)) if recipients else "nobody"

