"""Verification results per batch, reading, feed, version, document and twin."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


from ..formats.batch import Reading
from ..formats.headchain import GENESIS_HEAD
from ..formats.merkle import MerkleTree
from ..ledger.reader import AnchorRecord, KeyChange
from .findings import Finding, Status, errors, status_of
from .signatures import SignatureCheck


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
