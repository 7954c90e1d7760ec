// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Permissions} from "../interfaces/IAuthorization.sol";
import {ISpecification} from "../interfaces/ISpecification.sol";
import {PackedRecords} from "../libraries/PackedRecords.sol";
import {SpecificationBase} from "./SpecificationBase.sol";

/// @title Documents (with versions) and external sources of each twin.
/// @notice Documents and sources have stable global ids (counters starting at 1) and are never
///         deleted: documents are archived, sources marked removed. A document belongs to one
///         component (`bytes32(0)` = the twin as a whole) and its permissions are checked for that
///         component.
abstract contract DocumentRegistry is SpecificationBase {
    /// @notice Longest source URI, in bytes.
    uint256 public constant MAX_URI_LENGTH = 256;
    /// @notice Longest source description, in bytes.
    uint256 public constant MAX_DESCRIPTION_LENGTH = 1024;

    struct Source {
        address owner;
        uint48 twin;
        bool removed;
        string uri;
        string description;
    }

    mapping(uint256 docId => PackedRecords.Document) private _documents;
    mapping(uint256 docId => mapping(uint256 index => PackedRecords.Version)) private _docVersions;
    mapping(uint256 sourceId => Source) private _sources;

    /// @inheritdoc ISpecification
    function addDocument(
        uint256 twin,
        bytes32 componentId,
        string calldata name,
        bytes32 cid,
        uint16 codec,
        bytes32 digest
    ) external returns (uint256 docId) {
        return _addDocument(twin, componentId, name, cid, codec, digest);
    }

    /// @inheritdoc ISpecification
    function addDocumentAt(
        uint256 expectedId,
        uint256 twin,
        bytes32 componentId,
        string calldata name,
        bytes32 cid,
        uint16 codec,
        bytes32 digest
    ) external returns (uint256 docId) {
        uint256 next = uint256(_counters.documents) + 1;
        if (next != expectedId) revert IdTaken(expectedId, next);
        return _addDocument(twin, componentId, name, cid, codec, digest);
    }

    function _addDocument(
        uint256 twin,
        bytes32 componentId,
        string calldata name,
        bytes32 cid,
        uint16 codec,
        bytes32 digest
    ) private returns (uint256 docId) {
        _requireTarget(twin, componentId);
        _authorize(twin, Permissions.DOC_CREATE, componentId);
        _requireName(name);
        _requireCid(cid, codec);
        docId = ++_counters.documents;
        PackedRecords.Document storage d = _documents[docId];
        d.twin = uint48(twin);
        d.versionCount = 1;
        d.createdAt = uint40(block.timestamp);
        if (componentId != bytes32(0)) d.component = componentId;
        d.name = name;
        _writeVersion(_docVersions[docId][0], cid, codec, digest);
        emit DocumentAdded(twin, docId, componentId, name, msg.sender);
        emit DocumentVersionAdded(twin, docId, 0, cid, codec, digest);
    }

    /// @inheritdoc ISpecification
    function addDocumentVersion(
        uint256 twin,
        uint256 docId,
        bytes32 cid,
        uint16 codec,
        bytes32 digest
    ) external returns (uint256 version) {
        PackedRecords.Document storage d = _documents[docId];
        // Hot path: read and write the document's header slot once.
        uint256 header = PackedRecords.header(d);
        if (twin == 0 || PackedRecords.twinOf(header) != twin) revert UnknownDocument(twin, docId);
        if (PackedRecords.archivedOf(header)) revert DocumentIsArchived(docId);
        _authorizeLazy(twin, Permissions.DOC_UPDATE, d);
        _requireCid(cid, codec);
        version = PackedRecords.versionCountOf(header); // + 1 cannot overflow: 2^32 versions cost > 4e14 gas
        PackedRecords.setHeader(d, header + PackedRecords.ONE_VERSION);
        _writeVersion(_docVersions[docId][version], cid, codec, digest);
        emit DocumentVersionAdded(twin, docId, version, cid, codec, digest);
    }

    /// @inheritdoc ISpecification
    function archiveDocument(uint256 twin, uint256 docId) external {
        PackedRecords.Document storage d = _requireDocument(twin, docId);
        _authorizeLazy(twin, Permissions.DOC_UPDATE, d);
        d.archived = true;
        emit DocumentArchived(twin, docId, msg.sender);
    }

    /// @inheritdoc ISpecification
    function document(
        uint256 docId
    )
        external
        view
        returns (
            uint256 twin,
            bytes32 componentId,
            string memory name,
            uint256 versionCount,
            bool archived,
            uint256 createdAt
        )
    {
        PackedRecords.Document storage d = _documents[docId];
        return (d.twin, d.component, d.name, d.versionCount, d.archived, d.createdAt);
    }

    /// @inheritdoc ISpecification
    function documentVersionCount(uint256 docId) external view returns (uint256) {
        return _documents[docId].versionCount;
    }

    /// @inheritdoc ISpecification
    function documentVersion(
        uint256 docId,
        uint256 index
    ) external view returns (bytes32 cid, uint16 codec, bytes32 digest, address author, uint256 time) {
        uint256 count = _documents[docId].versionCount;
        if (index >= count) revert VersionNotFound(index, count);
        PackedRecords.Version storage v = _docVersions[docId][index];
        return (v.cid, v.codec, v.digest, v.author, v.time);
    }

    /// @inheritdoc ISpecification
    function documentCount() external view returns (uint256) {
        return _counters.documents;
    }

    /// @inheritdoc ISpecification
    function addSource(
        uint256 twin,
        string calldata uri,
        string calldata description
    ) external returns (uint256 sourceId) {
        _requireTwin(twin);
        _authorize(twin, Permissions.SOURCE_MANAGE, bytes32(0));
        uint256 len = bytes(uri).length;
        if (len == 0 || len > MAX_URI_LENGTH) revert InvalidLength(len, MAX_URI_LENGTH);
        len = bytes(description).length;
        if (len > MAX_DESCRIPTION_LENGTH) revert InvalidLength(len, MAX_DESCRIPTION_LENGTH);
        sourceId = ++_counters.sources;
        Source storage s = _sources[sourceId];
        s.owner = msg.sender;
        s.twin = uint48(twin);
        s.uri = uri;
        if (len != 0) s.description = description;
        emit SourceAdded(twin, sourceId, msg.sender, uri, description);
    }

    /// @inheritdoc ISpecification
    function removeSource(uint256 twin, uint256 sourceId) external {
        Source storage s = _sources[sourceId];
        if (twin == 0 || s.twin != twin) revert UnknownSource(twin, sourceId);
        _authorize(twin, s.owner == msg.sender ? Permissions.SOURCE_MANAGE : Permissions.TWIN_UPDATE, bytes32(0));
        if (s.removed) revert SourceIsRemoved(sourceId);
        s.removed = true;
        emit SourceRemoved(twin, sourceId, msg.sender);
    }

    /// @inheritdoc ISpecification
    function source(
        uint256 sourceId
    )
        external
        view
        returns (uint256 twin, address owner, bool removed, string memory uri, string memory description)
    {
        Source storage s = _sources[sourceId];
        return (s.twin, s.owner, s.removed, s.uri, s.description);
    }

    /// @inheritdoc ISpecification
    function sourceCount() external view returns (uint256) {
        return _counters.sources;
    }

    /// @dev `can(twin-level)` implies `can(any component)`, so the document's component (a cold
    ///      storage slot) is read only when the twin-level check fails (scoped accounts).
    function _authorizeLazy(uint256 twin, uint256 permissions, PackedRecords.Document storage d) private view {
        (bool allowed, bool frozen) = _check(twin, permissions, bytes32(0));
        if (frozen) revert TwinDismissed(twin);
        if (!allowed) _authorize(twin, permissions, d.component);
    }

    function _requireDocument(uint256 twin, uint256 docId) private view returns (PackedRecords.Document storage d) {
        d = _documents[docId];
        if (twin == 0 || d.twin != twin) revert UnknownDocument(twin, docId);
        if (d.archived) revert DocumentIsArchived(docId);
    }
}
