"""Authorization: roles, permission matrix, scopes, ownership, freezing, keys."""

import pytest
from eth_keys import keys

from contract_constants import *  # noqa: F403


def pubkey_of(account) -> bytes:
    return keys.PrivateKey(bytes.fromhex(account.private_key[2:])).public_key.to_bytes()


# ---------------------------------------------------------------- deployment and role registry


def test_builtin_roles_and_wiring(auth, spec, deployer):
    assert auth.roleCount() == 6
    for bit, role in enumerate(BUILTIN_ROLES):
        assert auth.roleAt(bit) == role
        assert auth.roleBit(role) == bit
        assert auth.isRoleDefined(role)
        assert auth.defaultPermissions(role) == DEFAULTS[role]
    assert auth.OWNER() == OWNER and auth.DEVICE_AGENT() == DEVICE_AGENT
    assert auth.registry() == spec.address
    assert auth.hasRole(DEFAULT_ADMIN_ROLE, deployer)
    assert spec.auth() == auth.address


def test_define_role(auth, deployer, owner, outsider, twin):
    insurer = role_id("INSURER")
    tx = auth.defineRole(insurer, DOC_READ, sender=deployer)
    one_log(tx, "RoleDefined", role=insurer, bit=6, defaultPermissions=DOC_READ)
    assert auth.roleCount() == 7 and auth.roleAt(6) == insurer
    assert auth.defaultPermissions(insurer) == DOC_READ
    # usable on any twin at once, with its default permissions
    auth.grantTwinRole(twin, insurer, outsider, sender=owner)
    assert auth.can(twin, outsider, DOC_READ, ZERO32)
    assert not auth.can(twin, outsider, SENSOR_READ, ZERO32)
    assert auth.rolesOf(twin, outsider) == [insurer]


def test_define_role_refusals(auth, deployer, owner):
    with reverts(auth.AccessControlUnauthorizedAccount, account=owner, neededRole=DEFAULT_ADMIN_ROLE):
        auth.defineRole(role_id("X"), 0, sender=owner)
    with reverts(auth.RoleAlreadyDefined, role=MAINTAINER):
        auth.defineRole(MAINTAINER, 0, sender=deployer)
    with reverts(auth.InvalidRole):
        auth.defineRole(ZERO32, 0, sender=deployer)
    with reverts(auth.UnknownRole, role=role_id("NOPE")):
        auth.roleBit(role_id("NOPE"))


def test_role_registry_is_bounded(auth, deployer):
    assert auth.MAX_ROLES() == 192
    for i in range(6, 192):
        auth.defineRole(role_id(f"R{i}"), 0, sender=deployer)
    with reverts(auth.TooManyRoles, max=192):
        auth.defineRole(role_id("ONE_TOO_MANY"), 0, sender=deployer)


# ---------------------------------------------------------------- registry hooks


def test_create_twin_initializes_owner(auth, spec, owner):
    tx = spec.createTwin("Line 1", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=owner)
    t = twin_of(tx)
    one_log(tx, "TwinInitialized", _contract=auth, twin=t, owner=owner)
    one_log(tx, "TwinRoleGranted", _contract=auth, twin=t, role=OWNER, account=owner, sender=spec)
    assert auth.isInitialized(t) and auth.ownerCount(t) == 1
    assert auth.rolesOf(t, owner) == [OWNER]
    assert auth.effectivePermissions(t, owner) == ALL_PERMISSIONS


