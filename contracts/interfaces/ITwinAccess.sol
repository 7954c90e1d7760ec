// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IAuthorization} from "./IAuthorization.sol";

/// @title The Authorization extension the twin registry uses for its own checks.
/// @notice One call answers both questions every write asks: is the caller allowed, and is the
///         twin still writable. Saves the registry a second external call (or its own storage read)
///         per write.
interface ITwinAccess is IAuthorization {
    /// @notice `allowed` is exactly `can(twin, account, permissions, component)`; `frozen` is
    ///         exactly `isFrozen(twin)`.
    function check(
        uint256 twin,
        address account,
        uint256 permissions,
        bytes32 component
    ) external view returns (bool allowed, bool frozen);
}
