"""The chain side of confidential sharing: who may read a subject at a block, and the published envelopes.

Readers come from the chain only. The candidates are the accounts that ever received a role on the
twin (`TwinRoleGranted` events up to the block); a candidate is a reader if the permission matrix and its
component scope let it read the subject's component *at that block* (`Authorization.can` called with
`block_identifier`), with `SENSOR_READ` for a feed and `DOC_READ` for a document or AML model. Its key
is the one registered with `registerKey` at that block.

A key envelope counts once its CID is recorded with `publishKeyEnvelope(twin, component, subject,
epoch, cid)`. `subject` there is `subject_word(subject)`: keccak256 of the subject's DAG-CBOR map
(docs/formats.md section 6), so two feeds of one component have different words, and the
permission check stays on the component. Only envelopes published under the subject's own component
count (a feed's or a document's component on-chain, the twin for an AML model): the contract checked
that their publisher held KEY_PUBLISH on that component, and keeps their epochs growing by one. An
account permitted on another component can publish under that one only, which no reader takes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import event_signature_to_log_topic, keccak

from ..chain.connection import TwinLedgerChain
from ..chain.logs import LogReader, decode_log, event_entries
from ..formats.cids import pack, raw_cid_from_digest
from ..crypto.context import Subject, canonical
from ..crypto.envelope import Envelope
from ..crypto.errors import EnvelopeError, NotARecipient
from ..crypto.keys import Recipient, address_from_private_key, normalize_address
from ..crypto.policy import resolve_readers, resolve_recipients
from . import contracts, transactions
from .names import Permission

DOC_READ = int(Permission.DOC_READ)
SENSOR_READ = int(Permission.SENSOR_READ)
READ_PERMISSION = {"feed": SENSOR_READ, "doc": DOC_READ, "aml": DOC_READ}
ZERO32 = bytes(32)

ROLE_GRANTED = event_signature_to_log_topic("TwinRoleGranted(uint256,bytes32,address,address)")
KEY_ENVELOPE_PUBLISHED = event_signature_to_log_topic(
    "KeyEnvelopePublished(uint256,bytes32,bytes32,uint64,bytes32,address)")
# Authorization events after which the readers of a twin may differ: roles, the matrix, scopes, keys.
ACCESS_EVENTS = tuple(event_signature_to_log_topic(s) for s in (
    "TwinRoleGranted(uint256,bytes32,address,address)",
    "TwinRoleRevoked(uint256,bytes32,address,address)",
    "PermissionsSet(uint256,bytes32,uint256,address)",
    "PermissionsReset(uint256,bytes32,address)",
    "ScopeSet(uint256,address,uint32,bytes32[],address)",
    "ScopeCleared(uint256,address,uint32,address)",
    "KeyRegistered(address,bytes)",
))
KEY_REGISTERED = ACCESS_EVENTS[-1]


def subject_word(subject: Subject) -> bytes:
    """The `bytes32 subject` of `publishKeyEnvelope`: keccak256(dag_cbor({"kind", "id"}))."""
    return keccak(canonical(subject.to_map()))


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


@dataclass(frozen=True)
class Readers:
    """The readers of one subject at one block."""

    block: int
    recipients: frozenset[Recipient]
    without_key: frozenset[str]  # permitted, but no registered key: they cannot be wrapped to yet

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset(r.address for r in self.recipients)


def candidates(chain: TwinLedgerChain, twin: int, block: int) -> list[str]:
    """Every account that received a role on `twin` up to `block` (some may have lost it since)."""
    logs = LogReader(chain.w3).logs(chain.auth.address, [_hex(ROLE_GRANTED), _word(twin)], chain.deployment.block,
                                    block)
    return list(dict.fromkeys(normalize_address("0x" + bytes(log["topics"][3])[12:].hex()) for log in logs))


def readers_at(chain: TwinLedgerChain, twin: int, component: bytes, block: int | None = None, *,
               kind: str = "feed") -> Readers:
    """Who may read a `kind` subject of `component` (ZERO32: the twin) at `block` (default: latest)."""
    block = chain.w3.eth.block_number if block is None else block
    permission = READ_PERMISSION[kind]
    auth = chain.auth.functions

    def can_read(address: str) -> bool:
        return bool(auth.can(twin, _checksum(address), permission, component).call(block_identifier=block))

    def public_key_of(address: str) -> bytes | None:
        key = bytes(auth.publicKeyOf(_checksum(address)).call(block_identifier=block))
        return key or None

    readers = resolve_readers(candidates(chain, twin, block), can_read)
    recipients, missing = resolve_recipients(readers, public_key_of)
    return Readers(block, recipients, missing)


def _checksum(address: str) -> str:
    from web3 import Web3

    return Web3.to_checksum_address(address)


# ---------------------------------------------------------------------------------------------
# Published envelopes


@dataclass(frozen=True)
class PublishedEnvelope:
    """One `KeyEnvelopePublished` event."""

    twin: int
    component: bytes
    subject: bytes  # subject_word
    epoch: int
    cid: str
    publisher: str
    block: int
    log_index: int


def publish_envelope(chain: TwinLedgerChain, store: Any, envelope: Envelope, component: bytes) -> PublishedEnvelope:
    """Store the envelope on IPFS (one raw block, pinned) and record its CID on-chain; waits until it is mined."""
    data = envelope.to_bytes()
    cid = str(store.block_put(data, codec="raw", pin=True).cid)
    if cid != envelope.cid:
        raise EnvelopeError(f"the store returned {cid} for envelope {envelope.cid}")
    digest, _codec = pack(cid)
    word = subject_word(envelope.subject)
    sent = chain.sender.submit(
        transactions.publish_key_envelope(chain, envelope.twin, component, word, envelope.epoch, digest))
    # Mined is enough: the payloads that use the key come in later transactions, and a reorg that
    # dropped this one would find the same CID republished by `BatchSealer` or the CLI user's retry.
    receipt = chain.sender.wait(sent, confirmations=0)
    return PublishedEnvelope(envelope.twin, component, word, envelope.epoch, cid,
                             normalize_address(chain.sender.address), receipt["blockNumber"], -1)


def subject_component(chain: TwinLedgerChain, twin: int, subject: Subject) -> bytes:
    """The component a subject belongs to on-chain: its feed's or document's, ZERO32 for an AML model (the twin).

    Raises `EnvelopeError` for a feed or document of another twin."""
    if subject.kind == "aml":
        return ZERO32
    if not isinstance(subject.id, int):
        raise EnvelopeError(f"{subject}: a feed or document id is a number")
    if subject.kind == "feed":
        record = contracts.feed(chain, subject.id)
        owner_twin, component = record.twin, record.component
    else:
        doc = contracts.document(chain, subject.id)
        owner_twin, component = doc.twin, doc.component
    if owner_twin != twin:
        raise EnvelopeError(f"{subject} belongs to twin {owner_twin}, not to twin {twin}")
    return component


def envelopes_for(chain: TwinLedgerChain, twin: int, subject: Subject, *, to_block: int | None = None,
                  epoch: int | None = None, component: bytes | None = None) -> list[PublishedEnvelope]:
    """The envelopes published for `subject` of `twin` under its own component (looked up when not given) up to
    `to_block` (default: latest), in chain order, optionally of one epoch."""
    if component is None:
        component = subject_component(chain, twin, subject)
    topics = [_hex(KEY_ENVELOPE_PUBLISHED), _word(twin), _hex(component), _hex(subject_word(subject))]
    last = chain.w3.eth.block_number if to_block is None else to_block
    logs = list(LogReader(chain.w3).logs(chain.auth.address, topics, chain.deployment.block, last))
    entry = event_entries(chain.auth.abi)[KEY_ENVELOPE_PUBLISHED]
    out = []
    for log in sorted(logs, key=lambda item: (item["blockNumber"], item["logIndex"])):
        args = decode_log(entry, log).args
        if epoch is not None and args["epoch"] != epoch:
            continue
        out.append(PublishedEnvelope(twin, bytes(args["component"]), bytes(args["subject"]), args["epoch"],
                                     raw_cid_from_digest(bytes(args["envelopeCid"])),
                                     normalize_address(args["publisher"]), log["blockNumber"], log["logIndex"]))
    return out


def last_epoch(chain: TwinLedgerChain, twin: int, subject: Subject, component: bytes | None = None) -> int | None:
    """The highest epoch published for the subject (under `component`, default: its own); a writer without keys
    starts after it."""
    return max((e.epoch for e in envelopes_for(chain, twin, subject, component=component)), default=None)


def load_envelope(store: Any, published: PublishedEnvelope, subject: Subject) -> Envelope:
    """Fetch a published envelope (the store checks the bytes against the CID) and check its place."""
    envelope = Envelope.from_bytes(store.block_get(published.cid))
    if (envelope.twin, envelope.subject, envelope.epoch) != (published.twin, subject, published.epoch):
        raise EnvelopeError(f"envelope {published.cid} is for {envelope.describe()}, but was published for "
                            f"twin {published.twin} {subject} epoch {published.epoch}")
    return envelope


def recipients_of(chain: TwinLedgerChain, store: Any, twin: int, subject: Subject, epoch: int) -> frozenset[str]:
    """Every address some published envelope of (subject, epoch) wraps the key to."""
    out: set[str] = set()
    for published in envelopes_for(chain, twin, subject, epoch=epoch):
        out |= set(load_envelope(store, published, subject).recipients)
    return frozenset(out)


def published_envelope_for(chain: TwinLedgerChain, store: Any, twin: int, subject: Subject, epoch: int,
                           private_key: bytes | str) -> Envelope:
    """The latest envelope published on-chain for (subject, epoch) that has an entry for my address.

    Raises `NotARecipient` when none has (the account was not a reader when the epoch began), or
    `EnvelopeError` when nothing was published for that epoch.
    """
    me = address_from_private_key(private_key)
    published = envelopes_for(chain, twin, subject, epoch=epoch)
    if not published:
        raise EnvelopeError(f"no key envelope is published on-chain for twin {twin} {subject} epoch {epoch}")
    for entry in reversed(published):
        envelope = load_envelope(store, entry, subject)
        if me in envelope.recipients:
            return envelope
    raise NotARecipient(f"{me} is not a recipient of twin {twin} {subject} epoch {epoch}: it could not read "
                        "it when that epoch's key was made")