def test_registry_hooks_only_for_registry(project, auth, deployer, twin, outsider):
    with reverts(auth.NotRegistry, account=outsider):
        auth.initializeTwin(twin, outsider, sender=outsider)
    with reverts(auth.NotRegistry, account=outsider):
        auth.freezeTwin(twin, sender=outsider)
    with reverts(auth.RegistryAlreadyBound, registry=auth.registry()):
        auth.bindRegistry(deployer, sender=deployer)
    # a second Authorization bound to `deployer` as its registry: even a registry initializes an id only once
    other = deployer.deploy(project.Authorization, deployer)
    with reverts(other.NotRegistry, account=deployer):
        other.initializeTwin(1, outsider, sender=deployer)  # nothing bound yet
    with reverts(other.ZeroAddress):
        other.bindRegistry(ZERO_ADDRESS, sender=deployer)
    with reverts(other.AccessControlUnauthorizedAccount, account=outsider):
        other.bindRegistry(outsider, sender=outsider)
    one_log(other.bindRegistry(deployer, sender=deployer), "RegistryBound", registry=deployer)
    other.initializeTwin(twin, outsider, sender=deployer)
    with reverts(other.TwinAlreadyInitialized, twin=twin):
        other.initializeTwin(twin, outsider, sender=deployer)
    with reverts(other.ZeroAddress):
        other.initializeTwin(twin + 100, ZERO_ADDRESS, sender=deployer)
    with reverts(other.TwinNotInitialized, twin=twin + 100):
        other.freezeTwin(twin + 100, sender=deployer)
    tx = other.freezeTwin(twin, sender=deployer)
    one_log(tx, "Frozen", twin=twin)
    with reverts(other.TwinFrozen, twin=twin):
        other.freezeTwin(twin, sender=deployer)


ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


# ---------------------------------------------------------------- grant / revoke / renounce


def test_grant_role(auth, twin, owner, maintainer):
    tx = auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    one_log(tx, "TwinRoleGranted", twin=twin, role=MAINTAINER, account=maintainer, sender=owner)
    assert auth.hasTwinRole(twin, MAINTAINER, maintainer)
    assert not auth.hasTwinRole(twin, MAINTAINER, owner)
    assert not auth.hasTwinRole(twin, role_id("UNDEFINED"), maintainer)
    # several roles on one twin
    auth.grantTwinRole(twin, AUDITOR, maintainer, sender=owner)
    assert auth.rolesOf(twin, maintainer) == [MAINTAINER, AUDITOR]
    assert auth.roleBitmap(twin, maintainer) == (1 << 2) | (1 << 4)
    assert auth.effectivePermissions(twin, maintainer) == MAINTAINER_DEFAULT | READ_DEFAULT
    # roles are per twin
    assert not auth.hasTwinRole(twin + 1, MAINTAINER, maintainer)


def test_grant_role_refusals(auth, twin, owner, maintainer, outsider):
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    with reverts(auth.RoleAlreadyGranted, twin=twin, role=MAINTAINER, account=maintainer):
        auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    with reverts(auth.OwnerRoleNotGrantable, twin=twin):
        auth.grantTwinRole(twin, OWNER, maintainer, sender=owner)
    with reverts(auth.UnknownRole, role=role_id("NOPE")):
        auth.grantTwinRole(twin, role_id("NOPE"), maintainer, sender=owner)
    with reverts(auth.ZeroAddress):
        auth.grantTwinRole(twin, AUDITOR, ZERO_ADDRESS, sender=owner)
    # a maintainer has no ROLE_ADMIN by default
    with reverts(auth.Unauthorized, twin=twin, account=maintainer, permissions=ROLE_ADMIN, component=ZERO32):
        auth.grantTwinRole(twin, AUDITOR, outsider, sender=maintainer)
    with reverts(auth.TwinNotInitialized, twin=twin + 50):
        auth.grantTwinRole(twin + 50, AUDITOR, outsider, sender=owner)


def test_delegated_role_admin(auth, twin, owner, maintainer, auditor):
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    auth.setPermissions(twin, MAINTAINER, MAINTAINER_DEFAULT | ROLE_ADMIN, sender=owner)
    tx = auth.grantTwinRole(twin, AUDITOR, auditor, sender=maintainer)
    one_log(tx, "TwinRoleGranted", sender=maintainer)
    auth.revokeTwinRole(twin, AUDITOR, auditor, sender=maintainer)
    # ROLE_ADMIN does not reach OWNER: only OWNERs revoke OWNERs, nobody grants it directly
    with reverts(auth.NotTwinOwner, twin=twin, account=maintainer):
        auth.revokeTwinRole(twin, OWNER, owner, sender=maintainer)
    with reverts(auth.OwnerRoleNotGrantable):
        auth.grantTwinRole(twin, OWNER, maintainer, sender=maintainer)


