"""The verifier on real anvil + embedded IPFS: a clean feed passes, and each kind of damage to a feed's
history is caught and named at its exact place (feed, seq, CID, reading)."""
from __future__ import annotations

import dataclasses
import os
import signal

import pytest

from twinledger.chain.devnet import test_account as account_of
from twinledger.crypto.context import Context, Subject
from twinledger.crypto.payload import seal
from twinledger.formats.batch import Batch, encode_batch
from twinledger.verify import Kind, Severity, StaticKeys, Status
from twinledger.verify.roots import cores_here, shared_helpers

from verify_support import GATEWAY, INSIDER, World, make_world, synthetic_batch

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    w = make_world(tmp_path_factory.mktemp("verify-feed"))
    yield w
    w.stack.stop()


def kinds(findings, severity=Severity.ERROR) -> set[tuple[Kind, int | None]]:
    return {(f.kind, f.location.seq) for f in findings if f.severity >= severity}


def test_clean_feed_of_ten_batches_passes(world: World) -> None:
    feed = world.new_feed()
    feed.anchor_many(12, 25)
    result = world.verifier().verify_feed(feed.feed, keep_readings=True)
    assert result.status is Status.PASS, [str(f) for f in result.findings]
    assert result.readings_checked == 12 * 25
    assert len(result.batches) == 12
    assert all(b.verified and b.signature.status == "signed" for b in result.batches)
    assert result.batches[0].signature.signer == world.device.address
    assert result.gaps == [] and len(result.coverage) == 1


def test_flipped_byte_in_a_stored_batch_is_tampered(world: World) -> None:
    feed = world.new_feed()
    anchors = feed.anchor_many(5)
    world.flip_byte(anchors[2].cid)
    result = world.verifier().verify_feed(feed.feed)
    assert result.status is Status.FAIL
    assert kinds(result.findings) == {(Kind.TAMPERED, 2)}
    [f] = [f for f in result.findings if f.kind is Kind.TAMPERED]
    assert f.location.feed == feed.feed and f.location.cid == anchors[2].cid
    assert "do not hash to the CID" in f.message
    assert [b.verified for b in result.batches] == [True, True, False, True, True]


def test_missing_block_is_reported(world: World) -> None:
    feed = world.new_feed()
    anchors = feed.anchor_many(4)
    world.delete_block(anchors[3].cid)
    result = world.verifier().verify_feed(feed.feed)
    assert kinds(result.findings) == {(Kind.MISSING_BLOCK, 3)}
    assert str(anchors[3].cid) in str(next(f for f in result.findings if f.kind is Kind.MISSING_BLOCK))


def test_batch_swapped_for_another_valid_one_breaks_the_root(world: World) -> None:
    """A gateway (ANCHOR permission, no device signature) anchors the root of the real readings but the
    CID of a doctored batch: every block is intact, yet the content does not give the anchored root."""
    world.grant(world.twin, "DEVICE_AGENT", GATEWAY)
    gateway = world.chain(GATEWAY)
    feed = world.new_feed()
    # a feed with a device key takes only its signed batches until its owner lets a gateway anchor too (L-8)
    world.owner.sender.transact(world.owner.feeds.functions.setSignatureRequired(feed.feed, False))
    feed.anchor_many(2)
    world.owner.sender.transact(world.owner.feeds.functions.setSignatureRequired(feed.feed, False))  # allow a gateway
    real = synthetic_batch(feed.feed, 2)
    doctored = Batch(real.feed, real.seq, tuple(dataclasses.replace(r, value=r.value + 10) for r in real.readings))
    from twinledger.agent.publish import merkle_tree

    feed.anchor(doctored, root=merkle_tree(real).root, unsigned=True, chain=gateway)
    result = world.verifier().verify_feed(feed.feed)
    errors = kinds(result.findings)
    assert errors == {(Kind.TAMPERED, 2)}
    [unsigned] = [f for f in result.findings if f.kind is Kind.UNSIGNED]
    assert unsigned.location.seq == 2 and account_of(GATEWAY).address in unsigned.message
    assert "permitted account" in unsigned.message


