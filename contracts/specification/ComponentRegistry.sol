// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Permissions} from "../interfaces/IAuthorization.sol";
import {ISpecification} from "../interfaces/ISpecification.sol";
import {SpecificationBase} from "./SpecificationBase.sol";

/// @title Component tree of each twin.
/// @notice A component id is a `bytes32` (off-chain: keccak256 of the AML InternalElement ID);
///         `bytes32(0)` stands for the twin itself. Components are never deleted: removal marks
///         them inactive, replacement keeps the old entry as inactive history pointing to its
///         successor (`replacedBy`). Children keep their parent id; follow `replacedBy` to find the
///         current part. Structural changes need SPEC_UPDATE for the parent (adding), for the
///         component itself (removing) or for both (replacing, which adds under the parent), so a
///         scoped maintainer can work inside its scope and never outside it. A component with active
///         children cannot be removed (remove its children first); a replaced one keeps its children, who
///         follow `replacedBy` to their current parent.
abstract contract ComponentRegistry is SpecificationBase {
    /// @inheritdoc ISpecification
    function addComponent(uint256 twin, bytes32 id, bytes32 parent, string calldata name, bytes32 kind) external {
        _requireTarget(twin, parent);
        _authorize(twin, Permissions.SPEC_UPDATE, parent);
        _addComponent(twin, id, parent, name, kind);
    }

    /// @inheritdoc ISpecification
    function addComponents(
        uint256 twin,
        bytes32[] calldata ids,
        bytes32[] calldata parents,
        string[] calldata names,
        bytes32[] calldata kinds
    ) external {
        uint256 n = ids.length;
        if (parents.length != n || names.length != n || kinds.length != n) revert LengthMismatch();
        if (n > MAX_BATCH) revert BatchTooLarge(n, MAX_BATCH);
        _requireTwin(twin);
        bytes32 lastChecked;
        bool checked;
        for (uint256 i; i < n; ++i) {
            bytes32 parent = parents[i];
            if (parent != bytes32(0)) _activeComponent(twin, parent);
            if (!checked || parent != lastChecked) {
                _authorize(twin, Permissions.SPEC_UPDATE, parent);
                lastChecked = parent;
                checked = true;
            }
            _addComponent(twin, ids[i], parent, names[i], kinds[i]);
        }
    }

    /// @inheritdoc ISpecification
    function removeComponent(uint256 twin, bytes32 id) external {
        Component storage c = _activeComponent(twin, id);
        _authorize(twin, Permissions.SPEC_UPDATE, id);
        _deactivate(twin, id, c);
        emit ComponentRemoved(twin, id, msg.sender);
    }

    /// @inheritdoc ISpecification
    function replaceComponent(
        uint256 twin,
        bytes32 oldId,
        bytes32 newId,
        string calldata name,
        bytes32 kind
    ) external {
        Component storage old = _activeComponent(twin, oldId);
        _authorize(twin, Permissions.SPEC_UPDATE, oldId);
        _authorize(twin, Permissions.SPEC_UPDATE, old.parent);
        old.active = false;
        _leaveParent(twin, old.parent);
        old.replacedBy = newId;
        emit ComponentReplaced(twin, oldId, newId, msg.sender);
        _addComponent(twin, newId, old.parent, name, kind);
    }

    /// @inheritdoc ISpecification
    function component(
        uint256 twin,
        bytes32 id
    )
        external
        view
        returns (
            bool exists,
            bool active,
            bytes32 parent,
            bytes32 kind,
            bytes32 replacedBy,
            uint256 addedAt,
            string memory name
        )
    {
        Component storage c = _components[twin][id];
        return (c.exists, c.active, c.parent, c.kind, c.replacedBy, c.addedAt, c.name);
    }

    function _addComponent(uint256 twin, bytes32 id, bytes32 parent, string calldata name, bytes32 kind) private {
        if (id == bytes32(0)) revert InvalidComponentId();
        _requireName(name);
        Component storage c = _components[twin][id];
        if (c.exists) revert ComponentExists(twin, id);
        if (parent != bytes32(0)) c.parent = parent;
        if (kind != bytes32(0)) c.kind = kind;
        c.addedAt = uint40(block.timestamp);
        c.exists = true;
        c.active = true;
        c.name = name;
        if (parent != bytes32(0)) ++_components[twin][parent].activeChildren;
        emit ComponentAdded(twin, id, parent, kind, name, msg.sender);
    }

    function _deactivate(uint256 twin, bytes32 id, Component storage c) private {
        uint256 children = c.activeChildren;
        if (children != 0) revert ComponentHasChildren(twin, id, children);
        c.active = false;
        ++_twins[twin].removedComponents; // every removal moves it (SensorFeed's cache); 2^32 cost more gas than exists
        _leaveParent(twin, c.parent);
    }

    /// @dev One active child fewer under `parent` (a replaced parent keeps counting the children it had).
    function _leaveParent(uint256 twin, bytes32 parent) private {
        if (parent == bytes32(0)) return;
        Component storage p = _components[twin][parent];
        if (p.activeChildren != 0) --p.activeChildren;
    }
}
