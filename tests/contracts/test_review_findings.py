"""The security review's findings (issue 11), one test each. Every test here failed on the contracts before
its fix (the attack went through) and passes after it (the attack reverts with the exact custom error).

L-2 (verifyReading took the leaf from the caller) is in test_sensorfeed.py:
test_verify_reading_refuses_inner_nodes_and_the_root.
"""

from __future__ import annotations

from typing import Any

import ape
import pytest

from contract_constants import *  # noqa: F403
from sensorfeed_support import FeedDriver, register_feed_tx

PUMP, FILLER, SENSOR2 = h("IE-pump"), h("IE-filler"), h("IE-sensor-2")
SET_SPEED, RPM = h("setSpeed"), h("rpm")
MACHINE = h("Machine")
CANCELLED = 5


@pytest.fixture
def pump(spec: Any, staffed_twin: int, owner: Any) -> int:
    """`staffed_twin` with FILLER -> PUMP, and program setSpeed(rpm in [0, 1000]) on PUMP."""
    spec.addComponent(staffed_twin, FILLER, ZERO32, "Filler", MACHINE, sender=owner)
    spec.addComponent(staffed_twin, PUMP, FILLER, "Pump", MACHINE, sender=owner)
    spec.setProgram(staffed_twin, PUMP, SET_SPEED, [RPM], [0], [1000], sender=owner)
    return staffed_twin


def _call(spec: Any, twin: int, rpm: int, sender: Any) -> int:
    return one_log(spec.callProgram(twin, PUMP, SET_SPEED, [rpm], sender=sender), "ProgramCalled").event_arguments["callId"]


# ---------------------------------------------------------------------------------------------- M-1


def test_m1_queued_calls_stop_at_a_later_safety_change(spec: Any, pump: int, owner: Any, maintainer: Any,
                                                        device_agent: Any, outsider: Any) -> None:
    twin = pump
    fast = _call(spec, twin, 900, maintainer)
    spec.setProgram(twin, PUMP, SET_SPEED, [RPM], [0], [500], sender=owner)  # tighter: 900 is out of bounds now
    with reverts(spec.StaleCall, callId=fast, revision=1):
        spec.markDelivered(fast, sender=device_agent)
    with reverts(spec.StaleCall, callId=fast, revision=1):
        spec.completeCall(fast, True, ZERO32, 0, sender=device_agent)
    assert spec.callRevision(fast) == 1

    ok = _call(spec, twin, 400, maintainer)  # checked against revision 2: deliverable
    assert spec.callRevision(ok) == 2
    spec.markDelivered(ok, sender=device_agent)
    spec.removeProgram(twin, PUMP, SET_SPEED, sender=owner)
    with reverts(spec.StaleCall, callId=ok, revision=2):
        spec.completeCall(ok, True, ZERO32, 0, sender=device_agent)

    spec.setProgram(twin, PUMP, SET_SPEED, [RPM], [0], [500], sender=owner)
    queued = _call(spec, twin, 100, maintainer)
    spec.removeComponent(twin, PUMP, sender=owner)
    with reverts(spec.StaleCall, callId=queued, revision=3):
        spec.markDelivered(queued, sender=device_agent)

    # the cancel path: the caller, or an OWNER; nobody else
    with reverts(spec.NotCallCanceller, callId=fast, account=outsider):
        spec.cancelCall(fast, sender=outsider)
    with reverts(spec.NotCallCanceller, callId=fast, account=device_agent):
        spec.cancelCall(fast, sender=device_agent)
    one_log(spec.cancelCall(fast, sender=maintainer), "CallCancelled", callId=fast, twin=twin, sender=maintainer)
    one_log(spec.cancelCall(ok, sender=owner), "CallCancelled", callId=ok, twin=twin, sender=owner)
    assert spec.programCall(fast)[4] == CANCELLED
    with reverts(spec.InvalidCallStatus, callId=fast, status=CANCELLED):
        spec.cancelCall(fast, sender=maintainer)


# ---------------------------------------------------------------------------------------------- M-2


