// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IAuthorization, Permissions} from "./interfaces/IAuthorization.sol";
import {ITwinAccess} from "./interfaces/ITwinAccess.sol";

/// @title TwinLedger access control: roles, permissions and component scopes per twin.
/// @notice
/// Contract-level roles (OpenZeppelin {AccessControl}):
/// - `DEFAULT_ADMIN_ROLE` appends roles to the global role registry ({defineRole}) and binds the twin
///   registry once ({bindRegistry}). It can do nothing to any twin.
/// - The twin registry (`Specification`), bound once and for good, initializes and freezes twins.
///
/// Per-twin model:
/// - Roles are `bytes32` ids (`keccak256("OWNER")` ...) from an append-only global registry. Each
///   role gets a bit; all the roles an account holds on a twin live in one storage slot, so at most
///   {MAX_ROLES} roles can ever be defined. An account may hold several roles on one twin.
/// - A role's permissions on a twin are a bitmask of {Permissions} flags. The twin's OWNERs can set
///   them per role ({setPermissions}); a role never set on a twin falls back to the global default.
///   OWNER's permissions are fixed to "everything" so a twin can never lock its owners out.
/// - Component scopes: {setScope} limits an account to a list of component ids. A scoped account
///   passes a check only for a component inside its scope; it never passes a twin-level check
///   (`component == bytes32(0)`), whatever its roles. Scopes are flat: a component's children are
///   not included. Each {setScope} starts a new scope epoch, so entries of a cleared or replaced
///   scope can never come back. A scope belongs to the (twin, account) pair, not to a role: it
///   survives revoking and re-granting roles until {clearScope}.
/// - OWNER is never granted with {grantTwinRole}: it moves through a two-step offer
///   ({offerOwnership}/{offerCoOwnership} then {acceptOwnership}). Only an OWNER may revoke another
///   OWNER, and the last OWNER can neither be revoked nor renounce.
/// - A frozen (dismissed) twin is read-only: every per-twin write reverts {TwinFrozen}.
contract Authorization is ITwinAccess, AccessControl {
    // ---------------------------------------------------------------- constants

    /// @notice Built-in twin roles. Their bits are 0..5 in this order.
    bytes32 public constant OWNER = keccak256("OWNER");
    bytes32 public constant MANUFACTURER = keccak256("MANUFACTURER");
    bytes32 public constant MAINTAINER = keccak256("MAINTAINER");
    bytes32 public constant DISTRIBUTOR = keccak256("DISTRIBUTOR");
    bytes32 public constant AUDITOR = keccak256("AUDITOR");
    bytes32 public constant DEVICE_AGENT = keccak256("DEVICE_AGENT");

    /// @notice Upper bound on the number of roles the global registry can ever hold.
    uint256 public constant MAX_ROLES = 192;
    /// @notice Upper bound on the number of components in one scope.
    uint256 public constant MAX_SCOPE = 64;
    /// @notice Most roles defined after deployment (not built in) one account may hold on one twin: every
    ///         check may read one storage slot per role held, so this bounds what a ROLE_ADMIN can make
    ///         another account's checks (e.g. a gateway's anchors) cost.
    uint256 public constant MAX_CUSTOM_ROLES_PER_ACCOUNT = 4;

    /// @notice OWNER's fixed permissions: every bit, including bits defined in the future.
    uint256 public constant ALL_PERMISSIONS = type(uint256).max;

    uint256 private constant _READ_DEFAULT = Permissions.DOC_READ | Permissions.SENSOR_READ;
    uint256 private constant _MAINTAINER_DEFAULT =
        Permissions.SPEC_UPDATE |
            Permissions.DOC_CREATE |
            Permissions.DOC_UPDATE |
            Permissions.DOC_READ |
            Permissions.SENSOR_CREATE |
            Permissions.SENSOR_UPDATE |
            Permissions.SENSOR_READ |
            Permissions.PROGRAM_CALL |
            Permissions.SOURCE_MANAGE |
            Permissions.KEY_PUBLISH;
    uint256 private constant _DEVICE_AGENT_DEFAULT =
        Permissions.ANCHOR | Permissions.PROGRAM_EXECUTE | Permissions.SENSOR_READ | Permissions.KEY_PUBLISH;
    uint256 private constant _BUILTIN_ROLES = 6;
    uint256 private constant _OWNER_BIT = 1; // 1 << 0

    // ---------------------------------------------------------------- storage

    /// @dev One slot per twin.
    struct TwinState {
        bool initialized;
        bool frozen;
        uint32 ownerCount;
        uint192 customized; // bit i set: role bit i has a per-twin entry in `_matrix`
    }

    /// @dev One slot per (twin, account): all its roles and its scope state.
    struct Member {
        uint192 roles; // bit i set: holds the role with bit i
        uint32 scopeEpoch; // epoch of the latest scope ever set
        bool scoped; // true while the scope of `scopeEpoch` applies
    }

    struct Offer {
        address to;
        address offerer;
        bool keep; // the offerer keeps its own OWNER role on accept
    }

    struct PublicKey {
        bytes32 x;
        bytes32 y;
    }

    mapping(uint256 twin => TwinState) private _twins;
    mapping(uint256 twin => mapping(address account => Member)) private _members;
    mapping(uint256 twin => mapping(uint256 roleBit => uint256 mask)) private _matrix;
    mapping(bytes32 scopeKey => bool) private _inScope;
    mapping(uint256 twin => Offer) private _offers;
    mapping(address account => PublicKey) private _keys;

    mapping(bytes32 stream => uint256 epochPlusOne) private _keyEpochs; // stream: (twin, component, subject)

    /// @notice The twin registry: the only account that may initialize and freeze twins. Bound once.
    address public registry;

    bytes32[] private _roleIds; // role bit => role id
    mapping(bytes32 role => uint256) private _roleBitPlusOne; // 0 = undefined
    mapping(uint256 roleBit => uint256) private _customDefaults; // defaults of roles defined after deploy

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

    // ---------------------------------------------------------------- construction

    /// @notice Sets `admin` as `DEFAULT_ADMIN_ROLE` holder and defines the six built-in roles.
    /// @param admin Account that may define new roles and bind the twin registry once.
    constructor(address admin) {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _appendRole(OWNER, ALL_PERMISSIONS);
        _appendRole(MANUFACTURER, _READ_DEFAULT);
        _appendRole(MAINTAINER, _MAINTAINER_DEFAULT);
        _appendRole(DISTRIBUTOR, _READ_DEFAULT);
        _appendRole(AUDITOR, _READ_DEFAULT);
        _appendRole(DEVICE_AGENT, _DEVICE_AGENT_DEFAULT);
    }

    // ---------------------------------------------------------------- global role registry

    /// @notice Appends `role` to the global role registry. Append-only: a role can never be
    ///         removed and its default permissions never change (twin OWNERs override per twin).
    /// @dev Only `DEFAULT_ADMIN_ROLE`. Emits {RoleDefined}.
    /// @param role New role id, e.g. `keccak256("INSURER")`.
    /// @param defaultPermissions Permissions of the role on every twin that does not override them.
    function defineRole(bytes32 role, uint256 defaultPermissions) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (role == bytes32(0)) revert InvalidRole(role);
        if (_roleBitPlusOne[role] != 0) revert RoleAlreadyDefined(role);
        if (_roleIds.length >= MAX_ROLES) revert TooManyRoles(MAX_ROLES);
        _appendRole(role, defaultPermissions);
    }

    /// @notice Binds the twin registry, once: from then on only `registry_` initializes and freezes twins,
    ///         and nobody (the admin included) can change that.
    /// @dev Only `DEFAULT_ADMIN_ROLE`. Emits {RegistryBound}.
    function bindRegistry(address registry_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (registry_ == address(0)) revert ZeroAddress();
        if (registry != address(0)) revert RegistryAlreadyBound(registry);
        registry = registry_;
        emit RegistryBound(registry_);
    }

    /// @notice Number of roles in the global registry.
    function roleCount() external view returns (uint256) {
        return _roleIds.length;
    }

    /// @notice Role id with bit `bit`.
    function roleAt(uint256 bit) external view returns (bytes32) {
        return _roleIds[bit];
    }

    /// @notice True if `role` is in the global registry.
    function isRoleDefined(bytes32 role) external view returns (bool) {
        return _roleBitPlusOne[role] != 0;
    }

    /// @notice Bit of `role` in role bitmaps. Reverts {UnknownRole}.
    function roleBit(bytes32 role) external view returns (uint256) {
        return _bitOf(role);
    }

    /// @notice Global default permissions of `role`. Reverts {UnknownRole}.
    function defaultPermissions(bytes32 role) external view returns (uint256) {
        return _defaultOf(_bitOf(role));
    }

    // ---------------------------------------------------------------- registry hooks

    /// @inheritdoc IAuthorization
    /// @dev Only the registry, once per twin id. Emits {TwinInitialized} and {TwinRoleGranted}.
    function initializeTwin(uint256 twin, address owner) external onlyRegistry {
        if (owner == address(0)) revert ZeroAddress();
        TwinState storage t = _twins[twin];
        if (t.initialized) revert TwinAlreadyInitialized(twin);
        t.initialized = true;
        t.ownerCount = 1;
        _members[twin][owner].roles |= uint192(_OWNER_BIT);
        emit TwinInitialized(twin, owner);
        emit TwinRoleGranted(twin, OWNER, owner, msg.sender);
    }

    /// @inheritdoc IAuthorization
    /// @dev Only the registry. Irreversible. Emits {Frozen}, and {OwnershipOfferCancelled} for a pending offer.
    function freezeTwin(uint256 twin) external onlyRegistry {
        TwinState storage t = _requireWritable(twin);
        t.frozen = true;
        address to = _offers[twin].to;
        if (to != address(0)) {
            delete _offers[twin];
            emit OwnershipOfferCancelled(twin, to, msg.sender);
        }
        emit Frozen(twin);
    }

    // ---------------------------------------------------------------- roles per twin

    /// @notice Grants `role` on `twin` to `account`.
    /// @dev Caller needs ROLE_ADMIN at twin level. OWNER cannot be granted here (two-step offer
    ///      only). Reverts {TwinFrozen} on a dismissed twin. Emits {TwinRoleGranted}.
    function grantTwinRole(uint256 twin, bytes32 role, address account) external {
        _requireWritable(twin);
        _requireCan(twin, msg.sender, Permissions.ROLE_ADMIN);
        uint256 bit = _bitOf(role);
        if (bit == 0) revert OwnerRoleNotGrantable(twin);
        if (account == address(0)) revert ZeroAddress();
        Member storage m = _members[twin][account];
        uint192 flag = uint192(1 << bit);
        if (m.roles & flag != 0) revert RoleAlreadyGranted(twin, role, account);
        uint192 roles = m.roles | flag;
        if (bit >= _BUILTIN_ROLES) _requireFewCustomRoles(twin, account, roles);
        m.roles = roles;
        emit TwinRoleGranted(twin, role, account, msg.sender);
    }

    /// @notice Revokes `role` on `twin` from `account`.
    /// @dev Caller needs ROLE_ADMIN at twin level; revoking OWNER additionally needs the caller to
    ///      be an OWNER, and reverts {LastOwner} for the last one. Emits {TwinRoleRevoked}.
    function revokeTwinRole(uint256 twin, bytes32 role, address account) external {
        TwinState storage t = _requireWritable(twin);
        _requireCan(twin, msg.sender, Permissions.ROLE_ADMIN);
        uint256 bit = _bitOf(role);
        if (bit == 0 && !_isOwner(twin, msg.sender)) revert NotTwinOwner(twin, msg.sender);
        _removeRole(t, twin, bit, role, account, msg.sender);
    }

    /// @notice The caller gives up `role` on `twin`. `account` must be the caller (confirmation).
    /// @dev Reverts {LastOwner} for the last OWNER. Emits {TwinRoleRevoked} with `sender == account`.
    function renounceTwinRole(uint256 twin, bytes32 role, address account) external {
        if (account != msg.sender) revert RenounceOnlySelf(account, msg.sender);
        TwinState storage t = _requireWritable(twin);
        _removeRole(t, twin, _bitOf(role), role, account, msg.sender);
    }

    /// @notice True if `account` holds `role` on `twin`.
    function hasTwinRole(uint256 twin, bytes32 role, address account) external view returns (bool) {
        uint256 plusOne = _roleBitPlusOne[role];
        if (plusOne == 0) return false;
        return (uint256(_members[twin][account].roles) >> (plusOne - 1)) & 1 == 1;
    }

    /// @notice All roles `account` holds on `twin`, in role-bit order.
    function rolesOf(uint256 twin, address account) external view returns (bytes32[] memory roles) {
        uint256 bits = _members[twin][account].roles;
        uint256 n;
        for (uint256 b = bits; b != 0; b &= b - 1) ++n;
        roles = new bytes32[](n);
        uint256 i;
        for (uint256 bit; bits >> bit != 0; ++bit) {
            if ((bits >> bit) & 1 == 1) roles[i++] = _roleIds[bit];
        }
    }

    /// @notice Raw role bitmap of `account` on `twin` (bit i = {roleAt}(i)).
    function roleBitmap(uint256 twin, address account) external view returns (uint256) {
        return _members[twin][account].roles;
    }

    /// @notice Number of OWNERs of `twin`.
    function ownerCount(uint256 twin) external view returns (uint256) {
        return _twins[twin].ownerCount;
    }

    /// @notice True once the registry initialized `twin`.
    function isInitialized(uint256 twin) external view returns (bool) {
        return _twins[twin].initialized;
    }

    // ---------------------------------------------------------------- ownership

    /// @notice Offers OWNER of `twin` to `to` with transfer semantics: when `to` accepts, the
    ///         offerer loses its own OWNER role. Replaces any pending offer.
    /// @dev Caller must be an OWNER. Emits {OwnershipOffered} with `keep == false`.
    function offerOwnership(uint256 twin, address to) external {
        _offer(twin, to, false);
    }

    /// @notice Offers OWNER of `twin` to `to`; the offerer stays OWNER when `to` accepts.
    /// @dev Caller must be an OWNER. Emits {OwnershipOffered} with `keep == true`.
    function offerCoOwnership(uint256 twin, address to) external {
        _offer(twin, to, true);
    }

    /// @notice Accepts the pending ownership offer of `twin` made to the caller. The offer is void
    ///         if the offerer is no longer an OWNER. The caller's component scope, if any, is lifted.
    /// @dev Emits {OwnershipAccepted}, {TwinRoleGranted} and, for a transfer, {TwinRoleRevoked} of the offerer.
    function acceptOwnership(uint256 twin) external {
        TwinState storage t = _requireWritable(twin);
        Offer memory o = _offers[twin];
        if (o.to != msg.sender || o.to == address(0) || !_isOwner(twin, o.offerer)) {
            revert NoOwnershipOffer(twin, msg.sender);
        }
        Member storage m = _members[twin][msg.sender];
        if (m.roles & _OWNER_BIT != 0) revert RoleAlreadyGranted(twin, OWNER, msg.sender);
        delete _offers[twin];

        m.roles |= uint192(_OWNER_BIT);
        if (m.scoped) {
            m.scoped = false;
            emit ScopeCleared(twin, msg.sender, m.scopeEpoch, msg.sender);
        }
        emit OwnershipAccepted(twin, o.offerer, msg.sender, o.keep);
        emit TwinRoleGranted(twin, OWNER, msg.sender, o.offerer);
        if (o.keep) {
            t.ownerCount += 1;
        } else {
            _members[twin][o.offerer].roles &= ~uint192(_OWNER_BIT);
            emit TwinRoleRevoked(twin, OWNER, o.offerer, o.offerer);
        }
    }

    /// @notice Cancels the pending ownership offer of `twin`.
    /// @dev Caller must be an OWNER. Emits {OwnershipOfferCancelled}.
    function cancelOwnershipOffer(uint256 twin) external {
        _requireWritable(twin);
        if (!_isOwner(twin, msg.sender)) revert NotTwinOwner(twin, msg.sender);
        address to = _offers[twin].to;
        if (to == address(0)) revert NoOwnershipOffer(twin, address(0));
        delete _offers[twin];
        emit OwnershipOfferCancelled(twin, to, msg.sender);
    }

    /// @notice The pending ownership offer of `twin` (`to == address(0)`: none).
    function pendingOwnershipOffer(uint256 twin) external view returns (address to, address offerer, bool keep) {
        Offer memory o = _offers[twin];
        return (o.to, o.offerer, o.keep);
    }

    // ---------------------------------------------------------------- permission matrix

    /// @notice Sets the permissions of `role` on `twin` to `permissions` (overrides the default).
    /// @dev Caller must be an OWNER. OWNER's own permissions are fixed ({ImmutableRole}).
    ///      Emits {PermissionsSet}.
    function setPermissions(uint256 twin, bytes32 role, uint256 permissions) external {
        TwinState storage t = _requireWritable(twin);
        if (!_isOwner(twin, msg.sender)) revert NotTwinOwner(twin, msg.sender);
        uint256 bit = _bitOf(role);
        if (bit == 0) revert ImmutableRole(role);
        _matrix[twin][bit] = permissions;
        t.customized |= uint192(1 << bit);
        emit PermissionsSet(twin, role, permissions, msg.sender);
    }

    /// @notice Makes `role` on `twin` fall back to its global default permissions again.
    /// @dev Caller must be an OWNER. Emits {PermissionsReset}.
    function resetPermissions(uint256 twin, bytes32 role) external {
        TwinState storage t = _requireWritable(twin);
        if (!_isOwner(twin, msg.sender)) revert NotTwinOwner(twin, msg.sender);
        uint256 bit = _bitOf(role);
        if (bit == 0) revert ImmutableRole(role);
        t.customized &= ~uint192(1 << bit);
        delete _matrix[twin][bit];
        emit PermissionsReset(twin, role, msg.sender);
    }

    /// @notice Effective permissions of `role` on `twin` (per-twin entry, else global default).
    function permissionsOf(uint256 twin, bytes32 role) external view returns (uint256) {
        uint256 bit = _bitOf(role);
        return _rolePermissions(twin, _twins[twin].customized, bit);
    }

    /// @notice Union of the permissions of all roles `account` holds on `twin` (scope not applied).
    function effectivePermissions(uint256 twin, address account) external view returns (uint256) {
        return _permissionsOfRoles(twin, _members[twin][account].roles);
    }

    // ---------------------------------------------------------------- scopes

    /// @notice Limits `account` on `twin` to `components`; replaces any previous scope.
    /// @dev Caller needs ROLE_ADMIN at twin level. 1..{MAX_SCOPE} non-zero ids; OWNERs cannot be
    ///      scoped. Component existence is not checked here (the registry checks it on use).
    ///      Emits {ScopeSet} with the new epoch.
    function setScope(uint256 twin, address account, bytes32[] calldata components) external {
        _requireWritable(twin);
        _requireCan(twin, msg.sender, Permissions.ROLE_ADMIN);
        if (account == address(0)) revert ZeroAddress();
        uint256 n = components.length;
        if (n == 0) revert EmptyScope();
        if (n > MAX_SCOPE) revert ScopeTooLarge(n, MAX_SCOPE);
        Member storage m = _members[twin][account];
        if (m.roles & _OWNER_BIT != 0) revert CannotScopeOwner(twin, account);
        uint32 epoch = m.scopeEpoch + 1;
        m.scopeEpoch = epoch;
        m.scoped = true;
        for (uint256 i; i < n; ++i) {
            bytes32 c = components[i];
            if (c == bytes32(0)) revert InvalidComponent(c);
            _inScope[_scopeKey(twin, account, epoch, c)] = true;
        }
        emit ScopeSet(twin, account, epoch, components, msg.sender);
    }

    /// @notice Lifts the component scope of `account` on `twin`.
    /// @dev Caller needs ROLE_ADMIN at twin level. Emits {ScopeCleared}.
    function clearScope(uint256 twin, address account) external {
        _requireWritable(twin);
        _requireCan(twin, msg.sender, Permissions.ROLE_ADMIN);
        Member storage m = _members[twin][account];
        if (!m.scoped) revert NotScoped(twin, account);
        m.scoped = false;
        emit ScopeCleared(twin, account, m.scopeEpoch, msg.sender);
    }

    /// @notice Scope state of `account` on `twin`.
    function scopeOf(uint256 twin, address account) external view returns (bool scoped, uint32 epoch) {
        Member memory m = _members[twin][account];
        return (m.scoped, m.scopeEpoch);
    }

    /// @notice True if the scope of `account` lets it act on `component` of `twin` (always true for
    ///         an unscoped account; false for `bytes32(0)` when scoped).
    function inScope(uint256 twin, address account, bytes32 component) public view returns (bool) {
        Member memory m = _members[twin][account];
        return _scopeAllows(twin, account, m, component);
    }

    // ---------------------------------------------------------------- checks

    /// @inheritdoc IAuthorization
    /// @dev `permissions == 0` answers whether `account` holds any role (and passes its scope).
    ///      A frozen twin does not change the answer; writers check {isFrozen} separately.
    function can(uint256 twin, address account, uint256 permissions, bytes32 component) public view returns (bool) {
        return _allowed(twin, account, _twins[twin].customized, permissions, component);
    }

    /// @inheritdoc ITwinAccess
    function check(
        uint256 twin,
        address account,
        uint256 permissions,
        bytes32 component
    ) external view returns (bool allowed, bool frozen) {
        TwinState storage t = _twins[twin];
        return (_allowed(twin, account, t.customized, permissions, component), t.frozen);
    }

    /// @notice True if `account` may read documents or sensor data of `component` on `twin`:
    ///         DOC_READ or SENSOR_READ, within its scope.
    function canRead(uint256 twin, address account, bytes32 component) external view returns (bool) {
        return
            can(twin, account, Permissions.DOC_READ, component) ||
            can(twin, account, Permissions.SENSOR_READ, component);
    }

    /// @inheritdoc IAuthorization
    function isFrozen(uint256 twin) external view returns (bool) {
        return _twins[twin].frozen;
    }

    // ---------------------------------------------------------------- keys

    /// @notice Registers the caller's secp256k1 public key (64 bytes, uncompressed, no 0x04 prefix).
    ///         The key must hash to the caller's address.
    /// @dev Emits {KeyRegistered}.
    function registerKey(bytes calldata publicKey) external {
        if (publicKey.length != 64) revert InvalidPublicKeyLength(publicKey.length);
        address derived = address(uint160(uint256(keccak256(publicKey))));
        if (derived != msg.sender) revert PublicKeyMismatch(derived, msg.sender);
        _keys[msg.sender] = PublicKey(bytes32(publicKey[0:32]), bytes32(publicKey[32:64]));
        emit KeyRegistered(msg.sender, publicKey);
    }

    /// @notice Registered public key of `account` (64 bytes), or empty bytes if none.
    function publicKeyOf(address account) external view returns (bytes memory) {
        PublicKey memory k = _keys[account];
        if (k.x == bytes32(0) && k.y == bytes32(0)) return "";
        return abi.encodePacked(k.x, k.y);
    }

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
    ) external {
        _requireWritable(twin);
        if (!can(twin, msg.sender, Permissions.KEY_PUBLISH, component)) {
            revert Unauthorized(twin, msg.sender, Permissions.KEY_PUBLISH, component);
        }
        bytes32 stream = keccak256(abi.encode(twin, component, subject));
        uint256 plusOne = _keyEpochs[stream];
        uint256 given = uint256(epoch) + 1;
        if (plusOne == 0 ? epoch != 0 : (given != plusOne && epoch != plusOne)) {
            revert InvalidKeyEpoch(twin, component, subject, uint64(plusOne), epoch);
        }
        if (given != plusOne) _keyEpochs[stream] = given;
        emit KeyEnvelopePublished(twin, component, subject, epoch, envelopeCid, msg.sender);
    }

    /// @notice Key epoch state of (twin, component, subject): whether any envelope was published, and the
    ///         current epoch (the next publication carries it again or `epoch + 1`).
    function keyEpochOf(uint256 twin, bytes32 component, bytes32 subject)
        external
        view
        returns (bool published, uint64 epoch)
    {
        uint256 plusOne = _keyEpochs[keccak256(abi.encode(twin, component, subject))];
        return (plusOne != 0, plusOne == 0 ? 0 : uint64(plusOne - 1));
    }

    // ---------------------------------------------------------------- internals

    modifier onlyRegistry() {
        if (msg.sender != registry || msg.sender == address(0)) revert NotRegistry(msg.sender);
        _;
    }

    /// @dev Bounded by MAX_CUSTOM_ROLES_PER_ACCOUNT + 1 iterations.
    function _requireFewCustomRoles(uint256 twin, address account, uint256 roles) private pure {
        uint256 custom = roles >> _BUILTIN_ROLES;
        for (uint256 n; custom != 0; custom &= custom - 1) {
            if (++n > MAX_CUSTOM_ROLES_PER_ACCOUNT) revert TooManyCustomRoles(twin, account, MAX_CUSTOM_ROLES_PER_ACCOUNT);
        }
    }

    function _appendRole(bytes32 role, uint256 defaults) private {
        uint256 bit = _roleIds.length;
        _roleIds.push(role);
        _roleBitPlusOne[role] = bit + 1;
        if (bit >= _BUILTIN_ROLES) _customDefaults[bit] = defaults;
        emit RoleDefined(role, bit, defaults);
    }

    function _bitOf(bytes32 role) private view returns (uint256) {
        uint256 plusOne = _roleBitPlusOne[role];
        if (plusOne == 0) revert UnknownRole(role);
        return plusOne - 1;
    }

    /// @dev Defaults of the built-in roles are constants (no storage read on the hot path).
    function _defaultOf(uint256 bit) private view returns (uint256) {
        if (bit == 0) return ALL_PERMISSIONS;
        if (bit == 1 || bit == 3 || bit == 4) return _READ_DEFAULT;
        if (bit == 2) return _MAINTAINER_DEFAULT;
        if (bit == 5) return _DEVICE_AGENT_DEFAULT;
        return _customDefaults[bit];
    }

    function _rolePermissions(uint256 twin, uint256 customized, uint256 bit) private view returns (uint256) {
        if (bit == 0) return ALL_PERMISSIONS;
        if ((customized >> bit) & 1 == 1) return _matrix[twin][bit];
        return _defaultOf(bit);
    }

    /// @dev Loop bounded by MAX_ROLES (192).
    function _permissionsOfRoles(uint256 twin, uint256 roles) private view returns (uint256 perms) {
        if (roles == 0) return 0;
        if (roles & _OWNER_BIT != 0) return ALL_PERMISSIONS;
        uint256 customized = _twins[twin].customized;
        unchecked {
            for (uint256 bit = 1; roles >> bit != 0; ++bit) {
                if ((roles >> bit) & 1 == 1) perms |= _rolePermissions(twin, customized, bit);
            }
        }
    }

    /// @dev The whole answer of {can}: membership, scope, then the union of the role permissions
    ///      (stops as soon as every requested bit is covered).
    function _allowed(
        uint256 twin,
        address account,
        uint256 customized,
        uint256 permissions,
        bytes32 component
    ) private view returns (bool) {
        Member storage m = _members[twin][account];
        uint256 roles = m.roles;
        if (roles == 0) return false;
        if (m.scoped) {
            if (component == bytes32(0)) return false;
            if (!_inScope[_scopeKey(twin, account, m.scopeEpoch, component)]) return false;
        }
        if (roles & _OWNER_BIT != 0) return true;
        uint256 perms;
        unchecked {
            for (uint256 bit = 1; roles >> bit != 0; ++bit) {
                if ((roles >> bit) & 1 == 1) {
                    perms |= _rolePermissions(twin, customized, bit);
                    if (perms & permissions == permissions) return true;
                }
            }
        }
        return false;
    }

    function _scopeAllows(uint256 twin, address account, Member memory m, bytes32 component) private view returns (bool) {
        if (!m.scoped) return true;
        if (component == bytes32(0)) return false;
        return _inScope[_scopeKey(twin, account, m.scopeEpoch, component)];
    }

    function _scopeKey(uint256 twin, address account, uint32 epoch, bytes32 component) private pure returns (bytes32) {
        return keccak256(abi.encode(twin, account, epoch, component));
    }

    function _isOwner(uint256 twin, address account) private view returns (bool) {
        return _members[twin][account].roles & _OWNER_BIT != 0;
    }

    function _requireWritable(uint256 twin) private view returns (TwinState storage t) {
        t = _twins[twin];
        if (!t.initialized) revert TwinNotInitialized(twin);
        if (t.frozen) revert TwinFrozen(twin);
    }

    function _requireCan(uint256 twin, address account, uint256 permissions) private view {
        if (!can(twin, account, permissions, bytes32(0))) revert Unauthorized(twin, account, permissions, bytes32(0));
    }

    function _offer(uint256 twin, address to, bool keep) private {
        _requireWritable(twin);
        if (!_isOwner(twin, msg.sender)) revert NotTwinOwner(twin, msg.sender);
        if (to == address(0)) revert ZeroAddress();
        if (_isOwner(twin, to)) revert RoleAlreadyGranted(twin, OWNER, to);
        _offers[twin] = Offer(to, msg.sender, keep);
        emit OwnershipOffered(twin, msg.sender, to, keep);
    }

    function _removeRole(
        TwinState storage t,
        uint256 twin,
        uint256 bit,
        bytes32 role,
        address account,
        address sender
    ) private {
        Member storage m = _members[twin][account];
        uint192 flag = uint192(1 << bit);
        if (m.roles & flag == 0) revert RoleNotHeld(twin, role, account);
        if (bit == 0) {
            if (t.ownerCount <= 1) revert LastOwner(twin);
            t.ownerCount -= 1;
        }
        m.roles &= ~flag;
        emit TwinRoleRevoked(twin, role, account, sender);
    }
}
