"""Independent verification of a twin's history: trust no node, no store, no party.

Everything is recomputed from the chain's events and the stored bytes (docs/formats.md):

- a **batch** is fetched by the CID its `Anchored` event names (the store checks the bytes against
  the CID), decoded strictly, matched against the event's place, count and times, and its Merkle
  root is recomputed; its head is recomputed from the previous head; the device signature is taken
  from the anchoring transaction's calldata (`anchor` or `anchorMany`) and its signer is compared
  with the device key the feed had at that point (`FeedRegistered`/`DeviceKeyRotated` events);
- a **feed** is all its batches, plus seq continuity, the final head against `headOf`, reading ids
  duplicated across batches and readings or batches out of time order;
- a **reading** is its batch plus its Merkle proof, checked here and by `SensorFeed.verifyReading`;
- a **twin** is all its feeds (retired ones and their successors too), its specification versions
  and its documents: each version's content is fetched by CID and its keccak256 compared with the
  on-chain digest, and the version order is checked (see `Kind.REORDERED`).

Encrypted batches and documents (docs/formats.md section 6) are checked as far as possible without a
key: CID, head chain, signature and the payload's declared place. Their Merkle root or digest is
recomputed only when a `KeySource` gives the data key.

This module only computes results (`Finding`s with an exact `Location`); the CLI prints them.
"""
from __future__ import annotations

import bisect
import gc
import time
from array import array
from contextlib import contextmanager
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, Protocol

import coincurve
from eth_utils import to_checksum_address

from ..crypto.context import Context, Subject
from ..crypto.envelope import open_envelope
from ..crypto.errors import CryptoError
from ..crypto.payload import SealedHeader, open_sealed, read_header
from ..formats import cids
from ..formats.batch import Batch, BatchFormatError, Reading, decode_batch, encode_reading
from ..formats.eip712 import AnchorMessage, domain_separator
from ..formats.headchain import GENESIS_HEAD, next_head
from ..formats.merkle import MerkleTree, keccak256, verify as merkle_verify
from ..ipfs.errors import BlockNotFound, IntegrityError, IpfsError
from .ledger import ANCHOR_PERMISSION, AnchorRecord, AnchorTx, FeedState, KeyChange, Ledger, StoredVersion, word

PREFETCH_WINDOW = 32
FETCH_THREADS = 8


# ---------------------------------------------------------------------------------------------
# Findings


class Severity(IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2


class Kind(str, Enum):
    """What is wrong. The docstring of each member says when it is reported."""

    TAMPERED = "TAMPERED"  # bytes do not hash to their CID, or a batch's content does not give its anchored root
    MISSING_BLOCK = "MISSING_BLOCK"  # the content is not in the store
    UNDECODABLE = "UNDECODABLE"  # the bytes are not a valid batch (nor a sealed payload)
    MISPLACED = "MISPLACED"  # the batch or payload declares another feed/seq, twin or subject than where it is anchored
    METADATA_MISMATCH = "METADATA_MISMATCH"  # count, tFirst or tLast of the anchor disagree with the batch
    HEAD_MISMATCH = "HEAD_MISMATCH"  # a recomputed head differs from the anchored one or from headOf
    GAP = "GAP"  # sequence numbers without an Anchored event
    REORDERED = "REORDERED"  # readings/batches out of time or id order; document versions out of order
    DUPLICATE = "DUPLICATE"  # a reading id anchored twice
    WRONG_SIGNER = "WRONG_SIGNER"  # the signature is not by the device key valid then (or not by a trusted key)
    BAD_SIGNATURE = "BAD_SIGNATURE"  # a malformed signature in the calldata
    UNSIGNED = "UNSIGNED"  # anchored without a device signature (ANCHOR-permission path)
    UNAUTHORIZED = "UNAUTHORIZED"  # unsigned, and the sender did not hold ANCHOR
    SIGNATURE_UNAVAILABLE = "SIGNATURE_UNAVAILABLE"  # the anchoring tx did not call SensorFeed directly
    KEY_ROTATED = "KEY_ROTATED"  # the feed's device key changed (who and where)
    DIGEST_MISMATCH = "DIGEST_MISMATCH"  # a document/spec version's content does not hash to its on-chain digest
    NOT_DECRYPTED = "NOT_DECRYPTED"  # encrypted and no key: root or digest not recomputed
    DECRYPTION_FAILED = "DECRYPTION_FAILED"  # a key was given but the payload does not open
    PROOF_INVALID = "PROOF_INVALID"  # a reading's Merkle proof fails (here or in SensorFeed.verifyReading)
    CHAIN_MISMATCH = "CHAIN_MISMATCH"  # contract views, events and calldata disagree
    ROLLBACK = "ROLLBACK"  # a document version restores the content of an older one
    COVERAGE_GAP = "COVERAGE_GAP"  # a long time without readings between batches or across a feed succession


_SEVERITY: dict[Kind, Severity] = {
    Kind.TAMPERED: Severity.ERROR,
    Kind.MISSING_BLOCK: Severity.ERROR,
    Kind.UNDECODABLE: Severity.ERROR,
    Kind.MISPLACED: Severity.ERROR,
    Kind.METADATA_MISMATCH: Severity.ERROR,
    Kind.HEAD_MISMATCH: Severity.ERROR,
    Kind.GAP: Severity.ERROR,
    Kind.REORDERED: Severity.WARNING,
    Kind.DUPLICATE: Severity.ERROR,
    Kind.WRONG_SIGNER: Severity.ERROR,
    Kind.BAD_SIGNATURE: Severity.ERROR,
    Kind.UNSIGNED: Severity.WARNING,
    Kind.UNAUTHORIZED: Severity.ERROR,
    Kind.SIGNATURE_UNAVAILABLE: Severity.WARNING,
    Kind.KEY_ROTATED: Severity.INFO,
    Kind.DIGEST_MISMATCH: Severity.ERROR,
    Kind.NOT_DECRYPTED: Severity.INFO,
    Kind.DECRYPTION_FAILED: Severity.ERROR,
    Kind.PROOF_INVALID: Severity.ERROR,
    Kind.CHAIN_MISMATCH: Severity.ERROR,
    Kind.ROLLBACK: Severity.WARNING,
    Kind.COVERAGE_GAP: Severity.INFO,
}



# Location fields that name the place, most general first, with how they are printed.
_PLACE_FIELDS = (("feed", "feed"), ("seq", "seq"), ("index", "reading"), ("rid", "rid"), ("doc", "document"),
                 ("version", "version"), ("spec_version", "spec version"))

@dataclass(frozen=True)
class Location:
    """Where a finding is: any of feed/seq/CID/reading, document/version, spec version, transaction."""

    twin: int | None = None
    feed: int | None = None
    seq: int | None = None
    index: int | None = None
    rid: int | None = None
    cid: str | None = None
    doc: int | None = None
    version: int | None = None
    spec_version: int | None = None
    block: int | None = None
    tx: str | None = None

    def __str__(self) -> str:
        parts = [f"{label} {getattr(self, name)}" for name, label in _PLACE_FIELDS if getattr(self, name) is not None]
        if not parts and self.twin is not None:
            parts.append(f"twin {self.twin}")
        if self.cid:
            parts.append(f"cid {self.cid}")
        if self.block is not None:
            parts.append(f"block {self.block}")
        if self.tx:
            parts.append(f"tx {self.tx}")
        return ", ".join(parts) or "-"


@dataclass(frozen=True)
class Finding:
    kind: Kind
    location: Location
    message: str
    severity: Severity = Severity.ERROR

    @classmethod
    def of(cls, kind: Kind, location: Location, message: str, severity: Severity | None = None) -> Finding:
        return cls(kind, location, message, _SEVERITY[kind] if severity is None else severity)

    def __str__(self) -> str:
        return f"{self.severity.name} {self.kind.value} at {self.location}: {self.message}"


class Status(str, Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


def status_of(findings: Iterable[Finding]) -> Status:
    worst = max((f.severity for f in findings), default=Severity.INFO)
    return {Severity.ERROR: Status.FAIL, Severity.WARNING: Status.WARN}.get(worst, Status.PASS)


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.ERROR]


# ---------------------------------------------------------------------------------------------
# Keys for encrypted content


class KeySource(Protocol):
    """Gives the data key of a sealed payload, or None if this source does not have it."""

    def data_key(self, header: SealedHeader) -> bytes | None: ...


@dataclass(frozen=True)
class StaticKeys:
    """Data keys given directly: (subject kind, subject id, epoch) -> key; subject id None = any."""

    keys: Mapping[tuple[str, int | bytes | None, int], bytes]

    def data_key(self, header: SealedHeader) -> bytes | None:
        s, epoch = header.context.subject, header.context.epoch
        return self.keys.get((s.kind, s.id, epoch)) or self.keys.get((s.kind, None, epoch))


@dataclass(frozen=True)
class EnvelopeKeys:
    """Opens the key envelope the payload points to with a reader's private key."""

    store: Any
    private_key: bytes | str

    def data_key(self, header: SealedHeader) -> bytes | None:
        c = header.context
        try:
            env = self.store.block_get(header.envelope)
            return open_envelope(env, self.private_key, twin=c.twin, subject=c.subject, epoch=c.epoch)
        except (CryptoError, IpfsError, ValueError):
            return None


@dataclass(frozen=True)
class PublishedKeys:
    """Opens, with a reader's private key, the envelope published on-chain for the payload's (subject,
    epoch): an envelope counts only once an account with KEY_PUBLISH recorded it (docs/formats.md §6)."""

    chain: Any
    store: Any
    private_key: bytes | str

    def data_key(self, header: SealedHeader) -> bytes | None:
        from ..crypto.access import published_envelope_for

        c = header.context
        try:
            env = published_envelope_for(self.chain, self.store, c.twin, c.subject, c.epoch, self.private_key)
            return open_envelope(env, self.private_key, twin=c.twin, subject=c.subject, epoch=c.epoch)
        except (CryptoError, IpfsError, ValueError):
            return None


@dataclass(frozen=True)
class ChainedKeys:
    sources: Sequence[KeySource]

    def data_key(self, header: SealedHeader) -> bytes | None:
        for source in self.sources:
            key = source.data_key(header)
            if key is not None:
                return key
        return None


# ---------------------------------------------------------------------------------------------
# Signatures


class AnchorRecoverer:
    """Recovers anchor signers fast: the domain separator once, then keccak + secp256k1 recovery
    (eth-account's typed-data path costs ~1 ms per signature, too slow for long feeds)."""

    def __init__(self, chain_id: int, contract: str) -> None:
        self.separator = domain_separator(chain_id, contract)

    def recover(self, message: AnchorMessage, signature: bytes) -> str:
        if len(signature) != 65:
            raise ValueError(f"an anchor signature is 65 bytes, got {len(signature)}")
        v = signature[64]
        v = v - 27 if v in (27, 28) else v
        if v not in (0, 1):
            raise ValueError(f"signature v must be 27 or 28, got {signature[64]}")
        digest = keccak256(b"\x19\x01" + self.separator + message.struct_hash())
        try:
            pub = coincurve.PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest, hasher=None)
        except Exception as exc:  # noqa: BLE001 - coincurve raises plain Exception
            raise ValueError(f"no signer recoverable: {exc}") from None
        return to_checksum_address(keccak256(pub.format(compressed=False)[1:])[12:])


