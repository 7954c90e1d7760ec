// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITwinAccess} from "../interfaces/ITwinAccess.sol";
import {TwinAccessCall} from "../libraries/TwinAccessCall.sol";

/// @title Exposes TwinAccessCall beside the ABI-encoded call (a test harness only: never deployed by the
///        deployment plan).
contract TestTwinAccessCall {
    /// @notice What this contract's own `check(uint256,address,uint256,bytes32)` reverts with.
    error Refused(uint256 twin);

    /// @notice A callee that refuses: its revert must come up through TwinAccessCall unchanged.
    function check(uint256 twin, address, uint256, bytes32) external pure returns (bool, bool) {
        revert Refused(twin);
    }

    /// @notice The hand-encoded call.
    function check(ITwinAccess auth, uint256 twin, address account, uint256 permissions, bytes32 component)
        external
        view
        returns (bool, bool)
    {
        return TwinAccessCall.check(auth, twin, account, permissions, component);
    }

    /// @notice The same call through the ABI helpers.
    function checkAbi(ITwinAccess auth, uint256 twin, address account, uint256 permissions, bytes32 component)
        external
        view
        returns (bool, bool)
    {
        return auth.check(twin, account, permissions, component);
    }
}
