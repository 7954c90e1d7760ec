"""Key envelopes: one random data key per (subject, epoch), wrapped to each reader with ECIES.

An envelope is a DAG-CBOR document stored on IPFS as one raw block (docs/formats.md, section 6):

    {"v": 1, "twin": uint, "subject": {"kind", "id"}, "epoch": uint,
     "recipients": {address: wrapped key}, "commit": bytes32, "created_at": uint ms, "writer": address}

Each wrapped key is `ecies.encrypt(pubkey, data_key ‖ sha256(wrap binding))` with eciespy's default
configuration (secp256k1, HKDF-SHA256, AES-256-GCM). The wrap binding names the twin, subject, epoch
and recipient, so a wrapped key copied into another envelope is refused. `commit` is an HMAC of the
binding under the data key: every recipient checks it, so a writer cannot give different readers
different keys for the same epoch, and a reader learns that it holds *the* key of this epoch.

The envelope is not signed. Its authority comes from the chain: only an account with KEY_PUBLISH on
the twin can record an envelope CID for a subject, and readers look envelopes up there.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dag_cbor
from dag_cbor.encoding.err import CBORError
import ecies
from multiformats import CID, multihash

from .context import Subject, canonical, check_uint
from .errors import EnvelopeError, EnvelopeMismatch, EnvelopeWrongKey, InvalidKey, NotARecipient
from .keys import Recipient, address_from_private_key, normalize_address

ENVELOPE_VERSION = 1
DATA_KEY_SIZE = 32
_BINDING_SIZE = 32
_ENVELOPE_KEYS = frozenset({"v", "twin", "subject", "epoch", "recipients", "commit", "created_at", "writer"})


def new_data_key() -> bytes:
    """A fresh random AES-256 key for one (subject, epoch)."""
    return os.urandom(DATA_KEY_SIZE)


def _epoch_map(twin: int, subject: Subject, epoch: int) -> dict[str, Any]:
    return {"v": ENVELOPE_VERSION, "twin": twin, "subject": subject.to_map(), "epoch": epoch}


def key_commitment(key: bytes, twin: int, subject: Subject, epoch: int) -> bytes:
    """HMAC-SHA256 under the data key of the epoch's binding; stored once per envelope as `commit`."""
    binding = canonical({**_epoch_map(twin, subject, epoch), "use": "twinledger/key-commitment"})
    return hmac.new(key, binding, hashlib.sha256).digest()


def _wrap_binding(twin: int, subject: Subject, epoch: int, address: str) -> bytes:
    binding = {**_epoch_map(twin, subject, epoch), "use": "twinledger/key-wrap", "to": address}
    return hashlib.sha256(canonical(binding)).digest()


def wrap_key(key: bytes, recipient: Recipient, twin: int, subject: Subject, epoch: int) -> bytes:
    """ECIES-encrypt `key ‖ binding` to the recipient's registered public key."""
    plaintext = key + _wrap_binding(twin, subject, epoch, recipient.address)
    return ecies.encrypt(b"\x04" + recipient.public_key, plaintext)


