"""Specification registry: twins, spec versions, components, programs and calls, documents,
sources, lifecycle and parent twins."""

import pytest

from contract_constants import *  # noqa: F403

FILLER, PUMP, VALVE, SENSOR = h("IE-filler"), h("IE-pump"), h("IE-valve"), h("IE-sensor")
MACHINE = h("Machine")
SET_SPEED = h("setSpeed")
RPM, RAMP = h("rpm"), h("ramp")


@pytest.fixture
def plant(spec, staffed_twin, owner):
    """Staffed twin with components FILLER -> (PUMP, VALVE) and a program on PUMP."""
    twin = staffed_twin
    spec.addComponent(twin, FILLER, ZERO32, "Filler", MACHINE, sender=owner)
    spec.addComponents(twin, [PUMP, VALVE], [FILLER, FILLER], ["Pump", "Valve"], [MACHINE, MACHINE], sender=owner)
    spec.setProgram(twin, PUMP, SET_SPEED, [RPM, RAMP], [0, -5], [1200, 5], sender=owner)
    return twin


def doc_id(tx):
    return one_log(tx, "DocumentAdded").event_arguments["docId"]


def call_id(tx):
    return one_log(tx, "ProgramCalled").event_arguments["callId"]


# ---------------------------------------------------------------- twins and spec versions


def test_create_twin(spec, auth, owner, outsider, chain):
    # ids count up from whatever the session's chain already holds (1 on a fresh one)
    first, second = spec.twinCount() + 1, spec.twinCount() + 2
    tx = spec.createTwin("Bottling plant", DEVICE_ID, SPEC_CID, DAG_PB, SPEC_DIGEST, sender=owner)
    one_log(tx, "TwinCreated", twin=first, creator=owner, deviceId=DEVICE_ID, name="Bottling plant")
    one_log(tx, "SpecUpdated", twin=first, version=0, cid=SPEC_CID, codec=DAG_PB, digest=SPEC_DIGEST, author=owner)
    tx2 = spec.createTwin("Second", ZERO32, SPEC_CID, RAW, SPEC_DIGEST, sender=outsider)
    assert twin_of(tx2) == second and spec.twinCount() == second
    name, device, phase, parent, created, versions = spec.twinInfo(first)
    assert (name, device, phase, parent, versions) == ("Bottling plant", DEVICE_ID, DESIGN, 0, 1)
    assert created == chain.provider.get_block(tx.block_number).timestamp
    assert spec.specVersion(first, 0) == (SPEC_CID, DAG_PB, SPEC_DIGEST, owner.address, created)
    assert auth.hasTwinRole(second, OWNER, outsider) and not auth.hasTwinRole(second, OWNER, owner)
    assert spec.twinExists(first) and spec.twinExists(second)
    assert not spec.twinExists(0) and not spec.twinExists(second + 1)


def test_create_twin_refusals(spec, owner):
    with reverts(spec.InvalidLength, length=0, max=64):
        spec.createTwin("", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=owner)
    with reverts(spec.InvalidLength, length=65, max=64):
        spec.createTwin("x" * 65, DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=owner)
    with reverts(spec.InvalidCid, cid=ZERO32, codec=RAW):
        spec.createTwin("t", DEVICE_ID, ZERO32, RAW, SPEC_DIGEST, sender=owner)
    with reverts(spec.InvalidCid, cid=SPEC_CID, codec=0):
        spec.createTwin("t", DEVICE_ID, SPEC_CID, 0, SPEC_DIGEST, sender=owner)
    with reverts(spec.TwinNotFound, twin=0):
        spec.twinInfo(0)


