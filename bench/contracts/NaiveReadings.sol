// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The naive baseline: one transaction and one storage write per reading.
/// @notice Each reading's hash is stored under its reading id, as a system without batching would do.
contract NaiveReadings {
    mapping(uint256 readingId => bytes32 readingHash) public hashOf;

    function store(uint256 readingId, bytes32 readingHash) external {
        hashOf[readingId] = readingHash;
    }
}