@dataclass(frozen=True)
class SignatureCheck:
    """Who anchored a batch and how."""

    status: str  # signed | unsigned | unavailable | invalid | wrong
    sender: str | None
    signer: str | None
    expected: str | None
    findings: tuple[Finding, ...] = ()

    @property
    def label(self) -> str:
        if self.status == "signed":
            return f"signed by device key {self.signer}"
        if self.status == "unsigned":
            return f"unsigned (anchored by permitted account {self.sender})"
        if self.status == "wrong":
            return f"signed by {self.signer}, expected {self.expected}"
        return self.status


def key_at(history: Sequence[KeyChange], position: tuple[int, int]) -> str | None:
    """The device key in force just before the event at `position` (block, log index)."""
    positions = [c.position for c in history]
    i = bisect.bisect_left(positions, position)
    return history[i - 1].key if i > 0 else None


def check_signature(anchor: AnchorRecord, prev_head: bytes, tx: AnchorTx, expected_key: str | None,
                    recoverer: AnchorRecoverer, *, trusted_keys: frozenset[str] | None = None,
                    anchorer_permitted: Callable[[str], bool] | None = None) -> SignatureCheck:
    """Checks the signature in `tx`'s calldata for `anchor` (pure apart from `anchorer_permitted`)."""
    loc = Location(feed=anchor.feed_id, seq=anchor.seq, cid=anchor.cid, block=anchor.block, tx=anchor.tx_hash)
    call = tx.call_for(anchor.feed_id, anchor.seq)
    if call is None:
        f = Finding.of(Kind.SIGNATURE_UNAVAILABLE, loc, f"the anchoring transaction (from {tx.sender} to {tx.to}) "
                       "does not call SensorFeed.anchor/anchorMany directly; no signature in its calldata")
        return SignatureCheck("unavailable", tx.sender, None, expected_key, (f,))
    findings: list[Finding] = []
    fields = (call.root, call.cid_digest, call.count, call.t_first, call.t_last)
    if fields != (anchor.root, anchor.cid_digest, anchor.count, anchor.t_first, anchor.t_last):
        findings.append(Finding.of(Kind.CHAIN_MISMATCH, loc, "the calldata of the anchoring transaction differs "
                                   "from the Anchored event"))
    if not call.signature:
        permitted = anchorer_permitted(tx.sender) if anchorer_permitted else True
        if permitted:
            findings.append(Finding.of(Kind.UNSIGNED, loc, f"unsigned (anchored by permitted account {tx.sender})"))
        else:
            findings.append(Finding.of(Kind.UNAUTHORIZED, loc, f"unsigned, and {tx.sender} held no ANCHOR permission"))
        return SignatureCheck("unsigned", tx.sender, None, expected_key, tuple(findings))
    message = AnchorMessage(anchor.feed_id, anchor.seq, prev_head, anchor.root, anchor.cid_digest, anchor.count,
                            anchor.t_first, anchor.t_last)
    try:
        signer = recoverer.recover(message, bytes(call.signature))
    except ValueError as exc:
        findings.append(Finding.of(Kind.BAD_SIGNATURE, loc, str(exc)))
        return SignatureCheck("invalid", tx.sender, None, expected_key, tuple(findings))
    if expected_key is None or signer != expected_key:
        findings.append(Finding.of(Kind.WRONG_SIGNER, loc, f"signed by {signer}, but the feed's device key at that "
                                   f"point was {expected_key}"))
        return SignatureCheck("wrong", tx.sender, signer, expected_key, tuple(findings))
    if trusted_keys is not None and signer not in trusted_keys:
        findings.append(Finding.of(Kind.WRONG_SIGNER, loc, f"signed by {signer}, the feed's key then, which is not "
                                   f"one of the trusted device keys ({', '.join(sorted(trusted_keys))})"))
        return SignatureCheck("wrong", tx.sender, signer, expected_key, tuple(findings))
    return SignatureCheck("signed", tx.sender, signer, expected_key, tuple(findings))


