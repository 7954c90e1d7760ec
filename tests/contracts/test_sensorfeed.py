"""SensorFeed: registration, anchoring (signed and by ANCHOR holders), refusals, sensor swap, pauses."""

from __future__ import annotations

from typing import Any

import ape
import pytest

from twinledger.formats.eip712 import ANCHOR_TYPEHASH, domain_separator
from twinledger.formats.headchain import GENESIS_HEAD
from twinledger.formats.merkle import keccak256, leaf_hash

from sensorfeed_support import allow_gateway

ACTIVE, PAUSED, RETIRED = 1, 2, 3
ANCHOR, SENSOR_CREATE = 1 << 8, 1 << 5
ZERO32 = b"\x00" * 32
DISMISSED = 4


def _anchored(receipt: Any, sf: Any) -> list[Any]:
    return list(receipt.events.filter(sf.Anchored))


def _check_event(log: Any, b: Any, head: bytes) -> None:
    assert log.feedId == b.feed_id and log.seq == b.seq
    assert bytes(log.root) == b.root and bytes(log.cid) == b.cid
    assert (log.count, log.tFirst, log.tLast) == (b.count, b.t_first, b.t_last)
    assert bytes(log.head) == head


# ------------------------------------------------------------------------------------------- setup


def test_domain_and_roles(sensor_feed: Any, auth: Any, spec: Any, deployer: Any) -> None:
    chain_id = ape.chain.provider.chain_id
    assert bytes(sensor_feed.domainSeparator()) == domain_separator(chain_id, sensor_feed.address)
    d = sensor_feed.eip712Domain()
    assert (d[1], d[2], d[3], d[4]) == ("TwinLedger SensorFeed", "1", chain_id, sensor_feed.address)
    assert bytes(sensor_feed.ANCHOR_TYPEHASH()) == ANCHOR_TYPEHASH
    assert sensor_feed.authorization() == auth.address and sensor_feed.specification() == spec.address
    assert sensor_feed.hasRole(sensor_feed.PAUSER_ROLE(), deployer)
    assert sensor_feed.feedCount() == 0


def test_register_feed(sensor_feed: Any, twin: int, sensor_component: bytes, add_sensor: Any, device_key: Any, owner: Any) -> None:
    r = sensor_feed.registerFeed(twin, sensor_component, device_key.address, b"\x5c" * 32, sender=owner)
    [ev] = r.events.filter(sensor_feed.FeedRegistered)
    assert (ev.feedId, ev.twin, bytes(ev.component)) == (1, twin, sensor_component)
    assert (ev.deviceKey, bytes(ev.schemaCid)) == (device_key.address, b"\x5c" * 32)
    f = sensor_feed.feed(1)
    assert (f.twin, bytes(f.component), f.deviceKey, f.nextSeq) == (twin, sensor_component, device_key.address, 0)
    assert (bytes(f.head), f.status, bytes(f.schemaCid), f.successor) == (ZERO32, ACTIVE, b"\x5c" * 32, 0)
    r2 = sensor_feed.registerFeed(twin, add_sensor("Temp"), device_key.address, ZERO32, sender=owner)
    assert r2.events.filter(sensor_feed.FeedRegistered)[0].feedId == 2
    assert sensor_feed.feedCount() == 2
    assert sensor_feed.nextSeqOf(2) == 0 and bytes(sensor_feed.headOf(2)) == ZERO32


