// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITwinAccess} from "../interfaces/ITwinAccess.sol";
import {ISpecification} from "../interfaces/ISpecification.sol";

/// @title Shared storage and checks of the twin registry modules (their errors and events: {ISpecification}).
/// @notice Every write asks the Authorization contract (one `check` call: permission + frozen)
///         and reverts {TwinDismissed} on a dismissed twin. CIDs are stored as
///         `(bytes32 digest, uint16 codec)` (docs/formats.md section 5).
abstract contract SpecificationBase is ISpecification {
    // ---------------------------------------------------------------- types

    /// @dev A pointer to IPFS content plus who wrote it and when: 3 slots.
    struct Version {
        bytes32 cid; // sha2-256 digest from the CID's multihash
        bytes32 digest; // digest of the content itself (as defined by the content's format)
        address author;
        uint16 codec; // multicodec of the CID: 0x55 raw, 0x70 dag-pb
        uint40 time;
    }

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

    /// @dev `auth.check(twin, msg.sender, permissions, component)`. Hand-encoded: it runs on every
    ///      write, and the ABI helpers cost a few hundred gas more. `auth` is our own trusted,
    ///      immutable contract; a failed call bubbles its revert data up.
    function _check(
        uint256 twin,
        uint256 permissions,
        bytes32 component
    ) internal view returns (bool allowed, bool frozen) {
        address target = address(auth);
        bytes4 selector = ITwinAccess.check.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), twin)
            mstore(add(ptr, 0x24), caller())
            mstore(add(ptr, 0x44), permissions)
            mstore(add(ptr, 0x64), component)
            if iszero(staticcall(gas(), target, ptr, 0x84, ptr, 0x40)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
            if lt(returndatasize(), 0x40) {
                revert(0, 0)
            }
            allowed := iszero(iszero(mload(ptr)))
            frozen := iszero(iszero(mload(add(ptr, 0x20))))
        }
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

    /// @dev One assignment so the optimizer writes the packed (author, codec, time) slot once.
    function _writeVersion(Version storage v, bytes32 cid, uint16 codec, bytes32 digest) internal {
        v.cid = cid;
        v.digest = digest;
        _writeMeta(v, codec);
    }

    function _writeMeta(Version storage v, uint16 codec) private {
        uint256 word = uint256(uint160(msg.sender)) | (uint256(codec) << 160) | (block.timestamp << 176);
        assembly ("memory-safe") {
            sstore(add(v.slot, 2), word)
        }
    }
}