def test_replayed_batch_is_misplaced_and_duplicated(world: World) -> None:
    """seq 3 anchored with the bytes (and root) of seq 2: a valid CID in the wrong place."""
    feed = world.new_feed()
    feed.anchor_many(3)
    replay = synthetic_batch(feed.feed, 2)
    from twinledger.agent.publish import merkle_tree

    fake = Batch(feed.feed, 3, replay.readings)  # what the anchor claims (count, times) ...
    feed.anchor(fake, root=merkle_tree(replay).root, data=encode_batch(replay))  # ... but the bytes are seq 2's
    result = world.verifier().verify_feed(feed.feed)
    assert (Kind.MISPLACED, 3) in kinds(result.findings)
    dups = [f for f in result.findings if f.kind is Kind.DUPLICATE]
    assert dups and all(f.location.seq == 3 for f in dups)
    assert "identical" in dups[0].message


def test_signature_by_a_key_the_auditor_does_not_trust(world: World) -> None:
    """An insider with SENSOR_UPDATE rotates the device key to one they hold, anchors a forged batch
    signed with it, and rotates back. The contract accepted it; the verifier names the rotations, the
    key coming back, and with the device's real key as the trusted one the forged batch is WRONG_SIGNER."""
    twin = world.twin
    world.grant(twin, "MAINTAINER", INSIDER)
    insider = world.chain(INSIDER)
    feed = world.new_feed("tank_level_b")
    feed.anchor_many(2)
    rogue = account_of(8)
    insider.sender.transact(insider.feeds.functions.rotateDeviceKey(feed.feed, rogue.address))
    feed.anchor(synthetic_batch(feed.feed, 2), key=rogue.key.hex())
    insider.sender.transact(insider.feeds.functions.rotateDeviceKey(feed.feed, world.device.address))
    feed.anchor_many(1)

    plain = world.verifier().verify_feed(feed.feed)
    rotations = [f for f in plain.findings if f.kind is Kind.KEY_ROTATED]
    assert len(rotations) == 2 and all(account_of(INSIDER).address in f.message for f in rotations)
    [back] = [f for f in rotations if f.severity is Severity.WARNING]
    assert "used before" in back.message and back.location.tx
    assert plain.status is Status.WARN

    audited = world.verifier(trusted_keys=[world.device.address]).verify_feed(feed.feed)
    assert kinds(audited.findings) == {(Kind.WRONG_SIGNER, 2)}
    [wrong] = [f for f in audited.findings if f.kind is Kind.WRONG_SIGNER]
    assert rogue.address in wrong.message and wrong.location.tx