def test_register_refusals(
    sensor_feed: Any, spec: Any, twin: int, sensor_component: bytes, device_key: Any, owner: Any, outsider: Any, deployer: Any
) -> None:
    key = device_key.address
    with ape.reverts(sensor_feed.Unauthorized, twin=twin, component=sensor_component, account=outsider.address, permission=SENSOR_CREATE):
        sensor_feed.registerFeed(twin, sensor_component, key, ZERO32, sender=outsider)
    missing = b"nope".ljust(32, b"\x00")
    with ape.reverts(sensor_feed.ComponentNotActive, twin=twin, component=missing):
        sensor_feed.registerFeed(twin, missing, key, ZERO32, sender=owner)
    sensor_feed.pause(sender=deployer)
    with ape.reverts(sensor_feed.EnforcedPause):
        sensor_feed.registerFeed(twin, sensor_component, key, ZERO32, sender=owner)
    sensor_feed.unpause(sender=deployer)
    spec.setPhase(twin, DISMISSED, sender=owner)
    with ape.reverts(sensor_feed.TwinFrozen, twin=twin):
        sensor_feed.registerFeed(twin, sensor_component, key, ZERO32, sender=owner)


# ---------------------------------------------------------------------------------------- anchoring


def test_signed_anchor_relayed_by_anyone(sensor_feed: Any, feed_id: int, driver: Any, outsider: Any) -> None:
    for seq in range(3):
        b = driver.batch(feed_id, seq, n=seq + 1)
        r = driver.anchor(b, sender=outsider)
        [log] = _anchored(r, sensor_feed)
        _check_event(log, b, driver.heads[feed_id])
        assert bytes(sensor_feed.headAt(feed_id, seq)) == driver.heads[feed_id]
        assert sensor_feed.verifyBatch(feed_id, seq, driver.header(b))
    assert bytes(sensor_feed.headOf(feed_id)) == driver.heads[feed_id]
    assert sensor_feed.nextSeqOf(feed_id) == 3
    f = sensor_feed.feed(feed_id)
    assert f.nextSeq == 3 and bytes(f.head) == driver.heads[feed_id]
    assert bytes(sensor_feed.headAt(feed_id, 3)) == ZERO32


def test_holder_anchors_without_signature(sensor_feed: Any, feed_id: int, driver: Any, anchorer: Any, owner: Any) -> None:
    allow_gateway(sensor_feed, [feed_id], owner)
    b0 = driver.batch(feed_id, 0)
    r = driver.anchor(b0, sender=anchorer, signed=False)
    _check_event(_anchored(r, sensor_feed)[0], b0, driver.heads[feed_id])
    # a holder may still send a signature; it is verified
    b1 = driver.batch(feed_id, 1)
    driver.anchor(b1, sender=anchorer, signed=True)
    b2 = driver.batch(feed_id, 2)
    bad = driver.sign(driver.batch(feed_id, 2, n=5))
    with ape.reverts(sensor_feed.WrongSigner):
        sensor_feed.anchor(*b2.fields(), bad, sender=anchorer)


def test_unsigned_anchor_needs_anchor_permission(sensor_feed: Any, twin: int, feed_id: int, driver: Any, outsider: Any, maintainer: Any, owner: Any, auth: Any) -> None:
    allow_gateway(sensor_feed, [feed_id], owner)
    b = driver.batch(feed_id, 0)
    with ape.reverts(sensor_feed.Unauthorized, twin=twin, account=outsider.address, permission=ANCHOR):
        sensor_feed.anchor(*b.fields(), b"", sender=outsider)
    # MAINTAINER has SENSOR_* but not ANCHOR by default
    auth.grantTwinRole(twin, auth.MAINTAINER(), maintainer, sender=owner)
    with ape.reverts(sensor_feed.Unauthorized):
        sensor_feed.anchor(*b.fields(), b"", sender=maintainer)
    driver.anchor(b, sender=owner, signed=False)  # OWNER holds every permission


