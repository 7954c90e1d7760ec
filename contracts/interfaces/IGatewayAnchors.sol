// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The parts of `SensorFeed` a gateway's windows are judged against.
/// @notice `feed`, `domainSeparator` and `headAt` are `SensorFeed`'s own functions; `FeedRecord` has the ABI layout of
///         `SensorFeed.FeedView` (its `status` enum travels as a uint8).
interface ISensorFeedRegistry {
    /// @notice `SensorFeed.FeedView`, field for field.
    struct FeedRecord {
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
    /// @param feedId The feed.
    /// @return The feed's record.
    function feed(uint256 feedId) external view returns (FeedRecord memory);

    /// @notice `SensorFeed`'s EIP-712 domain separator: devices sign `Anchor`s under it in both modes.
    /// @return The separator.
    function domainSeparator() external view returns (bytes32);

    /// @notice The feed's head after its per-feed batch `seq`, `bytes32(0)` if that batch is not anchored there.
    /// @param feedId The feed.
    /// @param seq The batch.
    /// @return The stored head.
    function headAt(uint256 feedId, uint64 seq) external view returns (bytes32);

    /// @notice When the feed's device key was last rotated (seconds), 0 if never.
    /// @param feedId The feed.
    /// @return The timestamp.
    function keyRotatedAt(uint256 feedId) external view returns (uint64);
}

/// @title Gateway-aggregated anchors: one root per window over the batches of many feeds.
/// @notice A gateway (a holder of `GATEWAY_ROLE`) anchors a window with one transaction and O(1) storage: the
///         window's root is the Merkle root over one leaf per feed batch (docs/formats.md section 9), each leaf
///         committing to the batch's fields, its place in the feed's head chain and the hash of its device
///         signature, the same EIP-712 `Anchor` a device signs for a per-feed anchor on `SensorFeed`.
///
///         Nothing about the feeds is checked when a window is anchored. Instead anyone holding the evidence
///         (the window's content is on IPFS under the window CID) can prove a fault on-chain:
///         - a leaf whose signature does not recover to the feed's device key (forged, or for an unknown feed
///           or a feed without a device key): {challengeSignature};
///         - two leaves of one feed, in one window or in two, that break its chain: the same seq with two
///           different heads, or seq n+1 whose previous head is not seq n's head: {challengeSequence};
///         - a leaf that contradicts the feed's start (seq 0 on a non-genesis head) or its per-feed anchors on
///           `SensorFeed`: {challengeAgainstFeed}.
///         A proven fault marks the window Challenged (its readings stop verifying) and counts one fault of the
///         gateway. A challenge that proves nothing reverts with the custom error saying why.
interface IGatewayAnchors {
    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// @notice What a successful challenge proved.
    enum Fault {
        None,
        ForgedSignature,
        UnknownFeed,
        DuplicateSeq,
        BrokenHeadChain,
        ConflictsWithFeed
    }

    /// @notice One leaf of a window: a feed batch as its device signed it, and the hash of that signature.
    /// @dev `leaf = keccak256(bytes.concat(keccak256(abi.encode(feedId, seq, prevHead, root, cid, count, tFirst,
    ///      tLast, signatureHash))))`; the batch's head is `keccak256(abi.encode(prevHead, feedId, seq, root, cid,
    ///      count, tFirst, tLast))` as on `SensorFeed` (docs/formats.md sections 3 and 8).
    struct BatchLeaf {
        uint256 feedId;
        uint64 seq;
        bytes32 prevHead;
        bytes32 root;
        bytes32 cid;
        uint32 count;
        uint64 tFirst;
        uint64 tLast;
        bytes32 signatureHash;
    }

