// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {PackedRecords} from "../libraries/PackedRecords.sol";

/// @title Pins PackedRecords' bit positions to Solidity's own packing of its structs (a test harness only:
///        never deployed by the deployment plan).
contract TestPackedRecords {
    PackedRecords.Version private _version;
    PackedRecords.Document private _document;

    /// @notice Writes the meta slot with the library, reads it back through the struct's fields.
    function writeMeta(address author, uint16 codec, uint40 time)
        external
        returns (address, uint16, uint40, bytes32, bytes32)
    {
        _version.cid = bytes32(uint256(1));
        _version.digest = bytes32(uint256(2));
        PackedRecords.writeMeta(_version, author, codec, time);
        PackedRecords.Version storage v = _version;
        return (v.author, v.codec, v.time, v.cid, v.digest);
    }

    /// @notice Writes a header through the struct's fields, decodes it with the library.
    function decodeHeader(uint48 twin, uint32 versionCount, bool archived, uint40 createdAt)
        external
        returns (uint256, uint256, bool)
    {
        _document.twin = twin;
        _document.versionCount = versionCount;
        _document.archived = archived;
        _document.createdAt = createdAt;
        uint256 h = PackedRecords.header(_document);
        return (PackedRecords.twinOf(h), PackedRecords.versionCountOf(h), PackedRecords.archivedOf(h));
    }

    /// @notice Adds one version with the library's header arithmetic, reads the fields back.
    function addVersion() external returns (uint48, uint32, bool, uint40) {
        PackedRecords.setHeader(_document, PackedRecords.header(_document) + PackedRecords.ONE_VERSION);
        return (_document.twin, _document.versionCount, _document.archived, _document.createdAt);
    }
}
