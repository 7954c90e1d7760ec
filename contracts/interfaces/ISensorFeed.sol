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

/// @title TwinLedger sensor feeds: a registry of device feeds and their chained, device-signed batch anchors.
/// @notice A feed belongs to one component of one twin and has a device key. Its batches are anchored with
///         strictly consecutive sequence numbers; each anchor stores the feed's head after that batch, which
///         commits to the batch's Merkle root and to every earlier batch (docs/formats.md, sections 2 to 5).
///         An anchor is accepted from anyone carrying the device key's EIP-712 signature of it, or, unless the
///         feed requires the device's signature (the default for a feed with a device key), from a holder of
///         the ANCHOR permission on the feed's twin with an empty signature. A feed anchors only while its
///         component is active, or replaced (a swapped sensor's feed drains until it is retired); never once
///         its component is removed. Every error and event of `SensorFeed` is declared here, once.
interface ISensorFeed is ISensorFeedProofs {
    // ---------------------------------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------------------------------

    /// @notice Life cycle of a feed. `None` means the feed id was never registered.
    enum FeedStatus {
        None,
        Active,
        Paused,
        Retired
    }

    /// @notice One batch to anchor, as taken by `anchorMany`. Same fields and meaning as `anchor`'s arguments.
    struct AnchorInput {
        uint256 feedId;
        uint64 seq;
        bytes32 root;
        bytes32 cid;
        uint32 count;
        uint64 tFirst;
        uint64 tLast;
        bytes signature;
    }

    /// @notice Everything known about a feed, as returned by `feed`.
    struct FeedView {
        uint256 twin;
        bytes32 component;
        address deviceKey;
        uint64 nextSeq;
        bytes32 head;
        FeedStatus status;
        bytes32 schemaCid;
        uint256 successor;
    }

    // ---------------------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------------------

    /// @notice A feed was registered for `component` of `twin`, signing with `deviceKey`.
    event FeedRegistered(
        uint256 indexed feedId, uint256 indexed twin, bytes32 indexed component, address deviceKey, bytes32 schemaCid
    );

    /// @notice Batch `seq` of `feedId` was anchored and the feed's head moved to `head`.
    /// @dev With the previous `Anchored` event of the feed (or `bytes32(0)` for seq 0) this is enough to
    ///      recompute `head` and to fetch the batch by CID: CIDv1(raw, sha2-256 `cid`).
    event Anchored(
        uint256 indexed feedId,
        uint64 indexed seq,
        bytes32 root,
        bytes32 cid,
        uint32 count,
        uint64 tFirst,
        uint64 tLast,
        bytes32 head
    );

    /// @notice `feedId` was retired; `successor` (0 for none) continues its measurements.
    event FeedRetired(uint256 indexed feedId, uint256 indexed successor);

    /// @notice The device key of `feedId` changed from `oldKey` to `newKey`.
    event DeviceKeyRotated(uint256 indexed feedId, address indexed oldKey, address indexed newKey);

    /// @notice `account` paused `feedId`: it accepts no anchors until unpaused.
    event FeedPaused(uint256 indexed feedId, address indexed account);

    /// @notice `account` unpaused `feedId`.
    event FeedUnpaused(uint256 indexed feedId, address indexed account);

    /// @notice `account` set whether `feedId` accepts only anchors signed by its device key.
    event SignatureRequirementSet(uint256 indexed feedId, bool required, address indexed account);

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    /// @notice A constructor argument or a device key was the zero address.
    error ZeroAddress();

    /// @notice No feed has id `feedId`.
    error UnknownFeed(uint256 feedId);

    /// @notice `feedId` is paused.
    error FeedIsPaused(uint256 feedId);

    /// @notice `feedId` is not paused, so it cannot be unpaused.
    error FeedNotPaused(uint256 feedId);

    /// @notice `feedId` is retired: it keeps its history and accepts no change.
    error FeedIsRetired(uint256 feedId);

    /// @notice The twin is dismissed: nothing about it may change.
    error TwinFrozen(uint256 twin);

    /// @notice `account` lacks `permission` on (`twin`, `component`).
    error Unauthorized(uint256 twin, bytes32 component, address account, uint256 permission);

    /// @notice The component does not exist on the twin, or was removed or replaced.
    error ComponentNotActive(uint256 twin, bytes32 component);