def test_m2_the_admin_can_neither_freeze_nor_preempt_twins(auth: Any, spec: Any, twin: int, deployer: Any,
                                                             owner: Any) -> None:
    """Before: the admin granted itself REGISTRY_ROLE, froze `twin` (its phase still Operation) and initialized
    twinCount+1, so every later createTwin reverted TwinAlreadyInitialized."""
    assert auth.hasRole(DEFAULT_ADMIN_ROLE, deployer)
    assert auth.registry() == spec.address
    with reverts(auth.RegistryAlreadyBound, registry=spec.address):
        auth.bindRegistry(deployer, sender=deployer)
    with reverts(auth.NotRegistry, account=deployer):
        auth.freezeTwin(twin, sender=deployer)
    with reverts(auth.NotRegistry, account=deployer):
        auth.initializeTwin(spec.twinCount() + 1, deployer, sender=deployer)
    assert not auth.isFrozen(twin)
    spec.createTwin("next", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=owner)


# ---------------------------------------------------------------------------------------------- M-3


def test_m3_a_scoped_publisher_cannot_poison_other_subjects(auth: Any, twin: int, owner: Any, device_agent: Any,
                                                             maintainer: Any) -> None:
    """Before: a DEVICE_AGENT scoped to A published epoch 2^64-1 for a subject of B (any epoch was accepted)."""
    comp_a, comp_b = h("A"), h("B")
    subject_b = h("feed 2")
    auth.grantTwinRole(twin, DEVICE_AGENT, device_agent, sender=owner)
    auth.setScope(twin, device_agent, [comp_a], sender=owner)
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    with reverts(auth.InvalidKeyEpoch, twin=twin, component=comp_a, subject=subject_b, next=0, given=2**64 - 1):
        auth.publishKeyEnvelope(twin, comp_a, subject_b, 2**64 - 1, h("bogus"), sender=device_agent)
    with reverts(auth.Unauthorized, twin=twin, account=device_agent, permissions=KEY_PUBLISH, component=comp_b):
        auth.publishKeyEnvelope(twin, comp_b, subject_b, 0, h("bogus"), sender=device_agent)
    # B's own stream: 0, 0 again (re-publication), 1; never a jump
    for epoch in (0, 0, 1):
        auth.publishKeyEnvelope(twin, comp_b, subject_b, epoch, h(f"env{epoch}"), sender=maintainer)
    with reverts(auth.InvalidKeyEpoch, twin=twin, component=comp_b, subject=subject_b, next=2, given=3):
        auth.publishKeyEnvelope(twin, comp_b, subject_b, 3, h("env3"), sender=maintainer)
    with reverts(auth.InvalidKeyEpoch, next=2, given=0):
        auth.publishKeyEnvelope(twin, comp_b, subject_b, 0, h("env0"), sender=maintainer)
    assert auth.keyEpochOf(twin, comp_b, subject_b) == (True, 1)
    # what A's agent may publish under A lives in A's stream, which readers of B never take (crypto/access.py)
    auth.publishKeyEnvelope(twin, comp_a, subject_b, 0, h("a0"), sender=device_agent)
    assert auth.keyEpochOf(twin, comp_a, subject_b) == (True, 0)
    assert auth.keyEpochOf(twin, comp_b, subject_b) == (True, 1)


# ---------------------------------------------------------------------------------------------- L-1


def test_l1_attaching_a_subtree_respects_max_depth(spec: Any, owner: Any) -> None:
    """Before: only the new parent's ancestors were counted; a 4-deep subtree under a 15-deep chain gave 19."""
    def new_twin(name: str) -> int:
        return twin_of(spec.createTwin(name, DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=owner))

    max_depth = spec.MAX_DEPTH()
    chain = [new_twin(f"c{i}") for i in range(max_depth)]  # chain[i] has i ancestors once linked
    for child, parent in zip(chain[1:], chain):
        spec.setParent(child, parent, sender=owner)
    sub = [new_twin(f"s{i}") for i in range(4)]
    for child, parent in zip(sub[1:], sub):
        spec.setParent(child, parent, sender=owner)
    # sub[3] would have (max_depth - 1) + 1 + 3 ancestors
    with reverts(spec.HierarchyTooDeep, maxDepth=max_depth):
        spec.setParent(sub[0], chain[-1], sender=owner)
    spec.setParent(sub[0], chain[max_depth - 4], sender=owner)  # sub[3] gets exactly max_depth ancestors
    leaf = new_twin("leaf")
    with reverts(spec.HierarchyTooDeep, maxDepth=max_depth):
        spec.setParent(leaf, sub[3], sender=owner)


# ---------------------------------------------------------------------------------------------- L-3


