"""Gas of the main writes, measured from receipts, against the issue's targets and EtherTwin."""

from contract_constants import *  # noqa: F403

# EtherTwin, measured on anvil (shared/design.md).
ETHERTWIN = {
    "createTwin": 3_639_536,
    "addDocument": 262_056,
    "addDocumentVersion": 106_903,
    "grantTwinRole": 50_229,
    "updateSpec": 102_540,
}


def test_gas_of_main_writes(auth, spec, owner, maintainer, auditor):
    gas = {}
    # First twin ever also initializes the shared counter slot; the second is the steady state.
    first = spec.createTwin("Bottling plant", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=owner)
    gas["createTwin (first ever)"] = first.gas_used
    tx = spec.createTwin("Filler line 2", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=owner)
    gas["createTwin"] = tx.gas_used
    twin = twin_of(tx)

    gas["grantTwinRole"] = auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner).gas_used
    auth.grantTwinRole(twin, AUDITOR, auditor, sender=owner)
    gas["updateSpec"] = spec.updateSpec(twin, h("spec-v1"), RAW, h("d1"), sender=maintainer).gas_used
    c = h("filler")
    gas["addComponent"] = spec.addComponent(twin, c, ZERO32, "Filler", h("Machine"), sender=maintainer).gas_used
    tx = spec.addDocument(twin, c, "Maintenance report", h("doc"), RAW, h("doc-d"), sender=maintainer)
    gas["addDocument"] = tx.gas_used
    doc = one_log(tx, "DocumentAdded").event_arguments["docId"]
    gas["addDocumentVersion"] = spec.addDocumentVersion(twin, doc, h("doc2"), RAW, h("doc2-d"), sender=maintainer).gas_used
    gas["setScope (1 component)"] = auth.setScope(twin, auditor, [c], sender=owner).gas_used
    gas["setProgram (2 params)"] = spec.setProgram(
        twin, c, h("setSpeed"), [h("rpm"), h("ramp")], [0, 1], [1200, 10], sender=owner).gas_used
    gas["callProgram (2 params)"] = spec.callProgram(twin, c, h("setSpeed"), [600, 5], sender=maintainer).gas_used

    print()
    for op, used in gas.items():
        ref = ETHERTWIN.get(op)
        print(f"{op:28s} {used:>9,d}" + (f"   EtherTwin {ref:>9,d}" if ref else ""))

    assert gas["createTwin"] <= 250_000  # the target
    assert gas["createTwin (first ever)"] <= 250_000
    assert gas["addDocument"] < ETHERTWIN["addDocument"]
    assert gas["addDocumentVersion"] < ETHERTWIN["addDocumentVersion"]