def test_seq_gap_and_replay(sensor_feed: Any, feed_id: int, driver: Any, outsider: Any) -> None:
    b0 = driver.batch(feed_id, 0)
    with ape.reverts(sensor_feed.SeqMismatch, feedId=feed_id, expected=0, given=1):
        b1 = driver.batch(feed_id, 1)
        sensor_feed.anchor(*b1.fields(), driver.sign(b1), sender=outsider)
    sig0 = driver.sign(b0)
    driver.anchor(b0, sender=outsider, signature=sig0)
    # the very same signed anchor again: a replay
    with ape.reverts(sensor_feed.SeqMismatch, feedId=feed_id, expected=1, given=0):
        sensor_feed.anchor(*b0.fields(), sig0, sender=outsider)
    with ape.reverts(sensor_feed.SeqMismatch, feedId=feed_id, expected=1, given=7):
        b7 = driver.batch(feed_id, 7)
        sensor_feed.anchor(*b7.fields(), driver.sign(b7), sender=outsider)


def test_signature_refusals(sensor_feed: Any, feed_id: int, driver: Any, other_key: Any, device_key: Any, outsider: Any, register_feed: Any, add_sensor: Any) -> None:
    b = driver.batch(feed_id, 0)
    fields = b.fields()
    # forged: signed by another key
    with ape.reverts(sensor_feed.WrongSigner, feedId=feed_id, expected=device_key.address, recovered=other_key.address):
        sensor_feed.anchor(*fields, driver.sign(b, key=other_key.key), sender=outsider)
    # signed for another chain id or another contract
    for kwargs in ({"chain_id": ape.chain.provider.chain_id + 1}, {"contract": outsider.address}):
        with ape.reverts(sensor_feed.WrongSigner, feedId=feed_id, expected=device_key.address):
            sensor_feed.anchor(*fields, driver.sign(b, **kwargs), sender=outsider)
    # a signature over other content (root of another batch)
    with ape.reverts(sensor_feed.WrongSigner):
        sensor_feed.anchor(*fields, driver.sign(driver.batch(feed_id, 0, n=4)), sender=outsider)
    # malformed
    with ape.reverts(sensor_feed.InvalidSignature, feedId=feed_id):
        sensor_feed.anchor(*fields, driver.sign(b)[:64], sender=outsider)
    with ape.reverts(sensor_feed.InvalidSignature, feedId=feed_id):
        sensor_feed.anchor(*fields, b"\x01" * 65, sender=outsider)
    # a valid signature replayed on another feed of the same device key
    other_feed = register_feed(add_sensor("Temp"))
    b_other = driver.batch(other_feed, 0)
    sig = driver.sign(b)
    moved = (other_feed,) + fields[1:]
    with ape.reverts(sensor_feed.WrongSigner, feedId=other_feed):
        sensor_feed.anchor(*moved, sig, sender=outsider)
    driver.anchor(b, sender=outsider, signature=sig)
    driver.anchor(b_other, sender=outsider)


def test_signature_bound_to_prev_head(sensor_feed: Any, feed_id: int, driver: Any, outsider: Any) -> None:
    driver.anchor(driver.batch(feed_id, 0), sender=outsider)
    b1 = driver.batch(feed_id, 1)
    with ape.reverts(sensor_feed.WrongSigner):
        sensor_feed.anchor(*b1.fields(), driver.sign(b1, prev_head=GENESIS_HEAD), sender=outsider)
    driver.anchor(b1, sender=outsider)


def test_batch_field_refusals(sensor_feed: Any, feed_id: int, driver: Any, anchorer: Any) -> None:
    b = driver.batch(feed_id, 0)
    f = list(b.fields())
    with ape.reverts(sensor_feed.EmptyBatch, feedId=feed_id):
        sensor_feed.anchor(*f[:4], 0, *f[5:], b"", sender=anchorer)
    with ape.reverts(sensor_feed.InvalidTimeRange, feedId=feed_id, tFirst=10, tLast=9):
        sensor_feed.anchor(*f[:5], 10, 9, b"", sender=anchorer)
    with ape.reverts(sensor_feed.ZeroRoot, feedId=feed_id):
        sensor_feed.anchor(*f[:2], ZERO32, *f[3:], b"", sender=anchorer)
    with ape.reverts(sensor_feed.UnknownFeed, feedId=99):
        sensor_feed.anchor(99, *f[1:], b"", sender=anchorer)
    with ape.reverts(sensor_feed.UnknownFeed, feedId=99):
        sensor_feed.feed(99)


