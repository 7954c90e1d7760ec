"""Encrypted documents through the CLI on a real DevStack: `doc add|version --encrypt`, `doc get` as a
reader and as others, revocation, `doc reencrypt`, component scopes, listings, tampering, an envelope
wrapped to the wrong key, and verification of ciphertext without a key."""
from __future__ import annotations

from pathlib import Path

import dag_cbor
import pytest
from cli_harness import AUDITOR, MAINTAINER, MANUFACTURER, OUTSIDER, OWNER, Twinledger, address
from eth_utils import keccak

from twinledger.ledger.reader import Ledger
from twinledger.ledger.sharing import short_address
from twinledger.verify import Kind, Status, Verifier
from twinledger.crypto import Subject, build_envelope, new_data_key
from twinledger.ledger.access import publish_envelope
from twinledger.crypto.keys import Recipient, generate_private_key, public_key_from_private
from twinledger.formats.cids import pack

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def twin(tl: Twinledger) -> int:
    twin = tl.create_twin()
    tl("role", "grant", twin, "MAINTAINER", address(MAINTAINER))
    tl("role", "grant", twin, "AUDITOR", address(AUDITOR))
    tl("role", "grant", twin, "MANUFACTURER", address(MANUFACTURER))
    for who in (1, MAINTAINER, AUDITOR, MANUFACTURER, OUTSIDER):
        tl("key", "register", account=who)
    return twin


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _doc_id(stdout: str) -> int:
    return int(stdout.split("document ")[1].split()[0])


def test_readers_revocation_and_reencrypt(tl: Twinledger, twin: int, tmp_path: Path) -> None:
    v0 = _write(tmp_path, "report-v0.txt", b"confidential maintenance report, rev 0\n" * 40)
    added = tl("doc", "add", twin, v0, "--name", "Maintenance report", "--encrypt", account=MAINTAINER)
    doc = _doc_id(added.stdout)
    assert "(encrypted)" in added.stdout and "encrypted (epoch 0) for" in added.stderr
    assert address(AUDITOR).lower() in added.stderr and address(OUTSIDER).lower() not in added.stderr

    # On IPFS and on-chain only the ciphertext: its digest is what the chain holds.
    cid, codec, digest, _a, _t = tl.stack.chain().spec.functions.documentVersion(doc, 0).call()
    assert b"maintenance report" not in tl.stack.store().cat(_cid(cid, codec))
    assert digest == keccak(tl.stack.store().cat(_cid(cid, codec)))

    got = tl("doc", "get", twin, doc, account=AUDITOR)
    assert got.stdout_bytes == v0.read_bytes() and "decrypted (epoch 0)" in got.stderr
    assert "NotARecipient" in tl.fails("doc", "get", twin, doc, account=OUTSIDER)
    assert "is encrypted" in tl.fails("doc", "get", twin, doc, account=None)

    # Revoke the auditor: the next version (encrypted by default, like the latest) is not for it.
    tl("role", "revoke", twin, "AUDITOR", address(AUDITOR))
    v1 = _write(tmp_path, "report-v1.txt", b"confidential maintenance report, rev 1\n" * 40)
    assert "(encrypted)" in tl("doc", "version", twin, doc, v1, account=MAINTAINER).stdout
    assert tl("doc", "get", twin, doc, "--version", "0", account=AUDITOR).stdout_bytes == v0.read_bytes()
    assert "NotARecipient" in tl.fails("doc", "get", twin, doc, account=AUDITOR)
    assert tl("doc", "get", twin, doc, account=1).stdout_bytes == v1.read_bytes()

    # A new reader gets nothing written before it; `doc reencrypt` shares the current version with it.
    tl("role", "grant", twin, "DISTRIBUTOR", address(OUTSIDER))
    assert "NotARecipient" in tl.fails("doc", "get", twin, doc, account=OUTSIDER)
    out = tl("doc", "reencrypt", twin, doc, account=MAINTAINER)
    assert "version 2" in out.stdout and "re-encrypts version 1" in out.stderr
    assert tl("doc", "get", twin, doc, account=OUTSIDER).stdout_bytes == v1.read_bytes()
    assert "NotARecipient" in tl.fails("doc", "get", twin, doc, "--version", "1", account=OUTSIDER)
    assert "NotARecipient" in tl.fails("doc", "get", twin, doc, account=AUDITOR)

    listing = tl("doc", "list", twin).stdout
    assert "epoch 0:" in listing and "epoch 2:" in listing
    # the auditor only in epoch 0's readers, the newcomer only in epoch 2's
    auditor, newcomer = (short_address(address(i).lower()) for i in (AUDITOR, OUTSIDER))
    assert listing.count(auditor) == 1 and listing.count(newcomer) == 1, listing
    assert listing.index(newcomer) > listing.index("epoch 2:")

    # An auditor without a key still proves the integrity of every version (CID and on-chain digest).
    result = Verifier(Ledger(tl.stack.chain()), tl.stack.store()).verify_document(twin, doc)
    assert result.status is Status.PASS and {f.kind for f in result.findings} <= {Kind.NOT_DECRYPTED}