# ---------------------------------------------------------------------------------------------
# Batch content


@dataclass
class BatchContent:
    """What the stored bytes of one anchored batch say."""

    findings: list[Finding]
    readings: tuple[Reading, ...] | None = None
    encrypted: bool = False
    root_checked: bool = False  # the Merkle root was recomputed and equals the anchored one
    tree: MerkleTree | None = None


def fetch_block(store: Any, cid: str, loc: Location) -> tuple[bytes | None, Finding | None]:
    """The bytes of `cid`, verified against it by the store, or the finding that explains why not."""
    try:
        return store.block_get(cid), None
    except IntegrityError as exc:
        return None, Finding.of(Kind.TAMPERED, loc, f"stored bytes do not hash to the CID ({exc})")
    except BlockNotFound:
        return None, Finding.of(Kind.MISSING_BLOCK, loc, "the batch is not in the content store")
    except IpfsError as exc:
        return None, Finding.of(Kind.MISSING_BLOCK, loc, f"cannot fetch the batch: {exc}")


def _looks_sealed(data: bytes) -> bool:
    return data[:1] == b"\xa9"  # a 9-key map: the sealed payload; a plain batch is a 4-key map (0xa4)


def check_batch_bytes(data: bytes, anchor: AnchorRecord, *, twin: int | None = None,
                      keys: KeySource | None = None, keep_tree: bool = False) -> BatchContent:
    """Decode one batch's bytes and compare it with its anchor (place, count, times, Merkle root)."""
    loc = Location(feed=anchor.feed_id, seq=anchor.seq, cid=anchor.cid)
    if _looks_sealed(data):
        opened = _open_sealed_batch(data, anchor, twin, keys, loc)
        if isinstance(opened, BatchContent):
            return opened
        data, encrypted = opened, True
    else:
        encrypted = False
    try:
        batch = decode_batch(data)
    except BatchFormatError as exc:
        return BatchContent([Finding.of(Kind.UNDECODABLE, loc, f"not a valid batch: {exc}")], encrypted=encrypted)
    findings = _batch_header_findings(batch, anchor, loc)
    h = keccak256
    leaves = [h(h(e)) for e in map(encode_reading, batch.readings)]
    tree = MerkleTree(leaves) if keep_tree else None
    root = tree.root if tree is not None else merkle_root(leaves)
    root_ok = root == anchor.root
    if not root_ok:
        findings.append(Finding.of(Kind.TAMPERED, loc, "the batch's readings do not give the anchored Merkle root "
                                   f"(recomputed 0x{root.hex()}, anchored 0x{anchor.root.hex()})"))
    findings += _order_findings(batch, loc)
    return BatchContent(findings, batch.readings, encrypted, root_ok, tree)


def merkle_root(leaves: list[bytes]) -> bytes:
    """The root of formats/merkle.py's tree without keeping its levels (the verifier's hot path).
    tests/client/test_verify_units.py checks it against `MerkleTree` for every size up to 300."""
    h = keccak256
    level = leaves
    while len(level) > 1:
        nxt = [h(a + b) if a <= b else h(b + a) for a, b in zip(level[::2], level[1::2])]
        if len(level) % 2:
            nxt.append(level[-1])  # the odd node moves up unchanged
        level = nxt
    return level[0]


def _open_sealed_batch(data: bytes, anchor: AnchorRecord, twin: int | None, keys: KeySource | None,
                       loc: Location) -> bytes | BatchContent:
    try:
        header = read_header(data)
    except CryptoError as exc:
        return BatchContent([Finding.of(Kind.UNDECODABLE, loc, f"neither a batch nor a sealed payload: {exc}")])
    ctx = header.context
    expected = Context(twin if twin is not None else ctx.twin, Subject.feed(anchor.feed_id), anchor.seq, ctx.epoch)
    if ctx != expected:
        return BatchContent([Finding.of(Kind.MISPLACED, loc, f"the sealed payload is for {ctx}, not {expected}")],
                            encrypted=True)
    key = keys.data_key(header) if keys is not None else None
    if key is None:
        return BatchContent([Finding.of(Kind.NOT_DECRYPTED, loc, f"encrypted (epoch {ctx.epoch}): CID, head and "
                                        "signature checked; the Merkle root is not recomputable without a key")],
                            encrypted=True)
    try:
        return open_sealed(data, key, expected)
    except CryptoError as exc:
        return BatchContent([Finding.of(Kind.DECRYPTION_FAILED, loc, str(exc))], encrypted=True)


def _batch_header_findings(batch: Batch, anchor: AnchorRecord, loc: Location) -> list[Finding]:
    findings = []
    if (batch.feed, batch.seq) != (anchor.feed_id, anchor.seq):
        findings.append(Finding.of(Kind.MISPLACED, loc, f"the batch says feed {batch.feed} seq {batch.seq}: it was "
                                   "anchored in another place"))
    got = (batch.count, batch.t_first, batch.t_last)
    want = (anchor.count, anchor.t_first, anchor.t_last)
    if got != want:
        findings.append(Finding.of(Kind.METADATA_MISMATCH, loc, f"batch has count/tFirst/tLast {got}, the anchor says "
                                   f"{want}"))
    return findings


def _order_findings(batch: Batch, loc: Location) -> list[Finding]:
    """Readings are kept in acceptance order; a reading measured before its predecessor is reported
    once per batch (first index and how many), not once per reading."""
    late = [i for i in range(1, len(batch.readings)) if batch.readings[i].t_ms < batch.readings[i - 1].t_ms]
    if not late:
        return []
    first = late[0]
    r = batch.readings[first]
    where = Location(feed=loc.feed, seq=loc.seq, index=first, rid=r.rid, cid=loc.cid)
    return [Finding.of(Kind.REORDERED, where, f"{len(late)} reading(s) measured before the reading anchored ahead "
                       f"of them (first: t={r.t_ms} after t={batch.readings[first - 1].t_ms})")]


