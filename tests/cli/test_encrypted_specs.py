"""Encrypted AML specification versions on a real DevStack: `twin create --encrypt`, `spec update` (encrypted
like the latest version by default), reading as a party with and without DOC_READ (CLI and agent), and
verification of the sealed versions without a key, including a tampered one."""
from __future__ import annotations

import dag_cbor
import pytest
from cli_harness import AML_V1, AML_V2, AUDITOR, OUTSIDER, Twinledger, address
from eth_utils import keccak

from twinledger.ledger.twinspec import SpecError, load_spec
from twinledger.ledger.reader import Ledger
from twinledger.verify import Kind, Status, Verifier
from twinledger.formats.cids import pack, unpack

pytestmark = pytest.mark.timeout(300)
DEVICE = 6  # an agent account with the DEVICE_AGENT role only (no DOC_READ)


@pytest.fixture(scope="module")
def twin(tl: Twinledger) -> int:
    for who in (1, AUDITOR, OUTSIDER, DEVICE):
        tl("key", "register", account=who)
    out = tl("twin", "create", "--aml", AML_V1, "--encrypt")
    assert "(encrypted)" in out.stdout and "encrypted (epoch 0) for" in out.stderr
    twin = int(out.stdout.split("Created twin ")[1].split()[0])
    tl("role", "grant", twin, "AUDITOR", address(AUDITOR))
    tl("role", "grant", twin, "DEVICE_AGENT", address(DEVICE))
    updated = tl("spec", "update", twin, "--aml", AML_V2, "--yes")  # encrypted, like v0
    assert "(encrypted)" in updated.stdout and "encrypted (epoch 1) for" in updated.stderr
    assert address(AUDITOR).lower() in updated.stderr and address(DEVICE).lower() not in updated.stderr
    return twin


def _stored(tl: Twinledger, twin: int, version: int) -> tuple[bytes, bytes]:
    cid, codec, digest, _a, _t = tl.stack.chain().spec.functions.specVersion(twin, version).call()
    return tl.stack.store().cat(unpack(cid, codec)), bytes(digest)


def test_only_ciphertext_is_stored_and_anchored(tl: Twinledger, twin: int) -> None:
    for version in (0, 1):
        content, digest = _stored(tl, twin, version)
        assert b"InternalElement" not in content and digest == keccak(content)
    assert "No component or program changes" in tl("spec", "update", twin, "--aml", AML_V2, "--yes").stdout
    assert tl.stack.chain().spec.functions.specVersionCount(twin).call() == 2  # same plaintext: nothing recorded


def test_readers_see_the_components_others_get_a_clear_error(tl: Twinledger, twin: int) -> None:
    shown = tl("twin", "show", twin, account=AUDITOR)
    assert "not readable" not in shown.stderr and "[1d5a6547-fe79-41ce-9c04-71d35dc69049]" in shown.stdout
    for who in (DEVICE, OUTSIDER):
        err = tl("twin", "show", twin, account=who).stderr
        assert "NotARecipient" in err and "DOC_READ" in err and "1d5a6547" not in tl(
            "twin", "show", twin, account=who).stdout
    assert "KeyRequired" in tl("twin", "show", twin, account=None).stderr


def test_agent_loads_the_encrypted_spec_only_with_doc_read(tl: Twinledger, twin: int) -> None:
    spec = load_spec(tl.stack.chain(AUDITOR), tl.stack.store(), twin)
    assert spec.version == 1 and spec.spec.components
    with pytest.raises(SpecError, match="DOC_READ"):
        load_spec(tl.stack.chain(DEVICE), tl.stack.store(), twin)


def test_verify_without_keys_and_a_tampered_version(tl: Twinledger, twin: int) -> None:
    verifier = Verifier(Ledger(tl.stack.chain()), tl.stack.store())
    result = verifier.verify_twin(twin)
    assert result.status is Status.PASS, result.findings
    # A sealed payload with one ciphertext bit flipped, recorded under the genuine payload's digest.
    content, digest = _stored(tl, twin, 1)
    sealed = dag_cbor.decode(content)
    flipped = dag_cbor.encode({**sealed, "ct": bytes([sealed["ct"][0] ^ 1]) + sealed["ct"][1:], "item": 2})
    cid = tl.stack.store().add_bytes(flipped, cid_version=1, raw_leaves=True).cid
    chain = tl.stack.chain(1)
    chain.sender.transact(chain.spec.functions.updateSpec(twin, *pack(cid), keccak(dag_cbor.encode({**sealed,
                                                                                                    "item": 2}))))
    result = Verifier(Ledger(tl.stack.chain()), tl.stack.store()).verify_twin(twin)
    mismatches = [f for f in result.findings if f.kind is Kind.DIGEST_MISMATCH]
    assert result.status is not Status.PASS and [f.location.spec_version for f in mismatches] == [2]