def test_dismissed_twin_rejects_everything(sensor_feed: Any, spec: Any, twin: int, feed_id: int, driver: Any, anchorer: Any, outsider: Any, owner: Any, other_key: Any) -> None:
    driver.anchor(driver.batch(feed_id, 0), sender=outsider)
    spec.setPhase(twin, DISMISSED, sender=owner)
    b1 = driver.batch(feed_id, 1)
    with ape.reverts(sensor_feed.TwinFrozen, twin=twin):
        sensor_feed.anchor(*b1.fields(), driver.sign(b1), sender=outsider)
    with ape.reverts(sensor_feed.TwinFrozen, twin=twin):
        sensor_feed.anchor(*b1.fields(), b"", sender=anchorer)
    with ape.reverts(sensor_feed.TwinFrozen, twin=twin):
        sensor_feed.anchorMany([driver.item(b1)], sender=anchorer)
    for call in (
        lambda: sensor_feed.pauseFeed(feed_id, sender=owner),
        lambda: sensor_feed.rotateDeviceKey(feed_id, other_key.address, sender=owner),
        lambda: sensor_feed.retireFeed(feed_id, 0, sender=owner),
    ):
        with ape.reverts(sensor_feed.TwinFrozen, twin=twin):
            call()
    # history stays readable
    assert sensor_feed.nextSeqOf(feed_id) == 1 and bytes(sensor_feed.headOf(feed_id)) == driver.heads[feed_id]


def test_global_pause(sensor_feed: Any, feed_id: int, driver: Any, anchorer: Any, deployer: Any, outsider: Any) -> None:
    with ape.reverts(sensor_feed.AccessControlUnauthorizedAccount):
        sensor_feed.pause(sender=outsider)
    r = sensor_feed.pause(sender=deployer)
    assert len(r.events.filter(sensor_feed.Paused)) == 1
    b = driver.batch(feed_id, 0)
    with ape.reverts(sensor_feed.EnforcedPause):
        sensor_feed.anchor(*b.fields(), driver.sign(b), sender=outsider)
    with ape.reverts(sensor_feed.EnforcedPause):
        sensor_feed.anchorMany([driver.item(b)], sender=anchorer)
    sensor_feed.unpause(sender=deployer)
    driver.anchor(b, sender=outsider)


def test_feed_pause_by_sensor_update_holder(sensor_feed: Any, auth: Any, twin: int, feed_id: int, driver: Any, outsider: Any, owner: Any, maintainer: Any) -> None:
    with ape.reverts(sensor_feed.Unauthorized, account=outsider.address):
        sensor_feed.pauseFeed(feed_id, sender=outsider)
    auth.grantTwinRole(twin, auth.MAINTAINER(), maintainer, sender=owner)
    r = sensor_feed.pauseFeed(feed_id, sender=maintainer)
    [ev] = r.events.filter(sensor_feed.FeedPaused)
    assert (ev.feedId, ev.account) == (feed_id, maintainer.address)
    assert sensor_feed.feed(feed_id).status == PAUSED
    with ape.reverts(sensor_feed.FeedIsPaused, feedId=feed_id):
        sensor_feed.pauseFeed(feed_id, sender=owner)
    b = driver.batch(feed_id, 0)
    with ape.reverts(sensor_feed.FeedIsPaused, feedId=feed_id):
        sensor_feed.anchor(*b.fields(), driver.sign(b), sender=outsider)
    r = sensor_feed.unpauseFeed(feed_id, sender=owner)
    [ev] = r.events.filter(sensor_feed.FeedUnpaused)
    assert (ev.feedId, ev.account) == (feed_id, owner.address)
    with ape.reverts(sensor_feed.FeedNotPaused, feedId=feed_id):
        sensor_feed.unpauseFeed(feed_id, sender=owner)
    driver.anchor(b, sender=outsider)