    /// @notice What is stored per window (one slot besides the root).
    struct WindowView {
        bytes32 root;
        address gateway;
        uint64 anchoredAt;
        bool challenged;
    }

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    /// @notice `gateway` anchored window `windowId`: `root` over `feedCount` batch leaves holding `readingCount`
    ///         readings; the window's content (its leaves and signatures) is on IPFS under the CIDv1 of sha2-256
    ///         digest `cid` and multicodec `codec` (docs/formats.md sections 5 and 8).
    event WindowAnchored(
        uint256 indexed windowId,
        address indexed gateway,
        bytes32 root,
        bytes32 cid,
        uint16 codec,
        uint32 feedCount,
        uint64 readingCount
    );

    /// @notice `challenger` proved `fault` about batch `seq` of `feedId` in window `windowId` of `gateway`.
    event WindowChallenged(
        uint256 indexed windowId,
        address indexed gateway,
        uint256 indexed feedId,
        uint64 seq,
        Fault fault,
        address challenger
    );

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    /// @notice The SensorFeed address was zero.
    error ZeroAddress();

    /// @notice A window needs a non-zero root and CID digest and at least one feed.
    error EmptyWindow();

    /// @notice No window has id `windowId`.
    error UnknownWindow(uint256 windowId);

    /// @notice Window `windowId` was already challenged successfully.
    error WindowAlreadyChallenged(uint256 windowId);

    /// @notice The leaf and proof do not lead to window `windowId`'s root.
    error LeafNotInWindow(uint256 windowId, uint256 feedId, uint64 seq);

    /// @notice The signature given is not the one the leaf commits to.
    error SignatureNotCommitted(uint256 feedId, uint64 seq);

    /// @notice The leaf's signature is the feed's device key's: nothing is forged.
    error SignatureValid(uint256 feedId, uint64 seq, address signer);

    /// @notice The feed's device key was rotated at `rotatedAt`, not before window `windowId` was anchored at
    ///         `anchoredAt` (seconds): today's key is not the one the window's leaves had to be signed with, and
    ///         the old one is not kept on-chain, so the signature cannot be judged here.
    error KeyRotatedSinceWindow(uint256 windowId, uint256 feedId, uint64 rotatedAt, uint64 anchoredAt);

    /// @notice The two leaves belong to different feeds.
    error DifferentFeeds(uint256 feedA, uint256 feedB);

    /// @notice The leaves agree with each other (or are not the same or consecutive seqs): no break shown.
    error ChainConsistent(uint256 feedId, uint64 seqA, uint64 seqB);

    /// @notice The leaf agrees with the feed's start and its per-feed anchors: no conflict shown.
    error NoConflictWithFeed(uint256 feedId, uint64 seq);

    // ---------------------------------------------------------------------------------------------
    // Functions
    // ---------------------------------------------------------------------------------------------

    /// @notice Anchors one window. Needs `GATEWAY_ROLE`. Checks no leaf: faults are proven by challenge.
    /// @param root The Merkle root over the window's batch leaves.
    /// @param cid sha2-256 digest of the window content's CID (docs/formats.md section 9).
    /// @param codec The multicodec of that CID: 0x55 (raw) or 0x70 (dag-pb).
    /// @param feedCount Number of leaves (feed batches) in the window.
    /// @param readingCount Total readings of those batches.
    /// @return windowId The new window's id; ids start at 1.
    function anchorWindow(bytes32 root, bytes32 cid, uint16 codec, uint32 feedCount, uint64 readingCount)
        external
        returns (uint256 windowId);

    /// @notice True iff window `windowId` is anchored and not challenged, `batchProof` leads from `leaf` to its
    ///         root, and `readingProof` from the leaf of `readingHash` (`keccak256(abi.encode(readingHash))`, as on
    ///         `SensorFeed.verifyReading`) to `leaf.root`.
    /// @param windowId The window.
    /// @param leaf The reading's batch, as a window leaf.
    /// @param batchProof Sibling hashes from the batch leaf up to the window root.
    /// @param readingHash `keccak256(dag_cbor(reading))`.
    /// @param readingProof Sibling hashes from the reading's leaf up to the batch root.
    /// @return Whether the reading is in that window.
    function verifyReading(
        uint256 windowId,
        BatchLeaf calldata leaf,
        bytes32[] calldata batchProof,
        bytes32 readingHash,
        bytes32[] calldata readingProof
    ) external view returns (bool);

