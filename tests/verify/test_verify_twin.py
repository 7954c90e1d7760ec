"""Twin-level verification: all feeds (retired ones and their successors), the specification versions
and the documents, with their digests and their version order; and the pure checks behind it."""
from __future__ import annotations

import pytest
from eth_utils import keccak

from twinledger.ledger.reader import AnchorCall, AnchorRecord, AnchorTx, KeyChange
from twinledger.verify import (
    AnchorRecoverer,
    Kind,
    Severity,
    Status,
    check_signature,
    head_chain,
    key_at,
    sequence_findings,
)
from twinledger.crypto.context import Context, Subject
from twinledger.crypto.payload import seal
from twinledger.formats import cids
from twinledger.formats.eip712 import AnchorMessage, sign_anchor
from twinledger.formats.headchain import GENESIS_HEAD, next_head

from verify_support import T0, World, make_world, synthetic_batch

pytestmark = pytest.mark.timeout(300)
ENVELOPE = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    w = make_world(tmp_path_factory.mktemp("verify-twin"))
    yield w
    w.stack.stop()


def add_document(world: World, twin: int, name: str, contents: list[bytes], digests: list[bytes] | None = None) -> int:
    spec = world.owner.spec.functions
    digests = digests or [keccak(c) for c in contents]
    for i, (content, digest) in enumerate(zip(contents, digests)):
        cid_digest, codec = cids.pack(world.store.add_bytes(content).cid)
        if i == 0:
            world.owner.sender.transact(spec.addDocument(twin, bytes(32), name, cid_digest, codec, digest))
            doc_id = spec.documentCount().call()
        else:
            world.owner.sender.transact(spec.addDocumentVersion(twin, doc_id, cid_digest, codec, digest))
    return doc_id


def test_clean_twin_with_successor_feed_and_documents(world: World) -> None:
    twin = world.new_twin()
    old = world.new_feed("tank_level_a", twin)
    old.anchor_many(3)
    new = world.new_feed("tank_level_a", twin)
    world.owner.sender.transact(world.owner.feeds.functions.retireFeed(old.feed, new.feed))
    for seq in range(2):  # the successor goes on where the retired feed stopped: no reading twice
        new.anchor(synthetic_batch(new.feed, seq, t0=T0 + (3 + seq) * 20 * 50))
    add_document(world, twin, "manual.pdf", [b"manual v0", b"manual v1"])
    result = world.verifier().verify_twin(twin)
    assert result.status is Status.PASS, [str(f) for f in result.findings if f.severity]
    assert [f.feed_id for f in result.feeds] == [old.feed, new.feed]
    assert result.feeds[0].status_on_chain == "retired" and result.feeds[0].successor == new.feed
    assert len(result.spec_versions) == 1 and result.spec_versions[0].content_checked
    [doc] = result.documents
    assert doc.name == "manual.pdf" and [v.version for v in doc.versions] == [0, 1]
    assert all(v.content_checked for v in doc.versions)


def test_document_digest_mismatch_and_missing_content(world: World) -> None:
    twin = world.new_twin()
    doc = add_document(world, twin, "drawing.dxf", [b"drawing A", b"drawing B"],
                       digests=[keccak(b"drawing A"), keccak(b"something else")])
    result = world.verifier().verify_twin(twin)
    [mismatch] = [f for f in result.findings if f.kind is Kind.DIGEST_MISMATCH]
    assert (mismatch.location.doc, mismatch.location.version) == (doc, 1)
    assert result.status is Status.FAIL


def test_reordered_document_versions_are_detected(world: World) -> None:
    """Reordered means: a version's content declares another place in the order than the one it has
    on-chain. Sealed payloads carry their version (`item`), so swapping two versions' payloads is
    caught without any key; the content hashes still match the on-chain digests."""
    twin = world.new_twin()
    doc_id = world.owner.spec.functions.documentCount().call() + 1
    key = bytes(32)

    def sealed(item: int, text: bytes) -> bytes:
        return seal(text, key, Context(twin, Subject.doc(doc_id), item, 0), envelope=ENVELOPE)

    blobs = [sealed(0, b"rev A"), sealed(2, b"rev C"), sealed(1, b"rev B")]  # versions 1 and 2 swapped
    assert add_document(world, twin, "procedure.txt", blobs) == doc_id
    result = world.verifier().verify_twin(twin)
    reordered = [f for f in result.findings if f.kind is Kind.REORDERED]
    assert {(f.location.doc, f.location.version) for f in reordered} == {(doc_id, 1), (doc_id, 2)}
    assert "sealed as version 2" in next(f.message for f in reordered if f.location.version == 1)
    assert result.status is Status.WARN


