"""GatewayAnchors: windows over many feeds' batches, two-level reading proofs, and the challenges that catch
a forged device signature or a broken per-feed chain on-chain, marking the window and its gateway."""

from __future__ import annotations

import dataclasses
from typing import Any

import ape
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinledger.formats.aggregate import Window
from twinledger.formats.cids import pack, raw_cid_of
from twinledger.formats.merkle import keccak256
from twinledger.ledger.names import GATEWAY_ROLE, GatewayFault

from gateway_support import WindowBuilder, anchor_window

FORGED_SIGNATURE, UNKNOWN_FEED, DUPLICATE_SEQ, BROKEN_HEAD_CHAIN, CONFLICTS_WITH_FEED = (
    GatewayFault.ForgedSignature, GatewayFault.UnknownFeed, GatewayFault.DuplicateSeq, GatewayFault.BrokenHeadChain,
    GatewayFault.ConflictsWithFeed)


@pytest.fixture
def gateways(project: Any, deployer: Any, sensor_feed: Any) -> Any:
    return deployer.deploy(project.GatewayAnchors, sensor_feed)


@pytest.fixture
def gateway(gateways: Any, deployer: Any, device_agent: Any) -> Any:
    gateways.grantRole(gateways.GATEWAY_ROLE(), device_agent, sender=deployer)
    return device_agent


@pytest.fixture
def feeds(feed_id: int, register_feed: Any, add_sensor: Any) -> list[int]:
    return [feed_id] + [register_feed(add_sensor(f"G{i}")) for i in range(3)]


@pytest.fixture
def builder(driver: Any) -> WindowBuilder:
    return WindowBuilder(driver)


def test_python_leaf_and_head_match_the_contract(gateways: Any, builder: WindowBuilder, feed_id: int) -> None:
    leaf = builder.leaf(feed_id, 0)
    assert gateways.leafHash(leaf.as_struct()) == leaf.leaf_hash()
    assert gateways.headOf(leaf.as_struct()) == leaf.head()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_two_level_proof_of_random_readings(data: Any, gateways: Any, gateway: Any, feeds: list[int],
                                            driver: Any) -> None:
    snapshot = ape.chain.snapshot()
    try:
        b = WindowBuilder(driver)
        sizes = data.draw(st.lists(st.integers(1, 9), min_size=len(feeds), max_size=len(feeds)))
        leaves = [b.leaf(f, 0, n) for f, n in zip(feeds, sizes)] + [b.leaf(feeds[0], 1, 2)]
        window = Window(leaves)
        wid, _ = anchor_window(gateways, window, gateway)
        i = data.draw(st.integers(0, len(leaves) - 1))
        leaf = leaves[i]
        batch = b.batches[(leaf.feed_id, leaf.seq)]
        j = data.draw(st.integers(0, batch.count - 1))
        args = (leaf.as_struct(), window.proof(i), batch.reading_hash(j), batch.tree.proof(j))
        assert gateways.verifyReading(wid, *args)
        assert gateways.verifyLeaf(wid, leaf.as_struct(), window.proof(i))
        # a reading not in the batch, a leaf of another window id, a tampered leaf: all refused
        assert not gateways.verifyReading(wid, args[0], args[1], keccak256(b"other"), args[3])
        assert not gateways.verifyReading(wid + 1, *args)
        tampered = dataclasses.replace(leaf, count=leaf.count + 1)
        assert not gateways.verifyReading(wid, tampered.as_struct(), *args[1:])
    finally:
        ape.chain.restore(snapshot)


def test_forged_device_signature_is_caught_by_the_challenge(
    gateways: Any, gateway: Any, feeds: list[int], builder: WindowBuilder, other_key: Any, outsider: Any
) -> None:
    honest = [builder.leaf(f, 0) for f in feeds[1:]]
    forged = builder.leaf(feeds[0], 0, key=other_key.key)  # not the feed's device key
    window = Window([*honest[:1], forged, *honest[1:]])
    wid, _ = anchor_window(gateways, window, gateway)  # anchoring checks no signature
    i = window.index_of(feeds[0], 0)
    batch = builder.batches[(feeds[0], 0)]
    assert gateways.verifyReading(wid, forged.as_struct(), window.proof(i), batch.reading_hash(0), batch.tree.proof(0))

    receipt = gateways.challengeSignature(wid, forged.as_struct(), window.proof(i), forged.signature, sender=outsider)

    [ev] = receipt.events.filter(gateways.WindowChallenged)
    assert (ev.windowId, ev.gateway, ev.feedId, ev.seq, ev.fault, ev.challenger) == (
        wid, gateway.address, feeds[0], 0, FORGED_SIGNATURE, outsider.address)
    assert gateways.window(wid).challenged
    assert gateways.gatewayFaults(gateway) == 1
    # a challenged window's readings stop verifying, and it is not counted twice
    assert not gateways.verifyReading(wid, forged.as_struct(), window.proof(i), batch.reading_hash(0),
                                      batch.tree.proof(0))
    with ape.reverts(gateways.WindowAlreadyChallenged, windowId=wid):
        gateways.challengeSignature(wid, forged.as_struct(), window.proof(i), forged.signature, sender=outsider)