def test_update_spec(spec, staffed_twin, maintainer, auditor, manufacturer):
    twin = staffed_twin
    tx = spec.updateSpec(twin, h("v1"), RAW, h("d1"), sender=maintainer)
    one_log(tx, "SpecUpdated", twin=twin, version=1, cid=h("v1"), codec=RAW, digest=h("d1"), author=maintainer)
    assert spec.specVersionCount(twin) == 2
    cid, codec, digest, author, _ = spec.specVersion(twin, 1)
    assert (cid, codec, digest, author) == (h("v1"), RAW, h("d1"), maintainer.address)
    with reverts(spec.VersionNotFound, index=2, count=2):
        spec.specVersion(twin, 2)
    for who in (auditor, manufacturer):
        with reverts(spec.Unauthorized, twin=twin, account=who, permissions=SPEC_UPDATE, component=ZERO32):
            spec.updateSpec(twin, h("v2"), RAW, h("d2"), sender=who)
    with reverts(spec.InvalidCid):
        spec.updateSpec(twin, ZERO32, RAW, h("d2"), sender=maintainer)
    with reverts(spec.TwinNotFound, twin=99):
        spec.updateSpec(99, h("v2"), RAW, h("d2"), sender=maintainer)


# ---------------------------------------------------------------- components


def test_component_tree(spec, staffed_twin, maintainer):
    twin = staffed_twin
    tx = spec.addComponent(twin, FILLER, ZERO32, "Filler", MACHINE, sender=maintainer)
    one_log(tx, "ComponentAdded", twin=twin, component=FILLER, parent=ZERO32, kind=MACHINE, name="Filler",
            sender=maintainer)
    tx = spec.addComponents(twin, [PUMP, SENSOR], [FILLER, PUMP], ["Pump", "Flow sensor"], [MACHINE, h("Sensor")],
                            sender=maintainer)
    assert [log.component for log in logs(tx, "ComponentAdded")] == [PUMP, SENSOR]
    exists, active, parent, kind, replaced_by, added_at, name = spec.component(twin, SENSOR)
    assert (exists, active, parent, kind, replaced_by, name) == (True, True, PUMP, h("Sensor"), ZERO32, "Flow sensor")
    assert added_at > 0
    assert spec.componentActive(twin, PUMP) and not spec.componentActive(twin, VALVE)
    assert not spec.componentActive(twin + 1, PUMP)


def test_component_refusals(spec, staffed_twin, maintainer, auditor):
    twin = staffed_twin
    spec.addComponent(twin, FILLER, ZERO32, "Filler", MACHINE, sender=maintainer)
    with reverts(spec.ComponentExists, twin=twin, component=FILLER):
        spec.addComponent(twin, FILLER, ZERO32, "Again", MACHINE, sender=maintainer)
    with reverts(spec.ComponentNotActive, twin=twin, component=PUMP):
        spec.addComponent(twin, VALVE, PUMP, "Valve", MACHINE, sender=maintainer)
    with reverts(spec.InvalidComponentId):
        spec.addComponent(twin, ZERO32, FILLER, "Zero", MACHINE, sender=maintainer)
    with reverts(spec.InvalidLength, length=0):
        spec.addComponent(twin, VALVE, FILLER, "", MACHINE, sender=maintainer)
    with reverts(spec.Unauthorized, account=auditor, permissions=SPEC_UPDATE, component=FILLER):
        spec.addComponent(twin, VALVE, FILLER, "Valve", MACHINE, sender=auditor)
    with reverts(spec.TwinNotFound, twin=99):
        spec.addComponent(99, VALVE, ZERO32, "Valve", MACHINE, sender=maintainer)
    with reverts(spec.LengthMismatch):
        spec.addComponents(twin, [VALVE], [FILLER, FILLER], ["V"], [MACHINE], sender=maintainer)
    with reverts(spec.BatchTooLarge, length=65, max=64):
        spec.addComponents(twin, [h(str(i)) for i in range(65)], [ZERO32] * 65, ["c"] * 65, [MACHINE] * 65,
                           sender=maintainer)
    # a batch is all or nothing
    with reverts(spec.ComponentExists, component=FILLER):
        spec.addComponents(twin, [VALVE, FILLER], [FILLER, ZERO32], ["V", "F"], [MACHINE, MACHINE], sender=maintainer)
    assert not spec.componentActive(twin, VALVE)


