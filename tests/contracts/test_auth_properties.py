"""Property test: random sequences of grant / revoke / setPermissions / setScope / clearScope,
interleaved with attempts to act (a permissioned write on the registry), never let an account do
more than the permission matrix and its scope allow. The contracts are compared with a small
Python model after every step: same success or failure (with the exact error), same answers."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_constants import *  # noqa: F403

COMPONENTS = [h("p-c1"), h("p-c2"), h("p-c3")]
TARGETS = [ZERO32, *COMPONENTS]
DELEGATE = role_id("PROP_DELEGATE")  # custom role whose default is ROLE_ADMIN + DOC_CREATE
ROLES = [OWNER, MANUFACTURER, MAINTAINER, AUDITOR, DEVICE_AGENT, DELEGATE]
MASK_BITS = [TWIN_UPDATE, SPEC_UPDATE, DOC_CREATE, DOC_READ, ROLE_ADMIN, SENSOR_READ]
N_ACTORS = 5  # owner + 4 others


class Model:
    def __init__(self, owner):
        self.roles = {owner: {OWNER}}
        self.matrix = {}
        self.scope = {}

    def perms(self, account):
        roles = self.roles.get(account, set())
        if OWNER in roles:
            return ALL_PERMISSIONS
        out = 0
        for r in roles:
            out |= self.matrix.get(r, DEFAULTS.get(r, ROLE_ADMIN | DOC_CREATE))
        return out

    def can(self, account, mask, component):
        if not self.roles.get(account):
            return False
        scope = self.scope.get(account)
        if scope is not None and (component == ZERO32 or component not in scope):
            return False
        return self.perms(account) & mask == mask

    def owners(self):
        return [a for a, r in self.roles.items() if OWNER in r]


ops = st.one_of(
    st.tuples(st.just("grant"), st.integers(0, N_ACTORS - 1), st.sampled_from(ROLES), st.integers(0, N_ACTORS - 1)),
    st.tuples(st.just("revoke"), st.integers(0, N_ACTORS - 1), st.sampled_from(ROLES), st.integers(0, N_ACTORS - 1)),
    st.tuples(st.just("perms"), st.integers(0, N_ACTORS - 1), st.sampled_from(ROLES),
              st.lists(st.sampled_from(MASK_BITS), max_size=4)),
    st.tuples(st.just("scope"), st.integers(0, N_ACTORS - 1), st.integers(0, N_ACTORS - 1),
              st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=3)),
    st.tuples(st.just("clear"), st.integers(0, N_ACTORS - 1), st.integers(0, N_ACTORS - 1)),
    st.tuples(st.just("act"), st.integers(0, N_ACTORS - 1), st.sampled_from(TARGETS)),
)


@pytest.fixture(scope="module")
def prop_env(auth, spec, deployer, owner, maintainer, auditor, device_agent, outsider):
    auth.defineRole(DELEGATE, ROLE_ADMIN | DOC_CREATE, sender=deployer)
    return [owner, maintainer, auditor, device_agent, outsider]


def expect(auth_or_spec, error, action, **inputs):
    if error is None:
        return action()
    with reverts(getattr(auth_or_spec, error), **inputs):
        action()


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(ops, min_size=1, max_size=10))
def test_random_admin_sequences_match_the_model(auth, spec, prop_env, steps):
    actors = prop_env
    owner = actors[0]
    twin = twin_of(spec.createTwin("prop", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=owner))
    spec.addComponents(twin, COMPONENTS, [ZERO32] * 3, ["a", "b", "c"], [ZERO32] * 3, sender=owner)
    model = Model(owner.address)

    for op in steps:
        kind = op[0]
        if kind == "grant":
            s, role, a = actors[op[1]], op[2], actors[op[3]]
            if not model.can(s.address, ROLE_ADMIN, ZERO32):
                err = "Unauthorized"
            elif role == OWNER:
                err = "OwnerRoleNotGrantable"
            elif role in model.roles.get(a.address, set()):
                err = "RoleAlreadyGranted"
            else:
                err = None
                model.roles.setdefault(a.address, set()).add(role)
            expect(auth, err, lambda: auth.grantTwinRole(twin, role, a, sender=s))
        elif kind == "revoke":
            s, role, a = actors[op[1]], op[2], actors[op[3]]
            if not model.can(s.address, ROLE_ADMIN, ZERO32):
                err = "Unauthorized"
            elif role == OWNER and OWNER not in model.roles.get(s.address, set()):
                err = "NotTwinOwner"
            elif role not in model.roles.get(a.address, set()):
                err = "RoleNotHeld"
            elif role == OWNER and len(model.owners()) <= 1:
                err = "LastOwner"
            else:
                err = None
                model.roles[a.address].discard(role)
            expect(auth, err, lambda: auth.revokeTwinRole(twin, role, a, sender=s))
        elif kind == "perms":
            s, role, mask = actors[op[1]], op[2], sum(set(op[3]))
            if OWNER not in model.roles.get(s.address, set()):
                err = "NotTwinOwner"
            elif role == OWNER:
                err = "ImmutableRole"
            else:
                err = None
                model.matrix[role] = mask
            expect(auth, err, lambda: auth.setPermissions(twin, role, mask, sender=s))
        elif kind == "scope":
            s, a, comps = actors[op[1]], actors[op[2]], op[3]
            if not model.can(s.address, ROLE_ADMIN, ZERO32):
                err = "Unauthorized"
            elif OWNER in model.roles.get(a.address, set()):
                err = "CannotScopeOwner"
            else:
                err = None
                model.scope[a.address] = set(comps)
            expect(auth, err, lambda: auth.setScope(twin, a, comps, sender=s))
        elif kind == "clear":
            s, a = actors[op[1]], actors[op[2]]
            if not model.can(s.address, ROLE_ADMIN, ZERO32):
                err = "Unauthorized"
            elif a.address not in model.scope:
                err = "NotScoped"
            else:
                err = None
                del model.scope[a.address]
            expect(auth, err, lambda: auth.clearScope(twin, a, sender=s))
        else:  # act: a permissioned write on the registry
            s, target = actors[op[1]], op[2]
            allowed = model.can(s.address, DOC_CREATE, target)
            expect(spec, None if allowed else "Unauthorized",
                   lambda: spec.addDocument(twin, target, "d", h("cid"), RAW, h("dig"), sender=s),
                   account=s, permissions=DOC_CREATE, component=target)

    # final state: every actor, every target, a few masks
    for a in actors:
        assert set(auth.rolesOf(twin, a)) == model.roles.get(a.address, set())
        assert auth.scopeOf(twin, a)[0] == (a.address in model.scope)
        for target in TARGETS:
            for mask in (DOC_CREATE | DOC_READ, ROLE_ADMIN):
                assert auth.can(twin, a, mask, target) == model.can(a.address, mask, target), (a, target, mask)
