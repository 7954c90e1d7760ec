// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Permission bits of the TwinLedger permission matrix.
/// @notice A role's permissions on a twin are a bitmask of these flags. `can` takes a mask and
///         answers true only if every bit in it is granted.
library Permissions {
    uint256 internal constant TWIN_UPDATE = 1 << 0; // phase, parent/child, twin metadata
    uint256 internal constant SPEC_UPDATE = 1 << 1; // spec versions, components, programs
    uint256 internal constant DOC_CREATE = 1 << 2;
    uint256 internal constant DOC_UPDATE = 1 << 3; // new versions, archive
    uint256 internal constant DOC_READ = 1 << 4;
    uint256 internal constant SENSOR_CREATE = 1 << 5; // register feeds
    uint256 internal constant SENSOR_UPDATE = 1 << 6; // retire feeds, rotate device keys, pause feeds
    uint256 internal constant SENSOR_READ = 1 << 7;
    uint256 internal constant ANCHOR = 1 << 8; // anchor batches without a device signature
    uint256 internal constant PROGRAM_CALL = 1 << 9;
    uint256 internal constant ROLE_ADMIN = 1 << 10; // grant/revoke roles, set scopes
    uint256 internal constant SOURCE_MANAGE = 1 << 11; // external sources
    uint256 internal constant PROGRAM_EXECUTE = 1 << 12; // move a program call's status (device agent)
    uint256 internal constant KEY_PUBLISH = 1 << 13; // publish key envelopes for encrypted data
    uint256 internal constant TWIN_DISMISS = 1 << 14; // dismiss the twin (irreversible); only OWNERs by default
}

/// @title TwinLedger access control: roles, permissions and component scopes per twin.
/// @notice The other TwinLedger contracts ask `can`, `isFrozen` (and `ITwinAccess.check`); the twin registry
///         calls `initializeTwin` and `freezeTwin`. Every error and event of `Authorization` is declared here,
///         once; its model is described on the contract.
interface IAuthorization {
    // ---------------------------------------------------------------- events

    /// @notice `registry` became the twin registry, for good.
    event RegistryBound(address indexed registry);
    /// @notice `role` was appended to the global registry with bit `bit`.
    event RoleDefined(bytes32 indexed role, uint256 bit, uint256 defaultPermissions);
    /// @notice The registry made `owner` the first OWNER of `twin`.
    event TwinInitialized(uint256 indexed twin, address indexed owner);
    /// @notice `twin` was dismissed and is read-only from now on.
    event Frozen(uint256 indexed twin);
    /// @notice `account` received `role` on `twin` from `sender`.
    event TwinRoleGranted(uint256 indexed twin, bytes32 indexed role, address indexed account, address sender);
    /// @notice `account` lost `role` on `twin` (`sender` revoked it, or `sender == account` renounced).
    event TwinRoleRevoked(uint256 indexed twin, bytes32 indexed role, address indexed account, address sender);
    /// @notice OWNERs of `twin` set the permissions of `role` to `permissions`.
    event PermissionsSet(uint256 indexed twin, bytes32 indexed role, uint256 permissions, address sender);
    /// @notice `role` on `twin` falls back to the global default again.
    event PermissionsReset(uint256 indexed twin, bytes32 indexed role, address sender);
    /// @notice `account` is limited to `components` on `twin` (scope epoch `epoch`).
    event ScopeSet(uint256 indexed twin, address indexed account, uint32 epoch, bytes32[] components, address sender);
    /// @notice `account` is no longer limited to a component scope on `twin`.
    event ScopeCleared(uint256 indexed twin, address indexed account, uint32 epoch, address sender);
    /// @notice `offerer` offered OWNER of `twin` to `to`; `keep`: the offerer stays OWNER on accept.
    event OwnershipOffered(uint256 indexed twin, address indexed offerer, address indexed to, bool keep);
    /// @notice `to` accepted the ownership offer made by `offerer`.
    event OwnershipAccepted(uint256 indexed twin, address indexed offerer, address indexed to, bool keep);
    /// @notice The pending ownership offer of `twin` was cancelled by `sender`.
    event OwnershipOfferCancelled(uint256 indexed twin, address indexed to, address sender);
    /// @notice `account` registered its secp256k1 public key.
    event KeyRegistered(address indexed account, bytes publicKey);
    /// @notice `publisher` published the key envelope `envelopeCid` (sha2-256 digest of a raw CIDv1)
    ///         for `subject` of `twin`, a feed or document of `component`, at key epoch `epoch`.
    event KeyEnvelopePublished(
        uint256 indexed twin,
        bytes32 indexed component,
        bytes32 indexed subject,
        uint64 epoch,
        bytes32 envelopeCid,
        address publisher
    );

