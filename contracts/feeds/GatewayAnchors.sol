// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

import {IGatewayAnchors, ISensorFeedRegistry} from "../interfaces/IGatewayAnchors.sol";

/// @title TwinLedger gateway anchors: one root per window over many feeds' device-signed batches.
/// @notice See {IGatewayAnchors}. The admin (the deployer) grants `GATEWAY_ROLE`; a gateway's faults are counted
///         here for anyone (and the admin, who may revoke the role) to see.
/// @dev Storage per window: its root and one packed slot (gateway, time, challenged); a window counter. Device
///      signatures are judged under `SensorFeed`'s EIP-712 domain and `Anchor` type, so a device signs the same
///      typed data in both modes and a signature valid in one is valid in the other.
contract GatewayAnchors is IGatewayAnchors, AccessControl {
    /// @notice May anchor windows.
    bytes32 public constant GATEWAY_ROLE = keccak256("GATEWAY_ROLE");

    /// @notice EIP-712 type hash of `Anchor`, the same as `SensorFeed.ANCHOR_TYPEHASH` (docs/formats.md section 4).
    bytes32 public constant ANCHOR_TYPEHASH = keccak256(
        "Anchor(uint256 feedId,uint64 seq,bytes32 prevHead,bytes32 root,bytes32 cid,uint32 count,uint64 tFirst,uint64 tLast)"
    );

    /// @notice The feed registry whose device keys, digests and per-feed heads windows are judged against.
    ISensorFeedRegistry public immutable sensorFeed;

    struct WindowState {
        address gateway; // 160 bits
        uint64 anchoredAt; // 64 bits, seconds
        bool challenged; // 8 bits
    }

    uint256 private _windowCount;
    mapping(uint256 windowId => bytes32) private _roots;
    mapping(uint256 windowId => WindowState) private _windows;
    mapping(address gateway => uint256) private _faults;

    /// @notice Binds the window registry to `SensorFeed`. The deployer becomes admin.
    /// @param feeds The SensorFeed contract.
    constructor(ISensorFeedRegistry feeds) {
        if (address(feeds) == address(0)) revert ZeroAddress();
        sensorFeed = feeds;
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
    }

    /// @inheritdoc IGatewayAnchors
    function anchorWindow(bytes32 root, bytes32 cid, uint16 codec, uint32 feedCount, uint64 readingCount)
        external
        onlyRole(GATEWAY_ROLE)
        returns (uint256 windowId)
    {
        if (root == bytes32(0) || cid == bytes32(0) || feedCount == 0) revert EmptyWindow();
        windowId = ++_windowCount;
        _roots[windowId] = root;
        _windows[windowId] = WindowState({gateway: msg.sender, anchoredAt: uint64(block.timestamp), challenged: false});
        emit WindowAnchored(windowId, msg.sender, root, cid, codec, feedCount, readingCount);
    }

    /// @inheritdoc IGatewayAnchors
    function verifyReading(
        uint256 windowId,
        BatchLeaf calldata leaf,
        bytes32[] calldata batchProof,
        bytes32 readingHash,
        bytes32[] calldata readingProof
    ) external view returns (bool) {
        return !_windows[windowId].challenged && _inWindow(windowId, leaf, batchProof)
            && MerkleProof.verifyCalldata(readingProof, leaf.root, keccak256(abi.encode(readingHash)));
    }

    /// @inheritdoc IGatewayAnchors
    function verifyLeaf(uint256 windowId, BatchLeaf calldata leaf, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        return _inWindow(windowId, leaf, proof);
    }

    /// @inheritdoc IGatewayAnchors
    function challengeSignature(
        uint256 windowId,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        bytes calldata signature
    ) external {
        _requireChallengeable(windowId, leaf, proof);
        if (keccak256(signature) != leaf.signatureHash) revert SignatureNotCommitted(leaf.feedId, leaf.seq);

        _mark(windowId, leaf, _signatureFault(windowId, leaf, signature));
    }

    /// @inheritdoc IGatewayAnchors
    function challengeSequence(
        uint256 windowA,
        BatchLeaf calldata a,
        bytes32[] calldata proofA,
        uint256 windowB,
        BatchLeaf calldata b,
        bytes32[] calldata proofB
    ) external {
        if (!_inWindow(windowA, a, proofA)) revert LeafNotInWindow(windowA, a.feedId, a.seq);
        _requireChallengeable(windowB, b, proofB);
        if (a.feedId != b.feedId) revert DifferentFeeds(a.feedId, b.feedId);

        bytes32 headA = _head(a);
        Fault fault;
        if (a.seq == b.seq && headA != _head(b)) {
            fault = Fault.DuplicateSeq;
        } else if (uint256(b.seq) == uint256(a.seq) + 1 && b.prevHead != headA) {
            fault = Fault.BrokenHeadChain;
        } else {
            revert ChainConsistent(a.feedId, a.seq, b.seq);
        }
        _mark(windowB, b, fault);
    }

    /// @inheritdoc IGatewayAnchors
    function challengeAgainstFeed(uint256 windowId, BatchLeaf calldata leaf, bytes32[] calldata proof) external {
        _requireChallengeable(windowId, leaf, proof);
        Fault fault;
        if (leaf.seq == 0) {
            if (leaf.prevHead != bytes32(0)) fault = Fault.BrokenHeadChain;
        } else {
            bytes32 before = sensorFeed.headAt(leaf.feedId, leaf.seq - 1);
            if (before != bytes32(0) && before != leaf.prevHead) fault = Fault.ConflictsWithFeed;
        }
        if (fault == Fault.None) {
            bytes32 stored = sensorFeed.headAt(leaf.feedId, leaf.seq);
            if (stored != bytes32(0) && stored != _head(leaf)) fault = Fault.ConflictsWithFeed;
        }
        if (fault == Fault.None) revert NoConflictWithFeed(leaf.feedId, leaf.seq);
        _mark(windowId, leaf, fault);
    }

    /// @inheritdoc IGatewayAnchors
    function window(uint256 windowId) external view returns (WindowView memory) {
        bytes32 root = _roots[windowId];
        if (root == bytes32(0)) revert UnknownWindow(windowId);
        WindowState memory w = _windows[windowId];
        return WindowView({root: root, gateway: w.gateway, anchoredAt: w.anchoredAt, challenged: w.challenged});
    }

    /// @inheritdoc IGatewayAnchors
    function windowCount() external view returns (uint256) {
        return _windowCount;
    }

    /// @inheritdoc IGatewayAnchors
    function gatewayFaults(address gateway) external view returns (uint256) {
        return _faults[gateway];
    }

    /// @inheritdoc IGatewayAnchors
    function leafHash(BatchLeaf calldata leaf) external pure returns (bytes32) {
        return _leaf(leaf);
    }

    /// @inheritdoc IGatewayAnchors
    function headOf(BatchLeaf calldata leaf) external pure returns (bytes32) {
        return _head(leaf);
    }

    /// @dev The window exists, is not challenged yet, and holds the leaf.
    function _requireChallengeable(uint256 windowId, BatchLeaf calldata leaf, bytes32[] calldata proof)
        private
        view
    {
        if (_roots[windowId] == bytes32(0)) revert UnknownWindow(windowId);
        if (_windows[windowId].challenged) revert WindowAlreadyChallenged(windowId);
        if (!_inWindow(windowId, leaf, proof)) revert LeafNotInWindow(windowId, leaf.feedId, leaf.seq);
    }

    /// @dev Effects of a proven fault: the window is marked and its gateway gains a fault.
    function _mark(uint256 windowId, BatchLeaf calldata leaf, Fault fault) private {
        address gateway = _windows[windowId].gateway;
        _windows[windowId].challenged = true;
        ++_faults[gateway];
        emit WindowChallenged(windowId, gateway, leaf.feedId, leaf.seq, fault, msg.sender);
    }

    function _inWindow(uint256 windowId, BatchLeaf calldata leaf, bytes32[] calldata proof)
        private
        view
        returns (bool)
    {
        bytes32 root = _roots[windowId];
        return root != bytes32(0) && MerkleProof.verifyCalldata(proof, root, _leaf(leaf));
    }

    /// @dev The fault of a leaf whose signature is not its device's; reverts `SignatureValid` if it is.
    function _signatureFault(uint256 windowId, BatchLeaf calldata leaf, bytes calldata signature)
        private
        view
        returns (Fault)
    {
        address key;
        try sensorFeed.feed(leaf.feedId) returns (ISensorFeedRegistry.FeedRecord memory f) {
            key = f.deviceKey;
        } catch {
            return Fault.UnknownFeed; // SensorFeed refuses the id: no device ever signed for it
        }
        uint64 rotatedAt = sensorFeed.keyRotatedAt(leaf.feedId);
        uint64 anchoredAt = _windows[windowId].anchoredAt;
        if (rotatedAt != 0 && rotatedAt >= anchoredAt) {
            revert KeyRotatedSinceWindow(windowId, leaf.feedId, rotatedAt, anchoredAt);
        }
        bytes32 digest = MessageHashUtils.toTypedDataHash(sensorFeed.domainSeparator(), _anchorStructHash(leaf));
        // slither-disable-next-line unused-return (the third value only details `err`, which is checked)
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err == ECDSA.RecoverError.NoError && key != address(0) && signer == key) {
            revert SignatureValid(leaf.feedId, leaf.seq, signer);
        }
        return Fault.ForgedSignature;
    }

    /// @dev `hashStruct(Anchor)`: a leaf's first eight fields are the `Anchor` fields in their order.
    function _anchorStructHash(BatchLeaf calldata l) private pure returns (bytes32 h) {
        BatchLeaf memory m = l; // copying checks every field against its type
        bytes32 typeHash = ANCHOR_TYPEHASH;
        assembly ("memory-safe") {
            let p := mload(0x40) // scratch above the free memory pointer, not allocated
            mstore(p, typeHash)
            mcopy(add(p, 0x20), m, 0x100)
            h := keccak256(p, 0x120)
        }
    }

    /// @dev docs/formats.md section 9: the double hash keeps an inner node from passing as a leaf. A struct of
    ///      static fields ABI-encodes as its fields, one word each.
    function _leaf(BatchLeaf calldata l) private pure returns (bytes32) {
        BatchLeaf memory m = l;
        return keccak256(bytes.concat(keccak256(abi.encode(m))));
    }

    /// @dev docs/formats.md section 3, as `SensorFeed._nextHead`: (prevHead, feedId, seq, root..tLast).
    function _head(BatchLeaf calldata l) private pure returns (bytes32 h) {
        BatchLeaf memory m = l;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, mload(add(m, 0x40))) // prevHead
            mstore(add(p, 0x20), mload(m)) // feedId
            mstore(add(p, 0x40), mload(add(m, 0x20))) // seq
            mcopy(add(p, 0x60), add(m, 0x60), 0xa0) // root, cid, count, tFirst, tLast
            h := keccak256(p, 0x100)
        }
    }
}