def test_sensor_swap(sensor_feed: Any, feed_id: int, driver: Any, outsider: Any, owner: Any, register_feed: Any, add_sensor: Any, other_key: Any) -> None:
    b0 = driver.batch(feed_id, 0, n=5)
    driver.anchor(b0, sender=outsider)
    new_feed = register_feed(add_sensor("FillLevel2"), other_key.address)
    with ape.reverts(sensor_feed.InvalidSuccessor, feedId=feed_id, successor=feed_id):
        sensor_feed.retireFeed(feed_id, feed_id, sender=owner)
    with ape.reverts(sensor_feed.InvalidSuccessor, feedId=feed_id, successor=42):
        sensor_feed.retireFeed(feed_id, 42, sender=owner)
    with ape.reverts(sensor_feed.Unauthorized):
        sensor_feed.retireFeed(feed_id, new_feed, sender=outsider)
    r = sensor_feed.retireFeed(feed_id, new_feed, sender=owner)
    [ev] = r.events.filter(sensor_feed.FeedRetired)
    assert (ev.feedId, ev.successor) == (feed_id, new_feed)
    f = sensor_feed.feed(feed_id)
    assert (f.status, f.successor, f.nextSeq) == (RETIRED, new_feed, 1)
    b1 = driver.batch(feed_id, 1)
    with ape.reverts(sensor_feed.FeedIsRetired, feedId=feed_id):
        sensor_feed.anchor(*b1.fields(), driver.sign(b1), sender=outsider)
    for call in (
        lambda: sensor_feed.retireFeed(feed_id, 0, sender=owner),
        lambda: sensor_feed.rotateDeviceKey(feed_id, other_key.address, sender=owner),
        lambda: sensor_feed.pauseFeed(feed_id, sender=owner),
    ):
        with ape.reverts(sensor_feed.FeedIsRetired, feedId=feed_id):
            call()
    # a retired feed cannot be a successor; its history stays verifiable
    third = register_feed(add_sensor("FillLevel3"))
    with ape.reverts(sensor_feed.InvalidSuccessor, feedId=third, successor=feed_id):
        sensor_feed.retireFeed(third, feed_id, sender=owner)
    assert sensor_feed.verifyReading(feed_id, 0, driver.header(b0), b0.reading_hash(2), b0.tree.proof(2))
    # the successor continues with its own key
    driver.device = other_key
    driver.anchor(driver.batch(new_feed, 0), sender=outsider)


def test_rotate_device_key(sensor_feed: Any, feed_id: int, driver: Any, outsider: Any, owner: Any, device_key: Any, other_key: Any) -> None:
    driver.anchor(driver.batch(feed_id, 0), sender=outsider)
    with ape.reverts(sensor_feed.Unauthorized):
        sensor_feed.rotateDeviceKey(feed_id, other_key.address, sender=outsider)
    with ape.reverts(sensor_feed.ZeroAddress):
        sensor_feed.rotateDeviceKey(feed_id, "0x" + "00" * 20, sender=owner)
    r = sensor_feed.rotateDeviceKey(feed_id, other_key.address, sender=owner)
    [ev] = r.events.filter(sensor_feed.DeviceKeyRotated)
    assert (ev.feedId, ev.oldKey, ev.newKey) == (feed_id, device_key.address, other_key.address)
    assert sensor_feed.feed(feed_id).deviceKey == other_key.address
    b1 = driver.batch(feed_id, 1)
    with ape.reverts(sensor_feed.WrongSigner, expected=other_key.address, recovered=device_key.address):
        sensor_feed.anchor(*b1.fields(), driver.sign(b1), sender=outsider)
    driver.anchor(b1, sender=outsider, signature=driver.sign(b1, key=other_key.key))