@dataclass(frozen=True)
class Envelope:
    twin: int
    subject: Subject
    epoch: int
    recipients: Mapping[str, bytes]
    commit: bytes = field(repr=False)
    created_at: int
    writer: str

    def __post_init__(self) -> None:
        check_uint("twin", self.twin)
        check_uint("epoch", self.epoch)
        check_uint("created_at", self.created_at)
        if len(self.commit) != 32:
            raise EnvelopeError("commit must be 32 bytes")
        recipients = {normalize_address(a): bytes(w) for a, w in self.recipients.items()}
        if len(recipients) != len(self.recipients):
            raise EnvelopeError("duplicate recipient address")
        object.__setattr__(self, "recipients", recipients)
        object.__setattr__(self, "writer", normalize_address(self.writer))

    def to_map(self) -> dict[str, Any]:
        return {
            **_epoch_map(self.twin, self.subject, self.epoch),
            "recipients": dict(self.recipients),
            "commit": self.commit,
            "created_at": self.created_at,
            "writer": self.writer,
        }

    def to_bytes(self) -> bytes:
        return canonical(self.to_map())

    @property
    def cid(self) -> str:
        """CIDv1 (raw, sha2-256, base32) of the encoded envelope: what `ipfs add --raw-leaves` gives."""
        return envelope_cid(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        try:
            value = dag_cbor.decode(data)
        except (CBORError, ValueError) as exc:
            raise EnvelopeError(f"envelope is not canonical DAG-CBOR: {exc}") from exc
        if not isinstance(value, dict) or set(value) != _ENVELOPE_KEYS:
            raise EnvelopeError("envelope does not have exactly the version-1 fields")
        if value["v"] != ENVELOPE_VERSION:
            raise EnvelopeError(f"unsupported envelope version {value['v']!r}")
        recipients = value["recipients"]
        if not isinstance(recipients, dict) or not all(isinstance(w, bytes) for w in recipients.values()):
            raise EnvelopeError("recipients must map addresses to wrapped keys")
        if not isinstance(value["commit"], bytes) or not isinstance(value["writer"], str):
            raise EnvelopeError("commit must be bytes and writer an address")
        twin, epoch, created_at = (_integer(value, name) for name in ("twin", "epoch", "created_at"))
        wrapped = {address: key for address, key in recipients.items() if isinstance(key, bytes)}
        # Addresses are stored lowercase; any other spelling would change the bytes and the CID.
        if any(a != a.lower() for a in [*recipients, value["writer"]]):
            raise EnvelopeError("envelope addresses must be lowercase 0x hex")
        try:
            return cls(
                twin=twin,
                subject=Subject.from_map(value["subject"]),
                epoch=epoch,
                recipients=wrapped,
                commit=value["commit"],
                created_at=created_at,
                writer=value["writer"],
            )
        except (ValueError, TypeError, InvalidKey) as exc:
            raise EnvelopeError(f"malformed envelope: {exc}") from exc

    def describe(self) -> str:
        return f"twin {self.twin} {self.subject} epoch {self.epoch}"


def envelope_cid(data: bytes) -> str:
    return str(CID("base32", 1, "raw", multihash.digest(data, "sha2-256")))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def build_envelope(
    twin: int,
    subject: Subject,
    epoch: int,
    key: bytes,
    recipients: Iterable[Recipient],
    writer: str,
    created_at: int | None = None,
) -> Envelope:
    """Wrap `key` to every recipient. An empty reader set is allowed: data is written, nobody reads."""
    if len(key) != DATA_KEY_SIZE:
        raise InvalidKey(f"a data key is {DATA_KEY_SIZE} bytes, got {len(key)}")
    return Envelope(
        twin=twin,
        subject=subject,
        epoch=epoch,
        recipients={r.address: wrap_key(key, r, twin, subject, epoch) for r in recipients},
        commit=key_commitment(key, twin, subject, epoch),
        created_at=now_ms() if created_at is None else created_at,
        writer=writer,
    )


def extend_envelope(
    envelope: Envelope, key: bytes, added: Iterable[Recipient], writer: str, created_at: int | None = None
) -> Envelope:
    """A new envelope for the same epoch and key with more recipients (re-wrap on grant).

    The old envelope stays valid for the readers it already had.
    """
    t, s, e = envelope.twin, envelope.subject, envelope.epoch
    if not hmac.compare_digest(key_commitment(key, t, s, e), envelope.commit):
        raise EnvelopeMismatch(f"key is not the data key of {envelope.describe()}")
    recipients = dict(envelope.recipients) | {r.address: wrap_key(key, r, t, s, e) for r in added}
    created = now_ms() if created_at is None else created_at
    return Envelope(t, s, e, recipients, envelope.commit, created, writer)


def open_envelope(
    envelope: Envelope | bytes,
    private_key: bytes | str,
    *,
    twin: int | None = None,
    subject: Subject | None = None,
    epoch: int | None = None,
) -> bytes:
    """Unwrap my data key. Pass the place you expect so a substituted envelope is refused.

    Raises `NotARecipient` if my address has no entry, `EnvelopeWrongKey` if the entry was wrapped to
    another public key, `EnvelopeMismatch` if the envelope or the wrapped key belongs elsewhere.
    """
    env = envelope if isinstance(envelope, Envelope) else Envelope.from_bytes(envelope)
    expected = (("twin", twin, env.twin), ("subject", subject, env.subject), ("epoch", epoch, env.epoch))
    for name, want, got in expected:
        if want is not None and want != got:
            raise EnvelopeMismatch(f"expected {name} {want}, envelope is for {env.describe()}")
    address = address_from_private_key(private_key)
    wrapped = env.recipients.get(address)
    if wrapped is None:
        raise NotARecipient(f"{address} is not a recipient of {env.describe()}")
    raw_key = bytes.fromhex(private_key.removeprefix("0x")) if isinstance(private_key, str) else private_key
    try:
        plaintext = ecies.decrypt(raw_key, wrapped)
    except (ValueError, TypeError) as exc:
        # ECIES authenticates with AES-GCM: a key wrapped to another public key fails its tag.
        raise EnvelopeWrongKey(
            f"wrapped key for {address} in {env.describe()} was made for a different public key"
        ) from exc
    if len(plaintext) != DATA_KEY_SIZE + _BINDING_SIZE:
        raise EnvelopeMismatch(f"wrapped key for {address} in {env.describe()} has the wrong length")
    key, binding = plaintext[:DATA_KEY_SIZE], plaintext[DATA_KEY_SIZE:]
    if not hmac.compare_digest(binding, _wrap_binding(env.twin, env.subject, env.epoch, address)):
        raise EnvelopeMismatch(f"wrapped key for {address} was made for another place, not {env.describe()}")
    if not hmac.compare_digest(key_commitment(key, env.twin, env.subject, env.epoch), env.commit):
        raise EnvelopeMismatch(f"key for {address} does not match the commitment of {env.describe()}")
    return key


@dataclass(frozen=True)
class EpochKey:
    """The data key of one (twin, subject, epoch) and the CID of the envelope that distributes it."""

    twin: int
    subject: Subject
    epoch: int
    key: bytes = field(repr=False)
    envelope: str

    @classmethod
    def from_envelope(cls, envelope: Envelope, key: bytes) -> EpochKey:
        return cls(envelope.twin, envelope.subject, envelope.epoch, key, envelope.cid)


def _integer(fields: dict[str, Any], name: str) -> int:
    number = fields[name]
    if not isinstance(number, int) or isinstance(number, bool):
        raise EnvelopeError(f"envelope field {name!r} must be an integer")
    return number