    /// @notice The anchor's `seq` is not the feed's next one (a gap or a replay).
    error SeqMismatch(uint256 feedId, uint64 expected, uint64 given);

    /// @notice A batch holds at least one reading.
    error EmptyBatch(uint256 feedId);

    /// @notice A batch's first reading time is after its last.
    error InvalidTimeRange(uint256 feedId, uint64 tFirst, uint64 tLast);

    /// @notice A batch's Merkle root cannot be zero.
    error ZeroRoot(uint256 feedId);

    /// @notice A batch's CID digest cannot be zero.
    error ZeroCid(uint256 feedId);

    /// @notice `feedId` accepts only anchors signed by its device key.
    error SignatureRequired(uint256 feedId);

    /// @notice `feedId` has no device key, so it cannot require the device's signature.
    error NoDeviceKey(uint256 feedId);

    /// @notice The signature is malformed (length, `s` or `v` out of range, or no signer recovered).
    error InvalidSignature(uint256 feedId);

    /// @notice The signature is valid but not by the feed's device key: forged, for another chain, contract,
    ///         feed or place in the chain.
    error WrongSigner(uint256 feedId, address expected, address recovered);

    /// @notice The successor is not a live feed of the same twin, or is the feed itself.
    error InvalidSuccessor(uint256 feedId, uint256 successor);

    // ---------------------------------------------------------------------------------------------
    // Feed management
    // ---------------------------------------------------------------------------------------------

    /// @notice Registers a feed for an active component of a twin. Needs SENSOR_CREATE on (`twin`, `component`).
    ///         A feed with a device key accepts only the device's signed anchors until {setSignatureRequired}
    ///         says otherwise; a feed without one (`deviceKey == 0`) is anchored by ANCHOR holders only.
    /// @param twin The twin.
    /// @param component The component (sensor) the feed measures; it must be active.
    /// @param deviceKey The address whose EIP-712 signatures authenticate the feed's batches, or zero for none.
    /// @param schemaCid sha2-256 digest of the CID of the feed's reading schema.
    /// @return feedId The new feed's id; ids are stable and start at 1.
    function registerFeed(uint256 twin, bytes32 component, address deviceKey, bytes32 schemaCid)
        external
        returns (uint256 feedId);

    /// @notice Retires a feed, e.g. when its sensor is swapped. The feed keeps its history and accepts no
    ///         more anchors. Needs SENSOR_UPDATE on the feed's (twin, component).
    /// @param feedId The feed to retire.
    /// @param successorFeedId The feed of the same twin that continues the measurements, or 0 for none.
    function retireFeed(uint256 feedId, uint256 successorFeedId) external;

    /// @notice Replaces a feed's device key, e.g. after a key compromise or a device replacement. Needs
    ///         SENSOR_UPDATE on the feed's (twin, component), which must be active. Signatures by the old key
    ///         stop being accepted.
    /// @param feedId The feed.
    /// @param newKey The new device key.
    function rotateDeviceKey(uint256 feedId, address newKey) external;

    /// @notice Pauses one feed: it rejects anchors until unpaused. Needs SENSOR_UPDATE on the feed's
    ///         (twin, component).
    /// @param feedId The feed, which must be active.
    function pauseFeed(uint256 feedId) external;

    /// @notice Unpauses a paused feed. Needs SENSOR_UPDATE on the feed's (twin, component).
    /// @param feedId The feed, which must be paused.
    function unpauseFeed(uint256 feedId) external;

    /// @notice Sets whether the feed accepts only anchors signed by its device key (`required`), or also
    ///         unsigned anchors from ANCHOR holders (a gateway). Needs SENSOR_UPDATE on the feed's (twin,
    ///         component).
    /// @param feedId The feed; to require signatures it must have a device key.
    /// @param required The new setting.
    function setSignatureRequired(uint256 feedId, bool required) external;

    /// @notice Stops every registration and anchor of this contract (emergency stop). Feed management
    ///         (retire, rotate keys, pause feeds) stays available so owners can react. Needs PAUSER_ROLE.
    function pause() external;

    /// @notice Lifts the emergency stop. Needs PAUSER_ROLE.
    function unpause() external;

    // ---------------------------------------------------------------------------------------------
    // Anchoring
    // ---------------------------------------------------------------------------------------------