# ---------------------------------------------------------------------------------------------
# Feed-level structure (events only)


def sequence_findings(anchors: Sequence[AnchorRecord], next_seq: int, feed_id: int) -> list[Finding]:
    """Seq continuity: every seq in 0..next_seq-1 has exactly one Anchored event."""
    findings: list[Finding] = []
    seen: dict[int, AnchorRecord] = {}
    for a in anchors:
        if a.seq in seen:
            findings.append(Finding.of(Kind.CHAIN_MISMATCH, Location(feed=feed_id, seq=a.seq, tx=a.tx_hash),
                                       "two Anchored events for one seq"))
        seen.setdefault(a.seq, a)
    top = max(next_seq, max(seen, default=-1) + 1)
    missing = [s for s in range(top) if s not in seen]
    for start, end in _ranges(missing):
        what = f"seq {start}" if start == end else f"seq {start}..{end}"
        findings.append(Finding.of(Kind.GAP, Location(feed=feed_id, seq=start),
                                   f"{what} of {top} anchored batches have no Anchored event"))
    if seen and max(seen) + 1 != next_seq:
        findings.append(Finding.of(Kind.CHAIN_MISMATCH, Location(feed=feed_id),
                                   f"the contract says nextSeq {next_seq}, events go up to seq {max(seen)}"))
    return findings


def _ranges(values: Sequence[int]) -> Iterator[tuple[int, int]]:
    start = prev = None
    for v in values:
        if start is None:
            start = prev = v
        elif v == prev + 1:
            prev = v
        else:
            yield start, prev
            start = prev = v
    if start is not None:
        yield start, prev


def head_chain(anchors: Sequence[AnchorRecord], final_head: bytes | None) -> tuple[dict[int, bytes], list[Finding]]:
    """Recomputes every head from the previous recomputed one; returns prev_head per seq."""
    findings: list[Finding] = []
    prev_heads: dict[int, bytes] = {}
    head = GENESIS_HEAD
    expected_seq = 0
    for a in anchors:
        if a.seq != expected_seq:
            head = GENESIS_HEAD if a.seq == 0 else None  # after a gap the chain cannot be rebuilt from events
            expected_seq = a.seq
        prev_heads[a.seq] = head if head is not None else a.head  # best effort for signature checks
        if head is not None:
            head = next_head(head, a.feed_id, a.seq, a.root, a.cid_digest, a.count, a.t_first, a.t_last)
            if head != a.head:
                findings.append(Finding.of(Kind.HEAD_MISMATCH, Location(feed=a.feed_id, seq=a.seq, cid=a.cid),
                                           f"recomputed head 0x{head.hex()} but the event says 0x{a.head.hex()}"))
                head = a.head
        else:
            head = a.head
        expected_seq += 1
    if final_head is not None and anchors and head != final_head:
        last = anchors[-1]
        findings.append(Finding.of(Kind.HEAD_MISMATCH, Location(feed=last.feed_id, seq=last.seq),
                                   f"the chain of events ends at head 0x{(head or b'').hex()}, "
                                   f"SensorFeed.headOf says 0x{final_head.hex()}"))
    if final_head is not None and not anchors and final_head != GENESIS_HEAD:
        findings.append(Finding.of(Kind.HEAD_MISMATCH, Location(), "no Anchored events but headOf is not zero"))
    return prev_heads, findings


def key_findings(history: Sequence[KeyChange], senders: Mapping[str, str]) -> list[Finding]:
    """One INFO per rotation (who, where), a WARNING when a rotation brings back an older key."""
    findings: list[Finding] = []
    used: set[str] = set()
    for change in history:
        if change.previous is not None:
            by = senders.get(change.tx_hash, "?")
            loc = Location(feed=change.feed_id, block=change.block, tx=change.tx_hash)
            back = change.key in used
            findings.append(Finding.of(Kind.KEY_ROTATED, loc, f"device key rotated from {change.previous} to "
                                       f"{change.key} by {by}" + (" (a key used before: check what was "
                                                                  "signed in between)" if back else ""),
                                       Severity.WARNING if back else None))
        used.add(change.key)
    return findings


