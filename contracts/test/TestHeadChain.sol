// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {HeadChain} from "../libraries/HeadChain.sol";

/// @title Exposes HeadChain for the tests that pin it to the Python head chain and EIP-712 encoders.
/// @notice A test harness only: the deployment plan never deploys it (scripts/deploy.py, docs/architecture.md).
contract TestHeadChain {
    /// @notice HeadChain.head of the batch.
    function head(HeadChain.Batch memory b) external pure returns (bytes32) {
        return HeadChain.head(b);
    }

    /// @notice HeadChain.anchorStructHash of the batch.
    function anchorStructHash(bytes32 typeHash, HeadChain.Batch memory b) external pure returns (bytes32) {
        return HeadChain.anchorStructHash(typeHash, b);
    }

    /// @notice HeadChain.split of a calldata signature.
    function split(bytes calldata signature) external pure returns (bytes32 r, bytes32 s, uint8 v) {
        return HeadChain.split(signature);
    }
}
