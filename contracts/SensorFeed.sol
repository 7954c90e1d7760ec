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
import {ISensorFeed, ISensorFeedProofs} from "./interfaces/ISensorFeed.sol";
import {HeadChain} from "./libraries/HeadChain.sol";

/// @title TwinLedger sensor feeds: a registry of device feeds and their chained, device-signed batch anchors.
/// @notice See {ISensorFeed}, which declares every function, error and event of this contract.
/// @dev Storage per feed: one packed slot (device key, the component-removal count it was last checked at,
///      status, twin, signature flag), one new slot per anchored batch (the head after it), and a cold slot
///      (component, schema, successor). The heads are the only record of progress: batch `seq` is anchored iff
///      `_heads[feed][seq] != 0`, and they are set for exactly the seqs `0..n-1`. An anchor therefore reads the
///      packed slot, the previous head and the new head's slot (which it then writes, warm), and writes nothing
///      else: no counter is updated per anchor. `nextSeqOf`, `headOf` and `feed` find `n` by a galloping search
///      over the heads (at most 2 x 64 reads; eth_call, or an on-chain reader that needs it, pays it).
///      The check that the feed's component is active or replaced is cached on the twin's count of removed
///      components (`ISpecification.removedComponents`, asked once per twin per call): a component stops being
///      active-or-replaced only by its removal, so while the count equals the one stored with the feed the
///      component still passes; otherwise it is checked again and the count stored.
contract SensorFeed is ISensorFeed, EIP712, AccessControl, Pausable {
    using HeadChain for HeadChain.Batch;

    /// @dev The hot slot, read by every anchor. Twin ids are stored as uint48 in every contract.
    struct FeedState {
        address deviceKey; // 160 bits (zero: the feed has no device key)
        uint32 removalsSeen; // 32 bits: the twin's removedComponents when the component last passed its check
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

    /// @dev What one anchoring call remembers between items: the twin of the last item (0: none; twin ids start
    ///      at 1), its count of removed components and whether the caller holds ANCHOR on that whole twin
    ///      (0 = not asked yet, 1 = yes, 2 = no).
    struct Memo {
        uint256 twin;
        uint256 removed;
        uint8 wholeTwinAnchorer;
    }

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

    uint256 private _feedCount;
    mapping(uint256 feedId => FeedState) private _state;
    mapping(uint256 feedId => mapping(uint256 seq => bytes32)) private _heads;
    mapping(uint256 feedId => FeedInfo) private _info;
    /// @dev Apart from `FeedInfo`: only a rotation writes it, so registering a feed costs no extra slot.
    mapping(uint256 feedId => uint64) private _keyRotatedAt;

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

    /// @inheritdoc ISensorFeed
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
            // 0 is never a false "still active": the twin's count only grows, so a stale 0 just re-checks once
            removalsSeen: 0,
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

    /// @inheritdoc ISensorFeed
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

    /// @inheritdoc ISensorFeed
    function rotateDeviceKey(uint256 feedId, address newKey) external {
        if (newKey == address(0)) revert ZeroAddress();
        (FeedState memory s,) = _manageable(feedId, true);
        _state[feedId].deviceKey = newKey;
        _keyRotatedAt[feedId] = uint64(block.timestamp);
        emit DeviceKeyRotated(feedId, s.deviceKey, newKey);
    }

    /// @inheritdoc ISensorFeed
    function pauseFeed(uint256 feedId) external {
        (FeedState memory s,) = _manageable(feedId, false);
        if (s.status == FeedStatus.Paused) revert FeedIsPaused(feedId);
        _state[feedId].status = FeedStatus.Paused;
        emit FeedPaused(feedId, msg.sender);
    }

    /// @inheritdoc ISensorFeed
    function unpauseFeed(uint256 feedId) external {
        (FeedState memory s,) = _manageable(feedId, true);
        if (s.status != FeedStatus.Paused) revert FeedNotPaused(feedId);
        _state[feedId].status = FeedStatus.Active;
        emit FeedUnpaused(feedId, msg.sender);
    }

    /// @inheritdoc ISensorFeed
    function setSignatureRequired(uint256 feedId, bool required) external {
        (FeedState memory s,) = _manageable(feedId, false);
        if (required && s.deviceKey == address(0)) revert NoDeviceKey(feedId);
        _state[feedId].signatureRequired = required;
        emit SignatureRequirementSet(feedId, required, msg.sender);
    }

    /// @inheritdoc ISensorFeed
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc ISensorFeed
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------------------------------------
    // Anchoring
    // ---------------------------------------------------------------------------------------------

    /// @inheritdoc ISensorFeed
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
        HeadChain.Batch memory b = HeadChain.Batch(bytes32(0), feedId, seq, root, cid, count, tFirst, tLast);
        Memo memory m;
        _anchor(b, signature, m);
    }

    /// @inheritdoc ISensorFeed
    function anchorMany(AnchorInput[] calldata inputs) external whenNotPaused {
        HeadChain.Batch memory b;
        Memo memory m;
        uint256 n = inputs.length;
        for (uint256 i; i < n; ++i) {
            AnchorInput calldata a = inputs[i];
            b.prevHead = bytes32(0);
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

    /// @inheritdoc ISensorFeed
    function feed(uint256 feedId) external view returns (FeedView memory) {
        FeedState memory s = _existing(feedId);
        FeedInfo storage info = _info[feedId];
        uint256 anchored = _anchoredCount(feedId);
        return FeedView({
            twin: s.twin,
            component: info.component,
            deviceKey: s.deviceKey,
            nextSeq: uint64(anchored),
            head: _headAfter(feedId, anchored),
            status: s.status,
            schemaCid: info.schemaCid,
            successor: info.successor
        });
    }

    /// @inheritdoc ISensorFeed
    function keyRotatedAt(uint256 feedId) external view returns (uint64) {
        _existing(feedId);
        return _keyRotatedAt[feedId];
    }

    /// @inheritdoc ISensorFeed
    function headOf(uint256 feedId) external view returns (bytes32) {
        _existing(feedId);
        return _headAfter(feedId, _anchoredCount(feedId));
    }

    /// @inheritdoc ISensorFeed
    function signatureRequired(uint256 feedId) external view returns (bool) {
        return _existing(feedId).signatureRequired;
    }

    /// @inheritdoc ISensorFeed
    function nextSeqOf(uint256 feedId) external view returns (uint64) {
        _existing(feedId);
        return uint64(_anchoredCount(feedId));
    }

    /// @inheritdoc ISensorFeed
    function twinOf(uint256 feedId) external view returns (uint256) {
        return _existing(feedId).twin;
    }

    /// @inheritdoc ISensorFeedProofs
    function headAt(uint256 feedId, uint64 seq) external view returns (bytes32) {
        return _heads[feedId][seq];
    }

    /// @inheritdoc ISensorFeedProofs
    function verifyBatch(uint256 feedId, uint64 seq, BatchHeader calldata h) public view returns (bool) {
        bytes32 head = _heads[feedId][seq];
        return head != bytes32(0)
            && head == HeadChain.Batch(h.prevHead, feedId, seq, h.root, h.cid, h.count, h.tFirst, h.tLast).head();
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

    /// @inheritdoc ISensorFeed
    function feedCount() external view returns (uint256) {
        return _feedCount;
    }

    /// @inheritdoc ISensorFeed
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc ISensorFeed
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
        HeadChain.Batch memory b = HeadChain.Batch(prevHead, feedId, seq, root, cid, count, tFirst, tLast);
        return _hashTypedDataV4(HeadChain.anchorStructHash(ANCHOR_TYPEHASH, b));
    }

    // ---------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------

    /// @dev Checks one batch against the feed, authenticates it, then stores it (checks, effects; the only
    ///      external calls are view calls made during the checks). `b.prevHead` is zero on entry.
    function _anchor(HeadChain.Batch memory b, bytes calldata signature, Memo memory m) private {
        uint256 feedId = b.feedId;
        FeedState memory s = _state[feedId];
        if (s.status != FeedStatus.Active) _revertNotActive(feedId, s.status);
        mapping(uint256 seq => bytes32) storage heads = _heads[feedId];
        uint256 seq = b.seq;
        // seq is the next one iff batch seq - 1 is anchored (or seq is 0) and batch seq is not: heads are set for
        // exactly 0..n-1. Reading the new slot first makes its write below a warm one, so the check is free.
        if (seq != 0) {
            b.prevHead = heads[seq - 1];
            if (b.prevHead == bytes32(0)) _revertSeq(feedId, seq);
        }
        if (heads[seq] != bytes32(0)) _revertSeq(feedId, seq);
        if (b.count == 0) revert EmptyBatch(feedId);
        if (b.tFirst > b.tLast) revert InvalidTimeRange(feedId, uint64(b.tFirst), uint64(b.tLast));
        if (b.root == bytes32(0)) revert ZeroRoot(feedId);
        if (b.cid == bytes32(0)) revert ZeroCid(feedId);

        uint256 twin = s.twin;
        if (m.twin != twin) {
            m.twin = twin;
            m.wholeTwinAnchorer = _UNKNOWN;
            if (signature.length == 0) {
                _askWholeTwinAnchorer(twin, m); // also answers whether the twin is frozen
            } else if (authorization.isFrozen(twin)) {
                revert TwinFrozen(twin);
            }
            m.removed = specification.removedComponents(twin);
        }
        bytes32 component; // loaded only when needed; never zero once loaded (Specification refuses a zero id)
        if (s.removalsSeen != m.removed) {
            component = _info[feedId].component;
            if (!specification.componentActiveOrReplaced(twin, component)) revert ComponentNotActive(twin, component);
            _state[feedId].removalsSeen = SafeCast.toUint32(m.removed);
        }

        if (signature.length == 0) {
            if (s.signatureRequired) revert SignatureRequired(feedId);
            _requireAnchorer(twin, feedId, component, m);
        } else {
            _requireDeviceSignature(b, s.deviceKey, signature);
        }

        _record(heads, b);
    }

    /// @dev The effects of an accepted anchor: the head after the batch, stored under its seq, and its event.
    function _record(mapping(uint256 seq => bytes32) storage heads, HeadChain.Batch memory b) private {
        bytes32 head = b.head();
        heads[b.seq] = head;
        emit Anchored(b.feedId, uint64(b.seq), b.root, b.cid, uint32(b.count), uint64(b.tFirst), uint64(b.tLast), head);
    }

    /// @dev One `check`: whether the caller holds ANCHOR on the whole twin, and whether the twin is frozen.
    function _askWholeTwinAnchorer(uint256 twin, Memo memory m) private view {
        (bool allowed, bool frozen) = authorization.check(twin, msg.sender, Permissions.ANCHOR, bytes32(0));
        if (frozen) revert TwinFrozen(twin);
        m.wholeTwinAnchorer = allowed ? _YES : _NO;
    }

    /// @dev The caller must hold ANCHOR on the whole twin (asked once per twin per call) or on the feed's component.
    function _requireAnchorer(uint256 twin, uint256 feedId, bytes32 component, Memo memory m) private view {
        if (m.wholeTwinAnchorer == _UNKNOWN) _askWholeTwinAnchorer(twin, m);
        if (m.wholeTwinAnchorer == _YES) return;
        if (component == bytes32(0)) component = _info[feedId].component;
        if (!authorization.can(twin, msg.sender, Permissions.ANCHOR, component)) {
            revert Unauthorized(twin, component, msg.sender, Permissions.ANCHOR);
        }
    }

    /// @dev The signature must be the device key's, over this batch at this place of the chain.
    function _requireDeviceSignature(HeadChain.Batch memory b, address deviceKey, bytes calldata signature)
        private
        view
    {
        if (signature.length != 65) revert InvalidSignature(b.feedId);
        (bytes32 r, bytes32 sv, uint8 v) = HeadChain.split(signature);
        // slither-disable-next-line unused-return (the third value only details `err`, which is checked)
        (address signer, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(_hashTypedDataV4(HeadChain.anchorStructHash(ANCHOR_TYPEHASH, b)), v, r, sv);
        if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(b.feedId);
        if (signer != deviceKey) revert WrongSigner(b.feedId, deviceKey, signer);
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

    /// @dev The number of anchored batches: heads are set for exactly the seqs 0..n-1, so n is found by doubling
    ///      a probe until it hits an unset head, then bisecting. Bounded: seqs are uint64, so at most 65 probes
    ///      and 64 bisection steps.
    function _anchoredCount(uint256 feedId) private view returns (uint256) {
        mapping(uint256 seq => bytes32) storage heads = _heads[feedId];
        if (heads[0] == bytes32(0)) return 0;
        uint256 lo; // heads[lo] is set
        uint256 hi = 1; // probe
        while (heads[hi] != bytes32(0)) {
            lo = hi;
            hi <<= 1;
        }
        while (hi - lo > 1) {
            uint256 mid = (lo + hi) >> 1;
            if (heads[mid] != bytes32(0)) lo = mid;
            else hi = mid;
        }
        return hi;
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

    /// @dev Reverts `SeqMismatch` with the seq the feed expects (found by search: only on the revert path).
    function _revertSeq(uint256 feedId, uint256 given) private view {
        revert SeqMismatch(feedId, uint64(_anchoredCount(feedId)), uint64(given));
    }

    function _revertNotActive(uint256 feedId, FeedStatus status) private pure {
        if (status == FeedStatus.None) revert UnknownFeed(feedId);
        if (status == FeedStatus.Paused) revert FeedIsPaused(feedId);
        revert FeedIsRetired(feedId);
    }
}
