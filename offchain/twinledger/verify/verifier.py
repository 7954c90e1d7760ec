"""The `Verifier`: batches, readings, feeds, twins, specification versions and documents, checked over a
`Ledger` (the chain at one block) and a content store. The package docstring says what each check covers."""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from eth_utils import to_checksum_address

from ..chain.errors import ChainError
from ..crypto.context import Subject
from ..crypto.errors import CryptoError
from ..crypto.payload import open_sealed
from ..formats.aml import AmlError
from ..formats.batch import BatchColumns, Reading, encode_reading
from ..formats.headchain import GENESIS_HEAD, next_head
from ..formats.merkle import keccak256, verify as merkle_verify
from ..ipfs.errors import BlockNotFound, IntegrityError, IpfsError
from ..ledger.reader import (
    ANCHOR_PERMISSION, AnchorRecord, AnchorTx, FeedState, KeyChange, Ledger, StoredVersion, word,
)
from ..ledger.twinspec import SpecError, load_spec
from .aggregated import WindowIndex, check_leaf_signature
from .findings import Finding, Kind, Location
from .keys import KeySource
from .signatures import AnchorRecoverer, SignatureCheck, check_signature, key_at
from .content import check_batch_bytes, fetch_block, store_unavailable
from .roots import PARALLEL_FROM_READINGS, RootHelpers, shared_helpers
from .feed import (
    ReadingIndex, _batch_time_order, _gc_paused, _head_fields, counted_copy, coverage, head_chain, key_findings,
    repeated_batches, sequence_findings,
)
from .results import BatchResult, DocumentResult, FeedResult, ProgressFn, ReadingResult, TwinResult, VersionResult
from .twin import (
    _cid_of, _component_name, _event_vs_storage, _sealed_header, _sealed_place, _sorted, _version_order,
    succession_findings,
)


PREFETCH_WINDOW = 32
FETCH_THREADS = 8
DEFAULT_GAP_TOLERANCE = 5.0  # sample intervals: a pause longer than this at the expected rate is a DATA_GAP


# ---------------------------------------------------------------------------------------------
# The verifier