def test_remove_and_replace_component(spec, plant, maintainer):
    twin = plant
    tx = spec.removeComponent(twin, VALVE, sender=maintainer)
    one_log(tx, "ComponentRemoved", twin=twin, component=VALVE, sender=maintainer)
    assert not spec.componentActive(twin, VALVE)
    assert spec.component(twin, VALVE)[0]  # still exists as history
    with reverts(spec.ComponentNotActive, twin=twin, component=VALVE):
        spec.removeComponent(twin, VALVE, sender=maintainer)
    with reverts(spec.ComponentExists, component=VALVE):  # ids are never reused
        spec.addComponent(twin, VALVE, FILLER, "Valve 2", MACHINE, sender=maintainer)

    new_pump = h("IE-pump-2")
    tx = spec.replaceComponent(twin, PUMP, new_pump, "Pump (spare)", MACHINE, sender=maintainer)
    one_log(tx, "ComponentReplaced", twin=twin, oldComponent=PUMP, newComponent=new_pump, sender=maintainer)
    one_log(tx, "ComponentAdded", twin=twin, component=new_pump, parent=FILLER, name="Pump (spare)")
    exists, active, parent, _, replaced_by, _, _ = spec.component(twin, PUMP)
    assert (exists, active, parent, replaced_by) == (True, False, FILLER, new_pump)
    assert spec.componentActive(twin, new_pump)
    assert spec.component(twin, new_pump)[2] == FILLER
    with reverts(spec.ComponentNotActive, component=PUMP):
        spec.replaceComponent(twin, PUMP, h("x"), "x", MACHINE, sender=maintainer)
    with reverts(spec.ComponentExists, component=FILLER):
        spec.replaceComponent(twin, new_pump, FILLER, "x", MACHINE, sender=maintainer)


def test_scoped_maintainer_works_inside_its_scope(auth, spec, plant, owner, maintainer):
    twin = plant
    auth.setScope(twin, maintainer, [PUMP], sender=owner)
    spec.addComponent(twin, SENSOR, PUMP, "Sensor", MACHINE, sender=maintainer)  # under its component
    with reverts(spec.Unauthorized, account=maintainer, permissions=SPEC_UPDATE, component=ZERO32):
        spec.addComponent(twin, h("root2"), ZERO32, "Root", MACHINE, sender=maintainer)
    with reverts(spec.Unauthorized, account=maintainer, permissions=SPEC_UPDATE, component=VALVE):
        spec.removeComponent(twin, VALVE, sender=maintainer)
    with reverts(spec.Unauthorized, component=ZERO32):
        spec.updateSpec(twin, h("v1"), RAW, h("d1"), sender=maintainer)
    spec.callProgram(twin, PUMP, SET_SPEED, [10, 0], sender=maintainer)
    with reverts(spec.Unauthorized, permissions=PROGRAM_CALL, component=FILLER):
        spec.callProgram(twin, FILLER, SET_SPEED, [10, 0], sender=maintainer)


# ---------------------------------------------------------------- programs and calls


def test_set_program(spec, plant, owner, maintainer, auditor):
    twin = plant
    assert spec.programInfo(twin, PUMP, SET_SPEED) == (True, 2, 1)
    assert spec.programBounds(twin, PUMP, SET_SPEED) == ([RPM, RAMP], [0, -5], [1200, 5])
    tx = spec.setProgram(twin, PUMP, SET_SPEED, [RPM], [100], [900], sender=maintainer)
    one_log(tx, "ProgramSet", twin=twin, component=PUMP, program=SET_SPEED, revision=2, paramNames=[RPM],
            mins=[100], maxs=[900], sender=maintainer)
    assert spec.programBounds(twin, PUMP, SET_SPEED) == ([RPM], [100], [900])
    with reverts(spec.TooManyParameters, count=17, max=16):
        spec.setProgram(twin, PUMP, h("big"), [h(str(i)) for i in range(17)], [0] * 17, [1] * 17, sender=owner)
    spec.setProgram(twin, PUMP, h("sixteen"), [h(str(i)) for i in range(16)], [0] * 16, [1] * 16, sender=owner)
    with reverts(spec.LengthMismatch):
        spec.setProgram(twin, PUMP, h("p"), [RPM], [0, 1], [1], sender=owner)
    with reverts(spec.InvalidBounds, param=RPM, min=5, max=4):
        spec.setProgram(twin, PUMP, h("p"), [RPM], [5], [4], sender=owner)
    with reverts(spec.InvalidBounds, param=ZERO32):
        spec.setProgram(twin, PUMP, h("p"), [ZERO32], [0], [4], sender=owner)
    with reverts(spec.InvalidProgramId):
        spec.setProgram(twin, PUMP, ZERO32, [RPM], [0], [4], sender=owner)
    with reverts(spec.Unauthorized, account=auditor, permissions=SPEC_UPDATE, component=PUMP):
        spec.setProgram(twin, PUMP, h("p"), [RPM], [0], [4], sender=auditor)
    with reverts(spec.ComponentNotActive, component=SENSOR):
        spec.setProgram(twin, SENSOR, h("p"), [RPM], [0], [4], sender=owner)
    tx = spec.removeProgram(twin, PUMP, SET_SPEED, sender=maintainer)
    one_log(tx, "ProgramRemoved", twin=twin, component=PUMP, program=SET_SPEED, sender=maintainer)
    assert spec.programInfo(twin, PUMP, SET_SPEED)[0] is False
    with reverts(spec.UnknownProgram, twin=twin, component=PUMP, program=SET_SPEED):
        spec.removeProgram(twin, PUMP, SET_SPEED, sender=maintainer)
    with reverts(spec.UnknownProgram, program=SET_SPEED):
        spec.callProgram(twin, PUMP, SET_SPEED, [500], sender=maintainer)