def test_l3_a_removed_component_and_its_feeds_stop(spec: Any, sensor_feed: Any, twin: int, owner: Any,
                                                   device_key: Any, outsider: Any) -> None:
    spec.addComponent(twin, FILLER, ZERO32, "Filler", MACHINE, sender=owner)
    spec.addComponent(twin, SENSOR2, FILLER, "Level", MACHINE, sender=owner)
    with reverts(spec.ComponentHasChildren, twin=twin, component=FILLER, count=1):
        spec.removeComponent(twin, FILLER, sender=owner)
    feed = register_feed_tx(sensor_feed, twin, SENSOR2, device_key.address, owner)
    d = FeedDriver(sensor_feed, ape.chain.provider.chain_id, device_key)
    d.anchor(d.batch(feed, 0), sender=outsider)
    spec.removeComponent(twin, SENSOR2, sender=owner)
    b1 = d.batch(feed, 1)
    with reverts(sensor_feed.ComponentNotActive, twin=twin, component=SENSOR2):
        sensor_feed.anchor(*b1.fields(), d.sign(b1), sender=outsider)
    with reverts(sensor_feed.ComponentNotActive, twin=twin, component=SENSOR2):
        sensor_feed.rotateDeviceKey(feed, outsider, sender=owner)
    sensor_feed.retireFeed(feed, 0, sender=owner)  # its owner can still retire it
    # a replaced (swapped) sensor's feed drains its last batches, but takes no new key
    spec.addComponent(twin, PUMP, ZERO32, "Level 2", MACHINE, sender=owner)
    swapped = register_feed_tx(sensor_feed, twin, PUMP, device_key.address, owner)
    spec.replaceComponent(twin, PUMP, h("Level 3"), "Level 3", MACHINE, sender=owner)
    d.anchor(d.batch(swapped, 0), sender=outsider)
    with reverts(sensor_feed.ComponentNotActive, twin=twin, component=PUMP):
        sensor_feed.rotateDeviceKey(swapped, outsider, sender=owner)
    spec.removeComponent(twin, FILLER, sender=owner)  # no active child left
    with reverts(spec.ComponentNotActive, twin=twin, component=FILLER):
        spec.addComponent(twin, h("x"), FILLER, "x", MACHINE, sender=owner)


# ---------------------------------------------------------------------------------------------- L-4


def test_l4_a_scoped_maintainer_cannot_replace_into_the_root(auth: Any, spec: Any, twin: int, owner: Any,
                                                              maintainer: Any) -> None:
    spec.addComponent(twin, PUMP, ZERO32, "Pump", MACHINE, sender=owner)
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    auth.setScope(twin, maintainer, [PUMP], sender=owner)
    with reverts(spec.Unauthorized, twin=twin, account=maintainer, permissions=SPEC_UPDATE, component=ZERO32):
        spec.replaceComponent(twin, PUMP, h("Pump 2"), "Pump 2", MACHINE, sender=maintainer)
    assert spec.componentActive(twin, PUMP)


# ---------------------------------------------------------------------------------------------- L-5


def test_l5_a_create_bound_to_its_id_cannot_be_raced(spec: Any, twin: int, owner: Any, outsider: Any) -> None:
    """Before: the CLI sealed for documentCount()+1 and an outsider's document took that id first; the
    victim's record landed under the next id, unreadable. Now the sealed create names its id or reverts."""
    expected_doc = spec.documentCount() + 1
    other = twin_of(spec.createTwin("outsider's", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=outsider))
    spec.addDocument(other, ZERO32, "front-run", h("cid"), RAW, h("d"), sender=outsider)
    with reverts(spec.IdTaken, expected=expected_doc, next=expected_doc + 1):
        spec.addDocumentAt(expected_doc, twin, ZERO32, "sealed", h("cid2"), RAW, h("d2"), sender=owner)
    tx = spec.addDocumentAt(expected_doc + 1, twin, ZERO32, "sealed", h("cid2"), RAW, h("d2"), sender=owner)
    assert one_log(tx, "DocumentAdded").event_arguments["docId"] == expected_doc + 1
    expected_twin = spec.twinCount() + 1
    spec.createTwin("race", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=outsider)
    with reverts(spec.IdTaken, expected=expected_twin, next=expected_twin + 1):
        spec.createTwinAt(expected_twin, "sealed", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=owner)
    assert twin_of(spec.createTwinAt(expected_twin + 1, "sealed", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST,
                                     sender=owner)) == expected_twin + 1


# ---------------------------------------------------------------------------------------------- L-6


