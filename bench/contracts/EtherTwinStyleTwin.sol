// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title EtherTwin's approach, re-implemented minimally: a whole contract deployed per twin.
/// @notice EtherTwin deploys one `Specification` contract per twin, holding its owner, roles, specification
///         pointer, components and documents. This contract keeps that structure with the fewest features that
///         still make it a twin (roles, spec versions, a component tree, versioned documents, sensor feeds), so
///         its deployment is a lower bound of the per-twin-contract approach, compiled with the same solc
///         0.8.28 / optimizer 200 as TwinLedger.
contract EtherTwinStyleTwin {
    bytes32 public constant OWNER = keccak256("OWNER");

    struct Version {
        bytes32 cid;
        bytes32 digest;
        address author;
        uint64 time;
    }

    struct Component {
        bytes32 id;
        bytes32 parent;
        string name;
    }

    struct Document {
        bytes32 component;
        string name;
        Version[] versions;
    }

    struct Feed {
        bytes32 component;
        address device;
        bytes32 schema;
    }

    address public owner;
    string public name;
    bytes32 public deviceId;
    Version[] public specVersions;
    mapping(address account => mapping(bytes32 role => bool)) public hasRole;
    Component[] public components;
    Document[] private _documents;
    Feed[] public feeds;

    event RoleGranted(bytes32 indexed role, address indexed account);
    event RoleRevoked(bytes32 indexed role, address indexed account);
    event SpecUpdated(uint256 version, bytes32 cid, bytes32 digest);
    event ComponentAdded(bytes32 indexed id, bytes32 parent, string name);
    event DocumentAdded(uint256 indexed docId, bytes32 indexed component, string name);
    event DocumentVersionAdded(uint256 indexed docId, uint256 version, bytes32 cid, bytes32 digest);
    event FeedRegistered(uint256 indexed feedId, bytes32 indexed component, address device);

    error NotAuthorized(address account);
    error Unknown(uint256 id);

    modifier only(bytes32 role) {
        if (msg.sender != owner && !hasRole[msg.sender][role]) revert NotAuthorized(msg.sender);
        _;
    }

    constructor(string memory twinName, bytes32 device, bytes32 specCid, bytes32 specDigest) {
        owner = msg.sender;
        name = twinName;
        deviceId = device;
        hasRole[msg.sender][OWNER] = true;
        specVersions.push(Version(specCid, specDigest, msg.sender, uint64(block.timestamp)));
        emit RoleGranted(OWNER, msg.sender);
        emit SpecUpdated(0, specCid, specDigest);
    }

    function grantRole(bytes32 role, address account) external only(OWNER) {
        hasRole[account][role] = true;
        emit RoleGranted(role, account);
    }

    function revokeRole(bytes32 role, address account) external only(OWNER) {
        hasRole[account][role] = false;
        emit RoleRevoked(role, account);
    }

    function updateSpec(bytes32 cid, bytes32 digest) external only(OWNER) {
        specVersions.push(Version(cid, digest, msg.sender, uint64(block.timestamp)));
        emit SpecUpdated(specVersions.length - 1, cid, digest);
    }

    function addComponent(bytes32 id, bytes32 parent, string calldata componentName) external only(OWNER) {
        components.push(Component(id, parent, componentName));
        emit ComponentAdded(id, parent, componentName);
    }

    function addDocument(bytes32 component, string calldata docName, bytes32 cid, bytes32 digest)
        external
        only(OWNER)
        returns (uint256 docId)
    {
        docId = _documents.length;
        Document storage d = _documents.push();
        d.component = component;
        d.name = docName;
        d.versions.push(Version(cid, digest, msg.sender, uint64(block.timestamp)));
        emit DocumentAdded(docId, component, docName);
        emit DocumentVersionAdded(docId, 0, cid, digest);
    }

    function addDocumentVersion(uint256 docId, bytes32 cid, bytes32 digest) external only(OWNER) {
        if (docId >= _documents.length) revert Unknown(docId);
        Version[] storage vs = _documents[docId].versions;
        vs.push(Version(cid, digest, msg.sender, uint64(block.timestamp)));
        emit DocumentVersionAdded(docId, vs.length - 1, cid, digest);
    }

    function registerFeed(bytes32 component, address device, bytes32 schema)
        external
        only(OWNER)
        returns (uint256 feedId)
    {
        feedId = feeds.length;
        feeds.push(Feed(component, device, schema));
        emit FeedRegistered(feedId, component, device);
    }

    function documentCount() external view returns (uint256) {
        return _documents.length;
    }

    function documentVersion(uint256 docId, uint256 version) external view returns (Version memory) {
        return _documents[docId].versions[version];
    }

    function componentCount() external view returns (uint256) {
        return components.length;
    }
}