def test_call_program_checks_bounds(spec, plant, maintainer, auditor, device_agent):
    twin = plant
    tx = spec.callProgram(twin, PUMP, SET_SPEED, [1200, -5], sender=maintainer)
    one_log(tx, "ProgramCalled", callId=1, twin=twin, component=PUMP, program=SET_SPEED, params=[1200, -5],
            caller=maintainer)
    assert call_id(spec.callProgram(twin, PUMP, SET_SPEED, [0, 5], sender=maintainer)) == 2
    assert spec.callCount() == 2
    assert spec.programCall(1) == (twin, PUMP, SET_SPEED, maintainer.address, QUEUED, ZERO32, 0)
    with reverts(spec.ParameterOutOfBounds, param=RPM, value=1201, min=0, max=1200):
        spec.callProgram(twin, PUMP, SET_SPEED, [1201, 0], sender=maintainer)
    with reverts(spec.ParameterOutOfBounds, param=RAMP, value=-6, min=-5, max=5):
        spec.callProgram(twin, PUMP, SET_SPEED, [600, -6], sender=maintainer)
    with reverts(spec.ParameterOutOfBounds, param=RPM, value=-(2**255), min=0, max=1200):
        spec.callProgram(twin, PUMP, SET_SPEED, [-(2**255), 0], sender=maintainer)
    with reverts(spec.WrongParameterCount, expected=2, given=1):
        spec.callProgram(twin, PUMP, SET_SPEED, [600], sender=maintainer)
    with reverts(spec.WrongParameterCount, expected=2, given=3):
        spec.callProgram(twin, PUMP, SET_SPEED, [600, 0, 0], sender=maintainer)
    with reverts(spec.UnknownProgram, twin=twin, component=VALVE, program=SET_SPEED):
        spec.callProgram(twin, VALVE, SET_SPEED, [600, 0], sender=maintainer)
    for who in (auditor, device_agent):
        with reverts(spec.Unauthorized, account=who, permissions=PROGRAM_CALL, component=PUMP):
            spec.callProgram(twin, PUMP, SET_SPEED, [600, 0], sender=who)
    spec.removeComponent(twin, PUMP, sender=maintainer)
    with reverts(spec.ComponentNotActive, component=PUMP):
        spec.callProgram(twin, PUMP, SET_SPEED, [600, 0], sender=maintainer)