def test_anchor_many(sensor_feed: Any, feed_id: int, driver: Any, anchorer: Any, outsider: Any, register_feed: Any, add_sensor: Any, owner: Any) -> None:
    feeds = [feed_id] + [register_feed(add_sensor(f"S{i}")) for i in range(2)]
    allow_gateway(sensor_feed, feeds, owner)
    batches = [driver.batch(f, 0) for f in feeds] + [driver.batch(feeds[0], 1)]  # two of one feed, in order
    items = [driver.item(b, signed=(i == 1)) for i, b in enumerate(batches[:2])]
    items.append(driver.item(batches[2]))
    # the second batch of feed 0 must be signed over the head after its first batch
    driver.expect(batches[0])
    items.append(driver.item(batches[3], signed=True))
    driver.heads.clear()
    r = sensor_feed.anchorMany(items, sender=anchorer)
    logs = _anchored(r, sensor_feed)
    assert len(logs) == 4
    for log, b in zip(logs, batches):
        _check_event(log, b, driver.expect(b))
    for f in feeds:
        assert bytes(sensor_feed.headOf(f)) == driver.heads[f]
    assert sensor_feed.nextSeqOf(feeds[0]) == 2
    # signed items are accepted from anyone; unsigned ones need ANCHOR
    b = driver.batch(feeds[1], 1)
    sensor_feed.anchorMany([driver.item(b, signed=True)], sender=outsider)
    driver.expect(b)
    b = driver.batch(feeds[1], 2)
    with ape.reverts(sensor_feed.Unauthorized):
        sensor_feed.anchorMany([driver.item(b, signed=True), driver.item(driver.batch(feeds[2], 1))], sender=outsider)
    # one bad item reverts the whole call
    with ape.reverts(sensor_feed.SeqMismatch, feedId=feeds[2], expected=1, given=5):
        sensor_feed.anchorMany([driver.item(b), driver.item(driver.batch(feeds[2], 5))], sender=anchorer)
    assert sensor_feed.nextSeqOf(feeds[1]) == 2
    sensor_feed.anchorMany([], sender=anchorer)


def test_verify_reading_accepts_every_python_proof(sensor_feed: Any, feed_id: int, driver: Any, outsider: Any) -> None:
    b = driver.batch(feed_id, 0, n=13)
    driver.anchor(b, sender=outsider)
    h = driver.header(b)
    for i, reading in enumerate(b.readings):
        assert leaf_hash(reading) == b.tree.leaves[i]
        assert sensor_feed.verifyReading(feed_id, 0, h, b.reading_hash(i), b.tree.proof(i))
    wrong = keccak256(b.readings[0] + b"\x00")
    assert not sensor_feed.verifyReading(feed_id, 0, h, wrong, b.tree.proof(0))
    assert not sensor_feed.verifyReading(feed_id, 0, h, b.reading_hash(1), b.tree.proof(0))
    assert not sensor_feed.verifyReading(feed_id, 1, h, b.reading_hash(0), b.tree.proof(0))  # not anchored
    one = driver.batch(feed_id, 1, n=1)
    driver.anchor(one, sender=outsider)
    assert sensor_feed.verifyReading(feed_id, 1, driver.header(one), one.reading_hash(0), [])


def test_verify_reading_refuses_inner_nodes_and_the_root(sensor_feed: Any, feed_id: int, driver: Any, outsider: Any) -> None:
    """L-2: the caller gives the reading's hash and the contract applies the leaf's outer hash, so no node of
    the tree passes as a reading. Before: `verifyReading(feed, 0, root, [])` and `verifyReading(feed, 0,
    inner node, its proof)` returned true."""
    b = driver.batch(feed_id, 0, n=4)
    driver.anchor(b, sender=outsider)
    h = driver.header(b)
    inner = b.tree.levels[1][0]  # parent of leaves 0 and 1; its sibling is levels[1][1]
    assert not sensor_feed.verifyReading(feed_id, 0, h, b.root, [])
    assert not sensor_feed.verifyReading(feed_id, 0, h, inner, [b.tree.levels[1][1]])
    assert not sensor_feed.verifyReading(feed_id, 0, h, b.tree.leaves[0], b.tree.proof(0))  # a leaf is not a reading hash
    assert sensor_feed.verifyReading(feed_id, 0, h, b.reading_hash(0), b.tree.proof(0))