def test_revoke_role(auth, twin, owner, maintainer):
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    tx = auth.revokeTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    one_log(tx, "TwinRoleRevoked", twin=twin, role=MAINTAINER, account=maintainer, sender=owner)
    assert not auth.hasTwinRole(twin, MAINTAINER, maintainer)
    assert not auth.can(twin, maintainer, 0, ZERO32)
    with reverts(auth.RoleNotHeld, twin=twin, role=MAINTAINER, account=maintainer):
        auth.revokeTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    with reverts(auth.Unauthorized):
        auth.revokeTwinRole(twin, OWNER, owner, sender=maintainer)


def test_last_owner_cannot_be_removed(auth, twin, owner, maintainer):
    with reverts(auth.LastOwner, twin=twin):
        auth.revokeTwinRole(twin, OWNER, owner, sender=owner)
    with reverts(auth.LastOwner, twin=twin):
        auth.renounceTwinRole(twin, OWNER, owner, sender=owner)
    # with a second owner, one of them may go
    auth.offerCoOwnership(twin, maintainer, sender=owner)
    auth.acceptOwnership(twin, sender=maintainer)
    assert auth.ownerCount(twin) == 2
    tx = auth.revokeTwinRole(twin, OWNER, owner, sender=maintainer)
    one_log(tx, "TwinRoleRevoked", twin=twin, role=OWNER, account=owner, sender=maintainer)
    assert auth.ownerCount(twin) == 1
    with reverts(auth.LastOwner, twin=twin):
        auth.renounceTwinRole(twin, OWNER, maintainer, sender=maintainer)


def test_renounce_role(auth, twin, owner, maintainer):
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    with reverts(auth.RenounceOnlySelf, account=maintainer, sender=owner):
        auth.renounceTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    tx = auth.renounceTwinRole(twin, MAINTAINER, maintainer, sender=maintainer)
    one_log(tx, "TwinRoleRevoked", twin=twin, role=MAINTAINER, account=maintainer, sender=maintainer)
    with reverts(auth.RoleNotHeld):
        auth.renounceTwinRole(twin, MAINTAINER, maintainer, sender=maintainer)


# ---------------------------------------------------------------- EtherTwin's takeover bug


def test_outsider_cannot_take_over_a_twin(auth, spec, twin, owner, maintainer, outsider):
    """EtherTwin's `initializeDevice` let anyone become OWNER of an existing twin. Every path an
    outsider (or a plain member) could try must revert with its exact error."""
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    for attacker in (outsider, maintainer):
        with reverts(auth.NotRegistry, account=attacker):
            auth.initializeTwin(twin, attacker, sender=attacker)
        with reverts(auth.Unauthorized, twin=twin, account=attacker, permissions=ROLE_ADMIN):
            auth.grantTwinRole(twin, AUDITOR, attacker, sender=attacker)
        with reverts(auth.Unauthorized, twin=twin, account=attacker, permissions=ROLE_ADMIN):
            auth.grantTwinRole(twin, OWNER, attacker, sender=attacker)
        with reverts(auth.NoOwnershipOffer, twin=twin, account=attacker):
            auth.acceptOwnership(twin, sender=attacker)
        with reverts(auth.NotTwinOwner, twin=twin, account=attacker):
            auth.offerOwnership(twin, attacker, sender=attacker)
        with reverts(auth.NotTwinOwner, twin=twin, account=attacker):
            auth.offerCoOwnership(twin, attacker, sender=attacker)
        with reverts(auth.NotTwinOwner, twin=twin, account=attacker):
            auth.setPermissions(twin, MAINTAINER, ALL_PERMISSIONS >> 1, sender=attacker)
        with reverts(auth.Unauthorized, twin=twin, account=attacker, permissions=ROLE_ADMIN):
            auth.revokeTwinRole(twin, OWNER, owner, sender=attacker)
        with reverts(auth.Unauthorized, twin=twin, account=attacker, permissions=ROLE_ADMIN):
            auth.setScope(twin, owner, [h("x")], sender=attacker)
        with reverts(auth.RenounceOnlySelf):
            auth.renounceTwinRole(twin, OWNER, owner, sender=attacker)
        with reverts(auth.AccessControlUnauthorizedAccount):
            auth.bindRegistry(attacker, sender=attacker)
        with reverts(spec.Unauthorized, twin=twin, account=attacker, permissions=TWIN_DISMISS):
            spec.setPhase(twin, DISMISSED, sender=attacker)
    # an offer made to someone else cannot be taken either
    auth.offerOwnership(twin, maintainer, sender=owner)
    with reverts(auth.NoOwnershipOffer, twin=twin, account=outsider):
        auth.acceptOwnership(twin, sender=outsider)
    # creating another twin gives nothing on this one
    spec.createTwin("mine", DEVICE_ID, SPEC_CID, RAW, SPEC_DIGEST, sender=outsider)
    assert auth.rolesOf(twin, outsider) == []
    assert not auth.hasTwinRole(twin, OWNER, outsider)
    assert auth.rolesOf(twin, owner) == [OWNER] and auth.ownerCount(twin) == 1