    /// @notice True iff window `windowId` is anchored and `proof` leads from `leaf` to its root.
    /// @param windowId The window.
    /// @param leaf The batch leaf.
    /// @param proof Sibling hashes from the leaf up.
    /// @return Whether the leaf is in the window.
    function verifyLeaf(uint256 windowId, BatchLeaf calldata leaf, bytes32[] calldata proof)
        external
        view
        returns (bool);

    /// @notice Proves that a leaf of window `windowId` carries a signature that is not its feed's device key's
    ///         (or that its feed is unknown or has no device key). Marks the window and the gateway. The key is
    ///         the feed's current one, which must have been in force when the window was anchored: a window
    ///         anchored before the key's last rotation, or in the same second, reverts with
    ///         `KeyRotatedSinceWindow` (an honest old window is never marked; a forged one must be challenged
    ///         before the key is rotated).
    /// @param windowId The window.
    /// @param leaf The forged leaf.
    /// @param proof Sibling hashes from the leaf up to the window root.
    /// @param signature The signature the leaf commits to (`keccak256(signature) == leaf.signatureHash`).
    function challengeSignature(
        uint256 windowId,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        bytes calldata signature
    ) external;

    /// @notice Proves that two leaves of one feed break its head chain: the same seq with different heads, or
    ///         `b.seq == a.seq + 1` with `b.prevHead` not `a`'s head. Marks window `windowB` and its gateway.
    /// @param windowA The window holding `a` (may equal `windowB`).
    /// @param a The earlier (or first) leaf.
    /// @param proofA Its proof in `windowA`.
    /// @param windowB The window holding `b`, the one marked.
    /// @param b The later (or second) leaf.
    /// @param proofB Its proof in `windowB`.
    function challengeSequence(
        uint256 windowA,
        BatchLeaf calldata a,
        bytes32[] calldata proofA,
        uint256 windowB,
        BatchLeaf calldata b,
        bytes32[] calldata proofB
    ) external;

    /// @notice Proves that a leaf contradicts its feed on `SensorFeed`: seq 0 on a non-zero previous head, or a
    ///         head (or previous head) other than the per-feed anchor stored for that seq (or the seq before).
    /// @param windowId The window.
    /// @param leaf The leaf.
    /// @param proof Sibling hashes from the leaf up to the window root.
    function challengeAgainstFeed(uint256 windowId, BatchLeaf calldata leaf, bytes32[] calldata proof) external;

    /// @notice The stored part of window `windowId`; reverts with `UnknownWindow` for an id never anchored.
    /// @param windowId The window.
    /// @return The window's root, gateway, anchoring time (seconds) and whether it was challenged.
    function window(uint256 windowId) external view returns (WindowView memory);

    /// @notice Number of windows anchored so far (= the highest window id).
    /// @return The count.
    function windowCount() external view returns (uint256);

    /// @notice Number of windows of `gateway` proven faulty.
    /// @param gateway The gateway.
    /// @return The count.
    function gatewayFaults(address gateway) external view returns (uint256);

    /// @notice The leaf hash of `leaf` (docs/formats.md section 9), for off-chain tooling and tests.
    /// @param leaf The batch leaf.
    /// @return The 32-byte leaf.
    function leafHash(BatchLeaf calldata leaf) external pure returns (bytes32);

    /// @notice The head of `leaf`'s batch: `keccak256(abi.encode(prevHead, feedId, seq, root, cid, count, tFirst,
    ///         tLast))`.
    /// @param leaf The batch leaf.
    /// @return The head after that batch.
    function headOf(BatchLeaf calldata leaf) external pure returns (bytes32);
}
