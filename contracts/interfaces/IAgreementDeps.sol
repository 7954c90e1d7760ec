// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title What AgreementRegistry asks the Specification registry about program calls.
interface IProgramCalls {
    /// @notice A program call: its twin, component, program, caller, status (3 = Done) and result.
    function programCall(uint256 callId)
        external
        view
        returns (
            uint256 twin,
            bytes32 componentId,
            bytes32 program,
            address caller,
            uint8 status,
            bytes32 resultCid,
            uint16 resultCodec
        );

    /// @notice Number of program calls ever made (ids are 1..callCount).
    function callCount() external view returns (uint256);
}
