// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITwinAccess} from "../interfaces/ITwinAccess.sol";
import {ISpecification} from "../interfaces/ISpecification.sol";
import {PackedRecords} from "../libraries/PackedRecords.sol";
import {TwinAccessCall} from "../libraries/TwinAccessCall.sol";

/// @title Shared storage and checks of the twin registry modules (their errors and events: {ISpecification}).
/// @notice Every write asks the Authorization contract (one `check` call: permission + frozen)
///         and reverts {TwinDismissed} on a dismissed twin. CIDs are stored as
///         `(bytes32 digest, uint16 codec)` (docs/formats.md section 5).
abstract contract SpecificationBase is ISpecification {
    // ---------------------------------------------------------------- types

    /// @dev Slot 0 packs the small fields; name is one slot when at most 31 bytes.
    struct Twin {
        uint48 parent;
        uint40 createdAt;
        Phase phase;
        uint32 specVersionCount;
        uint8 height; // an upper bound of the longest chain of descendants below (0: none); never lowered
        uint32 removedComponents; // components ever removed (SensorFeed caches its component checks on it)
        bytes32 deviceId;
        string name;
    }

    struct Component {
        bytes32 parent; // bytes32(0): directly under the twin
        bytes32 kind;
        bytes32 replacedBy; // set by replaceComponent
        uint40 addedAt;
        bool exists;
        bool active;
        uint32 activeChildren; // active components whose parent this is
        string name;
    }

    /// @dev All global id counters in one slot. Twin ids are stored as uint48 everywhere (the counter
    ///      reverts on overflow before an id could be truncated).
    struct Counters {
        uint48 twins;
        uint64 documents;
        uint64 calls;
        uint64 sources;
    }

    // ---------------------------------------------------------------- constants

    /// @notice Longest twin, component or document name, in bytes.
    uint256 public constant MAX_NAME_LENGTH = 64;
    /// @notice Most items in one batch call.
    uint256 public constant MAX_BATCH = 64;

    // ---------------------------------------------------------------- storage

    /// @notice The Authorization contract asked for every permission check.
    ITwinAccess public immutable auth;

    Counters internal _counters;
    mapping(uint256 twin => Twin) internal _twins;
    mapping(uint256 twin => mapping(bytes32 id => Component)) internal _components;

    // ---------------------------------------------------------------- errors

    // ---------------------------------------------------------------- construction

    constructor(address authorization) {
        if (authorization == address(0)) revert ZeroAddress();
        auth = ITwinAccess(authorization);
    }

    // ---------------------------------------------------------------- checks

    /// @dev Every twin has at least one specification version; reads the twin's own first slot,
    ///      which most twin-level writes read anyway.
    function _twinExists(uint256 twin) internal view returns (bool) {
        return _twins[twin].specVersionCount != 0;
    }

    function _requireTwin(uint256 twin) internal view {
        if (!_twinExists(twin)) revert TwinNotFound(twin);
    }

    /// @dev One external call: reverts {TwinDismissed} first, then {Unauthorized}.
    function _authorize(uint256 twin, uint256 permissions, bytes32 component) internal view {
        (bool allowed, bool frozen) = _check(twin, permissions, component);
        if (frozen) revert TwinDismissed(twin);
        if (!allowed) revert Unauthorized(twin, msg.sender, permissions, component);
    }

    /// @dev `auth.check(twin, msg.sender, permissions, component)`, hand-encoded ({TwinAccessCall}): it runs on
    ///      every write. `auth` is our own trusted, immutable contract; a failed call bubbles its revert data up.
    function _check(
        uint256 twin,
        uint256 permissions,
        bytes32 component
    ) internal view returns (bool allowed, bool frozen) {
        return TwinAccessCall.check(auth, twin, msg.sender, permissions, component);
    }

    function _activeComponent(uint256 twin, bytes32 id) internal view returns (Component storage c) {
        c = _components[twin][id];
        if (!c.active) revert ComponentNotActive(twin, id);
    }

    /// @dev Twin exists and, if `component != 0`, the component is active on it.
    function _requireTarget(uint256 twin, bytes32 component) internal view {
        if (component == bytes32(0)) _requireTwin(twin);
        else _activeComponent(twin, component);
    }

    function _requireName(string calldata name) internal pure {
        uint256 len = bytes(name).length;
        if (len == 0 || len > MAX_NAME_LENGTH) revert InvalidLength(len, MAX_NAME_LENGTH);
    }

    function _requireCid(bytes32 cid, uint16 codec) internal pure {
        if (cid == bytes32(0) || codec == 0) revert InvalidCid(cid, codec);
    }

    /// @dev The packed (author, codec, time) slot is written once ({PackedRecords.writeMeta}).
    function _writeVersion(PackedRecords.Version storage v, bytes32 cid, uint16 codec, bytes32 digest) internal {
        v.cid = cid;
        v.digest = digest;
        PackedRecords.writeMeta(v, msg.sender, codec, block.timestamp);
    }
}