def coverage(anchors: Sequence[AnchorRecord], gap_ms: int | None = None) -> tuple[list[tuple[int, int]],
                                                                                    list[tuple[int, int]], int]:
    """Time intervals covered by batches, the gaps between them, and the threshold used.

    Without `gap_ms`, a gap is a pause longer than five times the median interval between batch starts
    (at least one second), so a steady feed has none and a stopped one shows where."""
    spans = sorted((a.t_first, a.t_last) for a in anchors)
    if not spans:
        return [], [], gap_ms or 0
    if gap_ms is None:
        starts = [s for s, _ in spans]
        steps = sorted(b - a for a, b in zip(starts, starts[1:]))
        gap_ms = max(1000, 5 * steps[len(steps) // 2]) if steps else 1000
    covered: list[tuple[int, int]] = []
    gaps: list[tuple[int, int]] = []
    start, end = spans[0]
    for s, e in spans[1:]:
        if s - end > gap_ms:
            covered.append((start, end))
            gaps.append((end, s))
            start, end = s, e
        else:
            end = max(end, e)
    covered.append((start, end))
    return covered, gaps, gap_ms


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class BatchResult:
    anchor: AnchorRecord
    findings: list[Finding] = field(default_factory=list)
    readings: tuple[Reading, ...] | None = None
    encrypted: bool = False
    root_checked: bool = False
    content_checked: bool = False
    signature: SignatureCheck | None = None
    tree: MerkleTree | None = None
    prev_head: bytes = GENESIS_HEAD

    @property
    def ok(self) -> bool:
        return not errors(self.findings)

    @property
    def verified(self) -> bool:
        """Every reading of this batch is proven: root recomputed, nothing wrong with the anchor."""
        return self.ok and self.root_checked

    @property
    def status(self) -> Status:
        return status_of(self.findings)


@dataclass
class FeedResult:
    feed_id: int
    twin: int | None
    sensor: str
    status_on_chain: str
    successor: int
    batches: list[BatchResult]
    findings: list[Finding]
    readings_checked: int
    seconds: float
    coverage: list[tuple[int, int]] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    key_history: list[KeyChange] = field(default_factory=list)

    @property
    def status(self) -> Status:
        return status_of(self.findings)

    @property
    def ok(self) -> bool:
        return not errors(self.findings)

    @property
    def rate(self) -> float:
        return self.readings_checked / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ReadingResult:
    feed_id: int
    seq: int
    index: int
    reading: Reading | None
    leaf: bytes | None
    proof: list[bytes]
    onchain_root: bytes | None
    proof_ok: bool
    onchain_ok: bool
    batch: BatchResult
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not errors(self.findings) and self.proof_ok and self.onchain_ok

    @property
    def status(self) -> Status:
        return status_of(self.findings)


@dataclass
class VersionResult:
    """One document or specification version."""

    what: str  # "document" or "spec"
    doc_id: int  # 0 for the specification
    name: str
    version: int
    cid: str
    author: str
    time: int
    findings: list[Finding]
    content_checked: bool = False

    @property
    def status(self) -> Status:
        return status_of(self.findings)


@dataclass
class DocumentResult:
    doc_id: int
    name: str
    component: bytes
    archived: bool
    versions: list[VersionResult]
    findings: list[Finding]

    @property
    def status(self) -> Status:
        return status_of(self.findings)


@dataclass
class TwinResult:
    twin_id: int
    info: dict[str, Any]
    feeds: list[FeedResult]
    spec_versions: list[VersionResult]
    documents: list[DocumentResult]
    findings: list[Finding]  # every finding: twin-level ones plus those of feeds, documents and versions
    seconds: float

    @property
    def status(self) -> Status:
        return status_of(self.findings)

    @property
    def ok(self) -> bool:
        return not errors(self.findings)


ProgressFn = Callable[[int, int, int], None]  # (batches done, batches total, readings so far)


# ---------------------------------------------------------------------------------------------
# The verifier


class Verifier:
    """Verifies feeds, batches, readings and twins against one chain and one content store.

    `trusted_keys`: device keys the auditor accepts (e.g. from the device's certificate); a
    signature by any other key is WRONG_SIGNER even if the contract accepted it at the time.
    """

    def __init__(self, ledger: Ledger, store: Any, *, keys: KeySource | None = None,
                 trusted_keys: Iterable[str] | None = None, gap_ms: int | None = None) -> None:
        self.ledger = ledger
        self.store = store
        self.keys = keys
        self.trusted_keys = frozenset(to_checksum_address(k) for k in trusted_keys) if trusted_keys else None
        self.gap_ms = gap_ms
        self.recoverer = AnchorRecoverer(ledger.chain_id, ledger.feeds.address)

    # ---- one batch / one reading ---------------------------------------------------------

    def verify_batch(self, feed_id: int, seq: int, *, keep_tree: bool = False) -> BatchResult:
        """One batch: content, head (from the previous anchor), signature and the on-chain head (`verifyBatch`)."""
        found = self.ledger.anchors(feed_id, seq)
        if not found:
            loc = Location(feed=feed_id, seq=seq)
            raise LookupError(f"no Anchored event for {loc}")
        anchor = found[0]
        prev_head = GENESIS_HEAD
        if seq > 0:
            prev = self.ledger.anchors(feed_id, seq - 1, to_block=anchor.block)
            prev_head = prev[0].head if prev else GENESIS_HEAD
        state = self.ledger.feed_state(feed_id)
        history = self.ledger.key_history(feed_id)
        result = self.check_anchor(anchor, prev_head, state.twin, state.component, history, keep_tree=keep_tree)
        if prev_head is not None and next_head(prev_head, *_head_fields(anchor)) != anchor.head:
            result.findings.append(Finding.of(Kind.HEAD_MISMATCH, Location(feed=feed_id, seq=seq, cid=anchor.cid),
                                              "the head does not follow from the previous anchor"))
        result.prev_head = prev_head
        if not self._onchain_batch_ok(anchor, prev_head):
            result.findings.append(Finding.of(Kind.CHAIN_MISMATCH, Location(feed=feed_id, seq=seq),
                                              "SensorFeed.verifyBatch rejects the event's header: the head stored "
                                              "for this seq does not commit to it"))
        return result

    def _onchain_batch_ok(self, anchor: AnchorRecord, prev_head: bytes) -> bool:
        return bool(self.ledger.feeds.functions.verifyBatch(anchor.feed_id, anchor.seq, _header(anchor, prev_head))
                    .call(block_identifier=self.ledger.to_block))

    def verify_reading(self, feed_id: int, seq: int, index: int) -> ReadingResult:
        """One reading: its batch, its Merkle proof here and in `SensorFeed.verifyReading`."""
        batch = self.verify_batch(feed_id, seq, keep_tree=True)
        findings = list(batch.findings)
        loc = Location(feed=feed_id, seq=seq, index=index, cid=batch.anchor.cid)
        header = _header(batch.anchor, batch.prev_head)
        onchain_root = batch.anchor.root if self._onchain_batch_ok(batch.anchor, batch.prev_head) else bytes(32)
        if batch.readings is None or batch.tree is None:
            return ReadingResult(feed_id, seq, index, None, None, [], onchain_root, False, False, batch, findings)
        if not 0 <= index < len(batch.readings):
            raise IndexError(f"batch {seq} of feed {feed_id} has {len(batch.readings)} readings, no index {index}")
        reading = batch.readings[index]
        leaf = batch.tree.leaves[index]
        proof = batch.tree.proof(index)
        proof_ok = merkle_verify(proof, onchain_root, leaf) if onchain_root != bytes(32) else False
        onchain_ok = bool(self.ledger.feeds.functions.verifyReading(
            feed_id, seq, header, keccak256(encode_reading(reading)), proof).call(block_identifier=self.ledger.to_block))
        loc = Location(feed=feed_id, seq=seq, index=index, rid=reading.rid, cid=batch.anchor.cid)
        if not proof_ok:
            findings.append(Finding.of(Kind.PROOF_INVALID, loc, "the reading's Merkle proof does not lead to the "
                                       "on-chain root"))
        if not onchain_ok:
            findings.append(Finding.of(Kind.PROOF_INVALID, loc, "SensorFeed.verifyReading rejects the reading"))
        return ReadingResult(feed_id, seq, index, reading, leaf, proof, onchain_root, proof_ok, onchain_ok, batch,
                             findings)

    def find_reading(self, feed_id: int, rid: int) -> tuple[int, int]:
        """(seq, index) of reading id `rid`: binary search over batches (ids increase per agent), then a scan."""
        anchors = sorted(self.ledger.anchors(feed_id), key=lambda a: a.seq)
        cache: dict[int, tuple[Reading, ...] | None] = {}

        def readings(i: int) -> tuple[Reading, ...] | None:
            if i not in cache:
                a = anchors[i]
                data, _ = fetch_block(self.store, a.cid, Location())
                content = check_batch_bytes(data, a, keys=self.keys) if data is not None else None
                cache[i] = content.readings if content else None
            return cache[i]

        def position(i: int) -> int | None:
            rs = readings(i) or ()
            return next((k for k, r in enumerate(rs) if r.rid == rid), None)

        lo, hi = 0, len(anchors) - 1
        while lo <= hi:
            mid = (lo + hi) // 2
            rs = readings(mid)
            if not rs:
                break
            if rid < rs[0].rid:
                hi = mid - 1
            elif rid > rs[-1].rid:
                lo = mid + 1
            else:
                k = position(mid)
                if k is not None:
                    return anchors[mid].seq, k
                break
        for i in range(len(anchors)):
            k = position(i)
            if k is not None:
                return anchors[i].seq, k
        raise LookupError(f"no reading with id {rid} in feed {feed_id}")

    # ---- whole feed -----------------------------------------------------------------------

    def verify_feed(self, feed_id: int, *, seqs: Container[int] | None = None, keep_readings: bool = False,
                    progress: ProgressFn | None = None) -> FeedResult:
        """The whole feed. `seqs` limits the content checks (the head chain is always checked in full)."""
        started = time.perf_counter()
        ledger = self.ledger
        state = ledger.feed_state(feed_id)
        anchors = sorted(ledger.anchors(feed_id), key=lambda a: (a.seq, a.block, a.log_index))
        history = ledger.key_history(feed_id)
        findings: list[Finding] = []
        findings += sequence_findings(anchors, state.next_seq, feed_id)
        prev_heads, head_findings = head_chain(anchors, state.head)
        findings += head_findings
        if history and history[-1].key != state.device_key:
            findings.append(Finding.of(Kind.CHAIN_MISMATCH, Location(feed=feed_id), f"the device key events end at "
                                       f"{history[-1].key}, SensorFeed.feed says {state.device_key}"))
        rotation_senders = {c.tx_hash: ledger.anchor_tx(c.tx_hash).sender for c in history if c.previous}
        findings += key_findings(history, rotation_senders)
        findings += _batch_time_order(anchors)
        covered, gaps, threshold = coverage(anchors, self.gap_ms)
        for a, b in gaps:
            findings.append(Finding.of(Kind.COVERAGE_GAP, Location(feed=feed_id), f"no readings for {(b - a) / 1000:.1f} s "
                                       f"between t={a} and t={b} (gap threshold {threshold} ms)"))

        selected = [a for a in anchors if seqs is None or a.seq in seqs]
        batches: list[BatchResult] = []
        by_seq_anchor = {a.seq: a for a in selected}

        def reload(seq: int) -> tuple[Reading, ...] | None:
            a = by_seq_anchor[seq]
            data, _ = fetch_block(self.store, a.cid, Location())
            return check_batch_bytes(data, a, twin=state.twin, keys=self.keys).readings if data else None

        tracker = _RidTracker(feed_id, reload)
        readings = 0
        with _gc_paused():
            batches, readings = self._check_batches(selected, prev_heads, state, history, tracker, keep_readings,
                                                    progress)
        findings += [f for b in batches for f in b.findings]
        by_seq = {b.anchor.seq: b for b in batches}
        for f in head_findings:  # chain-level errors also make the batch unverified
            if f.location.seq in by_seq and f not in by_seq[f.location.seq].findings:
                by_seq[f.location.seq].findings.append(f)
        return FeedResult(feed_id=feed_id, twin=state.twin, sensor=_component_name(ledger, state.twin, state.component),
                          status_on_chain=state.status, successor=state.successor, batches=batches,
                          findings=_sorted(findings), readings_checked=readings,
                          seconds=time.perf_counter() - started, coverage=covered, gaps=gaps, key_history=history)

    def _check_batches(self, selected: Sequence[AnchorRecord], prev_heads: Mapping[int, bytes], state: FeedState,
                       history: Sequence[KeyChange], tracker: _RidTracker, keep_readings: bool,
                       progress: ProgressFn | None) -> tuple[list[BatchResult], int]:
        batches: list[BatchResult] = []
        readings = 0
        for i, (anchor, data, tx) in enumerate(self._prefetch(selected)):
            result = self.check_anchor(anchor, prev_heads.get(anchor.seq, GENESIS_HEAD), state.twin, state.component,
                                        history, data=data, tx=tx)
            if result.readings is not None:
                readings += len(result.readings)
                result.findings += tracker.add(anchor, result.readings)
                if not keep_readings:
                    result.readings = None
            batches.append(result)
            if progress is not None:
                progress(i + 1, len(selected), readings)
        return batches, readings

    def _prefetch(self, anchors: Sequence[AnchorRecord]) -> Iterator[tuple[AnchorRecord, tuple[bytes | None,
                                                                                                  Finding | None], AnchorTx]]:
        """Blocks and transactions fetched ahead in threads (I/O), verified in order in this thread."""
        with ThreadPoolExecutor(FETCH_THREADS) as pool:
            window: deque[tuple[AnchorRecord, Future[Any], Future[AnchorTx]]] = deque()
            it = iter(anchors)

            def submit() -> bool:
                a = next(it, None)
                if a is None:
                    return False
                loc = Location(feed=a.feed_id, seq=a.seq, cid=a.cid)
                window.append((a, pool.submit(fetch_block, self.store, a.cid, loc),
                               pool.submit(self.ledger.anchor_tx, a.tx_hash)))
                return True

            for _ in range(PREFETCH_WINDOW):
                if not submit():
                    break
            while window:
                a, data, tx = window.popleft()
                submit()
                yield a, data.result(), tx.result()

    def check_anchor(self, anchor: AnchorRecord, prev_head: bytes, twin: int, component: bytes,
                     history: Sequence[KeyChange], *, data: tuple[bytes | None, Finding | None] | None = None,
                     tx: AnchorTx | None = None, keep_tree: bool = False) -> BatchResult:
        """One anchored batch: its content (fetched unless `data` is given) and its signature. The head is
        the caller's business (it needs the previous anchor)."""
        loc = Location(feed=anchor.feed_id, seq=anchor.seq, cid=anchor.cid)
        result = BatchResult(anchor)
        raw, problem = data if data is not None else fetch_block(self.store, anchor.cid, loc)
        if problem is not None:
            result.findings.append(problem)
        elif raw is not None:
            content = check_batch_bytes(raw, anchor, twin=twin, keys=self.keys, keep_tree=keep_tree)
            result.findings += content.findings
            result.readings = content.readings
            result.encrypted = content.encrypted
            result.root_checked = content.root_checked
            result.content_checked = True
            result.tree = content.tree
        tx = tx if tx is not None else self.ledger.anchor_tx(anchor.tx_hash)
        expected = key_at(history, anchor.position)

        def permitted(sender: str) -> bool:
            return self.ledger.can(twin, sender, ANCHOR_PERMISSION, component, anchor.block)

        result.signature = check_signature(anchor, prev_head, tx, expected, self.recoverer,
                                           trusted_keys=self.trusted_keys, anchorer_permitted=permitted)
        result.findings += result.signature.findings
        return result

    # ---- whole twin -----------------------------------------------------------------------

    def verify_twin(self, twin: int, *, keep_readings: bool = False,
                    progress: Callable[[str, int, int, int], None] | None = None) -> TwinResult:
        """All feeds (with their successors), specification versions and documents of `twin`."""
        started = time.perf_counter()
        info = self.ledger.twin_info(twin)
        feed_ids = self.ledger.feeds_of_twin(twin)
        feeds: list[FeedResult] = []
        for fid in feed_ids:
            cb = (lambda d, t, r, fid=fid: progress(f"feed {fid}", d, t, r)) if progress else None
            feeds.append(self.verify_feed(fid, keep_readings=keep_readings, progress=cb))
        findings: list[Finding] = []
        findings += succession_findings(twin, feeds, self.ledger.retirements(feed_ids))
        spec_versions = self.verify_spec_versions(twin)
        documents = [self.verify_document(twin, d) for d in self.ledger.documents_of_twin(twin)]
        for f in feeds:
            findings += f.findings
        for v in spec_versions:
            findings += v.findings
        for d in documents:
            findings += d.findings
        return TwinResult(twin, info, feeds, spec_versions, documents, _sorted(findings),
                          time.perf_counter() - started)

    def verify_spec_versions(self, twin: int) -> list[VersionResult]:
        stored = self.ledger.spec_versions(twin)
        events = {int(e.args["version"]): e for e in self.ledger.events("Specification", "SpecUpdated", twin=twin)}
        results = []
        for v in stored:
            loc = Location(twin=twin, spec_version=v.index, cid=_cid_of(v))
            findings = _event_vs_storage(events.get(v.index), v, loc)
            e = events.get(v.index)
            if e is not None and to_checksum_address(e.args["author"]) != v.author:
                findings.append(Finding.of(Kind.CHAIN_MISMATCH, loc, "the event and the contract name different authors"))
            # The CLI records a sealed specification under the sealed payload's digest only (docs/formats.md
            # section 6), so a sealed payload that does not hash to it is a mismatch even without a key.
            content_findings, checked = self._check_content(v, loc, twin, Subject("aml", twin), sealed_digest=True)
            results.append(VersionResult("spec", 0, "specification (AML)", v.index, _cid_of(v), v.author, v.time,
                                         findings + content_findings, checked))
        _version_order(results, stored, lambda i: Location(twin=twin, spec_version=i))
        return results

    def verify_document(self, twin: int, doc_id: int) -> DocumentResult:
        doc = self.ledger.document(doc_id)
        stored = self.ledger.document_versions(doc_id, doc["versions"])
        events = {int(e.args["version"]): e for e in self.ledger.events(
            "Specification", "DocumentVersionAdded", twin=twin, extra_topics=[word(doc_id)])}
        findings: list[Finding] = []
        if doc["twin"] != twin:
            findings.append(Finding.of(Kind.CHAIN_MISMATCH, Location(twin=twin, doc=doc_id),
                                       f"the document belongs to twin {doc['twin']}"))
        versions: list[VersionResult] = []
        for v in stored:
            loc = Location(twin=twin, doc=doc_id, version=v.index, cid=_cid_of(v))
            vf = _event_vs_storage(events.get(v.index), v, loc)
            content_findings, checked = self._check_content(v, loc, twin, Subject.doc(doc_id))
            versions.append(VersionResult("document", doc_id, doc["name"], v.index, _cid_of(v), v.author, v.time,
                                          vf + content_findings, checked))
        extra = sorted(set(events) - {v.index for v in stored})
        for i in extra:
            findings.append(Finding.of(Kind.CHAIN_MISMATCH, Location(twin=twin, doc=doc_id, version=i),
                                       "a DocumentVersionAdded event for a version the contract does not have"))
        _version_order(versions, stored, lambda i: Location(twin=twin, doc=doc_id, version=i))
        all_findings = findings + [f for v in versions for f in v.findings]
        return DocumentResult(doc_id, doc["name"], doc["component"], doc["archived"], versions, all_findings)

    def _check_content(self, v: StoredVersion, loc: Location, twin: int, subject: Subject, *,
                       sealed_digest: bool = False) -> tuple[list[Finding], bool]:
        """Fetch a version's content by CID and compare keccak256 of it with the on-chain digest.

        A sealed payload is also checked for its declared place: a payload sealed for another version
        of the same subject is REORDERED, one for another subject or twin is MISPLACED."""
        cid = _cid_of(v)
        try:
            content = self.store.cat(cid)
        except IntegrityError as exc:
            return [Finding.of(Kind.TAMPERED, loc, f"stored bytes do not hash to the CID ({exc})")], False
        except BlockNotFound:
            return [Finding.of(Kind.MISSING_BLOCK, loc, "the content is not in the content store")], False
        except IpfsError as exc:
            return [Finding.of(Kind.MISSING_BLOCK, loc, f"cannot fetch the content: {exc}")], False
        if keccak256(content) == v.digest:
            return _sealed_place(content, twin, subject, v.index, loc), True
        header = _sealed_header(content)
        if header is None:
            return [Finding.of(Kind.DIGEST_MISMATCH, loc, f"keccak256 of the content is 0x{keccak256(content).hex()}, "
                               f"the chain says 0x{v.digest.hex()}")], True
        findings = _sealed_place(content, twin, subject, v.index, loc)
        if sealed_digest:
            return findings + [Finding.of(Kind.DIGEST_MISMATCH, loc, f"keccak256 of the sealed payload is "
                                          f"0x{keccak256(content).hex()}, the chain says 0x{v.digest.hex()}")], True
        key = self.keys.data_key(header) if self.keys is not None else None
        if key is None:
            findings.append(Finding.of(Kind.NOT_DECRYPTED, loc, "encrypted: the digest of the plaintext cannot be "
                                       "checked without a key"))
            return findings, False
        try:
            plain = open_sealed(content, key, header.context)
        except CryptoError as exc:
            return findings + [Finding.of(Kind.DECRYPTION_FAILED, loc, str(exc))], False
        if keccak256(plain) != v.digest:
            findings.append(Finding.of(Kind.DIGEST_MISMATCH, loc, "keccak256 of the decrypted content differs from "
                                       "the on-chain digest"))
        return findings, True


# ---------------------------------------------------------------------------------------------
# Helpers of the twin checks


def succession_findings(twin: int, feeds: Sequence[FeedResult], retired: Mapping[int, int]) -> list[Finding]:
    """Retired feeds and their successors: same twin, no cycles, and the time between them."""
    findings: list[Finding] = []
    by_id = {f.feed_id: f for f in feeds}
    for f in feeds:
        loc = Location(twin=twin, feed=f.feed_id)
        if f.status_on_chain == "retired" and f.feed_id not in retired:
            findings.append(Finding.of(Kind.CHAIN_MISMATCH, loc, "retired, but no FeedRetired event was found"))
        if f.feed_id in retired and retired[f.feed_id] != f.successor:
            findings.append(Finding.of(Kind.CHAIN_MISMATCH, loc, f"FeedRetired names successor {retired[f.feed_id]}, "
                                       f"the contract {f.successor}"))
        if not f.successor:
            continue
        succ = by_id.get(f.successor)
        if succ is None:
            findings.append(Finding.of(Kind.CHAIN_MISMATCH, loc, f"successor feed {f.successor} is not a feed of "
                                       f"twin {twin}"))
            continue
        seen = {f.feed_id}
        nxt = succ
        while nxt is not None and nxt.successor:
            if nxt.feed_id in seen:
                findings.append(Finding.of(Kind.CHAIN_MISMATCH, loc, "the successor chain loops"))
                break
            seen.add(nxt.feed_id)
            nxt = by_id.get(nxt.successor)
        last = max((b for g in f.coverage for b in g), default=None)
        first = min((a for a, _ in succ.coverage), default=None)
        if last is not None and first is not None and first - last > 0:
            findings.append(Finding.of(Kind.COVERAGE_GAP, loc, f"successor feed {succ.feed_id} starts "
                                       f"{(first - last) / 1000:.1f} s after this feed's last reading"))
    return findings


def _event_vs_storage(event: Any, v: StoredVersion, loc: Location) -> list[Finding]:
    if event is None:
        return [Finding.of(Kind.CHAIN_MISMATCH, loc, "no event records this version")]
    a = event.args
    if (bytes(a["cid"]), int(a["codec"]), bytes(a["digest"])) != (v.cid_digest, v.codec, v.digest):
        return [Finding.of(Kind.CHAIN_MISMATCH, loc, "the event and the contract disagree on CID or digest")]
    return []


def _version_order(results: Sequence[VersionResult], stored: Sequence[StoredVersion],
                   where: Callable[[int], Location]) -> None:
    """Version order: times never go back, and a version that restores an older one's content is noted."""
    seen: dict[bytes, int] = {}
    for i, v in enumerate(stored):
        if i and v.time < stored[i - 1].time:
            results[i].findings.append(Finding.of(Kind.REORDERED, where(v.index), f"recorded at {v.time}, before "
                                                  f"version {stored[i - 1].index} ({stored[i - 1].time})"))
        older = seen.get(v.digest)
        if older is not None and older != i - 1:
            results[i].findings.append(Finding.of(Kind.ROLLBACK, where(v.index), f"restores the content of version "
                                                  f"{older}"))
        seen.setdefault(v.digest, i)


def _sealed_header(content: bytes) -> SealedHeader | None:
    if not _looks_sealed(content):
        return None
    try:
        return read_header(content)
    except CryptoError:
        return None


def _sealed_place(content: bytes, twin: int, subject: Subject, version: int, loc: Location) -> list[Finding]:
    header = _sealed_header(content)
    if header is None:
        return []
    ctx = header.context
    if ctx.twin != twin or ctx.subject.kind != subject.kind or (subject.kind == "doc" and ctx.subject != subject):
        return [Finding.of(Kind.MISPLACED, loc, f"the payload is sealed for {ctx}")]
    if ctx.item != version:
        return [Finding.of(Kind.REORDERED, loc, f"the payload stored as version {version} was sealed as version "
                           f"{ctx.item}")]
    return []


def _batch_time_order(anchors: Sequence[AnchorRecord]) -> list[Finding]:
    findings = []
    for prev, a in zip(anchors, anchors[1:]):
        if a.t_first < prev.t_last:
            findings.append(Finding.of(Kind.REORDERED, Location(feed=a.feed_id, seq=a.seq, cid=a.cid),
                                       f"starts at t={a.t_first}, before seq {prev.seq} ends (t={prev.t_last})"))
    return findings


class _RidTracker:
    """Reading ids across the batches of a feed: duplicates are errors (warnings for identical
    replays), and ids that go back are REORDERED.

    Ids increase within a batch (the format requires it) and normally across batches, so each batch
    is kept as a compact sorted id array and only a batch that goes back is compared with the earlier
    batches whose id range it overlaps; `reload(seq)` fetches an earlier batch's readings again to tell
    a replay from a conflict."""

    def __init__(self, feed_id: int, reload: Callable[[int], Sequence[Reading] | None]) -> None:
        self.feed_id = feed_id
        self.reload = reload
        self.batches: list[tuple[int, int, int, array[int]]] = []  # (first id, last id, seq, ids)
        self.last_rid = -1

    def add(self, anchor: AnchorRecord, readings: Sequence[Reading]) -> list[Finding]:
        if not readings:
            return []
        rids = array("Q", [r.rid for r in readings])
        findings: list[Finding] = []
        if rids[0] <= self.last_rid:
            findings.append(Finding.of(Kind.REORDERED, Location(feed=self.feed_id, seq=anchor.seq, index=0,
                                                                rid=rids[0]),
                                       f"reading ids go back: {rids[0]} after {self.last_rid}"))
            findings += self._duplicates(anchor, readings, rids)
        self.batches.append((rids[0], rids[-1], anchor.seq, rids))
        self.last_rid = max(self.last_rid, rids[-1])
        return findings

    def _duplicates(self, anchor: AnchorRecord, readings: Sequence[Reading], rids: array[int]) -> list[Finding]:
        mine = {rid: i for i, rid in enumerate(rids)}
        findings = []
        for first, last, seq, earlier in self.batches:
            if last < rids[0] or first > rids[-1]:
                continue
            common = sorted(set(earlier).intersection(mine))
            old = self.reload(seq) if common else None
            for rid in common:
                i, j = mine[rid], bisect.bisect_left(earlier, rid)
                same = old is not None and old[j] == readings[i]
                findings.append(Finding.of(
                    Kind.DUPLICATE, Location(feed=self.feed_id, seq=anchor.seq, index=i, rid=rid, cid=anchor.cid),
                    f"reading id {rid} was already anchored in seq {seq} reading {j}"
                    + (" (identical: a replay)" if same else " with different content"),
                    Severity.WARNING if same else Severity.ERROR))
        return findings


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Decoding allocates millions of small objects and no cycles; the cyclic collector would scan the
    growing heap again and again (about a third of the time on long feeds)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _cid_of(v: StoredVersion) -> str:
    try:
        return cids.unpack(v.cid_digest, v.codec)
    except ValueError:
        return f"0x{v.cid_digest.hex()}/codec 0x{v.codec:x}"


def _head_fields(a: AnchorRecord) -> tuple[int, int, bytes, bytes, int, int, int]:
    return (a.feed_id, a.seq, a.root, a.cid_digest, a.count, a.t_first, a.t_last)


def _header(a: AnchorRecord, prev_head: bytes) -> tuple[bytes, bytes, bytes, int, int, int]:
    """`ISensorFeedProofs.BatchHeader` of an anchored batch."""
    return (prev_head, a.root, a.cid_digest, a.count, a.t_first, a.t_last)


def _component_name(ledger: Ledger, twin: int, component: bytes) -> str:
    try:
        return str(ledger.spec.functions.component(twin, component).call(block_identifier=ledger.to_block)[6]) or "?"
    except Exception:  # noqa: BLE001 - a name is only a label
        return "?"


def _sorted(findings: Iterable[Finding]) -> list[Finding]:
    def key(f: Finding) -> tuple[Any, ...]:
        loc = f.location
        return (-f.severity, loc.feed or 0, loc.seq if loc.seq is not None else -1, loc.doc or 0,
                loc.version if loc.version is not None else -1, f.kind.value)
    return sorted(findings, key=key)