class Verifier:
    """Verifies feeds, batches, readings and twins against one chain and one content store.

    `trusted_keys`: device keys the auditor accepts (e.g. from the device's certificate); a
    signature by any other key is WRONG_SIGNER even if the contract accepted it at the time.

    Gaps are measured against a feed's expected rate: `rate_hz` if given, else the AML `SampleRate` of
    the feed's sensor in the twin's latest specification; a pause between two readings longer than
    `gap_tolerance` sample intervals is a DATA_GAP. Without a rate, `gap_ms` (or an adaptive threshold)
    only notes long pauses between batches (COVERAGE_GAP).

    A feed of at least `parallel_from` readings has its batch roots hashed in helper processes as well
    (`verify.roots`; None: never); the findings are the same either way.
    """

    def __init__(self, ledger: Ledger, store: Any, *, keys: KeySource | None = None,
                 trusted_keys: Iterable[str] | None = None, gap_ms: int | None = None, rate_hz: float | None = None,
                 gap_tolerance: float = DEFAULT_GAP_TOLERANCE,
                 parallel_from: int | None = PARALLEL_FROM_READINGS) -> None:
        self.ledger = ledger
        self.store = store
        self.keys = keys
        self.trusted_keys = frozenset(to_checksum_address(k) for k in trusted_keys) if trusted_keys else None
        self.gap_ms = gap_ms
        self.rate_hz = rate_hz
        self.gap_tolerance = gap_tolerance
        self.parallel_from = parallel_from
        self.recoverer = AnchorRecoverer(ledger.chain_id, ledger.feeds.address)
        self._rates: dict[int, dict[bytes, tuple[float, str]]] = {}
        self.windows = WindowIndex(ledger, store)  # the gateway-aggregated mode's anchors, checked alike

    # ---- one batch / one reading ---------------------------------------------------------

    def verify_batch(self, feed_id: int, seq: int, *, keep_tree: bool = False) -> BatchResult:
        """One batch: content, head (from the previous anchor), signature and the on-chain head (`verifyBatch`)."""
        self.ledger.require_feed(feed_id)
        since = _registered_at(self.ledger.key_history(feed_id))
        found = self.ledger.anchors(feed_id, seq) or [a for a in self.windows.anchors(feed_id, since) if a.seq == seq]
        if not found:
            raise LookupError(f"no batch {seq} in feed {feed_id} (it has {self.ledger.feed_state(feed_id).next_seq}): "
                              f"see `twinledger verify feed {feed_id}`")
        before = (self.ledger.anchors(feed_id, seq - 1) or [a for a in self.windows.anchors(feed_id, since)
                                                             if a.seq == seq - 1]) if seq > 0 else []
        anchor = counted_copy(found, before)  # found holds more than one only where a gateway repeated a batch
        prev = [b for b in before if b.position <= anchor.position]
        prev_head = prev[0].head if prev else GENESIS_HEAD
        state = self.ledger.feed_state(feed_id)
        history = self.ledger.key_history(feed_id)
        result = self.check_anchor(anchor, prev_head, state.twin, state.component, history, keep_tree=keep_tree)
        if prev_head is not None and next_head(prev_head, *_head_fields(anchor)) != anchor.head:
            result.findings.append(Finding.of(Kind.HEAD_MISMATCH, Location(feed=feed_id, seq=seq, cid=anchor.cid),
                                              "the head does not follow from the previous anchor"))
        result.prev_head = prev_head
        if not self._batch_on_chain(anchor, prev_head):
            result.findings.append(Finding.of(Kind.CHAIN_MISMATCH, Location(feed=feed_id, seq=seq),
                                              "SensorFeed.verifyBatch (GatewayAnchors.verifyLeaf for a window) "
                                              "rejects the header: what is anchored does not commit to it"))
        return result

    def verify_reading(self, feed_id: int, seq: int, index: int) -> ReadingResult:
        """One reading: its batch, its Merkle proof here and in `SensorFeed.verifyReading`."""
        batch = self.verify_batch(feed_id, seq, keep_tree=True)
        findings = list(batch.findings)
        loc = Location(feed=feed_id, seq=seq, index=index, cid=batch.anchor.cid)
        onchain_root = batch.anchor.root if self._batch_on_chain(batch.anchor, batch.prev_head) else bytes(32)
        if batch.readings is None or batch.tree is None:
            return ReadingResult(feed_id, seq, index, None, None, [], onchain_root, False, False, batch, findings)
        if not 0 <= index < len(batch.readings):
            raise IndexError(f"batch {seq} of feed {feed_id} has {len(batch.readings)} readings, no index {index}")
        reading = batch.readings[index]
        leaf = batch.tree.leaves[index]
        proof = batch.tree.proof(index)
        proof_ok = merkle_verify(proof, onchain_root, leaf) if onchain_root != bytes(32) else False
        onchain_ok = self._reading_on_chain(batch.anchor, batch.prev_head, keccak256(encode_reading(reading)), proof)
        loc = Location(feed=feed_id, seq=seq, index=index, rid=reading.rid, cid=batch.anchor.cid)
        if not proof_ok:
            findings.append(Finding.of(Kind.PROOF_INVALID, loc, "the reading's Merkle proof does not lead to the "
                                       "on-chain root"))
        if not onchain_ok:
            findings.append(Finding.of(Kind.PROOF_INVALID, loc, "SensorFeed.verifyReading (GatewayAnchors."
                                       "verifyReading for a window) rejects the reading"))
        return ReadingResult(feed_id, seq, index, reading, leaf, proof, onchain_root, proof_ok, onchain_ok, batch,
                             findings)

    def find_reading(self, feed_id: int, rid: int) -> tuple[int, int]:
        """(seq, index) of reading id `rid`: binary search over batches (ids increase per outbox), then a scan.
        Ids restart with a new outbox, so an id can name several readings: this gives the first found."""
        self.ledger.require_feed(feed_id)
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
                    progress: ProgressFn | None = None, index: ReadingIndex | None = None) -> FeedResult:
        """The whole feed. `seqs` limits the content checks (the head chain is always checked in full).
        `index` carries reading identities across feeds of one sensor (see `verify_twin`)."""
        started = time.perf_counter()
        ledger = self.ledger
        ledger.require_feed(feed_id)
        state = ledger.feed_state(feed_id)
        history = ledger.key_history(feed_id)
        windowed = self.windows.anchors(feed_id, _registered_at(history))
        anchors, findings = repeated_batches(ledger.anchors(feed_id) + windowed)
        # a feed in windows has no per-feed nextSeq or head on SensorFeed: its windows' leaves are its chain
        next_seq = max([state.next_seq] + [a.seq + 1 for a in windowed])
        findings += sequence_findings(anchors, next_seq, feed_id)
        prev_heads, head_findings = head_chain(anchors, None if windowed else state.head)
        findings += head_findings
        if history and history[-1].key != state.device_key:
            findings.append(Finding.of(Kind.CHAIN_MISMATCH, Location(feed=feed_id), f"the device key events end at "
                                       f"{history[-1].key}, SensorFeed.feed says {state.device_key}"))
        rotation_senders = {c.tx_hash: ledger.anchor_tx(c.tx_hash).sender for c in history if c.previous}
        findings += key_findings(history, rotation_senders)
        findings += _batch_time_order(anchors)
        findings += [f for f in self.windows.findings if f.location.feed == feed_id]  # its windows challenged
        rate = self.expected_rate(state)
        covered, gaps, threshold = coverage(anchors, self.gap_ms)
        if rate is None:  # no promise to measure against: only note long pauses between batches
            for a, b in gaps:
                findings.append(Finding.of(Kind.COVERAGE_GAP, Location(feed=feed_id), f"no readings for "
                                           f"{(b - a) / 1000:.1f} s between t={a} and t={b} (gap threshold "
                                           f"{threshold} ms; no expected rate known for this sensor)"))

        selected = [a for a in anchors if seqs is None or a.seq in seqs]
        index = ReadingIndex() if index is None else index
        with _gc_paused():
            batches, readings = self._check_batches(selected, prev_heads, state, history, index, keep_readings,
                                                    progress)
        findings += _one_unavailable([f for b in batches for f in b.findings], len(batches))
        if rate is not None:
            unread = [(b.anchor.t_first, b.anchor.t_last) for b in batches if not b.content_checked]
            findings += index.gap_findings(feed_id, *rate, self.gap_tolerance, unread=unread)
        by_seq = {b.anchor.seq: b for b in batches}
        for f in head_findings:  # chain-level errors also make the batch unverified
            if f.location.seq in by_seq and f not in by_seq[f.location.seq].findings:
                by_seq[f.location.seq].findings.append(f)
        return FeedResult(feed_id=feed_id, twin=state.twin, sensor=_component_name(ledger, state.twin, state.component),
                          status_on_chain=state.status, successor=state.successor, batches=batches,
                          findings=_sorted(findings), readings_checked=readings,
                          seconds=time.perf_counter() - started, coverage=covered, gaps=gaps, key_history=history)

    def expected_rate(self, state: FeedState) -> tuple[float, str] | None:
        """(Hz, where it comes from) for a feed's sensor: the auditor's `rate_hz`, else the AML SampleRate."""
        if self.rate_hz is not None:
            return self.rate_hz, "the rate given for this check"
        if state.twin not in self._rates:
            self._rates[state.twin] = self._spec_rates(state.twin)
        return self._rates[state.twin].get(state.component)

    def _spec_rates(self, twin: int) -> dict[bytes, tuple[float, str]]:
        try:
            spec = load_spec(self.ledger.chain, self.store, twin)
        except (SpecError, IpfsError, AmlError, CryptoError, ChainError):
            return {}  # no readable specification: no rate to promise, gaps are only noted
        return {c.component_id: (float(c.sensor.sample_rate_hz), f"SampleRate of {c.name} in specification "
                                 f"v{spec.version}")
                for c in spec.spec.sensors if c.sensor is not None and c.sensor.sample_rate_hz}

    def _check_batches(self, selected: Sequence[AnchorRecord], prev_heads: Mapping[int, bytes], state: FeedState,
                       history: Sequence[KeyChange], index: ReadingIndex, keep_readings: bool,
                       progress: ProgressFn | None) -> tuple[list[BatchResult], int]:
        batches: list[BatchResult] = []
        readings = 0
        roots = self._root_helpers(selected)
        for i, (anchor, data, tx, root) in enumerate(self._prefetch(selected, roots)):
            result, columns = self._check_anchor(anchor, prev_heads.get(anchor.seq, GENESIS_HEAD), state.twin,
                                                 state.component, history, data=data, tx=tx, known_root=root)
            if columns is not None:
                readings += len(columns)
                result.findings += index.add_columns(anchor, columns)
                if keep_readings:
                    result.readings = columns.readings()
            batches.append(result)
            if progress is not None:
                progress(i + 1, len(selected), readings)
        return batches, readings

    def _root_helpers(self, selected: Sequence[AnchorRecord]) -> RootHelpers | None:
        """The helpers that hash these batches' roots, if there are enough readings to make them worth it."""
        if self.parallel_from is None or sum(a.count for a in selected) < self.parallel_from:
            return None
        return shared_helpers()

    def _prefetch(self, anchors: Sequence[AnchorRecord], roots: RootHelpers | None = None) -> Iterator[
            tuple[AnchorRecord, tuple[bytes | None, Finding | None], AnchorTx, bytes | None]]:
        """Blocks and transactions fetched ahead in threads (I/O), each block handed to the root helpers as it
        arrives, verified in order in this thread."""
        with ThreadPoolExecutor(FETCH_THREADS) as pool:
            window: deque[tuple[AnchorRecord, Future[Any], Future[AnchorTx]]] = deque()
            txs: dict[str, Future[AnchorTx]] = {}  # one fetch per transaction (anchorMany carries many anchors)
            it = iter(anchors)

            def submit() -> bool:
                a = next(it, None)
                if a is None:
                    return False
                loc = Location(feed=a.feed_id, seq=a.seq, cid=a.cid)
                tx = txs.get(a.tx_hash)
                if tx is None:
                    tx = txs[a.tx_hash] = pool.submit(self.anchor_tx, a.tx_hash)
                window.append((a, pool.submit(fetch, a.cid, loc), tx))
                return True

            def fetch(cid: str, loc: Location) -> tuple[tuple[bytes | None, Finding | None], bytes | None]:
                data = fetch_block(self.store, cid, loc)
                return data, roots.root(data[0]) if roots is not None and data[0] is not None else None

            for _ in range(PREFETCH_WINDOW):
                if not submit():
                    break
            while window:
                a, fetched, tx = window.popleft()
                submit()
                data, root = fetched.result()
                yield a, data, tx.result(), root

    def check_anchor(self, anchor: AnchorRecord, prev_head: bytes, twin: int, component: bytes,
                     history: Sequence[KeyChange], *, data: tuple[bytes | None, Finding | None] | None = None,
                     tx: AnchorTx | None = None, keep_tree: bool = False) -> BatchResult:
        """One anchored batch: its content (fetched unless `data` is given) and its signature. The head is
        the caller's business (it needs the previous anchor)."""
        result, columns = self._check_anchor(anchor, prev_head, twin, component, history, data=data, tx=tx,
                                             keep_tree=keep_tree)
        result.readings = columns.readings() if columns is not None else None
        return result

    def _check_anchor(self, anchor: AnchorRecord, prev_head: bytes, twin: int, component: bytes,
                      history: Sequence[KeyChange], *, data: tuple[bytes | None, Finding | None] | None = None,
                      tx: AnchorTx | None = None, keep_tree: bool = False,
                      known_root: bytes | None = None) -> tuple[BatchResult, BatchColumns | None]:
        """`check_anchor` with the decoded readings as columns (None if unread), not yet as `Reading` objects;
        `known_root` as in `check_batch_bytes`."""
        loc = Location(feed=anchor.feed_id, seq=anchor.seq, cid=anchor.cid)
        result = BatchResult(anchor)
        columns = None
        raw, problem = data if data is not None else fetch_block(self.store, anchor.cid, loc)
        if problem is not None:
            result.findings.append(problem)
        elif raw is not None:
            content = check_batch_bytes(raw, anchor, twin=twin, keys=self.keys, keep_tree=keep_tree,
                                        known_root=known_root)
            result.findings += content.findings
            columns = content.columns
            result.encrypted = content.encrypted
            result.root_checked = content.root_checked
            result.content_checked = True
            result.tree = content.tree
        tx = tx if tx is not None else self.anchor_tx(anchor.tx_hash)
        expected = key_at(history, anchor.position)

        def permitted(sender: str) -> bool:
            return self.ledger.can(twin, sender, ANCHOR_PERMISSION, component, anchor.block)

        def check() -> SignatureCheck:
            return check_signature(anchor, prev_head, tx, expected, self.recoverer, trusted_keys=self.trusted_keys,
                                   anchorer_permitted=permitted)

        result.signature = check_leaf_signature(anchor, tx, expected, check) if self.windows.is_window_tx(tx) \
            else check()
        result.findings += result.signature.findings
        return result, columns

    def _batch_on_chain(self, anchor: AnchorRecord, prev_head: bytes) -> bool:
        if self.windows.place(anchor) is not None:
            return self.windows.verify_leaf(anchor, prev_head)
        return self.ledger.verify_batch(anchor, prev_head)

    def _reading_on_chain(self, anchor: AnchorRecord, prev_head: bytes, reading_hash: bytes,
                          proof: list[bytes]) -> bool:
        if self.windows.place(anchor) is not None:  # two levels: reading -> batch root -> window root
            return self.windows.verify_reading(anchor, prev_head, reading_hash, proof)
        return self.ledger.verify_reading(anchor, prev_head, reading_hash, proof)

    def anchor_tx(self, tx_hash: str) -> AnchorTx:
        """The transaction that anchored a batch: a gateway's window, or a SensorFeed anchor."""
        return self.windows.tx(tx_hash) or self.ledger.anchor_tx(tx_hash)

    # ---- whole twin -----------------------------------------------------------------------

    def verify_twin(self, twin: int, *, keep_readings: bool = False,
                    progress: Callable[[str, int, int, int], None] | None = None) -> TwinResult:
        """All feeds (with their successors), specification versions and documents of `twin`."""
        started = time.perf_counter()
        self.ledger.require_twin(twin)
        info = self.ledger.twin_info(twin)
        feed_ids = self.ledger.feeds_of_twin(twin)
        feeds: list[FeedResult] = []
        by_sensor: dict[bytes, ReadingIndex] = {}  # feeds of one sensor share reading identities
        for fid in feed_ids:
            cb = (lambda d, t, r, fid=fid: progress(f"feed {fid}", d, t, r)) if progress else None
            index = by_sensor.setdefault(self.ledger.feed_state(fid).component, ReadingIndex())
            feeds.append(self.verify_feed(fid, keep_readings=keep_readings, progress=cb, index=index))
        findings: list[Finding] = []
        findings += succession_findings(twin, feeds, self.ledger.retirements(feed_ids))
        findings += [f for f in self.windows.findings if f.location.feed is None]  # windows no feed can claim
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
            return [store_unavailable(loc, exc)], False
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


def _one_unavailable(findings: list[Finding], total: int) -> list[Finding]:
    """An unanswered store is one finding per feed (how many batches it left unchecked), not one per batch."""
    down = [f for f in findings if f.kind is Kind.STORE_UNAVAILABLE]
    if len(down) <= 1:
        return findings
    first = down[0].location
    summary = Finding.of(Kind.STORE_UNAVAILABLE, Location(feed=first.feed, seq=first.seq),
                         f"{len(down)} of {total} batches not checked: {down[0].message}")
    return [f for f in findings if f.kind is not Kind.STORE_UNAVAILABLE] + [summary]


def _registered_at(history: Sequence[KeyChange]) -> int | None:
    """The block that registered the feed (its first key), None if the range does not hold its registration."""
    return history[0].block if history and history[0].previous is None else None
