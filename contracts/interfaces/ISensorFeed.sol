// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Proofs about a TwinLedger sensor feed's anchored batches and readings.
/// @notice What another contract (e.g. an agreement) asks `SensorFeed` to check a batch or a reading
///         against the chain of heads it stores per seq (docs/formats.md sections 2 and 3).
interface ISensorFeedProofs {
    /// @notice The fields of one anchored batch, exactly as in the `Anchored` event (docs/formats.md
    ///         section 3); with the feed id and the seq they are the inputs of the batch's head.
    struct BatchHeader {
        bytes32 prevHead;
        bytes32 root;
        bytes32 cid;
        uint32 count;
        uint64 tFirst;
        uint64 tLast;
    }

    /// @notice The feed's head after batch `seq`, `bytes32(0)` if that batch is not anchored. The feed's
    ///         running head is `headAt(feedId, nextSeq - 1)`.
    /// @param feedId The feed.
    /// @param seq The batch.
    /// @return The head stored for that batch.
    function headAt(uint256 feedId, uint64 seq) external view returns (bytes32);

    /// @notice True iff batch `seq` of the feed is anchored and `h` is its header: `headAt(feedId, seq)` is
    ///         non-zero and equals `keccak256(abi.encode(h.prevHead, feedId, seq, h.root, h.cid, h.count,
    ///         h.tFirst, h.tLast))`.
    /// @param feedId The feed.
    /// @param seq The batch.
    /// @param h The batch's header, as in its `Anchored` event (`prevHead` is the previous event's head).
    /// @return Whether the header is the anchored one.
    function verifyBatch(uint256 feedId, uint64 seq, BatchHeader calldata h) external view returns (bool);

    /// @notice True iff `verifyBatch(feedId, seq, h)` and `proof` leads from the leaf of `readingHash` to
    ///         `h.root`. The leaf's outer hash is applied here, `leaf = keccak256(abi.encode(readingHash))`,
    ///         so an inner node or the root cannot pass as a reading.
    /// @param feedId The feed.
    /// @param seq The batch.
    /// @param h The batch's header.
    /// @param readingHash `keccak256(dag_cbor(reading))` (docs/formats.md section 2).
    /// @param proof Sibling hashes from the leaf up, as `MerkleTree.proof` gives them.
    /// @return Whether the reading is in that anchored batch.
    function verifyReading(
        uint256 feedId,
        uint64 seq,
        BatchHeader calldata h,
        bytes32 readingHash,
        bytes32[] calldata proof
    ) external view returns (bool);
}