    /// @notice Anchors batch `seq` of a feed: stores its head, moves the feed's head and emits `Anchored`.
    /// @dev Accepted from anyone with the device key's EIP-712 `Anchor` signature or, if the feed does not require
    ///      it, from a holder of ANCHOR on the feed's twin (covering the feed's component) with an empty
    ///      `signature`. A non-empty signature is always verified, whoever sends it. The feed's component must be
    ///      active or replaced (a swapped sensor's feed drains its last batches), not removed.
    /// @param feedId The feed.
    /// @param seq The batch's sequence number: exactly the feed's `nextSeq`.
    /// @param root Merkle root of the batch's readings (docs/formats.md section 2); not zero.
    /// @param cid sha2-256 digest of the batch's CIDv1 (raw); not zero.
    /// @param count Number of readings, at least 1.
    /// @param tFirst Time of the first reading, ms since the epoch.
    /// @param tLast Time of the last reading, ms since the epoch, not before `tFirst`.
    /// @param signature Empty, or the device key's 65-byte (r, s, v) signature of the EIP-712 `Anchor`.
    function anchor(
        uint256 feedId,
        uint64 seq,
        bytes32 root,
        bytes32 cid,
        uint32 count,
        uint64 tFirst,
        uint64 tLast,
        bytes calldata signature
    ) external;

    /// @notice Anchors batches of many feeds in one transaction (a gateway's call), with the same checks per
    ///         item as `anchor`. Reverts as a whole if any item is refused.
    /// @dev The frozen-twin, removed-component and whole-twin permission answers are reused between consecutive
    ///      items of the same twin, so a gateway should group its items by twin. The loop is bounded by the calldata.
    /// @param inputs The batches, in the order they are anchored (two batches of one feed must come in seq order).
    function anchorMany(AnchorInput[] calldata inputs) external;

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice Everything about a feed. Reverts with `UnknownFeed` for an unregistered id.
    /// @param feedId The feed.
    /// @return The feed's twin, component, device key, next seq, head, status, schema CID digest and successor.
    function feed(uint256 feedId) external view returns (FeedView memory);

    /// @notice When the feed's device key was last replaced (`rotateDeviceKey`), as a block timestamp in
    ///         seconds; 0 if it never was. Reverts with `UnknownFeed` for an unregistered id. Lets a judge of an
    ///         old signature (`GatewayAnchors.challengeSignature`) tell whether today's key was in force then.
    /// @param feedId The feed.
    /// @return The timestamp of the last rotation, or 0.
    function keyRotatedAt(uint256 feedId) external view returns (uint64);

    /// @notice The feed's current head (`bytes32(0)` before its first anchor).
    /// @param feedId The feed.
    /// @return The head after the last anchored batch.
    function headOf(uint256 feedId) external view returns (bytes32);

    /// @notice Whether the feed accepts only anchors signed by its device key.
    /// @param feedId The feed.
    /// @return The setting.
    function signatureRequired(uint256 feedId) external view returns (bool);

    /// @notice The seq the feed's next anchor must carry (= the number of anchored batches).
    /// @param feedId The feed.
    /// @return The next seq.
    function nextSeqOf(uint256 feedId) external view returns (uint64);

    /// @notice The twin a feed belongs to (one storage read; cheaper than `feed` for on-chain callers).
    /// @param feedId The feed.
    /// @return The twin id; reverts with `UnknownFeed` for an unregistered id.
    function twinOf(uint256 feedId) external view returns (uint256);

    /// @notice Number of feeds registered so far (= the highest feed id).
    /// @return The count.
    function feedCount() external view returns (uint256);

    /// @notice The EIP-712 domain separator of this contract on this chain.
    /// @return The separator.
    function domainSeparator() external view returns (bytes32);

    /// @notice The EIP-712 digest the device key signs for an anchor (for off-chain tooling and tests).
    /// @return The typed-data digest of `Anchor(feedId, seq, prevHead, root, cid, count, tFirst, tLast)`.
    function anchorDigest(
        uint256 feedId,
        uint64 seq,
        bytes32 prevHead,
        bytes32 root,
        bytes32 cid,
        uint32 count,
        uint64 tFirst,
        uint64 tLast
    ) external view returns (bytes32);
}
