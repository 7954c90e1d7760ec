"""Stateful fuzzing of the three contracts together: a hypothesis state machine sends random sequences of
their external functions from every party (owner, maintainer, device agent, auditor, outsider) to one twin
on the real contracts (EthTester), keeps a Python model of what the permission matrix and the scopes give
each party, and checks after every step that

- every call succeeded exactly when the model says the caller may make it (no account does anything the
  matrix and its scope do not give it), and failed with the contract's own custom error otherwise;
- the twin keeps at least one owner, and ownership moves only by offer and accept;
- every feed's seq is continuous and its head equals the Python head chain;
- a dismissed twin changes no more;
- no program call reaches Delivered or Done with parameters outside its program's current bounds;
- the key-envelope epochs of a (component, subject) stream only stay or grow by one.

About 300 steps (5 runs of 60) run in the default suite; `TWINLEDGER_FUZZ_STEPS=5000` runs more. A failure prints the
seed: rerun with `TWINLEDGER_FUZZ_SEED=<seed>` to replay it.
"""

from __future__ import annotations

import os
import random
from typing import Any

import ape
import pytest
from ape.exceptions import ContractLogicError
from eth_account import Account
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from contract_constants import *  # noqa: F403
from sensorfeed_support import DEVICE_KEY, FeedDriver

STEPS_PER_RUN = 60
TOTAL_STEPS = int(os.environ.get("TWINLEDGER_FUZZ_STEPS", "300"))
SEED = int(os.environ.get("TWINLEDGER_FUZZ_SEED", str(random.randrange(2**32))))

C_PUMP, C_SENSOR, C_OTHER = h("fz-pump"), h("fz-sensor"), h("fz-other")
COMPONENTS = (C_PUMP, C_SENSOR, C_OTHER)
PROGRAM, PARAM = h("fz-run"), h("speed")
GRANTABLE = (MAINTAINER, DEVICE_AGENT, AUDITOR)
PARTIES = ("owner", "maintainer", "device_agent", "auditor", "outsider")
SUBJECT = h("fz-subject")


class Model:
    """What the permission matrix and the scopes give each party on the twin (defaults only: no
    setPermissions here), with ownership, bounds and the expected head chain."""

    def __init__(self, owner: str) -> None:
        self.roles: dict[str, set[bytes]] = {owner: {OWNER}}
        self.scopes: dict[str, frozenset[bytes] | None] = {}
        self.offer: tuple[str, str, bool] | None = None  # (to, offerer, keep)
        self.dismissed = False
        self.active = set(COMPONENTS)
        self.bounds: tuple[int, int] | None = None  # program on C_PUMP
        self.revision = 0
        self.calls: dict[int, dict[str, Any]] = {}
        self.epochs: dict[bytes, int] = {}  # component -> current epoch of SUBJECT

    def owners(self) -> set[str]:
        return {a for a, r in self.roles.items() if OWNER in r}

    def can(self, account: str, permissions: int, component: bytes = ZERO32) -> bool:
        roles = self.roles.get(account, set())
        if not roles:
            return False
        scope = self.scopes.get(account)
        if scope is not None and (component == ZERO32 or component not in scope):
            return False
        if OWNER in roles:
            return True
        granted = 0
        for r in roles:
            granted |= DEFAULTS[r]
        return granted & permissions == permissions


def _fails(call: Any) -> str | None:
    """None if `call()` succeeded, else the reverted custom error's name."""
    try:
        call()
    except ContractLogicError as exc:
        return type(exc).__name__
    return None


@pytest.fixture
def parties(owner: Any, maintainer: Any, device_agent: Any, auditor: Any, outsider: Any) -> dict[str, Any]:
    return {"owner": owner, "maintainer": maintainer, "device_agent": device_agent, "auditor": auditor,
            "outsider": outsider}