    // ---------------------------------------------------------------- errors

    /// @notice `account` lacks `permissions` on `twin` for `component` (`bytes32(0)` = twin level).
    error Unauthorized(uint256 twin, address account, uint256 permissions, bytes32 component);
    /// @notice Only an OWNER of `twin` may do this.
    error NotTwinOwner(uint256 twin, address account);
    /// @notice Only the bound twin registry may do this.
    error NotRegistry(address account);
    /// @notice The twin registry is bound already.
    error RegistryAlreadyBound(address registry);
    /// @notice `account` would hold more than {MAX_CUSTOM_ROLES_PER_ACCOUNT} custom roles on `twin`.
    error TooManyCustomRoles(uint256 twin, address account, uint256 max);
    /// @notice A key envelope's epoch must be the subject's current epoch (a re-publication) or the next
    ///         one; the first is 0. `next` is the next epoch of (twin, component, subject).
    error InvalidKeyEpoch(uint256 twin, bytes32 component, bytes32 subject, uint64 next, uint64 given);
    /// @notice `twin` was never initialized by the registry.
    error TwinNotInitialized(uint256 twin);
    /// @notice `twin` was already initialized.
    error TwinAlreadyInitialized(uint256 twin);
    /// @notice `twin` is dismissed: read-only.
    error TwinFrozen(uint256 twin);
    /// @notice `role` is not in the global registry.
    error UnknownRole(bytes32 role);
    /// @notice `role` is already in the global registry.
    error RoleAlreadyDefined(bytes32 role);
    /// @notice The global registry is full.
    error TooManyRoles(uint256 max);
    /// @notice `role` is not a usable role id (zero).
    error InvalidRole(bytes32 role);
    /// @notice OWNER moves only through {offerOwnership}/{acceptOwnership}.
    error OwnerRoleNotGrantable(uint256 twin);
    /// @notice OWNER's permissions are fixed.
    error ImmutableRole(bytes32 role);
    /// @notice `account` already holds `role` on `twin`.
    error RoleAlreadyGranted(uint256 twin, bytes32 role, address account);
    /// @notice `account` does not hold `role` on `twin`.
    error RoleNotHeld(uint256 twin, bytes32 role, address account);
    /// @notice The last OWNER of `twin` cannot be removed.
    error LastOwner(uint256 twin);
    /// @notice Roles can only be renounced for oneself.
    error RenounceOnlySelf(address account, address sender);
    /// @notice The zero address is not a valid account here.
    error ZeroAddress();
    /// @notice A scope needs at least one component; use {clearScope} to lift it.
    error EmptyScope();
    /// @notice A scope holds at most {MAX_SCOPE} components.
    error ScopeTooLarge(uint256 length, uint256 max);
    /// @notice `bytes32(0)` means "the twin" and cannot be a scope entry.
    error InvalidComponent(bytes32 component);
    /// @notice OWNERs are never scoped.
    error CannotScopeOwner(uint256 twin, address account);
    /// @notice `account` has no scope on `twin`.
    error NotScoped(uint256 twin, address account);
    /// @notice There is no valid ownership offer of `twin` for `account`.
    error NoOwnershipOffer(uint256 twin, address account);
    /// @notice A public key is 64 bytes: uncompressed secp256k1, without the 0x04 prefix.
    error InvalidPublicKeyLength(uint256 length);
    /// @notice The key belongs to `derived`, not to the sender.
    error PublicKeyMismatch(address derived, address sender);

    // ---------------------------------------------------------------- functions

    /// @notice True if `account` holds, through any of its roles on `twin`, every permission bit in
    ///         `permissions`, and `component` is inside its component scope (`bytes32(0)` = whole twin).
    function can(uint256 twin, address account, uint256 permissions, bytes32 component) external view returns (bool);