def test_l6_custom_roles_per_account_are_capped(auth: Any, twin: int, owner: Any, deployer: Any,
                                                device_agent: Any) -> None:
    """Before: a ROLE_ADMIN could give the gateway 186 custom roles (508k gas per check)."""
    cap = auth.MAX_CUSTOM_ROLES_PER_ACCOUNT()
    roles = [role_id(f"CUSTOM{i}") for i in range(cap + 1)]
    for r in roles:
        auth.defineRole(r, DOC_READ, sender=deployer)
    auth.grantTwinRole(twin, DEVICE_AGENT, device_agent, sender=owner)  # built-in roles do not count
    for r in roles[:cap]:
        auth.grantTwinRole(twin, r, device_agent, sender=owner)
    with reverts(auth.TooManyCustomRoles, twin=twin, account=device_agent, max=cap):
        auth.grantTwinRole(twin, roles[cap], device_agent, sender=owner)
    auth.revokeTwinRole(twin, roles[0], device_agent, sender=owner)
    auth.grantTwinRole(twin, roles[cap], device_agent, sender=owner)


# ---------------------------------------------------------------------------------------------- L-7


def test_l7_only_an_owner_dismisses(auth: Any, spec: Any, twin: int, owner: Any, maintainer: Any) -> None:
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    auth.setPermissions(twin, MAINTAINER, MAINTAINER_DEFAULT | TWIN_UPDATE, sender=owner)
    spec.setPhase(twin, MAINTENANCE, sender=maintainer)  # TWIN_UPDATE still moves the phase
    with reverts(spec.Unauthorized, twin=twin, account=maintainer, permissions=TWIN_DISMISS, component=ZERO32):
        spec.setPhase(twin, DISMISSED, sender=maintainer)
    spec.setPhase(twin, DISMISSED, sender=owner)
    assert auth.isFrozen(twin)


# ---------------------------------------------------------------------------------------------- L-8


def test_l8_a_gateway_cannot_preempt_the_device(sensor_feed: Any, feed_id: int, driver: Any, anchorer: Any,
                                                outsider: Any, owner: Any) -> None:
    assert sensor_feed.signatureRequired(feed_id)
    b0 = driver.batch(feed_id, 0)
    with reverts(sensor_feed.SignatureRequired, feedId=feed_id):
        sensor_feed.anchor(*b0.fields(), b"", sender=anchorer)
    with reverts(sensor_feed.SignatureRequired, feedId=feed_id):
        sensor_feed.anchorMany([driver.item(b0)], sender=anchorer)
    driver.anchor(b0, sender=outsider)  # the device's signed batch, relayed by anyone
    with reverts(sensor_feed.Unauthorized):
        sensor_feed.setSignatureRequired(feed_id, False, sender=outsider)
    tx = sensor_feed.setSignatureRequired(feed_id, False, sender=owner)
    one_log(tx, "SignatureRequirementSet", feedId=feed_id, required=False, account=owner)
    driver.anchor(driver.batch(feed_id, 1), sender=anchorer, signed=False)


# ---------------------------------------------------------------------------------------------- also


def test_freezing_cancels_a_pending_offer_with_its_event(auth: Any, spec: Any, twin: int, owner: Any,
                                                         outsider: Any) -> None:
    auth.offerOwnership(twin, outsider, sender=owner)
    tx = spec.setPhase(twin, DISMISSED, sender=owner)
    one_log(tx, "OwnershipOfferCancelled", twin=twin, to=outsider, sender=spec)
    assert auth.pendingOwnershipOffer(twin)[0] == ZERO_ADDRESS


def test_a_zero_cid_is_refused(sensor_feed: Any, feed_id: int, driver: Any, outsider: Any) -> None:
    b = driver.batch(feed_id, 0)
    b.cid = ZERO32
    with reverts(sensor_feed.ZeroCid, feedId=feed_id):
        sensor_feed.anchor(*b.fields(), driver.sign(b), sender=outsider)


def test_only_a_pauser_unpauses(sensor_feed: Any, deployer: Any, outsider: Any) -> None:
    sensor_feed.pause(sender=deployer)
    with reverts(sensor_feed.AccessControlUnauthorizedAccount, account=outsider, neededRole=sensor_feed.PAUSER_ROLE()):
        sensor_feed.unpause(sender=outsider)
    sensor_feed.unpause(sender=deployer)
    assert not sensor_feed.paused()


ZERO_ADDRESS = "0x" + "00" * 20