# ---------------------------------------------------------------- ownership offers


def test_ownership_transfer(auth, twin, owner, maintainer):
    tx = auth.offerOwnership(twin, maintainer, sender=owner)
    one_log(tx, "OwnershipOffered", twin=twin, offerer=owner, to=maintainer, keep=False)
    assert auth.pendingOwnershipOffer(twin) == (maintainer.address, owner.address, False)
    tx = auth.acceptOwnership(twin, sender=maintainer)
    one_log(tx, "OwnershipAccepted", twin=twin, offerer=owner, to=maintainer, keep=False)
    one_log(tx, "TwinRoleGranted", twin=twin, role=OWNER, account=maintainer, sender=owner)
    one_log(tx, "TwinRoleRevoked", twin=twin, role=OWNER, account=owner, sender=owner)
    assert auth.hasTwinRole(twin, OWNER, maintainer) and not auth.hasTwinRole(twin, OWNER, owner)
    assert auth.ownerCount(twin) == 1
    assert auth.pendingOwnershipOffer(twin)[0] == ZERO_ADDRESS
    with reverts(auth.NoOwnershipOffer):
        auth.acceptOwnership(twin, sender=maintainer)


def test_co_ownership_keeps_offerer(auth, twin, owner, maintainer):
    tx = auth.offerCoOwnership(twin, maintainer, sender=owner)
    one_log(tx, "OwnershipOffered", keep=True)
    tx = auth.acceptOwnership(twin, sender=maintainer)
    assert logs(tx, "TwinRoleRevoked") == []
    assert auth.hasTwinRole(twin, OWNER, owner) and auth.hasTwinRole(twin, OWNER, maintainer)
    assert auth.ownerCount(twin) == 2


def test_ownership_offer_edge_cases(auth, twin, owner, maintainer, auditor):
    with reverts(auth.ZeroAddress):
        auth.offerOwnership(twin, ZERO_ADDRESS, sender=owner)
    with reverts(auth.RoleAlreadyGranted, twin=twin, role=OWNER, account=owner):
        auth.offerOwnership(twin, owner, sender=owner)
    with reverts(auth.NoOwnershipOffer, twin=twin, account=ZERO_ADDRESS):
        auth.cancelOwnershipOffer(twin, sender=owner)
    auth.offerOwnership(twin, maintainer, sender=owner)
    with reverts(auth.NotTwinOwner):
        auth.cancelOwnershipOffer(twin, sender=maintainer)
    tx = auth.cancelOwnershipOffer(twin, sender=owner)
    one_log(tx, "OwnershipOfferCancelled", twin=twin, to=maintainer, sender=owner)
    with reverts(auth.NoOwnershipOffer):
        auth.acceptOwnership(twin, sender=maintainer)
    # a newer offer replaces the older one
    auth.offerOwnership(twin, maintainer, sender=owner)
    auth.offerOwnership(twin, auditor, sender=owner)
    with reverts(auth.NoOwnershipOffer):
        auth.acceptOwnership(twin, sender=maintainer)
    # an offer dies with its offerer's ownership
    auth.offerCoOwnership(twin, maintainer, sender=owner)
    auth.acceptOwnership(twin, sender=maintainer)
    auth.offerOwnership(twin, auditor, sender=owner)
    auth.revokeTwinRole(twin, OWNER, owner, sender=maintainer)
    with reverts(auth.NoOwnershipOffer, twin=twin, account=auditor):
        auth.acceptOwnership(twin, sender=auditor)