def _next_second() -> None:
    """Mine the next block one second on: a window and a key rotation in the same second cannot be ordered."""
    ape.chain.pending_timestamp += 1
    ape.chain.mine()


def test_a_window_from_before_a_key_rotation_is_judged_by_the_key_of_its_time(
    gateways: Any, gateway: Any, sensor_feed: Any, feeds: list[int], builder: WindowBuilder, device_key: Any,
    other_key: Any, owner: Any, outsider: Any
) -> None:
    f = feeds[0]
    old = Window([builder.leaf(f, 0), builder.leaf(feeds[1], 0)])  # honest, signed by today's device key
    old_id, _ = anchor_window(gateways, old, gateway)
    _next_second()
    assert sensor_feed.keyRotatedAt(f) == 0
    rotation = sensor_feed.rotateDeviceKey(f, other_key.address, sender=owner)
    rotated_at = sensor_feed.keyRotatedAt(f)
    assert rotated_at == ape.chain.blocks[rotation.block_number].timestamp > gateways.window(old_id).anchoredAt
    leaf = old.leaves[0]
    # today's key did not sign it, yet nothing is forged: the contract refuses to judge it by the new key
    with ape.reverts(gateways.KeyRotatedSinceWindow, windowId=old_id, feedId=f, rotatedAt=rotated_at,
                     anchoredAt=gateways.window(old_id).anchoredAt):
        gateways.challengeSignature(old_id, leaf.as_struct(), old.proof(0), leaf.signature, sender=outsider)
    assert not gateways.window(old_id).challenged and gateways.gatewayFaults(gateway) == 0

    _next_second()
    # after the rotation the old key's signature is a forgery, and the new key's is valid
    stale = Window([builder.leaf(f, 1, key=device_key.key), builder.leaf(f, 2, key=other_key.key)])
    stale_id, _ = anchor_window(gateways, stale, gateway)
    assert gateways.window(stale_id).anchoredAt > rotated_at
    fresh = stale.leaves[stale.index_of(f, 2)]
    with ape.reverts(gateways.SignatureValid, feedId=f, seq=2, signer=other_key.address):
        gateways.challengeSignature(stale_id, fresh.as_struct(), stale.proof(stale.index_of(f, 2)), fresh.signature,
                                    sender=outsider)
    i = stale.index_of(f, 1)
    receipt = gateways.challengeSignature(stale_id, stale.leaves[i].as_struct(), stale.proof(i),
                                          stale.leaves[i].signature, sender=outsider)
    assert receipt.events.filter(gateways.WindowChallenged)[0].fault == FORGED_SIGNATURE
    assert gateways.gatewayFaults(gateway) == 1


def test_a_window_in_the_same_second_as_a_key_rotation_is_not_judged(
    gateways: Any, gateway: Any, sensor_feed: Any, feeds: list[int], builder: WindowBuilder, other_key: Any,
    owner: Any, outsider: Any
) -> None:
    """The boundary of `rotatedAt >= anchoredAt`: a window and a rotation in one block share a timestamp, and the
    chain cannot tell which came first, so no key can judge the window: not the honest leaf, not a forged one."""
    f = feeds[0]
    forger = builder.leaf(feeds[1], 0, key=other_key.key)  # forged, but its feed's key is not rotated
    window = Window([builder.leaf(f, 0), forger])  # f's leaf is signed by the key f had until this block
    digest, codec = pack(raw_cid_of(window.encode()))
    ape.chain.provider.auto_mine = False  # both transactions in the next block
    try:
        gateways.anchorWindow(window.root, digest, codec, 2, window.reading_count, sender=gateway,
                              gas=1_000_000)  # ape's default, the block's whole limit, fits one transaction
        sensor_feed.rotateDeviceKey(f, other_key.address, sender=owner, gas=1_000_000)
        ape.chain.mine()
    finally:
        ape.chain.provider.auto_mine = True
    wid = gateways.windowCount()
    anchored_at = gateways.window(wid).anchoredAt
    assert sensor_feed.keyRotatedAt(f) == anchored_at == ape.chain.blocks.head.timestamp
    i = window.index_of(f, 0)
    leaf = window.leaves[i]
    with ape.reverts(gateways.KeyRotatedSinceWindow, windowId=wid, feedId=f, rotatedAt=anchored_at,
                     anchoredAt=anchored_at):
        gateways.challengeSignature(wid, leaf.as_struct(), window.proof(i), leaf.signature, sender=outsider)
    assert not gateways.window(wid).challenged
    # the rule is per feed: the same window's forged leaf of a feed whose key did not change is still caught
    i = window.index_of(feeds[1], 0)
    receipt = gateways.challengeSignature(wid, forger.as_struct(), window.proof(i), forger.signature,
                                          sender=outsider)
    assert receipt.events.filter(gateways.WindowChallenged)[0].fault == FORGED_SIGNATURE
    assert gateways.gatewayFaults(gateway) == 1


