// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {Permissions} from "./interfaces/IAuthorization.sol";
import {ITwinAccess} from "./interfaces/ITwinAccess.sol";
import {ISpecification} from "./interfaces/ISpecification.sol";
import {ISensorFeedProofs} from "./interfaces/ISensorFeed.sol";

/// @title TwinLedger sensor feeds: a registry of device feeds and their chained, device-signed batch anchors.
/// @notice A feed belongs to one component of one twin and has a device key. Its batches are anchored with
///         strictly consecutive sequence numbers; each anchor stores the feed's head after that batch, which
///         commits to the batch's Merkle root and to every earlier batch (docs/formats.md, sections 2 to 5).
///         An anchor is accepted from anyone carrying the device key's EIP-712 signature of it, or, unless the
///         feed requires the device's signature (the default for a feed with a device key), from a holder of
///         the ANCHOR permission on the feed's twin with an empty signature. A feed anchors only while its
///         component is active, or replaced (a swapped sensor's feed drains until it is retired); never once
///         its component is removed.
/// @dev Storage per feed: one packed slot (device key, next seq, status, twin, signature flag) and one new slot per anchored
///      batch (the head after it; the running head is the last one). Everything else (component, schema,
///      successor) is read only by management functions and views.
contract SensorFeed is ISensorFeedProofs, EIP712, AccessControl, Pausable {
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

    /// @dev The hot slot, read and written by every anchor. Twin ids are stored as uint48 in every contract.
    struct FeedState {
        address deviceKey; // 160 bits (zero: the feed has no device key)
        uint32 nextSeq; //     32 bits: 2^32 batches, ~136 years at one batch per second
        FeedStatus status; //   8 bits
        uint48 twin; //        48 bits
        bool signatureRequired; // 8 bits: only the device key's signed anchors are accepted
    }

    /// @dev The cold part of a feed.
    struct FeedInfo {
        bytes32 component;
        bytes32 schemaCid;
        uint256 successor;
    }

    /// @dev One batch in memory. The first eight words are laid out as the head-chain preimage
    ///      (docs/formats.md section 3), so the head is `keccak256` over them.
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

    /// @dev What `anchorMany` remembers between items: the last twin checked for freezing and, for that twin,
    ///      whether the caller holds ANCHOR on the whole twin (0 = not asked yet, 1 = yes, 2 = no).
    struct Memo {
        uint256 twin;
        bool twinChecked;
        uint8 wholeTwinAnchorer;
    }

    // ---------------------------------------------------------------------------------------------
    // Constants and immutables
    // ---------------------------------------------------------------------------------------------

    /// @notice May pause and unpause every anchor and registration of this contract.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice EIP-712 type hash of `Anchor` (docs/formats.md section 4).
    bytes32 public constant ANCHOR_TYPEHASH = keccak256(
        "Anchor(uint256 feedId,uint64 seq,bytes32 prevHead,bytes32 root,bytes32 cid,uint32 count,uint64 tFirst,uint64 tLast)"
    );

    uint8 private constant _UNKNOWN = 0;
    uint8 private constant _YES = 1;
    uint8 private constant _NO = 2;

    /// @notice The Authorization contract asked for permissions and frozen twins (one `check` call per question).
    ITwinAccess public immutable authorization;

    /// @notice The twin Specification registry asked whether components are active.
    ISpecification public immutable specification;

    // ---------------------------------------------------------------------------------------------
    // Storage
    // ---------------------------------------------------------------------------------------------

    uint256 private _feedCount;
    mapping(uint256 feedId => FeedState) private _state;
    mapping(uint256 feedId => mapping(uint256 seq => bytes32)) private _heads;
    mapping(uint256 feedId => FeedInfo) private _info;

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
    // Construction
    // ---------------------------------------------------------------------------------------------

    /// @notice Binds the feed registry to its Authorization and Specification contracts. The deployer becomes
    ///         the contract admin and pauser.
    /// @param auth The Authorization contract.
    /// @param spec The twin Specification registry.
    constructor(ITwinAccess auth, ISpecification spec) EIP712("TwinLedger SensorFeed", "1") {
        if (address(auth) == address(0) || address(spec) == address(0)) revert ZeroAddress();
        authorization = auth;
        specification = spec;
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
        _grantRole(PAUSER_ROLE, msg.sender);
    }

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
        whenNotPaused
        returns (uint256 feedId)
    {
        _requireWritable(twin, component, Permissions.SENSOR_CREATE);
        _requireActive(twin, component);

        feedId = ++_feedCount;
        _state[feedId] = FeedState({
            deviceKey: deviceKey,
            nextSeq: 0,
            status: FeedStatus.Active,
            twin: SafeCast.toUint48(twin), // an active component's twin exists, and twin ids fit uint48
            signatureRequired: deviceKey != address(0)
        });
        FeedInfo storage info = _info[feedId];
        info.component = component;
        if (schemaCid != bytes32(0)) info.schemaCid = schemaCid;
        emit FeedRegistered(feedId, twin, component, deviceKey, schemaCid);
        if (deviceKey != address(0)) emit SignatureRequirementSet(feedId, true, msg.sender);
    }

    /// @notice Retires a feed, e.g. when its sensor is swapped. The feed keeps its history and accepts no
    ///         more anchors. Needs SENSOR_UPDATE on the feed's (twin, component).
    /// @param feedId The feed to retire.
    /// @param successorFeedId The feed of the same twin that continues the measurements, or 0 for none.
    function retireFeed(uint256 feedId, uint256 successorFeedId) external {
        (, uint256 twin) = _manageable(feedId, false);
        if (successorFeedId != 0) {
            FeedStatus ss = _state[successorFeedId].status;
            if (
                successorFeedId == feedId || ss == FeedStatus.None || ss == FeedStatus.Retired
                    || _state[successorFeedId].twin != twin
            ) revert InvalidSuccessor(feedId, successorFeedId);
            _info[feedId].successor = successorFeedId;
        }
        _state[feedId].status = FeedStatus.Retired;
        emit FeedRetired(feedId, successorFeedId);
    }

    /// @notice Replaces a feed's device key, e.g. after a key compromise or a device replacement. Needs
    ///         SENSOR_UPDATE on the feed's (twin, component), which must be active. Signatures by the old key
    ///         stop being accepted.
    /// @param feedId The feed.
    /// @param newKey The new device key.
    function rotateDeviceKey(uint256 feedId, address newKey) external {
        if (newKey == address(0)) revert ZeroAddress();
        (FeedState memory s,) = _manageable(feedId, true);
        _state[feedId].deviceKey = newKey;
        emit DeviceKeyRotated(feedId, s.deviceKey, newKey);
    }

    /// @notice Pauses one feed: it rejects anchors until unpaused. Needs SENSOR_UPDATE on the feed's
    ///         (twin, component).
    /// @param feedId The feed, which must be active.
    function pauseFeed(uint256 feedId) external {
        (FeedState memory s,) = _manageable(feedId, false);
        if (s.status == FeedStatus.Paused) revert FeedIsPaused(feedId);
        _state[feedId].status = FeedStatus.Paused;
        emit FeedPaused(feedId, msg.sender);
    }

    /// @notice Unpauses a paused feed. Needs SENSOR_UPDATE on the feed's (twin, component).
    /// @param feedId The feed, which must be paused.
    function unpauseFeed(uint256 feedId) external {
        (FeedState memory s,) = _manageable(feedId, true);
        if (s.status != FeedStatus.Paused) revert FeedNotPaused(feedId);
        _state[feedId].status = FeedStatus.Active;
        emit FeedUnpaused(feedId, msg.sender);
    }

    /// @notice Sets whether the feed accepts only anchors signed by its device key (`required`), or also
    ///         unsigned anchors from ANCHOR holders (a gateway). Needs SENSOR_UPDATE on the feed's (twin,
    ///         component).
    /// @param feedId The feed; to require signatures it must have a device key.
    /// @param required The new setting.
    function setSignatureRequired(uint256 feedId, bool required) external {
        (FeedState memory s,) = _manageable(feedId, false);
        if (required && s.deviceKey == address(0)) revert NoDeviceKey(feedId);
        _state[feedId].signatureRequired = required;
        emit SignatureRequirementSet(feedId, required, msg.sender);
    }

    /// @notice Stops every registration and anchor of this contract (emergency stop). Feed management
    ///         (retire, rotate keys, pause feeds) stays available so owners can react. Needs PAUSER_ROLE.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Lifts the emergency stop. Needs PAUSER_ROLE.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------------------------------------
    // Anchoring
    // ---------------------------------------------------------------------------------------------

    /// @notice Anchors batch `seq` of a feed: stores its root, moves the head and emits `Anchored`.
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
    ) external whenNotPaused {
        Batch memory b;
        b.feedId = feedId;
        b.seq = seq;
        b.root = root;
        b.cid = cid;
        b.count = count;
        b.tFirst = tFirst;
        b.tLast = tLast;
        Memo memory m;
        _anchor(b, signature, m);
    }

    /// @notice Anchors batches of many feeds in one transaction (a gateway's call), with the same checks per
    ///         item as `anchor`. Reverts as a whole if any item is refused.
    /// @dev The permission and frozen-twin answers are reused between consecutive items of the same twin, so
    ///      a gateway should group its items by twin. The loop is bounded by the calldata.
    /// @param inputs The batches, in the order they are anchored (two batches of one feed must come in seq order).
    function anchorMany(AnchorInput[] calldata inputs) external whenNotPaused {
        Batch memory b;
        Memo memory m;
        uint256 n = inputs.length;
        for (uint256 i; i < n; ++i) {
            AnchorInput calldata a = inputs[i];
            b.feedId = a.feedId;
            b.seq = a.seq;
            b.root = a.root;
            b.cid = a.cid;
            b.count = a.count;
            b.tFirst = a.tFirst;
            b.tLast = a.tLast;
            _anchor(b, a.signature, m);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------

    /// @notice Everything about a feed. Reverts with `UnknownFeed` for an unregistered id.
    /// @param feedId The feed.
    /// @return The feed's twin, component, device key, next seq, head, status, schema CID digest and successor.
    function feed(uint256 feedId) external view returns (FeedView memory) {
        FeedState memory s = _existing(feedId);
        FeedInfo storage info = _info[feedId];
        return FeedView({
            twin: s.twin,
            component: info.component,
            deviceKey: s.deviceKey,
            nextSeq: s.nextSeq,
            head: _headAfter(feedId, s.nextSeq),
            status: s.status,
            schemaCid: info.schemaCid,
            successor: info.successor
        });
    }

    /// @notice The feed's current head (`bytes32(0)` before its first anchor).
    /// @param feedId The feed.
    /// @return The head after the last anchored batch.
    function headOf(uint256 feedId) external view returns (bytes32) {
        return _headAfter(feedId, _existing(feedId).nextSeq);
    }

    /// @notice Whether the feed accepts only anchors signed by its device key.
    /// @param feedId The feed.
    /// @return The setting.
    function signatureRequired(uint256 feedId) external view returns (bool) {
        return _existing(feedId).signatureRequired;
    }

    /// @notice The seq the feed's next anchor must carry (= the number of anchored batches).
    /// @param feedId The feed.
    /// @return The next seq.
    function nextSeqOf(uint256 feedId) external view returns (uint64) {
        return _existing(feedId).nextSeq;
    }

    /// @inheritdoc ISensorFeedProofs
    function headAt(uint256 feedId, uint64 seq) external view returns (bytes32) {
        return _heads[feedId][seq];
    }

    /// @inheritdoc ISensorFeedProofs
    function verifyBatch(uint256 feedId, uint64 seq, BatchHeader calldata h) public view returns (bool) {
        bytes32 head = _heads[feedId][seq];
        return head != bytes32(0)
            && head == _nextHead(Batch(h.prevHead, feedId, seq, h.root, h.cid, h.count, h.tFirst, h.tLast));
    }

    /// @inheritdoc ISensorFeedProofs
    function verifyReading(
        uint256 feedId,
        uint64 seq,
        BatchHeader calldata h,
        bytes32 readingHash,
        bytes32[] calldata proof
    ) external view returns (bool) {
        return verifyBatch(feedId, seq, h)
            && MerkleProof.verifyCalldata(proof, h.root, keccak256(abi.encode(readingHash)));
    }

    /// @notice Number of feeds registered so far (= the highest feed id).
    /// @return The count.
    function feedCount() external view returns (uint256) {
        return _feedCount;
    }

    /// @notice The EIP-712 domain separator of this contract on this chain.
    /// @return The separator.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

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
    ) external view returns (bytes32) {
        Batch memory b = Batch(prevHead, feedId, seq, root, cid, count, tFirst, tLast);
        return _hashTypedDataV4(_anchorStructHash(b));
    }

    // ---------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------

    /// @dev Checks one batch against the feed, authenticates it, then stores it (checks, effects; the only
    ///      external calls are view calls made during the checks).
    function _anchor(Batch memory b, bytes calldata signature, Memo memory m) private {
        uint256 feedId = b.feedId;
        FeedState memory s = _state[feedId];
        if (s.status != FeedStatus.Active) _revertNotActive(feedId, s.status);
        if (b.seq != s.nextSeq) revert SeqMismatch(feedId, s.nextSeq, uint64(b.seq));
        if (b.count == 0) revert EmptyBatch(feedId);
        if (b.tFirst > b.tLast) revert InvalidTimeRange(feedId, uint64(b.tFirst), uint64(b.tLast));
        if (b.root == bytes32(0)) revert ZeroRoot(feedId);
        if (b.cid == bytes32(0)) revert ZeroCid(feedId);

        uint256 twin = s.twin;
        bytes32 component = _info[feedId].component;
        if (!m.twinChecked || m.twin != twin) {
            m.twin = twin;
            m.twinChecked = true;
            m.wholeTwinAnchorer = _UNKNOWN;
            if (signature.length == 0) {
                _askWholeTwinAnchorer(twin, m); // also answers whether the twin is frozen
            } else if (authorization.isFrozen(twin)) {
                revert TwinFrozen(twin);
            }
        }
        if (!specification.componentActiveOrReplaced(twin, component)) revert ComponentNotActive(twin, component);

        b.prevHead = _headAfter(feedId, s.nextSeq);
        if (signature.length == 0) {
            if (s.signatureRequired) revert SignatureRequired(feedId);
            _requireAnchorer(twin, component, m);
        } else {
            _requireDeviceSignature(b, s.deviceKey, signature);
        }

        bytes32 head = _nextHead(b);
        _state[feedId].nextSeq = s.nextSeq + 1;
        _heads[feedId][b.seq] = head;
        emit Anchored(feedId, uint64(b.seq), b.root, b.cid, uint32(b.count), uint64(b.tFirst), uint64(b.tLast), head);
    }

    /// @dev One `check`: whether the caller holds ANCHOR on the whole twin, and whether the twin is frozen.
    function _askWholeTwinAnchorer(uint256 twin, Memo memory m) private view {
        (bool allowed, bool frozen) = authorization.check(twin, msg.sender, Permissions.ANCHOR, bytes32(0));
        if (frozen) revert TwinFrozen(twin);
        m.wholeTwinAnchorer = allowed ? _YES : _NO;
    }

    /// @dev The caller must hold ANCHOR on the whole twin (asked once per twin per call) or on the feed's component.
    function _requireAnchorer(uint256 twin, bytes32 component, Memo memory m) private view {
        if (m.wholeTwinAnchorer == _UNKNOWN) _askWholeTwinAnchorer(twin, m);
        if (m.wholeTwinAnchorer == _YES) return;
        if (!authorization.can(twin, msg.sender, Permissions.ANCHOR, component)) {
            revert Unauthorized(twin, component, msg.sender, Permissions.ANCHOR);
        }
    }

    /// @dev The signature must be the device key's, over this batch at this place of the chain.
    function _requireDeviceSignature(Batch memory b, address deviceKey, bytes calldata signature) private view {
        if (signature.length != 65) revert InvalidSignature(b.feedId);
        bytes32 r;
        bytes32 sv;
        uint8 v;
        assembly ("memory-safe") {
            r := calldataload(signature.offset)
            sv := calldataload(add(signature.offset, 0x20))
            v := byte(0, calldataload(add(signature.offset, 0x40)))
        }
        // slither-disable-next-line unused-return (the third value only details `err`, which is checked)
        (address signer, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(_hashTypedDataV4(_anchorStructHash(b)), v, r, sv);
        if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(b.feedId);
        if (signer != deviceKey) revert WrongSigner(b.feedId, deviceKey, signer);
    }

    /// @dev `hashStruct(Anchor)`: the type hash, then every field in its own word.
    function _anchorStructHash(Batch memory b) private pure returns (bytes32 h) {
        bytes32 typeHash = ANCHOR_TYPEHASH;
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

    /// @dev docs/formats.md section 3: keccak256(abi.encode(prevHead, feedId, seq, root, cid, count, tFirst, tLast)).
    ///      `Batch` holds exactly these eight words in this order, each a clean value of its ABI type.
    function _nextHead(Batch memory b) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            h := keccak256(b, 0x100)
        }
    }

    /// @dev Loads a feed that may be managed: registered, not retired, twin not frozen, caller holds SENSOR_UPDATE
    ///      and, if `active`, the feed's component is active.
    function _manageable(uint256 feedId, bool active) private view returns (FeedState memory s, uint256 twin) {
        s = _existing(feedId);
        if (s.status == FeedStatus.Retired) revert FeedIsRetired(feedId);
        twin = s.twin;
        bytes32 component = _info[feedId].component;
        _requireWritable(twin, component, Permissions.SENSOR_UPDATE);
        if (active) _requireActive(twin, component);
    }

    /// @dev The head after the first `anchored` batches of the feed: the genesis head before any.
    function _headAfter(uint256 feedId, uint256 anchored) private view returns (bytes32) {
        return anchored == 0 ? bytes32(0) : _heads[feedId][anchored - 1];
    }

    function _existing(uint256 feedId) private view returns (FeedState memory s) {
        s = _state[feedId];
        if (s.status == FeedStatus.None) revert UnknownFeed(feedId);
    }

    /// @dev One `check` call: the twin is not frozen and the caller holds `permission` on (twin, component).
    function _requireWritable(uint256 twin, bytes32 component, uint256 permission) private view {
        (bool allowed, bool frozen) = authorization.check(twin, msg.sender, permission, component);
        if (frozen) revert TwinFrozen(twin);
        if (!allowed) revert Unauthorized(twin, component, msg.sender, permission);
    }

    function _requireActive(uint256 twin, bytes32 component) private view {
        if (!specification.componentActive(twin, component)) revert ComponentNotActive(twin, component);
    }

    function _revertNotActive(uint256 feedId, FeedStatus status) private pure {
        if (status == FeedStatus.None) revert UnknownFeed(feedId);
        if (status == FeedStatus.Paused) revert FeedIsPaused(feedId);
        revert FeedIsRetired(feedId);
    }
}
