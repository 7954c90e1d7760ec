// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The physical floor of anchoring: a bare contract that only emits the 32-byte root.
/// @notice No storage, no checks, no permissions. Nothing cheaper can put a root on-chain in a verifiable log.
contract EventOnlyAnchor {
    event Anchored(bytes32 root);

    function anchor(bytes32 root) external {
        emit Anchored(root);
    }
}