def test_call_lifecycle(spec, plant, maintainer, device_agent):
    twin = plant
    first = call_id(spec.callProgram(twin, PUMP, SET_SPEED, [600, 0], sender=maintainer))
    tx = spec.markDelivered(first, sender=device_agent)
    one_log(tx, "CallDelivered", callId=first, twin=twin, agent=device_agent)
    assert spec.programCall(first)[4] == DELIVERED
    with reverts(spec.InvalidCallStatus, callId=first, status=DELIVERED):
        spec.markDelivered(first, sender=device_agent)
    tx = spec.completeCall(first, True, h("result"), RAW, sender=device_agent)
    one_log(tx, "CallCompleted", callId=first, twin=twin, ok=True, resultCid=h("result"), resultCodec=RAW,
            agent=device_agent)
    assert spec.programCall(first)[4:] == (DONE, h("result"), RAW)
    with reverts(spec.InvalidCallStatus, callId=first, status=DONE):
        spec.completeCall(first, False, ZERO32, 0, sender=device_agent)
    with reverts(spec.InvalidCallStatus, status=DONE):
        spec.markDelivered(first, sender=device_agent)

    second = call_id(spec.callProgram(twin, PUMP, SET_SPEED, [600, 0], sender=maintainer))
    with reverts(spec.Unauthorized, account=maintainer, permissions=PROGRAM_EXECUTE, component=PUMP):
        spec.markDelivered(second, sender=maintainer)
    with reverts(spec.Unauthorized, account=maintainer, permissions=PROGRAM_EXECUTE):
        spec.completeCall(second, True, ZERO32, 0, sender=maintainer)
    with reverts(spec.InvalidCid, cid=ZERO32, codec=RAW):
        spec.completeCall(second, True, ZERO32, RAW, sender=device_agent)
    tx = spec.completeCall(second, False, ZERO32, 0, sender=device_agent)  # straight from Queued
    one_log(tx, "CallCompleted", ok=False)
    assert spec.programCall(second)[4] == FAILED
    with reverts(spec.UnknownCall, callId=99):
        spec.markDelivered(99, sender=device_agent)


def test_scoped_device_agent(auth, spec, plant, owner, maintainer, device_agent):
    twin = plant
    spec.setProgram(twin, VALVE, h("open"), [], [], [], sender=owner)
    on_pump = call_id(spec.callProgram(twin, PUMP, SET_SPEED, [1, 0], sender=maintainer))
    on_valve = call_id(spec.callProgram(twin, VALVE, h("open"), [], sender=maintainer))
    auth.setScope(twin, device_agent, [PUMP], sender=owner)
    spec.markDelivered(on_pump, sender=device_agent)
    with reverts(spec.Unauthorized, permissions=PROGRAM_EXECUTE, component=VALVE):
        spec.markDelivered(on_valve, sender=device_agent)


# ---------------------------------------------------------------- documents


def test_documents(spec, plant, maintainer, chain):
    twin = plant
    tx = spec.addDocument(twin, PUMP, "Maintenance report", h("doc"), DAG_PB, h("doc-d"), sender=maintainer)
    one_log(tx, "DocumentAdded", twin=twin, docId=1, component=PUMP, name="Maintenance report", author=maintainer)
    one_log(tx, "DocumentVersionAdded", twin=twin, docId=1, version=0, cid=h("doc"), codec=DAG_PB, digest=h("doc-d"))
    tx = spec.addDocumentVersion(twin, 1, h("doc2"), RAW, h("doc2-d"), sender=maintainer)
    one_log(tx, "DocumentVersionAdded", twin=twin, docId=1, version=1, cid=h("doc2"), codec=RAW, digest=h("doc2-d"))
    assert spec.documentVersionCount(1) == 2 and spec.documentCount() == 1
    time = chain.provider.get_block(tx.block_number).timestamp
    assert spec.documentVersion(1, 1) == (h("doc2"), RAW, h("doc2-d"), maintainer.address, time)
    assert spec.documentVersion(1, 0)[:4] == (h("doc"), DAG_PB, h("doc-d"), maintainer.address)
    with reverts(spec.VersionNotFound, index=2, count=2):
        spec.documentVersion(1, 2)
    twin_tx = spec.addDocument(twin, ZERO32, "Plant manual", h("man"), RAW, h("man-d"), sender=maintainer)
    assert doc_id(twin_tx) == 2
    t, comp, name, count, archived, created = spec.document(2)
    assert (t, comp, name, count, archived) == (twin, ZERO32, "Plant manual", 1, False)
    tx = spec.archiveDocument(twin, 1, sender=maintainer)
    one_log(tx, "DocumentArchived", twin=twin, docId=1, sender=maintainer)
    assert spec.document(1)[4] is True
    with reverts(spec.DocumentIsArchived, docId=1):
        spec.addDocumentVersion(twin, 1, h("doc3"), RAW, h("doc3-d"), sender=maintainer)
    with reverts(spec.DocumentIsArchived, docId=1):
        spec.archiveDocument(twin, 1, sender=maintainer)
    assert spec.documentVersion(1, 1)[0] == h("doc2")  # history stays


