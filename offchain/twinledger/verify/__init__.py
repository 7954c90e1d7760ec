"""Independent verification of a twin's history: trust no node, no store, no party.

Everything is recomputed from the chain's events and the stored bytes (docs/formats.md):

- a **batch** is fetched by the CID its `Anchored` event names (the store checks the bytes against
  the CID), decoded strictly, matched against the event's place, count and times, and its Merkle
  root is recomputed; its head is recomputed from the previous head; the device signature is taken
  from the anchoring transaction's calldata (`anchor` or `anchorMany`) and its signer is compared
  with the device key the feed had at that point (`FeedRegistered`/`DeviceKeyRotated` events);
- a **feed** is all its batches, plus seq continuity, the final head against `headOf`, duplicate
  readings (two readings of one sensor with one source time: reading identity, docs/formats.md
  section 1, never the reading id), gaps against the sensor's expected rate (its AML `SampleRate`)
  inside and between batches, and readings or batches out of time order;
- a **reading** is its batch plus its Merkle proof, checked here and by `SensorFeed.verifyReading`;
- a **twin** is all its feeds (retired ones and their successors too; duplicates are also looked for
  across the feeds of one sensor), its specification versions
  and its documents: each version's content is fetched by CID and its keccak256 compared with the
  on-chain digest, and the version order is checked (see `Kind.REORDERED`).

Encrypted batches and documents (docs/formats.md section 6) are checked as far as possible without a
key: CID, head chain, signature and the payload's declared place. Their Merkle root or digest is
recomputed only when a `KeySource` gives the data key.

A content store that does not answer is STORE_UNAVAILABLE (status `UNAVAILABLE`), never MISSING_BLOCK:
it says nothing about the content.

This package only computes results (`Finding`s with an exact `Location`); the CLI prints them."""
from .findings import Finding, Kind, Location, Severity, Status, errors, status_of
from .keys import ChainedKeys, EnvelopeKeys, KeySource, PublishedKeys, StaticKeys
from .signatures import AnchorRecoverer, SignatureCheck, check_signature, key_at
from ..formats.merkle import fast_root as merkle_root
from .content import BatchContent, check_batch_bytes, fetch_block
from .feed import ReadingIndex, coverage, head_chain, key_findings, sequence_findings
from .results import BatchResult, DocumentResult, FeedResult, ProgressFn, ReadingResult, TwinResult, VersionResult
from .twin import succession_findings
from .verifier import FETCH_THREADS, PREFETCH_WINDOW, Verifier

__all__ = [
    "AnchorRecoverer", "BatchContent", "BatchResult", "ChainedKeys", "DocumentResult", "EnvelopeKeys",
    "FETCH_THREADS", "FeedResult", "Finding", "KeySource", "Kind", "Location", "PREFETCH_WINDOW",
    "ProgressFn", "PublishedKeys", "ReadingIndex", "ReadingResult", "Severity", "SignatureCheck", "StaticKeys", "Status",
    "TwinResult", "Verifier", "VersionResult", "check_batch_bytes", "check_signature", "coverage", "errors",
    "fetch_block", "head_chain", "key_at", "key_findings", "merkle_root", "sequence_findings", "status_of",
    "succession_findings",
]