def test_key_rotated_at_of_an_unknown_feed_reverts(sensor_feed: Any) -> None:
    with ape.reverts(sensor_feed.UnknownFeed, feedId=9999):
        sensor_feed.keyRotatedAt(9999)


def test_challenging_an_honest_leaf_reverts(gateways: Any, gateway: Any, feeds: list[int], builder: WindowBuilder,
                                           device_key: Any, outsider: Any) -> None:
    window = Window([builder.leaf(f, 0) for f in feeds])
    wid, _ = anchor_window(gateways, window, gateway)
    leaf = window.leaves[2]
    with ape.reverts(gateways.SignatureValid, feedId=leaf.feed_id, seq=0, signer=device_key.address):
        gateways.challengeSignature(wid, leaf.as_struct(), window.proof(2), leaf.signature, sender=outsider)
    with ape.reverts(gateways.SignatureNotCommitted, feedId=leaf.feed_id, seq=0):
        gateways.challengeSignature(wid, leaf.as_struct(), window.proof(2), b"\x01" * 65, sender=outsider)
    with ape.reverts(gateways.LeafNotInWindow, windowId=wid, feedId=leaf.feed_id, seq=0):
        gateways.challengeSignature(wid, leaf.as_struct(), window.proof(1), leaf.signature, sender=outsider)
    with ape.reverts(gateways.UnknownWindow, windowId=wid + 1):
        gateways.challengeSignature(wid + 1, leaf.as_struct(), window.proof(2), leaf.signature, sender=outsider)
    assert not gateways.window(wid).challenged
    assert gateways.gatewayFaults(gateway) == 0


def test_malformed_signature_and_unknown_feed_are_faults(gateways: Any, gateway: Any, feeds: list[int],
                                                        builder: WindowBuilder, outsider: Any) -> None:
    junk = dataclasses.replace(builder.leaf(feeds[0], 0), signature=b"\x00" * 10)
    ghost = builder.leaf(9999, 0)  # signed by a device key, but no such feed is registered
    window = Window([junk, ghost])
    wid, _ = anchor_window(gateways, window, gateway)
    r = gateways.challengeSignature(wid, junk.as_struct(), window.proof(0), junk.signature, sender=outsider)
    assert r.events.filter(gateways.WindowChallenged)[0].fault == FORGED_SIGNATURE
    wid2, _ = anchor_window(gateways, window, gateway)
    r = gateways.challengeSignature(wid2, ghost.as_struct(), window.proof(1), ghost.signature, sender=outsider)
    assert r.events.filter(gateways.WindowChallenged)[0].fault == UNKNOWN_FEED
    assert gateways.gatewayFaults(gateway) == 2


def test_broken_head_chain_across_windows_is_caught(gateways: Any, gateway: Any, feeds: list[int],
                                                   builder: WindowBuilder, outsider: Any) -> None:
    f = feeds[0]
    first = Window([builder.leaf(f, 0), builder.leaf(feeds[1], 0)])
    w1, _ = anchor_window(gateways, first, gateway)
    broken = builder.leaf(f, 1, prev_head=b"\x42" * 32)  # device-signed, but not on seq 0's head
    second = Window([builder.leaf(feeds[1], 1), broken])
    w2, _ = anchor_window(gateways, second, gateway)
    a, b = first.leaves[0], second.leaves[1]
    with ape.reverts(gateways.DifferentFeeds, feedA=f, feedB=feeds[1]):
        gateways.challengeSequence(w1, a.as_struct(), first.proof(0), w2, second.leaves[0].as_struct(),
                                   second.proof(0), sender=outsider)
    r = gateways.challengeSequence(w1, a.as_struct(), first.proof(0), w2, b.as_struct(), second.proof(1),
                                   sender=outsider)
    [ev] = r.events.filter(gateways.WindowChallenged)
    assert (ev.windowId, ev.feedId, ev.seq, ev.fault) == (w2, f, 1, BROKEN_HEAD_CHAIN)
    assert gateways.window(w2).challenged and not gateways.window(w1).challenged
    assert gateways.gatewayFaults(gateway) == 1