def test_restored_old_version_is_a_rollback(world: World) -> None:
    twin = world.new_twin()
    doc = add_document(world, twin, "limits.csv", [b"limits 1", b"limits 2", b"limits 1"])
    result = world.verifier().verify_twin(twin)
    [rollback] = [f for f in result.findings if f.kind is Kind.ROLLBACK]
    assert (rollback.location.doc, rollback.location.version) == (doc, 2)
    assert "version 0" in rollback.message


def test_tampered_specification_file(world: World) -> None:
    twin = world.new_twin()
    version = world.verifier().ledger.spec_versions(twin)[0]
    cid = cids.unpack(version.cid_digest, version.codec)
    path = world.block_path(cid) if world.store.block_has(cid) else None
    assert path is not None
    data = bytearray(path.read_bytes())
    data[100] ^= 0x20
    path.write_bytes(bytes(data))
    result = world.verifier().verify_twin(twin)
    [bad] = [f for f in result.findings if f.severity is Severity.ERROR]
    assert bad.kind is Kind.TAMPERED and bad.location.spec_version == 0


# ---- pure checks: what a lying node or a broken contract would look like ------------------------


def record(seq: int, head: bytes, *, feed: int = 1, root: bytes = b"\x11" * 32, block: int = 10) -> AnchorRecord:
    return AnchorRecord(feed, seq, root, b"\x22" * 32, 3, 1000 * seq, 1000 * seq + 2, head, block + seq, 0,
                        "0x" + "ab" * 32)


def chain_of(n: int) -> list[AnchorRecord]:
    out, head = [], GENESIS_HEAD
    for s in range(n):
        r = record(s, bytes(32))
        head = next_head(head, r.feed_id, r.seq, r.root, r.cid_digest, r.count, r.t_first, r.t_last)
        out.append(record(s, head))
    return out


def test_gap_in_events_is_reported_with_its_range() -> None:
    anchors = chain_of(8)
    shown = [a for a in anchors if a.seq not in (3, 4)]
    findings = sequence_findings(shown, 8, 1)
    [gap] = findings
    assert gap.kind is Kind.GAP and gap.location.seq == 3 and "seq 3..4" in gap.message
    assert sequence_findings(anchors[:5], 8, 1)[0].message.startswith("seq 5..7")


def test_head_chain_mismatch_is_located() -> None:
    anchors = chain_of(5)
    anchors[2] = record(2, b"\x99" * 32)
    _, findings = head_chain(anchors, anchors[-1].head)
    assert {(f.kind, f.location.seq) for f in findings} == {(Kind.HEAD_MISMATCH, 2), (Kind.HEAD_MISMATCH, 3)}
    _, clean = head_chain(chain_of(5), chain_of(5)[-1].head)
    assert clean == []


def test_signer_is_compared_with_the_key_of_that_moment() -> None:
    device, other = "0x" + "d3" * 32, "0x" + "e7" * 32
    from eth_account import Account

    dev, oth = Account.from_key(device), Account.from_key(other)
    contract = "0x" + "12" * 20
    anchor = record(0, bytes(32))
    msg = AnchorMessage(1, 0, GENESIS_HEAD, anchor.root, anchor.cid_digest, 3, 0, 2)
    sig = sign_anchor(device, msg, 31337, contract)
    tx = AnchorTx(anchor.tx_hash, oth.address, contract, (AnchorCall(1, 0, anchor.root, anchor.cid_digest, 3, 0, 2,
                                                                     sig),))
    rec = AnchorRecoverer(31337, contract)
    history = [KeyChange(1, dev.address, None, 1, 0, "0x"), KeyChange(1, oth.address, dev.address, 50, 0, "0x")]
    assert key_at(history, anchor.position) == dev.address
    assert check_signature(anchor, GENESIS_HEAD, tx, dev.address, rec).status == "signed"
    # A node that hides the rotation before this anchor (or a contract bug) shows as WRONG_SIGNER.
    wrong = check_signature(anchor, GENESIS_HEAD, tx, oth.address, rec)
    assert wrong.status == "wrong" and wrong.findings[0].kind is Kind.WRONG_SIGNER
    # The signature binds the place in the chain: another prev head recovers someone else.
    moved = check_signature(anchor, b"\x01" * 32, tx, dev.address, rec)
    assert moved.findings[0].kind is Kind.WRONG_SIGNER
    # Calldata that disagrees with the event.
    bad_tx = AnchorTx(anchor.tx_hash, oth.address, contract,
                      (AnchorCall(1, 0, b"\x00" * 32, anchor.cid_digest, 3, 0, 2, sig),))
    kinds = {f.kind for f in check_signature(anchor, GENESIS_HEAD, bad_tx, dev.address, rec).findings}
    assert Kind.CHAIN_MISMATCH in kinds
    # Through a relay contract: no calldata to read the signature from.
    relay = AnchorTx(anchor.tx_hash, oth.address, "0x" + "34" * 20, ())
    assert check_signature(anchor, GENESIS_HEAD, relay, dev.address, rec).status == "unavailable"