    /// @notice True once the twin is dismissed: no state of that twin may change any more.
    function isFrozen(uint256 twin) external view returns (bool);

    /// @notice Called by the twin registry when a twin is created: makes `owner` its first OWNER.
    function initializeTwin(uint256 twin, address owner) external;

    /// @notice Called by the twin registry when a twin is dismissed.
    function freezeTwin(uint256 twin) external;

    /// @notice Appends `role` to the global role registry. Append-only: a role can never be
    ///         removed and its default permissions never change (twin OWNERs override per twin).
    /// @dev Only `DEFAULT_ADMIN_ROLE`. Emits {RoleDefined}.
    /// @param role New role id, e.g. `keccak256("INSURER")`.
    /// @param defaultPermissions Permissions of the role on every twin that does not override them.
    function defineRole(bytes32 role, uint256 defaultPermissions) external;

    /// @notice Binds the twin registry, once: from then on only `registry_` initializes and freezes twins,
    ///         and nobody (the admin included) can change that.
    /// @dev Only `DEFAULT_ADMIN_ROLE`. Emits {RegistryBound}.
    function bindRegistry(address registry_) external;

    /// @notice Number of roles in the global registry.
    function roleCount() external view returns (uint256);

    /// @notice Role id with bit `bit`.
    function roleAt(uint256 bit) external view returns (bytes32);

    /// @notice True if `role` is in the global registry.
    function isRoleDefined(bytes32 role) external view returns (bool);

    /// @notice Bit of `role` in role bitmaps. Reverts {UnknownRole}.
    function roleBit(bytes32 role) external view returns (uint256);

    /// @notice Global default permissions of `role`. Reverts {UnknownRole}.
    function defaultPermissions(bytes32 role) external view returns (uint256);

    /// @notice Grants `role` on `twin` to `account`.
    /// @dev Caller needs ROLE_ADMIN at twin level. OWNER cannot be granted here (two-step offer
    ///      only). Reverts {TwinFrozen} on a dismissed twin. Emits {TwinRoleGranted}.
    function grantTwinRole(uint256 twin, bytes32 role, address account) external;

    /// @notice Revokes `role` on `twin` from `account`.
    /// @dev Caller needs ROLE_ADMIN at twin level; revoking OWNER additionally needs the caller to
    ///      be an OWNER, and reverts {LastOwner} for the last one. Emits {TwinRoleRevoked}.
    function revokeTwinRole(uint256 twin, bytes32 role, address account) external;

    /// @notice The caller gives up `role` on `twin`. `account` must be the caller (confirmation).
    /// @dev Reverts {LastOwner} for the last OWNER. Emits {TwinRoleRevoked} with `sender == account`.
    function renounceTwinRole(uint256 twin, bytes32 role, address account) external;

    /// @notice True if `account` holds `role` on `twin`.
    function hasTwinRole(uint256 twin, bytes32 role, address account) external view returns (bool);

    /// @notice All roles `account` holds on `twin`, in role-bit order.
    function rolesOf(uint256 twin, address account) external view returns (bytes32[] memory roles);

    /// @notice Raw role bitmap of `account` on `twin` (bit i = {roleAt}(i)).
    function roleBitmap(uint256 twin, address account) external view returns (uint256);

    /// @notice Number of OWNERs of `twin`.
    function ownerCount(uint256 twin) external view returns (uint256);

    /// @notice True once the registry initialized `twin`.
    function isInitialized(uint256 twin) external view returns (bool);

    /// @notice Offers OWNER of `twin` to `to` with transfer semantics: when `to` accepts, the
    ///         offerer loses its own OWNER role. Replaces any pending offer.
    /// @dev Caller must be an OWNER. Emits {OwnershipOffered} with `keep == false`.
    function offerOwnership(uint256 twin, address to) external;

    /// @notice Offers OWNER of `twin` to `to`; the offerer stays OWNER when `to` accepts.
    /// @dev Caller must be an OWNER. Emits {OwnershipOffered} with `keep == true`.
    function offerCoOwnership(uint256 twin, address to) external;

    /// @notice Accepts the pending ownership offer of `twin` made to the caller. The offer is void
    ///         if the offerer is no longer an OWNER. The caller's component scope, if any, is lifted.
    /// @dev Emits {OwnershipAccepted}, {TwinRoleGranted} and, for a transfer, {TwinRoleRevoked} of the offerer.
    function acceptOwnership(uint256 twin) external;

