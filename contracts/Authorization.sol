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

    /// @inheritdoc IAuthorization
    function defineRole(bytes32 role, uint256 defaultPermissions) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (role == bytes32(0)) revert InvalidRole(role);
        if (_roleBitPlusOne[role] != 0) revert RoleAlreadyDefined(role);
        if (_roleIds.length >= MAX_ROLES) revert TooManyRoles(MAX_ROLES);
        _appendRole(role, defaultPermissions);
    }

    /// @inheritdoc IAuthorization
    function bindRegistry(address registry_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (registry_ == address(0)) revert ZeroAddress();
        if (registry != address(0)) revert RegistryAlreadyBound(registry);
        registry = registry_;
        emit RegistryBound(registry_);
    }

    /// @inheritdoc IAuthorization
    function roleCount() external view returns (uint256) {
        return _roleIds.length;
    }

    /// @inheritdoc IAuthorization
    function roleAt(uint256 bit) external view returns (bytes32) {
        return _roleIds[bit];
    }

    /// @inheritdoc IAuthorization
    function isRoleDefined(bytes32 role) external view returns (bool) {
        return _roleBitPlusOne[role] != 0;
    }

    /// @inheritdoc IAuthorization
    function roleBit(bytes32 role) external view returns (uint256) {
        return _bitOf(role);
    }

    /// @inheritdoc IAuthorization
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

    /// @inheritdoc IAuthorization
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

    /// @inheritdoc IAuthorization
    function revokeTwinRole(uint256 twin, bytes32 role, address account) external {
        TwinState storage t = _requireWritable(twin);
        _requireCan(twin, msg.sender, Permissions.ROLE_ADMIN);
        uint256 bit = _bitOf(role);
        if (bit == 0 && !_isOwner(twin, msg.sender)) revert NotTwinOwner(twin, msg.sender);
        _removeRole(t, twin, bit, role, account, msg.sender);
    }

    /// @inheritdoc IAuthorization
    function renounceTwinRole(uint256 twin, bytes32 role, address account) external {
        if (account != msg.sender) revert RenounceOnlySelf(account, msg.sender);
        TwinState storage t = _requireWritable(twin);
        _removeRole(t, twin, _bitOf(role), role, account, msg.sender);
    }

    /// @inheritdoc IAuthorization
    function hasTwinRole(uint256 twin, bytes32 role, address account) external view returns (bool) {
        uint256 plusOne = _roleBitPlusOne[role];
        if (plusOne == 0) return false;
        return (uint256(_members[twin][account].roles) >> (plusOne - 1)) & 1 == 1;
    }

    /// @inheritdoc IAuthorization
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

    /// @inheritdoc IAuthorization
    function roleBitmap(uint256 twin, address account) external view returns (uint256) {
        return _members[twin][account].roles;
    }

    /// @inheritdoc IAuthorization
    function ownerCount(uint256 twin) external view returns (uint256) {
        return _twins[twin].ownerCount;
    }

    /// @inheritdoc IAuthorization
    function isInitialized(uint256 twin) external view returns (bool) {
        return _twins[twin].initialized;
    }

    // ---------------------------------------------------------------- ownership

    /// @inheritdoc IAuthorization
    function offerOwnership(uint256 twin, address to) external {
        _offer(twin, to, false);
    }

    /// @inheritdoc IAuthorization
    function offerCoOwnership(uint256 twin, address to) external {
        _offer(twin, to, true);
    }

    /// @inheritdoc IAuthorization
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

    /// @inheritdoc IAuthorization
    function cancelOwnershipOffer(uint256 twin) external {
        _requireWritable(twin);
        if (!_isOwner(twin, msg.sender)) revert NotTwinOwner(twin, msg.sender);
        address to = _offers[twin].to;
        if (to == address(0)) revert NoOwnershipOffer(twin, address(0));
        delete _offers[twin];
        emit OwnershipOfferCancelled(twin, to, msg.sender);
    }

    /// @inheritdoc IAuthorization
    function pendingOwnershipOffer(uint256 twin) external view returns (address to, address offerer, bool keep) {
        Offer memory o = _offers[twin];
        return (o.to, o.offerer, o.keep);
    }

    // ---------------------------------------------------------------- permission matrix

    /// @inheritdoc IAuthorization
    function setPermissions(uint256 twin, bytes32 role, uint256 permissions) external {
        TwinState storage t = _requireWritable(twin);
        if (!_isOwner(twin, msg.sender)) revert NotTwinOwner(twin, msg.sender);
        uint256 bit = _bitOf(role);
        if (bit == 0) revert ImmutableRole(role);
        _matrix[twin][bit] = permissions;
        t.customized |= uint192(1 << bit);
        emit PermissionsSet(twin, role, permissions, msg.sender);
    }

    /// @inheritdoc IAuthorization
    function resetPermissions(uint256 twin, bytes32 role) external {
        TwinState storage t = _requireWritable(twin);
        if (!_isOwner(twin, msg.sender)) revert NotTwinOwner(twin, msg.sender);
        uint256 bit = _bitOf(role);
        if (bit == 0) revert ImmutableRole(role);
        t.customized &= ~uint192(1 << bit);
        delete _matrix[twin][bit];
        emit PermissionsReset(twin, role, msg.sender);
    }

    /// @inheritdoc IAuthorization
    function permissionsOf(uint256 twin, bytes32 role) external view returns (uint256) {
        uint256 bit = _bitOf(role);
        return _rolePermissions(twin, _twins[twin].customized, bit);
    }

    /// @inheritdoc IAuthorization
    function effectivePermissions(uint256 twin, address account) external view returns (uint256) {
        return _permissionsOfRoles(twin, _members[twin][account].roles);
    }

    // ---------------------------------------------------------------- scopes

    /// @inheritdoc IAuthorization
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

    /// @inheritdoc IAuthorization
    function clearScope(uint256 twin, address account) external {
        _requireWritable(twin);
        _requireCan(twin, msg.sender, Permissions.ROLE_ADMIN);
        Member storage m = _members[twin][account];
        if (!m.scoped) revert NotScoped(twin, account);
        m.scoped = false;
        emit ScopeCleared(twin, account, m.scopeEpoch, msg.sender);
    }

    /// @inheritdoc IAuthorization
    function scopeOf(uint256 twin, address account) external view returns (bool scoped, uint32 epoch) {
        Member memory m = _members[twin][account];
        return (m.scoped, m.scopeEpoch);
    }

    /// @inheritdoc IAuthorization
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

    /// @inheritdoc IAuthorization
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

    /// @inheritdoc IAuthorization
    function registerKey(bytes calldata publicKey) external {
        if (publicKey.length != 64) revert InvalidPublicKeyLength(publicKey.length);
        address derived = address(uint160(uint256(keccak256(publicKey))));
        if (derived != msg.sender) revert PublicKeyMismatch(derived, msg.sender);
        _keys[msg.sender] = PublicKey(bytes32(publicKey[0:32]), bytes32(publicKey[32:64]));
        emit KeyRegistered(msg.sender, publicKey);
    }

    /// @inheritdoc IAuthorization
    function publicKeyOf(address account) external view returns (bytes memory) {
        PublicKey memory k = _keys[account];
        if (k.x == bytes32(0) && k.y == bytes32(0)) return "";
        return abi.encodePacked(k.x, k.y);
    }

    /// @inheritdoc IAuthorization
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

    /// @inheritdoc IAuthorization
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