def test_accepting_ownership_lifts_scope(auth, twin, owner, maintainer):
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    auth.setScope(twin, maintainer, [h("c1")], sender=owner)
    auth.offerOwnership(twin, maintainer, sender=owner)
    tx = auth.acceptOwnership(twin, sender=maintainer)
    one_log(tx, "ScopeCleared", twin=twin, account=maintainer, epoch=1)
    assert auth.scopeOf(twin, maintainer) == (False, 1)
    assert auth.can(twin, maintainer, ALL_PERMISSIONS, ZERO32)


# ---------------------------------------------------------------- permission matrix


@pytest.mark.parametrize("role", BUILTIN_ROLES)
def test_default_matrix(auth, accounts, twin, owner, role):
    account = owner if role == OWNER else accounts[8]
    if role != OWNER:
        auth.grantTwinRole(twin, role, account, sender=owner)
    assert auth.permissionsOf(twin, role) == DEFAULTS[role]
    for bit in ALL_BITS:
        assert auth.can(twin, account, bit, ZERO32) == bool(DEFAULTS[role] & bit), (role, bit)
    assert auth.can(twin, account, DEFAULTS[role] & ((1 << 14) - 1), ZERO32)


def test_set_and_reset_permissions(auth, twin, owner, auditor):
    auth.grantTwinRole(twin, AUDITOR, auditor, sender=owner)
    assert not auth.can(twin, auditor, DOC_CREATE, ZERO32)
    tx = auth.setPermissions(twin, AUDITOR, DOC_READ | DOC_CREATE, sender=owner)
    one_log(tx, "PermissionsSet", twin=twin, role=AUDITOR, permissions=DOC_READ | DOC_CREATE, sender=owner)
    assert auth.permissionsOf(twin, AUDITOR) == DOC_READ | DOC_CREATE
    assert auth.can(twin, auditor, DOC_READ | DOC_CREATE, ZERO32)
    assert not auth.can(twin, auditor, SENSOR_READ, ZERO32)
    # per twin only
    assert auth.permissionsOf(twin + 1, AUDITOR) == READ_DEFAULT
    # an explicit zero is not "unset"
    auth.setPermissions(twin, AUDITOR, 0, sender=owner)
    assert auth.permissionsOf(twin, AUDITOR) == 0
    assert not auth.can(twin, auditor, DOC_READ, ZERO32)
    assert auth.can(twin, auditor, 0, ZERO32)  # mask 0 = "holds any role"
    tx = auth.resetPermissions(twin, AUDITOR, sender=owner)
    one_log(tx, "PermissionsReset", twin=twin, role=AUDITOR, sender=owner)
    assert auth.permissionsOf(twin, AUDITOR) == READ_DEFAULT
    with reverts(auth.ImmutableRole, role=OWNER):
        auth.setPermissions(twin, OWNER, 0, sender=owner)
    with reverts(auth.ImmutableRole, role=OWNER):
        auth.resetPermissions(twin, OWNER, sender=owner)
    with reverts(auth.NotTwinOwner, twin=twin, account=auditor):
        auth.resetPermissions(twin, AUDITOR, sender=auditor)
    with reverts(auth.UnknownRole):
        auth.setPermissions(twin, role_id("NOPE"), 0, sender=owner)


def test_no_role_means_nothing(auth, twin, outsider):
    assert not auth.can(twin, outsider, 0, ZERO32)
    assert not auth.can(twin, outsider, DOC_READ, ZERO32)
    assert not auth.canRead(twin, outsider, ZERO32)
    assert auth.effectivePermissions(twin, outsider) == 0


# ---------------------------------------------------------------- scopes

C1, C2, C3 = h("c1"), h("c2"), h("c3")


def test_scope_limits_to_components(auth, twin, owner, maintainer):
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    tx = auth.setScope(twin, maintainer, [C1, C2], sender=owner)
    one_log(tx, "ScopeSet", twin=twin, account=maintainer, epoch=1, components=[C1, C2], sender=owner)
    assert auth.scopeOf(twin, maintainer) == (True, 1)
    assert auth.can(twin, maintainer, DOC_CREATE, C1)
    assert auth.can(twin, maintainer, DOC_CREATE, C2)
    assert not auth.can(twin, maintainer, DOC_CREATE, C3)
    # scoped accounts never pass twin-level checks, not even reads
    assert not auth.can(twin, maintainer, DOC_READ, ZERO32)
    assert not auth.canRead(twin, maintainer, ZERO32)
    assert auth.canRead(twin, maintainer, C1) and not auth.canRead(twin, maintainer, C3)
    assert auth.inScope(twin, maintainer, C1) and not auth.inScope(twin, maintainer, ZERO32)
    # the scope never adds permissions
    assert not auth.can(twin, maintainer, TWIN_UPDATE, C1)


