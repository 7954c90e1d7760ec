"""End to end: `doc add|version|get|list` with digest checks (and tampered content), `source add|remove|list`."""
from __future__ import annotations

from pathlib import Path

import pytest
from cli_harness import MAINTAINER, OUTSIDER, Twinledger, address
from eth_utils import keccak
from web3.logs import DISCARD

from twinledger.formats.cids import pack


@pytest.fixture(scope="module")
def twin(tl: Twinledger) -> int:
    twin = tl.create_twin()
    tl("role", "grant", twin, "MAINTAINER", address(MAINTAINER))
    return twin


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_add_version_get_list(tl: Twinledger, twin: int, tmp_path: Path) -> None:
    v0 = _write(tmp_path, "manual-v0.pdf", b"%PDF-1.7 filler manual, first edition\n" * 50)
    v1 = _write(tmp_path, "manual-v1.pdf", b"%PDF-1.7 filler manual, second edition\n" * 9000)  # > 256 KiB: chunked
    out = tl("doc", "add", twin, v0, "--name", "Filler manual", "--component", "filler", account=MAINTAINER).stdout
    doc = int(out.split("document ")[1].split()[0])
    assert "version 1" in tl("doc", "version", twin, doc, v1, account=MAINTAINER).stdout

    latest = tl("doc", "get", twin, doc, account=None)
    assert latest.stdout_bytes == v1.read_bytes() and "matches the on-chain digest" in latest.stderr
    target = tmp_path / "out.pdf"
    tl("doc", "get", twin, doc, "--version", "0", "-o", target)
    assert target.read_bytes() == v0.read_bytes()
    _d, _c, digest, author, _t = tl.stack.chain().spec.functions.documentVersion(doc, 0).call()
    assert digest == keccak(v0.read_bytes()) and author == address(MAINTAINER)

    listing = tl("doc", "list", twin).stdout
    assert "Filler manual" in listing and "filler" in listing and address(MAINTAINER) in listing
    assert "VersionNotFound" in tl.fails("doc", "get", twin, doc, "--version", "7")
    assert "UnknownDocument" in tl.fails("doc", "get", twin + 1, doc)
    assert "Unauthorized" in tl.fails("doc", "version", twin, doc, v0, account=OUTSIDER)


def test_content_not_matching_the_on_chain_digest_is_refused(tl: Twinledger, twin: int, tmp_path: Path) -> None:
    genuine, forged = b"calibration certificate LT-401: OK", b"calibration certificate LT-401: FAILED"
    cid = tl.stack.store().add_bytes(genuine, cid_version=1, raw_leaves=True).cid
    cid_digest, codec = pack(cid)
    chain = tl.stack.chain(MAINTAINER)  # the chain records the digest of other content than the CID holds
    receipt = chain.sender.transact(chain.spec.functions.addDocument(twin, bytes(32), "certificate", cid_digest, codec,
                                                                     keccak(forged)))
    doc = chain.spec.events.DocumentAdded().process_receipt(receipt, errors=DISCARD)[0]["args"]["docId"]
    target = tmp_path / "certificate.txt"
    line = tl.fails("doc", "get", twin, doc, "-o", target)
    assert "DigestMismatch" in line and "nothing written" in line
    assert not target.exists()


def test_corrupted_block_in_the_store_is_refused(tl: Twinledger, twin: int, tmp_path: Path) -> None:
    data = b"maintenance report 2025-01: replaced seal on XV-301"
    out = tl("doc", "add", twin, _write(tmp_path, "report.txt", data), "--name", "report").stdout
    doc = int(out.split("document ")[1].split()[0])
    blocks = [p for p in (tl.stack.ipfs_path / "blocks").rglob("*.data") if p.read_bytes() == data]
    assert len(blocks) == 1
    blocks[0].write_bytes(data.replace(b"seal", b"pump"))
    line = tl.fails("doc", "get", twin, doc)
    assert "IntegrityError" in line or "DigestMismatch" in line


def test_sources_add_remove_list(tl: Twinledger, twin: int) -> None:
    out = tl("source", "add", twin, "opc.tcp://line1.plant:4840", "--description", "OPC UA server", account=MAINTAINER)
    source = int(out.stdout.split("source ")[1].split()[0])
    listing = tl("source", "list", twin).stdout
    assert "opc.tcp://line1.plant:4840" in listing and "OPC UA server" in listing and "active" in listing
    assert "Unauthorized" in tl.fails("source", "remove", twin, source, account=OUTSIDER)
    tl("source", "remove", twin, source)  # an OWNER may remove another party's source
    assert "removed" in tl("source", "list", twin).stdout
    assert "SourceIsRemoved" in tl.fails("source", "remove", twin, source)
    assert "UnknownSource" in tl.fails("source", "remove", twin, 999)