def test_same_seq_twice_with_different_heads_is_caught(gateways: Any, gateway: Any, feeds: list[int],
                                                      builder: WindowBuilder, outsider: Any) -> None:
    f = feeds[0]
    one = builder.leaf(f, 0)
    other = builder.leaf(f, 0, n=5, prev_head=bytes(32))  # a second, different batch 0
    window = Window([one, other])
    wid, _ = anchor_window(gateways, window, gateway)
    r = gateways.challengeSequence(wid, one.as_struct(), window.proof(0), wid, other.as_struct(), window.proof(1),
                                   sender=outsider)
    assert r.events.filter(gateways.WindowChallenged)[0].fault == DUPLICATE_SEQ


def test_a_consistent_chain_cannot_be_challenged(gateways: Any, gateway: Any, feeds: list[int],
                                                builder: WindowBuilder, outsider: Any) -> None:
    f = feeds[0]
    window = Window([builder.leaf(f, 0), builder.leaf(f, 1), builder.leaf(f, 2)])
    wid, _ = anchor_window(gateways, window, gateway)
    s = [leaf.as_struct() for leaf in window.leaves]
    for i, j in ((0, 1), (1, 2), (0, 2), (1, 1)):
        with ape.reverts(gateways.ChainConsistent, feedId=f, seqA=i, seqB=j):
            gateways.challengeSequence(wid, s[i], window.proof(i), wid, s[j], window.proof(j), sender=outsider)
    with ape.reverts(gateways.NoConflictWithFeed, feedId=f, seq=0):
        gateways.challengeAgainstFeed(wid, s[0], window.proof(0), sender=outsider)
    assert gateways.gatewayFaults(gateway) == 0


def test_leaf_against_the_per_feed_anchors(gateways: Any, gateway: Any, feeds: list[int], builder: WindowBuilder,
                                          driver: Any, outsider: Any) -> None:
    f = feeds[0]
    driver.anchor(driver.batch(f, 0, 4), outsider)  # per-feed mode: batch 0 is anchored on SensorFeed
    late_start = builder.leaf(feeds[1], 0, prev_head=b"\x07" * 32)
    clash = builder.leaf(f, 0)  # another batch 0 than the one on SensorFeed
    window = Window([late_start, clash])
    w1, _ = anchor_window(gateways, window, gateway)
    r = gateways.challengeAgainstFeed(w1, late_start.as_struct(), window.proof(0), sender=outsider)
    assert r.events.filter(gateways.WindowChallenged)[0].fault == BROKEN_HEAD_CHAIN
    w2, _ = anchor_window(gateways, window, gateway)
    r = gateways.challengeAgainstFeed(w2, clash.as_struct(), window.proof(1), sender=outsider)
    assert r.events.filter(gateways.WindowChallenged)[0].fault == CONFLICTS_WITH_FEED


def test_only_a_gateway_anchors_and_windows_are_not_empty(gateways: Any, gateway: Any, outsider: Any) -> None:
    role = gateways.GATEWAY_ROLE()
    assert role == GATEWAY_ROLE
    with ape.reverts(gateways.AccessControlUnauthorizedAccount, account=outsider.address, neededRole=role):
        gateways.anchorWindow(b"\x01" * 32, b"\x02" * 32, 0x71, 1, 1, sender=outsider)
    with ape.reverts(gateways.EmptyWindow):
        gateways.anchorWindow(b"\x01" * 32, b"\x02" * 32, 0x71, 0, 0, sender=gateway)
    with ape.reverts(gateways.UnknownWindow, windowId=1):
        gateways.window(1)


def test_ten_thousand_feed_window_costs_at_most_250_gas_per_feed(gateways: Any, gateway: Any, feed_id: int,
                                                                 builder: WindowBuilder) -> None:
    real = builder.leaf(feed_id, 0)
    # 9,999 further leaves: the contract never sees them, only the root over all of them
    leaves = [real] + [dataclasses.replace(real, feed_id=10_000 + k) for k in range(9_999)]
    window = Window(leaves)
    wid, receipt = anchor_window(gateways, window, gateway)
    assert receipt.gas_used / 10_000 <= 250
    batch = builder.batches[(feed_id, 0)]
    assert gateways.verifyReading(wid, real.as_struct(), window.proof(0), batch.reading_hash(1), batch.tree.proof(1))
    assert len(window.proof(0)) == 14  # ceil(log2(10,000)) levels of siblings
