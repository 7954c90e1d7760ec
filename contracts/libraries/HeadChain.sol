// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The head chain and the EIP-712 `Anchor` struct hash of a feed's batch, hashed in place.
/// @notice docs/formats.md section 3 (head) and section 4 (`Anchor`). `SensorFeed` hashes every anchored batch
///         twice (its head, and when signed its struct hash); doing it over one memory struct, without
///         `abi.encode` copies, is what the assembly here is for. `contracts/test/TestHeadChain.sol` exposes
///         these functions and `tests/contracts/test_head_chain.py` pins them to the Python encoders.
library HeadChain {
    /// @notice One batch in memory. Its eight words are laid out as the head-chain preimage (docs/formats.md
    ///         section 3), each a clean value of its ABI type, so the head is `keccak256` over them.
    struct Batch {
        bytes32 prevHead;
        uint256 feedId;
        uint256 seq;
        bytes32 root;
        bytes32 cid;
        uint256 count;
        uint256 tFirst;
        uint256 tLast;
    }

    /// @notice `keccak256(abi.encode(prevHead, feedId, seq, root, cid, count, tFirst, tLast))`.
    function head(Batch memory b) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            h := keccak256(b, 0x100)
        }
    }

    /// @notice `hashStruct(Anchor)`: `keccak256(abi.encode(typeHash, feedId, seq, prevHead, root, cid, count,
    ///         tFirst, tLast))`, the EIP-712 field order, which puts `prevHead` third.
    function anchorStructHash(bytes32 typeHash, Batch memory b) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40) // scratch above the free memory pointer, not allocated
            mstore(p, typeHash)
            mstore(add(p, 0x20), mload(add(b, 0x20))) // feedId
            mstore(add(p, 0x40), mload(add(b, 0x40))) // seq
            mstore(add(p, 0x60), mload(b)) // prevHead
            mcopy(add(p, 0x80), add(b, 0x60), 0xa0) // root, cid, count, tFirst, tLast
            h := keccak256(p, 0x120)
        }
    }

    /// @notice Splits a 65-byte calldata signature into (r, s, v) without copying it to memory. The caller
    ///         checks the length first; `ECDSA.tryRecover` checks `s` and the recovered signer.
    function split(bytes calldata signature) internal pure returns (bytes32 r, bytes32 s, uint8 v) {
        assembly ("memory-safe") {
            r := calldataload(signature.offset)
            s := calldataload(add(signature.offset, 0x20))
            v := byte(0, calldataload(add(signature.offset, 0x40)))
        }
    }
}