def test_document_refusals(auth, spec, plant, owner, maintainer, auditor):
    twin = plant
    with reverts(spec.Unauthorized, account=auditor, permissions=DOC_CREATE, component=PUMP):
        spec.addDocument(twin, PUMP, "Report", h("doc"), RAW, h("d"), sender=auditor)
    with reverts(spec.ComponentNotActive, component=SENSOR):
        spec.addDocument(twin, SENSOR, "Report", h("doc"), RAW, h("d"), sender=maintainer)
    with reverts(spec.TwinNotFound, twin=99):
        spec.addDocument(99, ZERO32, "Report", h("doc"), RAW, h("d"), sender=maintainer)
    with reverts(spec.InvalidCid):
        spec.addDocument(twin, PUMP, "Report", h("doc"), 0, h("d"), sender=maintainer)
    with reverts(spec.InvalidLength):
        spec.addDocument(twin, PUMP, "", h("doc"), RAW, h("d"), sender=maintainer)
    on_pump = doc_id(spec.addDocument(twin, PUMP, "Pump report", h("a"), RAW, h("a"), sender=maintainer))
    on_valve = doc_id(spec.addDocument(twin, VALVE, "Valve report", h("b"), RAW, h("b"), sender=maintainer))
    with reverts(spec.UnknownDocument, twin=twin + 1, docId=on_pump):
        spec.addDocumentVersion(twin + 1, on_pump, h("c"), RAW, h("c"), sender=maintainer)
    with reverts(spec.UnknownDocument, twin=twin, docId=99):
        spec.addDocumentVersion(twin, 99, h("c"), RAW, h("c"), sender=maintainer)
    with reverts(spec.Unauthorized, account=auditor, permissions=DOC_UPDATE, component=PUMP):
        spec.addDocumentVersion(twin, on_pump, h("c"), RAW, h("c"), sender=auditor)
    # a scoped maintainer updates documents of its components only
    auth.setScope(twin, maintainer, [PUMP], sender=owner)
    spec.addDocumentVersion(twin, on_pump, h("c"), RAW, h("c"), sender=maintainer)
    with reverts(spec.Unauthorized, account=maintainer, permissions=DOC_UPDATE, component=VALVE):
        spec.addDocumentVersion(twin, on_valve, h("c"), RAW, h("c"), sender=maintainer)
    with reverts(spec.Unauthorized, component=VALVE):
        spec.archiveDocument(twin, on_valve, sender=maintainer)


# ---------------------------------------------------------------- external sources


def test_sources(spec, staffed_twin, owner, maintainer, auditor, accounts):
    twin = staffed_twin
    tx = spec.addSource(twin, "opcua://plant.local:4840", "PLC of the filler", sender=maintainer)
    one_log(tx, "SourceAdded", twin=twin, sourceId=1, owner=maintainer, uri="opcua://plant.local:4840",
            description="PLC of the filler")
    assert spec.source(1) == (twin, maintainer.address, False, "opcua://plant.local:4840", "PLC of the filler")
    spec.addSource(twin, "https://erp.example/asset/42", "", sender=maintainer)
    assert spec.sourceCount() == 2
    with reverts(spec.Unauthorized, account=auditor, permissions=SOURCE_MANAGE):
        spec.addSource(twin, "x://y", "", sender=auditor)
    with reverts(spec.InvalidLength, length=0, max=256):
        spec.addSource(twin, "", "", sender=maintainer)
    with reverts(spec.InvalidLength, length=257, max=256):
        spec.addSource(twin, "u" * 257, "", sender=maintainer)
    # another maintainer may not remove it (needs TWIN_UPDATE), its owner and the twin OWNER may
    other = accounts[8]
    tx = spec.removeSource(twin, 1, sender=maintainer)
    one_log(tx, "SourceRemoved", twin=twin, sourceId=1, sender=maintainer)
    assert spec.source(1)[2] is True
    with reverts(spec.SourceIsRemoved, sourceId=1):
        spec.removeSource(twin, 1, sender=maintainer)
    with reverts(spec.Unauthorized, account=other, permissions=TWIN_UPDATE):
        spec.removeSource(twin, 2, sender=other)
    spec.removeSource(twin, 2, sender=owner)
    with reverts(spec.UnknownSource, twin=twin + 1, sourceId=2):
        spec.removeSource(twin + 1, 2, sender=owner)
    with reverts(spec.UnknownSource, twin=twin, sourceId=9):
        spec.removeSource(twin, 9, sender=owner)


