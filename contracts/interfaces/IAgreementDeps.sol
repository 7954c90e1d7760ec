// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ISensorFeedProofs} from "./ISensorFeed.sol";

/// @title What AgreementRegistry asks SensorFeed: proofs of batches and readings, and a feed's twin.
/// @notice `SensorFeed` implements every function here (`feed` with the same return layout).
interface IAgreementFeeds is ISensorFeedProofs {
    /// @notice Everything about a feed, as `SensorFeed.feed` returns it (the agreements read `twin`).
    struct FeedView {
        uint256 twin;
        bytes32 component;
        address deviceKey;
        uint64 nextSeq;
        bytes32 head;
        uint8 status;
        bytes32 schemaCid;
        uint256 successor;
    }

    /// @notice Everything about a feed; reverts for an unregistered id.
    function feed(uint256 feedId) external view returns (FeedView memory);
}

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