def test_encrypted_batches_verify_without_key_and_recompute_root_with_it(world: World) -> None:
    feed = world.new_feed("pipe_flow")
    key = bytes(range(32))
    for seq in range(3):
        batch = synthetic_batch(feed.feed, seq)
        blob = seal(encode_batch(batch), key, Context(world.twin, Subject.feed(feed.feed), seq, 0),
                    envelope="bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
        feed.anchor(batch, data=blob)
    blind = world.verifier().verify_feed(feed.feed)
    assert blind.status is Status.PASS
    assert all(b.encrypted and not b.root_checked for b in blind.batches)
    assert {f.kind for f in blind.findings} == {Kind.NOT_DECRYPTED}
    assert "not recomputable without a key" in blind.findings[0].message

    keyed = world.verifier(keys=StaticKeys({("feed", feed.feed, 0): key})).verify_feed(feed.feed)
    assert keyed.status is Status.PASS and keyed.readings_checked == 60
    assert all(b.verified for b in keyed.batches)

    wrong = world.verifier(keys=StaticKeys({("feed", None, 0): bytes(32)})).verify_feed(feed.feed)
    assert kinds(wrong.findings) == {(Kind.DECRYPTION_FAILED, s) for s in range(3)}


def test_out_of_order_readings_and_batches_are_reordered_warnings(world: World) -> None:
    feed = world.new_feed("valve_position")
    feed.anchor_many(2)
    rs = list(synthetic_batch(feed.feed, 2).readings)
    rs[5] = dataclasses.replace(rs[5], t_ms=rs[0].t_ms - 5_000)  # measured before the previous batch ended
    feed.anchor(Batch(feed.feed, 2, tuple(rs)))
    result = world.verifier().verify_feed(feed.feed)
    assert result.status is Status.WARN
    reordered = [f for f in result.findings if f.kind is Kind.REORDERED]
    assert {(f.location.seq, f.location.index) for f in reordered} == {(2, 5), (2, None)}


def test_reading_and_batch_verification(world: World) -> None:
    feed = world.new_feed("bottle_level")
    anchors = feed.anchor_many(3, 9)
    v = world.verifier()
    reading = v.verify_reading(feed.feed, 1, 4)
    assert reading.ok and reading.proof_ok and reading.onchain_ok
    assert reading.reading.rid == 9 + 4 and reading.onchain_root == anchors[1].root
    assert v.find_reading(feed.feed, 22) == (2, 4)
    batch = v.verify_batch(feed.feed, 2)
    assert batch.verified and batch.signature.signer == world.device.address
    world.flip_byte(anchors[1].cid)
    broken = v.verify_reading(feed.feed, 1, 4)
    assert not broken.ok and {f.kind for f in broken.findings} == {Kind.TAMPERED}


def test_verify_a_large_feed(world: World) -> None:
    """40,000 readings in 20 batches verify clean; how fast is measured by `make bench` (bench/verify.py,
    `verify_readings_per_s` and `verify_share_of_limit`), never asserted here."""
    feed = world.new_feed()
    for seq in range(20):
        feed.anchor(synthetic_batch(feed.feed, seq, 2_000, step_ms=1))
    result = world.verifier().verify_feed(feed.feed)
    assert result.ok and result.readings_checked == 40_000
    assert len(result.batches) == 20 and all(b.verified for b in result.batches)
    assert not result.findings and result.gaps == []


# ---- root helpers (verify.roots): other processes hash, the verdict stays the verifier's ---------------------


def verdicts(result) -> tuple:
    return (result.status, result.readings_checked, [str(f) for f in result.findings],
            [(b.anchor.seq, b.root_checked, b.encrypted, [str(f) for f in b.findings]) for b in result.batches])


@pytest.fixture()
def helpers():
    if cores_here() < 2:
        pytest.skip("one core: the verifier never starts root helpers here")
    started = shared_helpers()
    assert started is not None and not started.failed
    return started


def test_root_helpers_change_no_verdict(world: World, helpers) -> None:
    """Good batches, one anchored with the root of other readings, one whose bytes are no batch and one sealed:
    with helpers hashing the roots the verdict is exactly the one the verifier reaches alone."""
    from twinledger.agent.publish import merkle_tree

    feed = world.new_feed("pipe_flow")
    feed.anchor_many(2)
    feed.anchor(synthetic_batch(feed.feed, 2), root=merkle_tree(synthetic_batch(feed.feed, 3)).root)
    feed.anchor(synthetic_batch(feed.feed, 3), data=b"\xa1\x61x\x00 not a batch")
    sealed = synthetic_batch(feed.feed, 4)
    feed.anchor(sealed, data=seal(encode_batch(sealed), bytes(range(32)),
                                  Context(world.twin, Subject.feed(feed.feed), 4, 0),
                                  envelope="bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"))
    alone = world.verifier(parallel_from=None).verify_feed(feed.feed)
    answered = helpers.answered
    helped = world.verifier(parallel_from=0).verify_feed(feed.feed)
    assert verdicts(helped) == verdicts(alone)
    assert kinds(alone.findings) == {(Kind.TAMPERED, 2), (Kind.UNDECODABLE, 3)}
    assert [b.root_checked for b in helped.batches] == [True, True, False, False, False]
    assert helpers.answered - answered == 4  # seq 0-2 a root each, seq 3 "no batch"; the sealed one not sent


def test_a_helper_killed_with_sigkill_costs_no_verdict(world: World, helpers) -> None:
    feed = world.new_feed("valve_position")
    feed.anchor_many(4)
    first = helpers.pids[0]  # lent out first: the feed's first batch goes to it
    os.kill(first, signal.SIGKILL)
    result = world.verifier(parallel_from=0).verify_feed(feed.feed)
    assert result.status is Status.PASS and result.readings_checked == 80
    assert all(b.verified and b.root_checked for b in result.batches)
    assert helpers.failed
    fresh = shared_helpers()  # the next feed starts new helpers
    assert fresh is not None and fresh is not helpers and first not in fresh.pids
    again = world.verifier(parallel_from=0).verify_feed(feed.feed)
    assert verdicts(again) == verdicts(result) and fresh.answered == 4
