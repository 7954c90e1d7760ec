// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Permissions} from "./interfaces/IAuthorization.sol";
import {ISpecification} from "./interfaces/ISpecification.sol";
import {PackedRecords} from "./libraries/PackedRecords.sol";
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

    /// @param authorization Address of the Authorization contract.
    constructor(address authorization) SpecificationBase(authorization) {}

    // ---------------------------------------------------------------- twins

    /// @inheritdoc ISpecification
    function createTwin(
        string calldata name,
        bytes32 deviceId,
        bytes32 specCid,
        uint16 specCodec,
        bytes32 specDigest
    ) external returns (uint256 twinId) {
        return _createTwin(name, deviceId, specCid, specCodec, specDigest);
    }

    /// @inheritdoc ISpecification
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

    /// @inheritdoc ISpecification
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

    /// @inheritdoc ISpecification
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

    /// @inheritdoc ISpecification
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

    /// @inheritdoc ISpecification
    function twinCount() external view returns (uint256) {
        return _counters.twins;
    }

    /// @inheritdoc ISpecification
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

    /// @inheritdoc ISpecification
    function phaseOf(uint256 twin) external view returns (Phase) {
        return _twins[twin].phase;
    }

    /// @inheritdoc ISpecification
    function parentOf(uint256 twin) external view returns (uint256) {
        return _twins[twin].parent;
    }

    /// @inheritdoc ISpecification
    function specVersionCount(uint256 twin) external view returns (uint256) {
        return _twins[twin].specVersionCount;
    }

    /// @inheritdoc ISpecification
    function specVersion(
        uint256 twin,
        uint256 index
    ) external view returns (bytes32 cid, uint16 codec, bytes32 digest, address author, uint256 time) {
        uint256 count = _twins[twin].specVersionCount;
        if (index >= count) revert VersionNotFound(index, count);
        PackedRecords.Version storage v = _specVersions[twin][index];
        return (v.cid, v.codec, v.digest, v.author, v.time);
    }

    mapping(uint256 twin => mapping(uint256 index => PackedRecords.Version)) private _specVersions;
}
