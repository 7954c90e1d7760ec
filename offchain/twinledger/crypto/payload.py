"""Sealed payloads: AES-256-GCM ciphertext of one document version, AML version or sensor batch.

A payload is a DAG-CBOR map stored on IPFS (docs/formats.md, section 6):

    {"v": 1, "alg": "AES-256-GCM", "twin": uint, "subject": {"kind", "id"}, "item": uint,
     "epoch": uint, "envelope": CID string, "nonce": 12 bytes, "ct": ciphertext ‖ 16-byte tag}

The associated data is the DAG-CBOR encoding of the same map without `envelope`, `nonce` and `ct`,
so it is recomputed, never trusted from the blob. `envelope` is left out of it on purpose: a wrong
envelope gives a wrong key and fails anyway, and a later envelope of the same epoch (re-wrapped for
a new reader) must still open old payloads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dag_cbor
from dag_cbor.encoding.err import CBORError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .context import Context, Subject, canonical
from .envelope import DATA_KEY_SIZE, Envelope, EpochKey, open_envelope
from .errors import CryptoError, DecryptionFailed, InvalidKey

PAYLOAD_VERSION = 1
ALGORITHM = "AES-256-GCM"
NONCE_SIZE = 12
_PAYLOAD_KEYS = frozenset({"v", "alg", "twin", "subject", "item", "epoch", "envelope", "nonce", "ct"})


def associated_data(context: Context) -> bytes:
    """The canonical AAD of a version-1 payload at `context`."""
    return canonical({"v": PAYLOAD_VERSION, "alg": ALGORITHM, **context.to_map()})


def _cipher(key: bytes) -> AESGCM:
    if len(key) != DATA_KEY_SIZE:
        raise InvalidKey(f"a data key is {DATA_KEY_SIZE} bytes, got {len(key)}")
    return AESGCM(key)


def seal(plaintext: bytes, key: bytes, context: Context, *, envelope: str) -> bytes:
    """Encrypt `plaintext` for `context` under `key`, with a fresh random 96-bit nonce."""
    nonce = os.urandom(NONCE_SIZE)
    ct = _cipher(key).encrypt(nonce, plaintext, associated_data(context))
    return canonical({
        "v": PAYLOAD_VERSION,
        "alg": ALGORITHM,
        **context.to_map(),
        "envelope": envelope,
        "nonce": nonce,
        "ct": ct,
    })


@dataclass(frozen=True)
class SealedHeader:
    """What a payload says about itself before it is decrypted (not yet authenticated)."""

    context: Context
    envelope: str
    nonce: bytes
    ct: bytes


SEALED_MAP_PREFIX = b"\xa9"  # a sealed payload is a 9-key DAG-CBOR map; a plain batch is a 4-key one (0xa4)


def looks_sealed(data: bytes) -> bool:
    """True if `data` starts like a sealed payload (a cheap test before `read_header`)."""
    return data[:1] == SEALED_MAP_PREFIX


def sealed_header(content: bytes) -> SealedHeader | None:
    """The header of a sealed payload, or None for plain (or unreadable) content."""
    if not looks_sealed(content):
        return None
    try:
        return read_header(content)
    except CryptoError:
        return None


def read_header(blob: bytes) -> SealedHeader:
    """Parse a payload without decrypting it, e.g. to find the envelope to fetch."""
    try:
        value: Any = dag_cbor.decode(blob)
    except (CBORError, ValueError) as exc:
        raise DecryptionFailed(f"payload is not canonical DAG-CBOR: {exc}") from exc
    if not isinstance(value, dict) or set(value) != _PAYLOAD_KEYS:
        raise DecryptionFailed("payload does not have exactly the version-1 fields")
    if value["v"] != PAYLOAD_VERSION or value["alg"] != ALGORITHM:
        raise DecryptionFailed(f"unsupported payload v={value['v']!r} alg={value['alg']!r}")
    if not isinstance(value["nonce"], bytes) or len(value["nonce"]) != NONCE_SIZE:
        raise DecryptionFailed(f"payload nonce must be {NONCE_SIZE} bytes")
    if not isinstance(value["ct"], bytes) or not isinstance(value["envelope"], str):
        raise DecryptionFailed("payload ct must be bytes and envelope a CID string")
    try:
        context = Context(value["twin"], Subject.from_map(value["subject"]), value["item"], value["epoch"])
    except (ValueError, TypeError) as exc:
        raise DecryptionFailed(f"payload has a malformed context: {exc}") from exc
    return SealedHeader(context, value["envelope"], value["nonce"], value["ct"])


def open_sealed(blob: bytes, key: bytes, expected: Context) -> bytes:
    """Decrypt a payload that must belong to `expected`; any mismatch or tampering raises DecryptionFailed."""
    header = read_header(blob)
    if header.context != expected:
        raise DecryptionFailed(f"payload is for {header.context}, expected {expected}")
    try:
        return _cipher(key).decrypt(header.nonce, header.ct, associated_data(expected))
    except InvalidTag:
        raise DecryptionFailed(f"authentication failed for {expected}") from None


def seal_item(plaintext: bytes, epoch_key: EpochKey, item: int) -> bytes:
    """Seal item `item` (batch seq or document version) of the epoch key's subject."""
    context = Context(epoch_key.twin, epoch_key.subject, item, epoch_key.epoch)
    return seal(plaintext, epoch_key.key, context, envelope=epoch_key.envelope)


def open_payload(
    blob: bytes,
    private_key: bytes | str,
    envelope_for: Callable[[SealedHeader], Envelope | bytes],
    *,
    twin: int,
    subject: Subject,
    item: int,
) -> bytes:
    """Reader side in one call: find the envelope, unwrap my key, decrypt.

    The caller states where the payload must belong (from the chain: twin, feed and seq, or document
    and version). The epoch is taken from the payload; it is authenticated because the key of any
    other epoch, or the AAD of any other place, fails the tag. `envelope_for` fetches the envelope,
    by the header's CID or by the chain's latest envelope for (subject, epoch).
    """
    header = read_header(blob)
    expected = Context(twin, subject, item, header.context.epoch)
    if header.context != expected:
        raise DecryptionFailed(f"payload is for {header.context}, expected {expected}")
    key = open_envelope(envelope_for(header), private_key, twin=twin, subject=subject, epoch=expected.epoch)
    return open_sealed(blob, key, expected)


def reencrypt(blob: bytes, old_key: bytes, expected: Context, new_key: EpochKey) -> bytes:
    """Seal the same item again under a newer epoch's key, for the parties of that epoch.

    Used when a document's current version must move to a new reader set (after a revocation). The
    old payload and its envelope stay as they are: whoever could read the old version still can.
    """
    if (new_key.twin, new_key.subject) != (expected.twin, expected.subject):
        raise ValueError(f"new key is for twin {new_key.twin} {new_key.subject}, not {expected}")
    if new_key.epoch <= expected.epoch:
        raise ValueError(f"new epoch {new_key.epoch} must be after the payload's epoch {expected.epoch}")
    plaintext = open_sealed(blob, old_key, expected)
    return seal_item(plaintext, new_key, expected.item)