def test_scope_epochs_never_revive_old_entries(auth, twin, owner, maintainer):
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    auth.setScope(twin, maintainer, [C1, C2], sender=owner)
    tx = auth.setScope(twin, maintainer, [C3], sender=owner)
    one_log(tx, "ScopeSet", epoch=2, components=[C3])
    assert not auth.can(twin, maintainer, DOC_CREATE, C1)
    assert auth.can(twin, maintainer, DOC_CREATE, C3)
    tx = auth.clearScope(twin, maintainer, sender=owner)
    one_log(tx, "ScopeCleared", twin=twin, account=maintainer, epoch=2, sender=owner)
    assert auth.scopeOf(twin, maintainer) == (False, 2)
    assert auth.can(twin, maintainer, DOC_CREATE, ZERO32)
    assert auth.can(twin, maintainer, DOC_CREATE, C1)
    auth.setScope(twin, maintainer, [C2], sender=owner)
    assert auth.scopeOf(twin, maintainer) == (True, 3)
    assert not auth.can(twin, maintainer, DOC_CREATE, C1)  # epoch 1 entry stays dead
    assert not auth.can(twin, maintainer, DOC_CREATE, C3)  # epoch 2 entry stays dead
    assert auth.can(twin, maintainer, DOC_CREATE, C2)


def test_scope_refusals(auth, twin, owner, maintainer, auditor):
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    with reverts(auth.EmptyScope):
        auth.setScope(twin, maintainer, [], sender=owner)
    with reverts(auth.ScopeTooLarge, length=65, max=64):
        auth.setScope(twin, maintainer, [h(str(i)) for i in range(65)], sender=owner)
    with reverts(auth.InvalidComponent):
        auth.setScope(twin, maintainer, [C1, ZERO32], sender=owner)
    with reverts(auth.CannotScopeOwner, twin=twin, account=owner):
        auth.setScope(twin, owner, [C1], sender=owner)
    with reverts(auth.ZeroAddress):
        auth.setScope(twin, ZERO_ADDRESS, [C1], sender=owner)
    with reverts(auth.NotScoped, twin=twin, account=maintainer):
        auth.clearScope(twin, maintainer, sender=owner)
    with reverts(auth.Unauthorized, account=maintainer, permissions=ROLE_ADMIN):
        auth.setScope(twin, auditor, [C1], sender=maintainer)
    auth.setScope(twin, auditor, [C1], sender=owner)
    with reverts(auth.Unauthorized, account=maintainer, permissions=ROLE_ADMIN):
        auth.clearScope(twin, auditor, sender=maintainer)


def test_scoped_role_admin_cannot_administer(auth, twin, owner, maintainer, auditor):
    auth.setPermissions(twin, MAINTAINER, ROLE_ADMIN, sender=owner)
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    auth.setScope(twin, maintainer, [C1], sender=owner)
    with reverts(auth.Unauthorized, account=maintainer, permissions=ROLE_ADMIN, component=ZERO32):
        auth.grantTwinRole(twin, AUDITOR, auditor, sender=maintainer)


# ---------------------------------------------------------------- frozen twins