    /// @notice Cancels the pending ownership offer of `twin`.
    /// @dev Caller must be an OWNER. Emits {OwnershipOfferCancelled}.
    function cancelOwnershipOffer(uint256 twin) external;

    /// @notice The pending ownership offer of `twin` (`to == address(0)`: none).
    function pendingOwnershipOffer(uint256 twin) external view returns (address to, address offerer, bool keep);

    /// @notice Sets the permissions of `role` on `twin` to `permissions` (overrides the default).
    /// @dev Caller must be an OWNER. OWNER's own permissions are fixed ({ImmutableRole}).
    ///      Emits {PermissionsSet}.
    function setPermissions(uint256 twin, bytes32 role, uint256 permissions) external;

    /// @notice Makes `role` on `twin` fall back to its global default permissions again.
    /// @dev Caller must be an OWNER. Emits {PermissionsReset}.
    function resetPermissions(uint256 twin, bytes32 role) external;

    /// @notice Effective permissions of `role` on `twin` (per-twin entry, else global default).
    function permissionsOf(uint256 twin, bytes32 role) external view returns (uint256);

    /// @notice Union of the permissions of all roles `account` holds on `twin` (scope not applied).
    function effectivePermissions(uint256 twin, address account) external view returns (uint256);

    /// @notice Limits `account` on `twin` to `components`; replaces any previous scope.
    /// @dev Caller needs ROLE_ADMIN at twin level. 1..{MAX_SCOPE} non-zero ids; OWNERs cannot be
    ///      scoped. Component existence is not checked here (the registry checks it on use).
    ///      Emits {ScopeSet} with the new epoch.
    function setScope(uint256 twin, address account, bytes32[] calldata components) external;

    /// @notice Lifts the component scope of `account` on `twin`.
    /// @dev Caller needs ROLE_ADMIN at twin level. Emits {ScopeCleared}.
    function clearScope(uint256 twin, address account) external;

    /// @notice Scope state of `account` on `twin`.
    function scopeOf(uint256 twin, address account) external view returns (bool scoped, uint32 epoch);

    /// @notice True if the scope of `account` lets it act on `component` of `twin` (always true for
    ///         an unscoped account; false for `bytes32(0)` when scoped).
    function inScope(uint256 twin, address account, bytes32 component) external view returns (bool);

    /// @notice True if `account` may read documents or sensor data of `component` on `twin`:
    ///         DOC_READ or SENSOR_READ, within its scope.
    function canRead(uint256 twin, address account, bytes32 component) external view returns (bool);

    /// @notice Registers the caller's secp256k1 public key (64 bytes, uncompressed, no 0x04 prefix).
    ///         The key must hash to the caller's address.
    /// @dev Emits {KeyRegistered}.
    function registerKey(bytes calldata publicKey) external;

    /// @notice Registered public key of `account` (64 bytes), or empty bytes if none.
    function publicKeyOf(address account) external view returns (bytes memory);

    /// @notice Announces a key envelope (stored on IPFS) for `subject` of `twin`, the subject belonging to
    ///         `component`.
    /// @dev Caller needs KEY_PUBLISH on `component` (`bytes32(0)` = twin level), the component the
    ///      subject belongs to, so a scoped device agent can publish for its own components' feeds.
    ///      `subject` is `keccak256` of the subject's DAG-CBOR map `{"kind", "id"}` (docs/formats.md
    ///      section 6), so two feeds or documents of one component stay apart. Epochs are kept per
    ///      (twin, component, subject): the first is 0, then each is the current one again (a
    ///      re-publication) or the next. Readers take only the envelopes published under the subject's
    ///      own component, so an account permitted elsewhere cannot publish for it. Emits {KeyEnvelopePublished}.
    function publishKeyEnvelope(
        uint256 twin,
        bytes32 component,
        bytes32 subject,
        uint64 epoch,
        bytes32 envelopeCid
    ) external;

    /// @notice Key epoch state of (twin, component, subject): whether any envelope was published, and the
    ///         current epoch (the next publication carries it again or `epoch + 1`).
    function keyEpochOf(uint256 twin, bytes32 component, bytes32 subject)
        external
        view
        returns (bool published, uint64 epoch);
}