def test_source_removal_by_other_maintainer(auth, spec, staffed_twin, owner, maintainer, accounts):
    twin = staffed_twin
    other = accounts[8]
    auth.grantTwinRole(twin, MAINTAINER, other, sender=owner)
    spec.addSource(twin, "opcua://a", "", sender=maintainer)
    with reverts(spec.Unauthorized, account=other, permissions=TWIN_UPDATE, component=ZERO32):
        spec.removeSource(twin, 1, sender=other)


# ---------------------------------------------------------------- lifecycle


def test_phases(spec, staffed_twin, owner, maintainer):
    twin = staffed_twin
    tx = spec.setPhase(twin, PRODUCTION, sender=owner)
    one_log(tx, "PhaseChanged", twin=twin, oldPhase=DESIGN, newPhase=PRODUCTION, sender=owner)
    spec.setPhase(twin, OPERATION, sender=owner)
    spec.setPhase(twin, MAINTENANCE, sender=owner)
    spec.setPhase(twin, OPERATION, sender=owner)
    assert spec.phaseOf(twin) == OPERATION
    with reverts(spec.PhaseUnchanged, twin=twin, phase=OPERATION):
        spec.setPhase(twin, OPERATION, sender=owner)
    with reverts(spec.Unauthorized, account=maintainer, permissions=TWIN_UPDATE):
        spec.setPhase(twin, MAINTENANCE, sender=maintainer)
    with reverts(spec.TwinNotFound, twin=99):
        spec.setPhase(99, MAINTENANCE, sender=owner)


def test_dismissed_twin_is_read_only(auth, spec, plant, owner, maintainer, device_agent):
    twin = plant
    queued = call_id(spec.callProgram(twin, PUMP, SET_SPEED, [1, 0], sender=maintainer))
    doc = doc_id(spec.addDocument(twin, PUMP, "Report", h("a"), RAW, h("a"), sender=maintainer))
    source = one_log(spec.addSource(twin, "opcua://a", "", sender=maintainer), "SourceAdded").event_arguments["sourceId"]
    other = twin_of(spec.createTwin("Other", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=owner))
    tx = spec.setPhase(twin, DISMISSED, sender=owner)
    one_log(tx, "PhaseChanged", oldPhase=DESIGN, newPhase=DISMISSED)
    one_log(tx, "Frozen", _contract=auth, twin=twin)
    assert auth.isFrozen(twin) and spec.phaseOf(twin) == DISMISSED

    dismissed = lambda: reverts(spec.TwinDismissed, twin=twin)  # noqa: E731
    writes = [
        (owner, lambda s: spec.setPhase(twin, OPERATION, sender=s)),
        (owner, lambda s: spec.updateSpec(twin, h("v"), RAW, h("d"), sender=s)),
        (owner, lambda s: spec.addComponent(twin, SENSOR, PUMP, "S", MACHINE, sender=s)),
        (owner, lambda s: spec.addComponents(twin, [SENSOR], [ZERO32], ["S"], [MACHINE], sender=s)),
        (owner, lambda s: spec.removeComponent(twin, VALVE, sender=s)),
        (owner, lambda s: spec.replaceComponent(twin, VALVE, SENSOR, "S", MACHINE, sender=s)),
        (owner, lambda s: spec.setProgram(twin, PUMP, h("p"), [], [], [], sender=s)),
        (owner, lambda s: spec.removeProgram(twin, PUMP, SET_SPEED, sender=s)),
        (maintainer, lambda s: spec.callProgram(twin, PUMP, SET_SPEED, [1, 0], sender=s)),
        (device_agent, lambda s: spec.markDelivered(queued, sender=s)),
        (device_agent, lambda s: spec.completeCall(queued, True, ZERO32, 0, sender=s)),
        (maintainer, lambda s: spec.addDocument(twin, PUMP, "R", h("b"), RAW, h("b"), sender=s)),
        (maintainer, lambda s: spec.addDocumentVersion(twin, doc, h("b"), RAW, h("b"), sender=s)),
        (maintainer, lambda s: spec.archiveDocument(twin, doc, sender=s)),
        (maintainer, lambda s: spec.addSource(twin, "x://y", "", sender=s)),
        (maintainer, lambda s: spec.removeSource(twin, source, sender=s)),
        (owner, lambda s: spec.setParent(twin, other, sender=s)),
    ]
    for sender, write in writes:
        with dismissed():
            write(sender)
    with reverts(spec.TwinDismissed, twin=twin):
        spec.setParent(other, twin, sender=owner)
    # reads keep working
    assert spec.twinExists(twin) and spec.componentActive(twin, PUMP)
    assert spec.documentVersionCount(doc) == 1 and spec.specVersionCount(twin) == 1