def test_a_scoped_party_reads_only_its_components(tl: Twinledger, twin: int, tmp_path: Path) -> None:
    tl("scope", "set", twin, address(MANUFACTURER), "filler")
    on_filler = _doc_id(tl("doc", "add", twin, _write(tmp_path, "f.txt", b"filler settings"), "--name", "Filler",
                           "--component", "filler", "--encrypt", account=MAINTAINER).stdout)
    on_twin = _doc_id(tl("doc", "add", twin, _write(tmp_path, "t.txt", b"plant-wide"), "--name", "Plant",
                         "--encrypt", account=MAINTAINER).stdout)
    assert tl("doc", "get", twin, on_filler, account=MANUFACTURER).stdout_bytes == b"filler settings"
    assert "NotARecipient" in tl.fails("doc", "get", twin, on_twin, account=MANUFACTURER)
    tl("scope", "clear", twin, address(MANUFACTURER))


def test_tampered_payload_and_wrong_key_envelope_fail_clearly(tl: Twinledger, twin: int, tmp_path: Path) -> None:
    doc = _doc_id(tl("doc", "add", twin, _write(tmp_path, "c.txt", b"calibration LT-401: OK"), "--name", "Cal",
                     "--encrypt", account=MAINTAINER).stdout)
    store, chain = tl.stack.store(), tl.stack.chain(MAINTAINER)
    cid, codec, _d, _a, _t = chain.spec.functions.documentVersion(doc, 0).call()
    sealed = dag_cbor.decode(store.cat(_cid(cid, codec)))

    # The same payload with one ciphertext bit flipped, recorded as a version with a matching digest.
    flipped = dag_cbor.encode({**sealed, "ct": bytes([sealed["ct"][0] ^ 1]) + sealed["ct"][1:], "item": 1})
    _add_raw_version(tl, twin, doc, flipped)
    assert "DecryptionFailed" in tl.fails("doc", "get", twin, doc, "--version", "1", account=MAINTAINER)
    # A payload moved to another version (its AAD names version 0) is refused too.
    _add_raw_version(tl, twin, doc, store.cat(_cid(cid, codec)))
    assert "DecryptionFailed" in tl.fails("doc", "get", twin, doc, "--version", "2", account=MAINTAINER)

    # A later envelope of the same epoch whose entry for the auditor was wrapped to another key.
    tl("role", "grant", twin, "AUDITOR", address(AUDITOR))
    stranger = Recipient.from_public_key(public_key_from_private(generate_private_key()))
    bogus = build_envelope(twin, Subject.doc(doc), sealed["epoch"], new_data_key(), [stranger], chain.sender.address)
    wrapped = {address(AUDITOR).lower(): bogus.recipients[stranger.address]}
    forged = type(bogus)(bogus.twin, bogus.subject, bogus.epoch, wrapped, bogus.commit, bogus.created_at, bogus.writer)
    publish_envelope(chain, store, forged, bytes(32))
    assert "EnvelopeWrongKey" in tl.fails("doc", "get", twin, doc, "--version", "0", account=AUDITOR)


def test_an_envelope_planted_under_another_component_is_ignored(tl: Twinledger, twin: int, tmp_path: Path) -> None:
    """M-3: a KEY_PUBLISH holder scoped to another component publishes, for a twin-level document, a bogus
    envelope of its current epoch that lists the auditor. Readers took the latest envelope listing them, so the
    auditor's read failed (EnvelopeWrongKey); now only envelopes published under the subject's own component
    count, and the auditor reads."""
    doc = _doc_id(tl("doc", "add", twin, _write(tmp_path, "p.txt", b"pressure test: passed"), "--name", "Pressure",
                     "--encrypt", account=MAINTAINER).stdout)
    owner, planter = tl.stack.chain(OWNER), tl.stack.chain(OUTSIDER)
    elsewhere = keccak(text="another component")
    device_agent = keccak(text="DEVICE_AGENT")
    owner.sender.transact(owner.auth.functions.grantTwinRole(twin, device_agent, address(OUTSIDER)))
    owner.sender.transact(owner.auth.functions.setScope(twin, address(OUTSIDER), [elsewhere]))
    stranger = Recipient.from_public_key(public_key_from_private(generate_private_key()))
    bogus = build_envelope(twin, Subject.doc(doc), 0, new_data_key(), [stranger], planter.sender.address)
    forged = type(bogus)(bogus.twin, bogus.subject, bogus.epoch,
                         {address(AUDITOR).lower(): bogus.recipients[stranger.address]}, bogus.commit,
                         bogus.created_at, bogus.writer)
    publish_envelope(planter, tl.stack.store(), forged, elsewhere)  # the contract takes it: its own stream
    assert tl("doc", "get", twin, doc, account=AUDITOR).stdout_bytes == b"pressure test: passed"
    owner.sender.transact(owner.auth.functions.revokeTwinRole(twin, device_agent, address(OUTSIDER)))


def _cid(digest: bytes, codec: int) -> str:
    from twinledger.formats.cids import unpack

    return unpack(digest, codec)


def _add_raw_version(tl: Twinledger, twin: int, doc: int, data: bytes) -> None:
    chain = tl.stack.chain(MAINTAINER)
    cid = tl.stack.store().add_bytes(data, cid_version=1, raw_leaves=True).cid
    digest, codec = pack(cid)
    chain.sender.transact(chain.spec.functions.addDocumentVersion(twin, doc, digest, codec, keccak(data)))
