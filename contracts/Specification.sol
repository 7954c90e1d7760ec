// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Permissions} from "./interfaces/IAuthorization.sol";
import {ISpecification} from "./interfaces/ISpecification.sol";
import {SpecificationBase} from "./specification/SpecificationBase.sol";
import {ComponentRegistry} from "./specification/ComponentRegistry.sol";
import {ProgramRegistry} from "./specification/ProgramRegistry.sol";
import {DocumentRegistry} from "./specification/DocumentRegistry.sol";

/// @title TwinLedger twin registry: one contract for all twins.
/// @notice Holds each twin's name, device id, specification versions (AML files on IPFS),
///         lifecycle phase and parent twin, plus the modules: component tree
///         ({ComponentRegistry}), programs and calls ({ProgramRegistry}), documents and external
///         sources ({DocumentRegistry}). Every permission check is asked from the Authorization
///         contract, which must grant this contract its `REGISTRY_ROLE`: creating a twin makes the
///         creator its first OWNER there, and dismissing a twin freezes it there.
///
/// Lifecycle: any phase may follow any other except that `Dismissed` is terminal. Once dismissed,
/// every write concerning the twin reverts {TwinDismissed}.
contract Specification is ISpecification, ComponentRegistry, ProgramRegistry, DocumentRegistry {
    /// @notice Longest chain of ancestors a twin may have (parent, grandparent, ...).
    uint256 public constant MAX_DEPTH = 16;

    /// @notice Twin `twin` was created by `creator` (its first OWNER).
    event TwinCreated(uint256 indexed twin, address indexed creator, bytes32 indexed deviceId, string name);
    /// @notice Specification version `version` (0-based) of `twin` was recorded.
    event SpecUpdated(
        uint256 indexed twin,
        uint256 indexed version,
        bytes32 cid,
        uint16 codec,
        bytes32 digest,
        address author
    );
    /// @notice `twin` moved from phase `oldPhase` to phase `newPhase`.
    event PhaseChanged(uint256 indexed twin, Phase oldPhase, Phase newPhase, address sender);
    /// @notice The parent of `child` changed from `oldParent` to `newParent` (0 = none).
    event ParentChanged(uint256 indexed child, uint256 indexed oldParent, uint256 indexed newParent, address sender);

    /// @notice The twin already is in this phase.
    error PhaseUnchanged(uint256 twin, Phase phase);
    /// @notice The twin already has this parent.
    error ParentUnchanged(uint256 child, uint256 parent);
    /// @notice Making `parent` the parent of `child` would close a cycle.
    error CycleDetected(uint256 child, uint256 parent);
    /// @notice The ancestor chain of some twin would be longer than {MAX_DEPTH}.
    error HierarchyTooDeep(uint256 maxDepth);

    /// @param authorization Address of the Authorization contract.
    constructor(address authorization) SpecificationBase(authorization) {}

    // ---------------------------------------------------------------- twins

    /// @notice Creates a twin; the caller becomes its first OWNER. Twin ids start at 1.
    /// @dev Emits {TwinCreated} and {SpecUpdated} (version 0); Authorization emits
    ///      `TwinInitialized` and `RoleGranted`.
    /// @param name Twin name, 1..{MAX_NAME_LENGTH} bytes (one storage slot up to 31 bytes).
    /// @param deviceId Identifier of the physical asset (may be zero).
    /// @param specCid Digest of the specification's (AML file's) CID.
    /// @param specCodec Multicodec of that CID.
    /// @param specDigest Digest of the specification content.
    /// @return twinId The new twin's id.
    function createTwin(
        string calldata name,
        bytes32 deviceId,
        bytes32 specCid,
        uint16 specCodec,
        bytes32 specDigest
    ) external returns (uint256 twinId) {
        return _createTwin(name, deviceId, specCid, specCodec, specDigest);
    }

    /// @notice {createTwin}, but only if the new twin gets id `expectedId`: data sealed for that id (an
    ///         encrypted specification) can then never land under another id. Reverts {IdTaken} otherwise.
    function createTwinAt(
        uint256 expectedId,
        string calldata name,
        bytes32 deviceId,
        bytes32 specCid,
        uint16 specCodec,
        bytes32 specDigest
    ) external returns (uint256 twinId) {
        uint256 next = uint256(_counters.twins) + 1;
        if (next != expectedId) revert IdTaken(expectedId, next);
        return _createTwin(name, deviceId, specCid, specCodec, specDigest);
    }

    function _createTwin(
        string calldata name,
        bytes32 deviceId,
        bytes32 specCid,
        uint16 specCodec,
        bytes32 specDigest
    ) private returns (uint256 twinId) {
        _requireName(name);
        _requireCid(specCid, specCodec);
        twinId = ++_counters.twins;
        Twin storage t = _twins[twinId];
        t.createdAt = uint40(block.timestamp);
        t.specVersionCount = 1;
        if (deviceId != bytes32(0)) t.deviceId = deviceId;
        t.name = name;
        _writeVersion(_specVersions[twinId][0], specCid, specCodec, specDigest);
        emit TwinCreated(twinId, msg.sender, deviceId, name);
        emit SpecUpdated(twinId, 0, specCid, specCodec, specDigest, msg.sender);
        auth.initializeTwin(twinId, msg.sender);
    }

    /// @notice Records a new specification version of `twin`.
    /// @dev Needs SPEC_UPDATE at twin level. Emits {SpecUpdated}.
    /// @return version Index of the new version.
    function updateSpec(uint256 twin, bytes32 cid, uint16 codec, bytes32 digest) external returns (uint256 version) {
        _requireTwin(twin);
        _authorize(twin, Permissions.SPEC_UPDATE, bytes32(0));
        _requireCid(cid, codec);
        Twin storage t = _twins[twin];
        version = t.specVersionCount;
        t.specVersionCount = uint32(version + 1);
        _writeVersion(_specVersions[twin][version], cid, codec, digest);
        emit SpecUpdated(twin, version, cid, codec, digest, msg.sender);
    }

    /// @notice Moves `twin` to lifecycle phase `phase`. `Dismissed` is terminal and freezes the
    ///         twin in Authorization.
    /// @dev Needs TWIN_UPDATE at twin level, and TWIN_DISMISS (only OWNERs by default) to dismiss.
    ///      Emits {PhaseChanged}.
    function setPhase(uint256 twin, Phase phase) external {
        _requireTwin(twin);
        _authorize(twin, phase == Phase.Dismissed ? Permissions.TWIN_DISMISS : Permissions.TWIN_UPDATE, bytes32(0));
        Twin storage t = _twins[twin];
        Phase old = t.phase;
        if (old == Phase.Dismissed) revert TwinDismissed(twin);
        if (old == phase) revert PhaseUnchanged(twin, phase);
        t.phase = phase;
        emit PhaseChanged(twin, old, phase, msg.sender);
        if (phase == Phase.Dismissed) auth.freezeTwin(twin);
    }

    /// @notice Makes `parent` the parent (aggregate twin) of `child`; `parent == 0` detaches it.
    /// @dev Needs TWIN_UPDATE on `child` and on `parent`. The whole subtree of `child` counts: its
    ///      deepest descendant must stay within {MAX_DEPTH} ancestors. Walks at most {MAX_DEPTH}
    ///      ancestors twice (cycle and depth check, then the heights above). Emits {ParentChanged}.
    function setParent(uint256 child, uint256 parent) external {
        _requireTwin(child);
        _authorize(child, Permissions.TWIN_UPDATE, bytes32(0));
        uint256 old = _twins[child].parent;
        if (old == parent) revert ParentUnchanged(child, parent);
        if (parent != 0) {
            _requireTwin(parent);
            _authorize(parent, Permissions.TWIN_UPDATE, bytes32(0));
            uint256 below = _twins[child].height; // descendants of child below it, at most
            uint256 p = parent;
            uint256 depth; // ancestors child would have
            while (p != 0) {
                if (p == child) revert CycleDetected(child, parent);
                if (++depth > MAX_DEPTH) revert HierarchyTooDeep(MAX_DEPTH);
                p = _twins[p].parent;
            }
            if (depth + below > MAX_DEPTH) revert HierarchyTooDeep(MAX_DEPTH);
            _raiseHeights(parent, below + 1);
        }
        _twins[child].parent = uint48(parent);
        emit ParentChanged(child, old, parent, msg.sender);
    }

    /// @dev `twin` now has a chain of `height` descendants below it: raise its height and its ancestors'
    ///      where they were lower. Bounded by {MAX_DEPTH}: the chain above was just walked.
    function _raiseHeights(uint256 twin, uint256 height) private {
        uint256 p = twin;
        while (p != 0) {
            Twin storage t = _twins[p];
            if (t.height >= height) return;
            t.height = uint8(height);
            ++height;
            p = t.parent;
        }
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ISpecification
    function twinExists(uint256 twin) external view returns (bool) {
        return _twinExists(twin);
    }

    /// @inheritdoc ISpecification
    function componentActive(uint256 twin, bytes32 id) external view returns (bool) {
        return _components[twin][id].active;
    }

    /// @inheritdoc ISpecification
    function componentActiveOrReplaced(uint256 twin, bytes32 id) external view returns (bool) {
        Component storage c = _components[twin][id];
        return c.active || c.replacedBy != bytes32(0);
    }

    /// @inheritdoc ISpecification
    function removedComponents(uint256 twin) external view returns (uint256) {
        return _twins[twin].removedComponents;
    }

    /// @notice Number of twins ever created (ids are 1..twinCount).
    function twinCount() external view returns (uint256) {
        return _counters.twins;
    }

    /// @notice Twin record. Reverts {TwinNotFound}.
    function twinInfo(
        uint256 twin
    )
        external
        view
        returns (
            string memory name,
            bytes32 deviceId,
            Phase phase,
            uint256 parent,
            uint256 createdAt,
            uint256 specVersionCount
        )
    {
        _requireTwin(twin);
        Twin storage t = _twins[twin];
        return (t.name, t.deviceId, t.phase, t.parent, t.createdAt, t.specVersionCount);
    }

    /// @notice Lifecycle phase of `twin`.
    function phaseOf(uint256 twin) external view returns (Phase) {
        return _twins[twin].phase;
    }

    /// @notice Parent twin of `twin` (0 = none).
    function parentOf(uint256 twin) external view returns (uint256) {
        return _twins[twin].parent;
    }

    /// @notice Number of specification versions of `twin`.
    function specVersionCount(uint256 twin) external view returns (uint256) {
        return _twins[twin].specVersionCount;
    }

    /// @notice Specification version `index` of `twin`.
    function specVersion(
        uint256 twin,
        uint256 index
    ) external view returns (bytes32 cid, uint16 codec, bytes32 digest, address author, uint256 time) {
        uint256 count = _twins[twin].specVersionCount;
        if (index >= count) revert VersionNotFound(index, count);
        Version storage v = _specVersions[twin][index];
        return (v.cid, v.codec, v.digest, v.author, v.time);
    }

    mapping(uint256 twin => mapping(uint256 index => Version)) private _specVersions;
}
