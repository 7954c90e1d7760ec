// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title What SensorFeed asks the twin Specification registry.
interface ISpecification {
    /// @notice True if the twin exists.
    function twinExists(uint256 twin) external view returns (bool);

    /// @notice True if the component exists on the twin and has not been removed or replaced.
    function componentActive(uint256 twin, bytes32 component) external view returns (bool);

    /// @notice True if the component is active, or was replaced (not removed): a replaced sensor's feed
    ///         drains the batches measured before the swap until it is retired.
    function componentActiveOrReplaced(uint256 twin, bytes32 component) external view returns (bool);

    /// @notice How many components of the twin were ever removed. A component stops being active-or-replaced
    ///         only by its removal, so while this number has not moved, every component found active or
    ///         replaced still is (`SensorFeed` skips its per-anchor component check on that).
    function removedComponents(uint256 twin) external view returns (uint256);
}