def test_verify_batch_needs_the_exact_header(sensor_feed: Any, feed_id: int, driver: Any, outsider: Any) -> None:
    b0, b1 = driver.batch(feed_id, 0), driver.batch(feed_id, 1)
    driver.anchor(b0, sender=outsider)
    driver.anchor(b1, sender=outsider)
    h1 = driver.header(b1)
    assert sensor_feed.verifyBatch(feed_id, 1, h1)
    for i, value in enumerate(h1):
        changed = list(h1)
        changed[i] = (value + 1) if isinstance(value, int) else bytes([value[0] ^ 1]) + value[1:]
        assert not sensor_feed.verifyBatch(feed_id, 1, tuple(changed)), f"field {i} changed"
    assert not sensor_feed.verifyBatch(feed_id, 0, h1)  # header of another seq
    assert not sensor_feed.verifyBatch(feed_id + 1, 1, h1)  # no such feed: head is zero
    assert not sensor_feed.verifyBatch(feed_id, 2, (ZERO32,) * 3 + (0, 0, 0))  # not anchored: zero head never matches


# ------------------------------------------------------------------- scopes, feeds without a device key


def test_component_scoped_anchorer(sensor_feed: Any, auth: Any, twin: int, feed_id: int, sensor_component: bytes,
                                   register_feed: Any, add_sensor: Any, driver: Any, owner: Any, device_agent: Any) -> None:
    other = register_feed(add_sensor("Other"))
    allow_gateway(sensor_feed, [feed_id, other], owner)
    auth.grantTwinRole(twin, auth.DEVICE_AGENT(), device_agent, sender=owner)
    auth.setScope(twin, device_agent, [sensor_component], sender=owner)  # ANCHOR on this one component only
    driver.anchor(driver.batch(feed_id, 0), sender=device_agent, signed=False)
    sensor_feed.anchorMany([driver.item(driver.batch(feed_id, 1))], sender=device_agent)
    driver.expect(driver.batch(feed_id, 1))
    assert bytes(sensor_feed.headOf(feed_id)) == driver.heads[feed_id]
    with ape.reverts(sensor_feed.Unauthorized, twin=twin, account=device_agent.address, permission=ANCHOR):
        sensor_feed.anchorMany([driver.item(driver.batch(other, 0))], sender=device_agent)


def test_feed_without_device_key(sensor_feed: Any, twin: int, add_sensor: Any, driver: Any, anchorer: Any,
                                 owner: Any, outsider: Any) -> None:
    receipt = sensor_feed.registerFeed(twin, add_sensor("Gateway-only"), "0x" + "00" * 20, ZERO32, sender=owner)
    feed = int(receipt.events.filter(sensor_feed.FeedRegistered)[0].feedId)
    assert not sensor_feed.signatureRequired(feed)
    with ape.reverts(sensor_feed.NoDeviceKey, feedId=feed):
        sensor_feed.setSignatureRequired(feed, True, sender=owner)
    b0 = driver.batch(feed, 0)
    with ape.reverts(sensor_feed.WrongSigner):  # no signature can be the missing device's
        sensor_feed.anchor(*b0.fields(), driver.sign(b0), sender=outsider)
    driver.anchor(b0, sender=anchorer, signed=False)


def test_constructor_rejects_zero(project: Any, deployer: Any, auth: Any) -> None:
    with ape.reverts():
        project.SensorFeed.deploy("0x" + "00" * 20, auth.address, sender=deployer)