def test_frozen_twin_is_read_only(auth, spec, twin, owner, maintainer, auditor):
    auth.grantTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    auth.grantTwinRole(twin, AUDITOR, auditor, sender=owner)
    auth.setScope(twin, auditor, [C1], sender=owner)
    auth.offerCoOwnership(twin, maintainer, sender=owner)
    tx = spec.setPhase(twin, DISMISSED, sender=owner)
    one_log(tx, "Frozen", _contract=auth, twin=twin)
    assert auth.isFrozen(twin)
    assert auth.check(twin, auditor, DOC_READ, C1) == (True, True)
    frozen = lambda: reverts(auth.TwinFrozen, twin=twin)  # noqa: E731
    with frozen():
        auth.grantTwinRole(twin, DISTRIBUTOR, auditor, sender=owner)
    with frozen():
        auth.revokeTwinRole(twin, MAINTAINER, maintainer, sender=owner)
    with frozen():
        auth.renounceTwinRole(twin, MAINTAINER, maintainer, sender=maintainer)
    with frozen():
        auth.setPermissions(twin, AUDITOR, 0, sender=owner)
    with frozen():
        auth.resetPermissions(twin, AUDITOR, sender=owner)
    with frozen():
        auth.setScope(twin, maintainer, [C1], sender=owner)
    with frozen():
        auth.clearScope(twin, auditor, sender=owner)
    with frozen():
        auth.offerOwnership(twin, auditor, sender=owner)
    with frozen():
        auth.acceptOwnership(twin, sender=maintainer)
    with frozen():
        auth.cancelOwnershipOffer(twin, sender=owner)
    with frozen():
        auth.publishKeyEnvelope(twin, ZERO32, h("doc 1"), 1, h("env"), sender=maintainer)
    # reads keep working
    assert auth.canRead(twin, auditor, C1)
    assert auth.rolesOf(twin, maintainer) == [MAINTAINER]


# ---------------------------------------------------------------- keys


def test_register_key(auth, maintainer, outsider):
    pub = pubkey_of(maintainer)
    assert auth.publicKeyOf(maintainer) == b""
    tx = auth.registerKey(pub, sender=maintainer)
    one_log(tx, "KeyRegistered", account=maintainer, publicKey=pub)
    assert auth.publicKeyOf(maintainer) == pub
    with reverts(auth.PublicKeyMismatch, derived=maintainer, sender=outsider):
        auth.registerKey(pub, sender=outsider)
    with reverts(auth.InvalidPublicKeyLength, length=65):
        auth.registerKey(b"\x04" + pub, sender=maintainer)
    with reverts(auth.InvalidPublicKeyLength, length=33):
        auth.registerKey(pub[:33], sender=maintainer)


def test_publish_key_envelope(auth, staffed_twin, owner, maintainer, auditor, device_agent):
    twin = staffed_twin
    subject = h("feed 3")
    tx = auth.publishKeyEnvelope(twin, ZERO32, subject, 0, h("envelope"), sender=maintainer)
    one_log(tx, "KeyEnvelopePublished", twin=twin, component=ZERO32, subject=subject, epoch=0,
            envelopeCid=h("envelope"), publisher=maintainer)
    # epochs are kept per (twin, component, subject): they start at 0 and grow by one (test_review_findings M-3)
    tx = auth.publishKeyEnvelope(twin, C1, subject, 0, h("late"), sender=maintainer)
    one_log(tx, "KeyEnvelopePublished", twin=twin, component=C1, subject=subject, epoch=0,
            envelopeCid=h("late"), publisher=maintainer)
    with reverts(auth.Unauthorized, twin=twin, account=auditor, permissions=KEY_PUBLISH, component=ZERO32):
        auth.publishKeyEnvelope(twin, ZERO32, subject, 1, h("envelope"), sender=auditor)
    # a scoped device agent publishes for its own components only; the check is on the component,
    # whatever the subject
    auth.setScope(twin, device_agent, [C1], sender=owner)
    tx = auth.publishKeyEnvelope(twin, C1, h("feed 4"), 0, h("e1"), sender=device_agent)
    one_log(tx, "KeyEnvelopePublished", twin=twin, component=C1, subject=h("feed 4"), epoch=0, envelopeCid=h("e1"),
            publisher=device_agent)
    with reverts(auth.Unauthorized, twin=twin, account=device_agent, permissions=KEY_PUBLISH, component=C2):
        auth.publishKeyEnvelope(twin, C2, h("feed 4"), 1, h("e2"), sender=device_agent)
    with reverts(auth.Unauthorized, twin=twin, account=device_agent, permissions=KEY_PUBLISH, component=ZERO32):
        auth.publishKeyEnvelope(twin, ZERO32, h("feed 4"), 1, h("e0"), sender=device_agent)
    # an unknown twin is refused before the permission check
    with reverts(auth.TwinNotInitialized, twin=twin + 1000):
        auth.publishKeyEnvelope(twin + 1000, ZERO32, subject, 1, h("e"), sender=maintainer)
