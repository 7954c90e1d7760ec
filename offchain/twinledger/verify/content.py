"""A batch's bytes: fetch by CID, decode strictly, open if sealed, match the anchor, recompute the root."""
from __future__ import annotations

import operator
from dataclasses import dataclass
from itertools import islice
from typing import Any


from ..crypto.context import Context, Subject
from ..crypto.errors import CryptoError
from ..crypto.payload import looks_sealed as _looks_sealed
from ..crypto.payload import open_sealed, read_header
from ..formats.batch import BatchColumns, BatchFormatError, Reading, decode_batch_columns
from ..formats.merkle import MerkleTree, leaf_hashes, root_of_readings
from ..ipfs.errors import BlockNotFound, IntegrityError, IpfsError
from ..ledger.reader import AnchorRecord
from .findings import Finding, Kind, Location
from .keys import KeySource


# ---------------------------------------------------------------------------------------------
# Batch content


@dataclass
class BatchContent:
    """What the stored bytes of one anchored batch say."""

    findings: list[Finding]
    columns: BatchColumns | None = None  # the decoded readings, as columns of checked fields
    encrypted: bool = False
    root_checked: bool = False  # the Merkle root was recomputed and equals the anchored one
    tree: MerkleTree | None = None

    @property
    def readings(self) -> tuple[Reading, ...] | None:
        """The decoded readings as objects (built on each call; a feed check indexes the columns instead)."""
        return self.columns.readings() if self.columns is not None else None


def fetch_block(store: Any, cid: str, loc: Location) -> tuple[bytes | None, Finding | None]:
    """The bytes of `cid`, verified against it by the store, or the finding that explains why not."""
    try:
        return store.block_get(cid), None
    except IntegrityError as exc:
        return None, Finding.of(Kind.TAMPERED, loc, f"stored bytes do not hash to the CID ({exc})")
    except BlockNotFound:
        return None, Finding.of(Kind.MISSING_BLOCK, loc, "the batch is not in the content store")
    except IpfsError as exc:  # the store did not answer (or failed): that says nothing about the batch
        return None, store_unavailable(loc, exc)


def store_unavailable(loc: Location, exc: Exception) -> Finding:
    return Finding.of(Kind.STORE_UNAVAILABLE, loc, f"the content store did not answer ({exc}): the content is not "
                      "checked; run again when the store is back")


def check_batch_bytes(data: bytes, anchor: AnchorRecord, *, twin: int | None = None,
                      keys: KeySource | None = None, keep_tree: bool = False,
                      known_root: bytes | None = None) -> BatchContent:
    """Decode one batch's bytes and compare it with its anchor (place, count, times, Merkle root).

    `known_root` is the root of exactly `data` if a helper computed it (`verify.roots`); it is used only once
    `data` decoded here as a plaintext batch, and without it the root is computed here."""
    loc = Location(feed=anchor.feed_id, seq=anchor.seq, cid=anchor.cid)
    if _looks_sealed(data):
        opened = _open_sealed_batch(data, anchor, twin, keys, loc)
        if isinstance(opened, BatchContent):
            return opened
        data, encrypted = opened, True
    else:
        encrypted = False
    try:
        # one pass gives the readings and each one's own bytes (the leaf preimages), hashed as stored
        columns, encoded = decode_batch_columns(data)
    except BatchFormatError as exc:
        return BatchContent([Finding.of(Kind.UNDECODABLE, loc, f"not a valid batch: {exc}")], encrypted=encrypted)
    findings = _batch_header_findings(columns, anchor, loc)
    given = known_root if not encrypted and not keep_tree else None
    tree = MerkleTree(leaf_hashes(encoded)) if keep_tree else None
    root = tree.root if tree is not None else given if given is not None else root_of_readings(encoded)
    root_ok = root == anchor.root
    if not root_ok:
        findings.append(Finding.of(Kind.TAMPERED, loc, "the batch's readings do not give the anchored Merkle root "
                                   f"(recomputed 0x{root.hex()}, anchored 0x{anchor.root.hex()})"))
    findings += _order_findings(columns, loc)
    return BatchContent(findings, columns, encrypted, root_ok, tree)


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


def _batch_header_findings(batch: BatchColumns, anchor: AnchorRecord, loc: Location) -> list[Finding]:
    findings = []
    if (batch.feed, batch.seq) != (anchor.feed_id, anchor.seq):
        findings.append(Finding.of(Kind.MISPLACED, loc, f"the batch says feed {batch.feed} seq {batch.seq}: it was "
                                   "anchored in another place"))
    got = (len(batch), min(batch.times), max(batch.times))  # count, t_first, t_last
    want = (anchor.count, anchor.t_first, anchor.t_last)
    if got != want:
        findings.append(Finding.of(Kind.METADATA_MISMATCH, loc, f"batch has count/tFirst/tLast {got}, the anchor says "
                                   f"{want}"))
    return findings


def _order_findings(batch: BatchColumns, loc: Location) -> list[Finding]:
    """Readings are kept in acceptance order; a reading measured before its predecessor is reported
    once per batch (first index and how many), not once per reading."""
    times = batch.times
    if all(map(operator.le, times, islice(times, 1, None))):  # the usual case, checked in C
        return []
    late = [i for i in range(1, len(times)) if times[i] < times[i - 1]]
    first = late[0]
    where = Location(feed=loc.feed, seq=loc.seq, index=first, rid=batch.rids[first], cid=loc.cid)
    return [Finding.of(Kind.REORDERED, where, f"{len(late)} reading(s) measured before the reading anchored ahead "
                       f"of them (first: t={times[first]} after t={times[first - 1]})")]
