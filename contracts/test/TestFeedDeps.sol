// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAuthorization} from "../interfaces/IAuthorization.sol";
import {ISpecification} from "../interfaces/ISpecification.sol";

/// @title Test double of Authorization and Specification for SensorFeed tests (any twin id, incl. > 2^48).
/// @notice Permissions are set per (twin, account, component); `bytes32(0)` grants the whole twin.
contract TestFeedDeps is IAuthorization, ISpecification {
    mapping(uint256 => mapping(address => mapping(bytes32 => uint256))) public perms;
    mapping(uint256 => bool) public frozen;
    mapping(uint256 => mapping(bytes32 => bool)) public active;

    /// @notice Sets `account`'s permission mask on (`twin`, `component`).
    function setPerms(uint256 twin, address account, bytes32 component, uint256 mask) external {
        perms[twin][account][component] = mask;
    }

    /// @notice Marks a component active or not.
    function setActive(uint256 twin, bytes32 component, bool value) external {
        active[twin][component] = value;
    }

    /// @notice Freezes or unfreezes a twin.
    function setFrozen(uint256 twin, bool value) external {
        frozen[twin] = value;
    }

    /// @inheritdoc IAuthorization
    function can(uint256 twin, address account, uint256 permissions, bytes32 component) external view returns (bool) {
        uint256 mask = perms[twin][account][bytes32(0)] | perms[twin][account][component];
        return mask & permissions == permissions;
    }

    /// @inheritdoc IAuthorization
    function isFrozen(uint256 twin) external view returns (bool) {
        return frozen[twin];
    }

    /// @inheritdoc IAuthorization
    function initializeTwin(uint256, address) external pure {}

    /// @inheritdoc IAuthorization
    function freezeTwin(uint256 twin) external {
        frozen[twin] = true;
    }

    /// @inheritdoc ISpecification
    function twinExists(uint256 twin) external view returns (bool) {
        return twin != 0 && !frozen[twin];
    }

    /// @inheritdoc ISpecification
    function componentActive(uint256 twin, bytes32 component) external view returns (bool) {
        return active[twin][component];
    }
}