# ---------------------------------------------------------------- parent twins


def test_parent_twins(auth, spec, owner, outsider, maintainer):
    def new_twin(who=owner):
        return twin_of(spec.createTwin("t", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=who))

    line, plant, foreign = new_twin(), new_twin(), new_twin(outsider)
    tx = spec.setParent(line, plant, sender=owner)
    one_log(tx, "ParentChanged", child=line, oldParent=0, newParent=plant, sender=owner)
    assert spec.parentOf(line) == plant and spec.twinInfo(line)[3] == plant
    with reverts(spec.ParentUnchanged, child=line, parent=plant):
        spec.setParent(line, plant, sender=owner)
    with reverts(spec.CycleDetected, child=plant, parent=line):
        spec.setParent(plant, line, sender=owner)
    with reverts(spec.CycleDetected, child=plant, parent=plant):
        spec.setParent(plant, plant, sender=owner)
    # TWIN_UPDATE is needed on both sides
    with reverts(spec.Unauthorized, twin=foreign, account=owner, permissions=TWIN_UPDATE):
        spec.setParent(line, foreign, sender=owner)
    with reverts(spec.Unauthorized, twin=line, account=outsider, permissions=TWIN_UPDATE):
        spec.setParent(line, foreign, sender=outsider)
    with reverts(spec.TwinNotFound, twin=99):
        spec.setParent(line, 99, sender=owner)
    tx = spec.setParent(line, 0, sender=owner)
    one_log(tx, "ParentChanged", child=line, oldParent=plant, newParent=0)
    assert spec.parentOf(line) == 0


def test_parent_chain_depth_is_bounded(spec, owner):
    max_depth = spec.MAX_DEPTH()
    twins = [twin_of(spec.createTwin("t", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=owner))
             for _ in range(max_depth + 2)]
    for child, parent in zip(twins[1:], twins[:-2]):  # chain of max_depth + 1 twins
        spec.setParent(child, parent, sender=owner)
    # twins[max_depth] already has max_depth ancestors; one more level is refused
    with reverts(spec.HierarchyTooDeep, maxDepth=max_depth):
        spec.setParent(twins[-1], twins[-2], sender=owner)
    # a deep cycle attempt is refused as well
    with reverts(spec.CycleDetected, child=twins[0], parent=twins[5]):
        spec.setParent(twins[0], twins[5], sender=owner)


# ---------------------------------------------------------------- wiring with SensorFeed


def test_sensor_feed_fixture_wires_to_the_registry(sensor_feed, auth, spec):
    assert sensor_feed.authorization() == auth.address
    assert sensor_feed.specification() == spec.address
