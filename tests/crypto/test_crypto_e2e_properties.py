"""Property, at chain level: over random grant, revoke, scope and permission-matrix sequences on a real
anvil chain and the real Authorization contract, the parties able to decrypt each batch the agent's
`BatchSealer` wrote are exactly the parties a model of the rules permits at the time of writing.

The model is independent of the code under test: it tracks roles, scopes and the AUDITOR row of the
matrix itself and never asks the chain. Each example runs from an anvil snapshot, so examples are
independent and cheap."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto_e2e_support import AGENT, OWNER, SharedTwin, can_open, provision, role
from twinledger.agent.sealing import BatchSealer
from twinledger.chain import devnet
from twinledger.crypto import Subject

pytestmark = pytest.mark.timeout(900)

PARTIES = (2, 3, 4, 5)  # test accounts with registered keys and no role at the start
OUTSIDER = 8  # has a key, never a role
ROLES = ("AUDITOR", "MANUFACTURER", "MAINTAINER")  # every one of them has SENSOR_READ by default
SENSOR = "tank_level_a"  # the feed written
OTHER = "pipe_flow"  # another component, for scopes that exclude the feed's
DOC_READ, SENSOR_READ = 1 << 4, 1 << 7


@dataclass
class Model:
    roles: dict[int, set[str]] = field(default_factory=lambda: {p: set() for p in PARTIES})
    scopes: dict[int, frozenset[str] | None] = field(default_factory=lambda: {p: None for p in PARTIES})
    auditor_reads_sensors: bool = True

    def permitted(self) -> frozenset[int]:
        """Who may read SENSOR's feed now: OWNER always; others by a role with SENSOR_READ, within scope."""
        out = {OWNER}
        for p in PARTIES:
            reading_roles = {r for r in self.roles[p] if r != "AUDITOR" or self.auditor_reads_sensors}
            scope = self.scopes[p]
            if reading_roles and (scope is None or SENSOR in scope):
                out.add(p)
        return frozenset(out)


OPS = st.one_of(
    st.tuples(st.just("grant"), st.sampled_from(PARTIES), st.sampled_from(ROLES)),
    st.tuples(st.just("revoke"), st.sampled_from(PARTIES), st.sampled_from(ROLES)),
    st.tuples(st.just("scope"), st.sampled_from(PARTIES), st.sampled_from([(SENSOR,), (OTHER,), (SENSOR, OTHER)])),
    st.tuples(st.just("clear"), st.sampled_from(PARTIES), st.none()),
    st.tuples(st.just("auditor-matrix"), st.none(), st.booleans()),
)


def apply(shared: SharedTwin, model: Model, op: tuple) -> None:
    """Send the operation if the contract would accept it, and update the model the same way."""
    kind, party, arg = op
    owner = shared.chain(OWNER)
    auth, twin = owner.auth.functions, shared.twin
    who = devnet.test_account(party).address if party is not None else None
    if kind == "grant" and arg not in model.roles[party]:
        owner.sender.transact(auth.grantTwinRole(twin, role(arg), who))
        model.roles[party].add(arg)
    elif kind == "revoke" and arg in model.roles[party]:
        owner.sender.transact(auth.revokeTwinRole(twin, role(arg), who))
        model.roles[party].discard(arg)
    elif kind == "scope":
        owner.sender.transact(auth.setScope(twin, who, [shared.components[s] for s in arg]))
        model.scopes[party] = frozenset(arg)
    elif kind == "clear" and model.scopes[party] is not None:
        owner.sender.transact(auth.clearScope(twin, who))
        model.scopes[party] = None
    elif kind == "auditor-matrix":
        if arg:
            owner.sender.transact(auth.resetPermissions(twin, role("AUDITOR")))
        else:
            owner.sender.transact(auth.setPermissions(twin, role("AUDITOR"), DOC_READ))
        model.auditor_reads_sensors = arg


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    shared = provision(tmp_path_factory.mktemp("crypto-e2e-props"))
    for index in (OWNER, *PARTIES, OUTSIDER):
        shared.register_key(index)
    yield shared
    shared.stack.stop()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=1, max_size=7))
def test_decryptable_set_equals_permitted_set_at_write_time(shared: SharedTwin, ops: list[tuple]) -> None:
    w3 = shared.chain().w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        store = shared.stack.store()
        feed = shared.feeds[SENSOR]
        sealer = BatchSealer(shared.chain(AGENT), store, shared.twin)  # a fresh agent: fresh nonces and caches
        model = Model()
        written: list[tuple[int, bytes, frozenset[int]]] = []
        for seq, op in enumerate([("noop", None, None), *ops]):
            apply(shared, model, op)
            written.append((seq, sealer.seal(feed, seq, f"batch {seq}".encode()), model.permitted()))
        subject = Subject.feed(feed)
        for seq, payload, permitted in written:
            able = {p for p in (OWNER, *PARTIES, OUTSIDER) if can_open(shared, store, payload, subject, seq, p)}
            assert able == permitted, f"batch {seq} after {ops[:seq]}: decryptable by {able}, permitted {permitted}"
        store.close()
    finally:
        assert w3.provider.make_request("evm_revert", [snapshot])["result"]
