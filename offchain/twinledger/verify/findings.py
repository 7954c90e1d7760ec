"""What verification reports: `Finding`s (kind, severity, exact `Location`) and a result's `Status`."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, IntEnum




# ---------------------------------------------------------------------------------------------
# Findings


class Severity(IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2


class Kind(str, Enum):
    """What is wrong. The docstring of each member says when it is reported."""

    TAMPERED = "TAMPERED"  # bytes do not hash to their CID, or a batch's content does not give its anchored root
    MISSING_BLOCK = "MISSING_BLOCK"  # the content is not in the store (the store answered: it does not have it)
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"  # the content store did not answer: nothing is known about the content
    UNDECODABLE = "UNDECODABLE"  # the bytes are not a valid batch (nor a sealed payload)
    MISPLACED = "MISPLACED"  # the batch or payload declares another feed/seq, twin or subject than where it is anchored
    METADATA_MISMATCH = "METADATA_MISMATCH"  # count, tFirst or tLast of the anchor disagree with the batch
    HEAD_MISMATCH = "HEAD_MISMATCH"  # a recomputed head differs from the anchored one or from headOf
    GAP = "GAP"  # sequence numbers without an Anchored event
    REORDERED = "REORDERED"  # readings/batches out of time order; document versions out of order
    DUPLICATE = "DUPLICATE"  # two readings of one sensor with the same source time (docs/formats.md section 1)
    REPEATED = "REPEATED"  # one batch (same seq and head) in a second window: counted once, the copy reported
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
    DATA_GAP = "DATA_GAP"  # readings missing against the sensor's expected rate, inside a batch or between batches


_SEVERITY: dict[Kind, Severity] = {
    Kind.TAMPERED: Severity.ERROR,
    Kind.MISSING_BLOCK: Severity.ERROR,
    Kind.STORE_UNAVAILABLE: Severity.ERROR,
    Kind.UNDECODABLE: Severity.ERROR,
    Kind.MISPLACED: Severity.ERROR,
    Kind.METADATA_MISMATCH: Severity.ERROR,
    Kind.HEAD_MISMATCH: Severity.ERROR,
    Kind.GAP: Severity.ERROR,
    Kind.REORDERED: Severity.WARNING,
    Kind.DUPLICATE: Severity.ERROR,
    Kind.REPEATED: Severity.WARNING,
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
    Kind.DATA_GAP: Severity.WARNING,
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
    UNAVAILABLE = "unavailable"  # the content store did not answer, and nothing else failed: not verified either way


def status_of(findings: Iterable[Finding]) -> Status:
    """FAIL on any error but an unanswered store, UNAVAILABLE when only the store did not answer."""
    findings = list(findings)
    if any(f.severity is Severity.ERROR and f.kind is not Kind.STORE_UNAVAILABLE for f in findings):
        return Status.FAIL
    if any(f.kind is Kind.STORE_UNAVAILABLE for f in findings):
        return Status.UNAVAILABLE
    worst = max((f.severity for f in findings), default=Severity.INFO)
    return Status.WARN if worst is Severity.WARNING else Status.PASS


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.ERROR]