def test_contracts_keep_their_invariants_under_random_use(auth: Any, spec: Any, sensor_feed: Any,
                                                          parties: dict[str, Any]) -> None:
    owner = parties["owner"]
    by_address = {a.address: name for name, a in parties.items()}
    chain_id = ape.chain.provider.chain_id

    class Contracts(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.snapshot = ape.chain.snapshot()
            self.twin = twin_of(spec.createTwin("fuzz", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=owner))
            for c in COMPONENTS:
                spec.addComponent(self.twin, c, ZERO32, "part", MACHINE_KIND, sender=owner)
            receipt = sensor_feed.registerFeed(self.twin, C_SENSOR, Account.from_key(DEVICE_KEY).address, ZERO32,
                                               sender=owner)
            self.feed = int(receipt.events.filter(sensor_feed.FeedRegistered)[0].feedId)
            self.driver = FeedDriver(sensor_feed, chain_id, Account.from_key(DEVICE_KEY))
            self.seq = 0
            self.m = Model("owner")
            self.touched: set[str] = set()  # parties whose roles or scope a step may have changed
            self.moved: set[int] = set()  # calls a step may have moved
            self.turn = 0

        def teardown(self) -> None:
            ape.chain.restore(self.snapshot)

        def _expect(self, allowed: bool, call: Any, what: str, *touched: str) -> bool:
            """Runs `call`; it must succeed iff `allowed` (and the twin is not dismissed)."""
            self.touched.update(touched)
            error = _fails(call)
            if allowed and not self.m.dismissed:
                assert error is None, f"{what}: refused with {error} though the model allows it"
                return True
            assert error is not None, f"{what}: went through though the model forbids it"
            return False

        # ------------------------------------------------------------------ roles, scopes, ownership

        @rule(actor=st.sampled_from(PARTIES), who=st.sampled_from(PARTIES[1:]), role=st.sampled_from(GRANTABLE))
        def grant(self, actor: str, who: str, role: bytes) -> None:
            ok = self.m.can(actor, ROLE_ADMIN) and role not in self.m.roles.get(who, set())
            if self._expect(ok, lambda: auth.grantTwinRole(self.twin, role, parties[who], sender=parties[actor]),
                            f"{actor} grants a role to {who}", who):
                self.m.roles.setdefault(who, set()).add(role)

        @rule(actor=st.sampled_from(PARTIES), who=st.sampled_from(PARTIES), role=st.sampled_from(GRANTABLE + (OWNER,)))
        def revoke(self, actor: str, who: str, role: bytes) -> None:
            held = role in self.m.roles.get(who, set())
            ok = self.m.can(actor, ROLE_ADMIN) and held
            if role == OWNER:
                ok = ok and OWNER in self.m.roles.get(actor, set()) and len(self.m.owners()) > 1
            if self._expect(ok, lambda: auth.revokeTwinRole(self.twin, role, parties[who], sender=parties[actor]),
                            f"{actor} revokes a role of {who}", who):
                self.m.roles[who].discard(role)

        @rule(actor=st.sampled_from(PARTIES), who=st.sampled_from(PARTIES),
              scope=st.sets(st.sampled_from(COMPONENTS), min_size=1))
        def set_scope(self, actor: str, who: str, scope: set[bytes]) -> None:
            ok = self.m.can(actor, ROLE_ADMIN) and OWNER not in self.m.roles.get(who, set())
            if self._expect(ok, lambda: auth.setScope(self.twin, parties[who], sorted(scope), sender=parties[actor]),
                            f"{actor} scopes {who}", who):
                self.m.scopes[who] = frozenset(scope)

        @rule(actor=st.sampled_from(PARTIES), who=st.sampled_from(PARTIES))
        def clear_scope(self, actor: str, who: str) -> None:
            ok = self.m.can(actor, ROLE_ADMIN) and self.m.scopes.get(who) is not None
            if self._expect(ok, lambda: auth.clearScope(self.twin, parties[who], sender=parties[actor]),
                            f"{actor} clears the scope of {who}", who):
                self.m.scopes[who] = None

        @rule(actor=st.sampled_from(PARTIES), to=st.sampled_from(PARTIES), keep=st.booleans())
        def offer(self, actor: str, to: str, keep: bool) -> None:
            owners = self.m.owners()
            ok = actor in owners and to not in owners
            fn = auth.offerCoOwnership if keep else auth.offerOwnership
            if self._expect(ok, lambda: fn(self.twin, parties[to], sender=parties[actor]), f"{actor} offers to {to}"):
                self.m.offer = (to, actor, keep)

        @rule(actor=st.sampled_from(PARTIES))
        def accept(self, actor: str) -> None:
            o = self.m.offer
            ok = o is not None and o[0] == actor and o[1] in self.m.owners() and actor not in self.m.owners()
            touched = (actor, o[1]) if o else (actor,)
            if self._expect(ok, lambda: auth.acceptOwnership(self.twin, sender=parties[actor]), f"{actor} accepts",
                            *touched):
                assert o is not None
                self.m.offer = None
                self.m.roles.setdefault(actor, set()).add(OWNER)
                self.m.scopes[actor] = None
                if not o[2]:
                    self.m.roles[o[1]].discard(OWNER)

        # ------------------------------------------------------------------ components and programs

        @rule(actor=st.sampled_from(PARTIES), high=st.integers(0, 1000))
        def set_program(self, actor: str, high: int) -> None:
            ok = self.m.can(actor, SPEC_UPDATE, C_PUMP) and C_PUMP in self.m.active
            if self._expect(ok, lambda: spec.setProgram(self.twin, C_PUMP, PROGRAM, [PARAM], [0], [high],
                                                        sender=parties[actor]), f"{actor} sets the program"):
                self.m.bounds = (0, high)
                self.m.revision += 1

        @rule(actor=st.sampled_from(PARTIES))
        def remove_program(self, actor: str) -> None:
            ok = self.m.can(actor, SPEC_UPDATE, C_PUMP) and self.m.bounds is not None
            if self._expect(ok, lambda: spec.removeProgram(self.twin, C_PUMP, PROGRAM, sender=parties[actor]),
                            f"{actor} removes the program"):
                self.m.bounds = None

        @rule(actor=st.sampled_from(PARTIES), component=st.sampled_from((C_PUMP, C_OTHER)))
        def remove_component(self, actor: str, component: bytes) -> None:
            ok = self.m.can(actor, SPEC_UPDATE, component) and component in self.m.active
            if self._expect(ok, lambda: spec.removeComponent(self.twin, component, sender=parties[actor]),
                            f"{actor} removes a component"):
                self.m.active.discard(component)

        @rule(actor=st.sampled_from(PARTIES), value=st.integers(-5, 1005))
        def call_program(self, actor: str, value: int) -> None:
            b = self.m.bounds
            ok = (self.m.can(actor, PROGRAM_CALL, C_PUMP) and C_PUMP in self.m.active and b is not None
                  and b[0] <= value <= b[1])
            before = spec.callCount()
            if self._expect(ok, lambda: spec.callProgram(self.twin, C_PUMP, PROGRAM, [value], sender=parties[actor]),
                            f"{actor} calls the program with {value}"):
                self.m.calls[before + 1] = {"value": value, "revision": self.m.revision, "caller": actor,
                                            "status": QUEUED}

        def _live(self, call: dict[str, Any]) -> bool:
            return self.m.bounds is not None and call["revision"] == self.m.revision and C_PUMP in self.m.active

        @precondition(lambda self: self.m.calls)
        @rule(actor=st.sampled_from(PARTIES), data=st.data(), complete=st.booleans())
        def move_call(self, actor: str, data: Any, complete: bool) -> None:
            call_id = data.draw(st.sampled_from(sorted(self.m.calls)))
            self.moved.add(call_id)
            call = self.m.calls[call_id]
            movable = {QUEUED, DELIVERED} if complete else {QUEUED}
            ok = self.m.can(actor, PROGRAM_EXECUTE, C_PUMP) and call["status"] in movable and self._live(call)
            fn = ((lambda: spec.completeCall(call_id, True, ZERO32, 0, sender=parties[actor])) if complete
                  else (lambda: spec.markDelivered(call_id, sender=parties[actor])))
            if self._expect(ok, fn, f"{actor} moves call {call_id}"):
                assert self.m.bounds is not None and self.m.bounds[0] <= call["value"] <= self.m.bounds[1]
                call["status"] = DONE if complete else DELIVERED

        @precondition(lambda self: self.m.calls)
        @rule(actor=st.sampled_from(PARTIES), data=st.data())
        def cancel_call(self, actor: str, data: Any) -> None:
            call_id = data.draw(st.sampled_from(sorted(self.m.calls)))
            self.moved.add(call_id)
            call = self.m.calls[call_id]
            allowed = (self.m.can(actor, PROGRAM_CALL, C_PUMP) if actor == call["caller"]
                       else self.m.can(actor, TWIN_DISMISS))
            ok = allowed and call["status"] in (QUEUED, DELIVERED)
            if self._expect(ok, lambda: spec.cancelCall(call_id, sender=parties[actor]), f"{actor} cancels {call_id}"):
                call["status"] = 5

        # ------------------------------------------------------------------ feeds and keys

        @rule(actor=st.sampled_from(PARTIES), signed=st.booleans())
        def anchor(self, actor: str, signed: bool) -> None:
            b = self.driver.batch(self.feed, self.seq)
            # the feed requires its device's signature (the default): unsigned anchors are always refused
            ok = signed and C_SENSOR in self.m.active
            sig = self.driver.sign(b) if signed else b""
            if self._expect(ok, lambda: sensor_feed.anchor(*b.fields(), sig, sender=parties[actor]),
                            f"{actor} anchors seq {self.seq}"):
                self.driver.expect(b)
                self.seq += 1

        @rule(actor=st.sampled_from(PARTIES), component=st.sampled_from((ZERO32,) + COMPONENTS),
              step=st.sampled_from((0, 1, 2, 2**64 - 1)))
        def publish_key(self, actor: str, component: bytes, step: int) -> None:
            current = self.m.epochs.get(component)
            epoch = min(step if current is None else current + step, 2**64 - 1)
            in_order = epoch == 0 if current is None else epoch in (current, current + 1)
            ok = self.m.can(actor, KEY_PUBLISH, component) and in_order
            if self._expect(ok, lambda: auth.publishKeyEnvelope(self.twin, component, SUBJECT, epoch, h(f"e{epoch}"),
                                                                sender=parties[actor]), f"{actor} publishes {epoch}"):
                self.m.epochs[component] = epoch

        # ------------------------------------------------------------------ lifecycle

        @rule(actor=st.sampled_from(PARTIES))
        def dismiss(self, actor: str) -> None:
            if self._expect(self.m.can(actor, TWIN_DISMISS),
                            lambda: spec.setPhase(self.twin, DISMISSED, sender=parties[actor]), f"{actor} dismisses"):
                self.m.dismissed = True
                self.m.offer = None

        # ------------------------------------------------------------------ invariants

        @invariant()
        def ownership_roles_and_scopes(self) -> None:
            """Owners every step; the roles of the parties a step touched, and one rotating (party, component,
            permission) answer of `can` against the model."""
            assert auth.ownerCount(self.twin) == len(self.m.owners()) >= 1
            for name in self.touched:
                assert set(auth.rolesOf(self.twin, parties[name])) == self.m.roles.get(name, set()), name
            self.touched.clear()
            self.turn += 1
            name = PARTIES[self.turn % len(PARTIES)]
            component = ((ZERO32,) + COMPONENTS)[self.turn // len(PARTIES) % 4]
            perm = (ROLE_ADMIN, SPEC_UPDATE, PROGRAM_EXECUTE, KEY_PUBLISH, TWIN_DISMISS)[self.turn % 5]
            assert auth.can(self.twin, parties[name], perm, component) == self.m.can(name, perm, component), \
                (name, component.hex(), perm)

        @invariant()
        def feed_head_chain(self) -> None:
            assert sensor_feed.nextSeqOf(self.feed) == self.seq
            assert bytes(sensor_feed.headOf(self.feed)) == self.driver.prev_head(self.feed)

        @invariant()
        def calls_epochs_and_freezing(self) -> None:
            for call_id in self.moved:
                assert spec.programCall(call_id)[4] == self.m.calls[call_id]["status"]
            self.moved.clear()
            component = ((ZERO32,) + COMPONENTS)[self.turn % 4]
            epoch = self.m.epochs.get(component)
            assert auth.keyEpochOf(self.twin, component, SUBJECT) == (epoch is not None, epoch or 0)
            assert auth.isFrozen(self.twin) == self.m.dismissed

    runs = max(1, TOTAL_STEPS // STEPS_PER_RUN)
    config = settings(max_examples=runs, stateful_step_count=STEPS_PER_RUN, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck), print_blob=True)
    try:
        run_state_machine_as_test(seed(SEED)(Contracts), settings=config)
    except BaseException:
        print(f"\nstateful fuzzing failed: replay with TWINLEDGER_FUZZ_SEED={SEED} "
              f"TWINLEDGER_FUZZ_STEPS={TOTAL_STEPS}")
        raise


MACHINE_KIND = h("Machine")
