// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The twin registry's packed storage records, read and written one slot at a time.
/// @notice A version's (author, codec, time) and a document's header (twin, versionCount, archived, createdAt)
///         each share one slot. Writing them field by field makes solc read the slot back and write it again;
///         these helpers do one SLOAD / SSTORE. The bit positions are Solidity's own packing of the structs
///         below, pinned by `contracts/test/TestPackedRecords.sol` and `tests/contracts/test_packed_records.py`.
library PackedRecords {
    /// @notice A pointer to IPFS content plus who wrote it and when: 3 slots.
    struct Version {
        bytes32 cid; // sha2-256 digest from the CID's multihash
        bytes32 digest; // digest of the content itself (as defined by the content's format)
        address author; // slot 2, bits 0..159
        uint16 codec; // slot 2, bits 160..175: multicodec of the CID: 0x55 raw, 0x70 dag-pb
        uint40 time; // slot 2, bits 176..215
    }

    /// @notice A document. Slot 0 (its header): twin (bits 0..47), versionCount (48..79), archived (80..87),
    ///         createdAt (88..127).
    struct Document {
        uint48 twin;
        uint32 versionCount;
        bool archived;
        uint40 createdAt;
        bytes32 component;
        string name;
    }

    /// @notice One added version in a header's `versionCount` field.
    uint256 internal constant ONE_VERSION = 1 << 48;

    /// @notice Writes slot 2 of `v`, (author, codec, time), with one SSTORE. `time` must fit 40 bits.
    function writeMeta(Version storage v, address author, uint16 codec, uint256 time) internal {
        uint256 word = uint256(uint160(author)) | (uint256(codec) << 160) | (time << 176);
        assembly ("memory-safe") {
            sstore(add(v.slot, 2), word)
        }
    }

    /// @notice The header slot of `d`, in one SLOAD.
    function header(Document storage d) internal view returns (uint256 h) {
        assembly ("memory-safe") {
            h := sload(d.slot)
        }
    }

    /// @notice Overwrites the header slot of `d` with `h`, in one SSTORE.
    function setHeader(Document storage d, uint256 h) internal {
        assembly ("memory-safe") {
            sstore(d.slot, h)
        }
    }

    /// @notice The `twin` field of a header.
    function twinOf(uint256 h) internal pure returns (uint256) {
        return uint48(h);
    }

    /// @notice The `versionCount` field of a header.
    function versionCountOf(uint256 h) internal pure returns (uint256) {
        return uint32(h >> 48);
    }

    /// @notice The `archived` field of a header.
    function archivedOf(uint256 h) internal pure returns (bool) {
        return (h >> 80) & 0xff != 0;
    }
}
