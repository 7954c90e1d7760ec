// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title TwinLedger twin registry: twins, specification versions, components, programs and their calls,
///        documents and external sources.
/// @notice SensorFeed asks `componentActive`, `componentActiveOrReplaced` and `removedComponents`; the
///         agreements ask `programCall` and `callCount`. Every type, error and event of `Specification` and
///         its modules (`contracts/specification/`) is declared here, once; the model is described there.
interface ISpecification {
    // ---------------------------------------------------------------- types

    /// @notice Lifecycle phase of a twin. Dismissed is terminal.
    enum Phase {
        Design,
        Production,
        Operation,
        Maintenance,
        Dismissed
    }

    /// @notice Status of a program call.
    enum CallStatus {
        None,
        Queued,
        Delivered,
        Done,
        Failed,
        Cancelled
    }

    // ---------------------------------------------------------------- errors and events of Specification
    /// @notice Twin `twin` was created by `creator` (its first OWNER).
    event TwinCreated(uint256 indexed twin, address indexed creator, bytes32 indexed deviceId, string name);
    /// @notice Specification version `version` (0-based) of `twin` was recorded.
    event SpecUpdated(
        uint256 indexed twin,
        uint256 indexed version,
        bytes32 cid,
        uint16 codec,
        bytes32 digest,
        address author
    );
    /// @notice `twin` moved from phase `oldPhase` to phase `newPhase`.
    event PhaseChanged(uint256 indexed twin, Phase oldPhase, Phase newPhase, address sender);
    /// @notice The parent of `child` changed from `oldParent` to `newParent` (0 = none).
    event ParentChanged(uint256 indexed child, uint256 indexed oldParent, uint256 indexed newParent, address sender);
    /// @notice The twin already is in this phase.
    error PhaseUnchanged(uint256 twin, Phase phase);
    /// @notice The twin already has this parent.
    error ParentUnchanged(uint256 child, uint256 parent);
    /// @notice Making `parent` the parent of `child` would close a cycle.
    error CycleDetected(uint256 child, uint256 parent);
    /// @notice The ancestor chain of some twin would be longer than {MAX_DEPTH}.
    error HierarchyTooDeep(uint256 maxDepth);

    // ---------------------------------------------------------------- errors and events of SpecificationBase
    /// @notice `account` lacks `permissions` on `twin` for `component` (`bytes32(0)` = twin level).
    error Unauthorized(uint256 twin, address account, uint256 permissions, bytes32 component);
    /// @notice The zero address is not valid here.
    error ZeroAddress();
    /// @notice No twin with this id.
    error TwinNotFound(uint256 twin);
    /// @notice The twin is dismissed: read-only.
    error TwinDismissed(uint256 twin);
    /// @notice A name must be 1..{MAX_NAME_LENGTH} bytes; a string field exceeded its bound.
    error InvalidLength(uint256 length, uint256 max);
    /// @notice A CID needs a non-zero digest and codec.
    error InvalidCid(bytes32 cid, uint16 codec);
    /// @notice Arrays passed together must have the same length.
    error LengthMismatch();
    /// @notice A batch holds at most {MAX_BATCH} items.
    error BatchTooLarge(uint256 length, uint256 max);
    /// @notice Index past the end of a version list.
    error VersionNotFound(uint256 index, uint256 count);
    /// @notice `bytes32(0)` is reserved for "the twin itself".
    error InvalidComponentId();
    /// @notice A component with this id already exists (possibly inactive) on the twin.
    error ComponentExists(uint256 twin, bytes32 component);
    /// @notice The component does not exist on the twin or is no longer active.
    error ComponentNotActive(uint256 twin, bytes32 component);
    /// @notice The next id is `next`, not the `expected` one the caller bound its data to (someone else's
    ///         transaction took it first); nothing was written.
    error IdTaken(uint256 expected, uint256 next);

    // ---------------------------------------------------------------- errors and events of ComponentRegistry
    /// @notice `component` was added under `parent` (`bytes32(0)` = twin root).
    event ComponentAdded(
        uint256 indexed twin,
        bytes32 indexed component,
        bytes32 indexed parent,
        bytes32 kind,
        string name,
        address sender
    );
    /// @notice `component` was marked inactive.
    event ComponentRemoved(uint256 indexed twin, bytes32 indexed component, address sender);
    /// @notice `oldComponent` was replaced by `newComponent` (which took over its parent).
    event ComponentReplaced(
        uint256 indexed twin,
        bytes32 indexed oldComponent,
        bytes32 indexed newComponent,
        address sender
    );
    /// @notice `component` still has `count` active children: remove or replace them first.
    error ComponentHasChildren(uint256 twin, bytes32 component, uint256 count);

    // ---------------------------------------------------------------- errors and events of ProgramRegistry
    /// @notice Program `program` of `component` was (re)defined with these parameter bounds.
    event ProgramSet(
        uint256 indexed twin,
        bytes32 indexed component,
        bytes32 indexed program,
        uint32 revision,
        bytes32[] paramNames,
        int256[] mins,
        int256[] maxs,
        address sender
    );
    /// @notice Program `program` of `component` can no longer be called.
    event ProgramRemoved(uint256 indexed twin, bytes32 indexed component, bytes32 indexed program, address sender);
    /// @notice `caller` called `program` of `component` with `params`; the call is queued as `callId`.
    event ProgramCalled(
        uint256 indexed callId,
        uint256 indexed twin,
        bytes32 indexed component,
        bytes32 program,
        int256[] params,
        address caller
    );
    /// @notice The device agent `agent` picked up call `callId`.
    event CallDelivered(uint256 indexed callId, uint256 indexed twin, address agent);
    /// @notice Call `callId` finished (`ok`: Done, else Failed) with an optional result on IPFS.
    event CallCompleted(
        uint256 indexed callId,
        uint256 indexed twin,
        bool ok,
        bytes32 resultCid,
        uint16 resultCodec,
        address agent
    );
    /// @notice `bytes32(0)` is not a program id.
    error InvalidProgramId();
    /// @notice A program has at most {MAX_PARAMS} parameters.
    error TooManyParameters(uint256 count, uint256 max);
    /// @notice Parameter names must be non-zero and `min <= max`.
    error InvalidBounds(bytes32 param, int256 min, int256 max);
    /// @notice No enabled program with this id on the component.
    error UnknownProgram(uint256 twin, bytes32 component, bytes32 program);
    /// @notice The call passed `given` parameters; the program takes `expected`.
    error WrongParameterCount(uint256 expected, uint256 given);
    /// @notice `value` of parameter `param` lies outside `[min, max]`.
    error ParameterOutOfBounds(bytes32 param, int256 value, int256 min, int256 max);
    /// @notice No call with this id.
    error UnknownCall(uint256 callId);
    /// @notice The call's current status does not allow this transition.
    error InvalidCallStatus(uint256 callId, CallStatus status);
    /// @notice The call was checked against program revision `revision`, which is no longer in force (the
    ///         program was redefined or removed, or its component removed or replaced): cancel it.
    error StaleCall(uint256 callId, uint256 revision);
    /// @notice Only the call's caller or an OWNER of its twin may cancel it.
    error NotCallCanceller(uint256 callId, address account);
    /// @notice Call `callId` was cancelled by `sender` before it finished.
    event CallCancelled(uint256 indexed callId, uint256 indexed twin, address sender);

    // ---------------------------------------------------------------- errors and events of DocumentRegistry
    /// @notice Document `docId` was created on `component` of `twin`.
    event DocumentAdded(
        uint256 indexed twin,
        uint256 indexed docId,
        bytes32 indexed component,
        string name,
        address author
    );
    /// @notice Version `version` (0-based) of document `docId` was added. Its author is stored
    ///      with the version ({documentVersion}) and is the transaction's sender.
    event DocumentVersionAdded(
        uint256 indexed twin,
        uint256 indexed docId,
        uint256 version,
        bytes32 cid,
        uint16 codec,
        bytes32 digest
    );
    /// @notice Document `docId` was archived: no more versions.
    event DocumentArchived(uint256 indexed twin, uint256 indexed docId, address sender);
    /// @notice External source `sourceId` was registered by `owner`.
    event SourceAdded(
        uint256 indexed twin,
        uint256 indexed sourceId,
        address indexed owner,
        string uri,
        string description
    );
    /// @notice External source `sourceId` was marked removed.
    event SourceRemoved(uint256 indexed twin, uint256 indexed sourceId, address sender);
    /// @notice No document `docId` on `twin`.
    error UnknownDocument(uint256 twin, uint256 docId);
    /// @notice Document `docId` is archived.
    error DocumentIsArchived(uint256 docId);
    /// @notice No source `sourceId` on `twin`.
    error UnknownSource(uint256 twin, uint256 sourceId);
    /// @notice Source `sourceId` was already removed.
    error SourceIsRemoved(uint256 sourceId);

    // ---------------------------------------------------------------- functions asked by other contracts

    /// @notice True if the twin exists.
    function twinExists(uint256 twin) external view returns (bool);

    /// @notice True if the component exists on the twin and has not been removed or replaced.
    function componentActive(uint256 twin, bytes32 component) external view returns (bool);

    /// @notice True if the component is active, or was replaced (not removed): a replaced sensor's feed
    ///         drains the batches measured before the swap until it is retired.
    function componentActiveOrReplaced(uint256 twin, bytes32 component) external view returns (bool);

    /// @notice How many components of the twin were ever removed. A component stops being active-or-replaced
    ///         only by its removal, so while this number has not moved, every component found active or
    ///         replaced still is (`SensorFeed` skips its per-anchor component check on that).
    function removedComponents(uint256 twin) external view returns (uint256);

    // ---------------------------------------------------------------- the registry's own functions

    /// @notice Creates a twin; the caller becomes its first OWNER. Twin ids start at 1.
    /// @dev Emits {TwinCreated} and {SpecUpdated} (version 0); Authorization emits
    ///      `TwinInitialized` and `RoleGranted`.
    /// @param name Twin name, 1..{MAX_NAME_LENGTH} bytes (one storage slot up to 31 bytes).
    /// @param deviceId Identifier of the physical asset (may be zero).
    /// @param specCid Digest of the specification's (AML file's) CID.
    /// @param specCodec Multicodec of that CID.
    /// @param specDigest Digest of the specification content.
    /// @return twinId The new twin's id.
    function createTwin(
        string calldata name,
        bytes32 deviceId,
        bytes32 specCid,
        uint16 specCodec,
        bytes32 specDigest
    ) external returns (uint256 twinId);

    /// @notice {createTwin}, but only if the new twin gets id `expectedId`: data sealed for that id (an
    ///         encrypted specification) can then never land under another id. Reverts {IdTaken} otherwise.
    function createTwinAt(
        uint256 expectedId,
        string calldata name,
        bytes32 deviceId,
        bytes32 specCid,
        uint16 specCodec,
        bytes32 specDigest
    ) external returns (uint256 twinId);

    /// @notice Records a new specification version of `twin`.
    /// @dev Needs SPEC_UPDATE at twin level. Emits {SpecUpdated}.
    /// @return version Index of the new version.
    function updateSpec(uint256 twin, bytes32 cid, uint16 codec, bytes32 digest) external returns (uint256 version);

    /// @notice Moves `twin` to lifecycle phase `phase`. `Dismissed` is terminal and freezes the
    ///         twin in Authorization.
    /// @dev Needs TWIN_UPDATE at twin level, and TWIN_DISMISS (only OWNERs by default) to dismiss.
    ///      Emits {PhaseChanged}.
    function setPhase(uint256 twin, Phase phase) external;

    /// @notice Makes `parent` the parent (aggregate twin) of `child`; `parent == 0` detaches it.
    /// @dev Needs TWIN_UPDATE on `child` and on `parent`. The whole subtree of `child` counts: its
    ///      deepest descendant must stay within {MAX_DEPTH} ancestors. Walks at most {MAX_DEPTH}
    ///      ancestors twice (cycle and depth check, then the heights above). Emits {ParentChanged}.
    function setParent(uint256 child, uint256 parent) external;

    /// @notice Number of twins ever created (ids are 1..twinCount).
    function twinCount() external view returns (uint256);

    /// @notice Twin record. Reverts {TwinNotFound}.
    function twinInfo(
        uint256 twin
    )
        external
        view
        returns (
            string memory name,
            bytes32 deviceId,
            Phase phase,
            uint256 parent,
            uint256 createdAt,
            uint256 specVersionCount
        );

    /// @notice Lifecycle phase of `twin`.
    function phaseOf(uint256 twin) external view returns (Phase);

    /// @notice Parent twin of `twin` (0 = none).
    function parentOf(uint256 twin) external view returns (uint256);

    /// @notice Number of specification versions of `twin`.
    function specVersionCount(uint256 twin) external view returns (uint256);

    /// @notice Specification version `index` of `twin`.
    function specVersion(
        uint256 twin,
        uint256 index
    ) external view returns (bytes32 cid, uint16 codec, bytes32 digest, address author, uint256 time);

    /// @notice Adds component `id` under `parent` (`bytes32(0)` = directly under the twin).
    /// @dev Needs SPEC_UPDATE for `parent`. The parent must be active; `id` must be new on the twin.
    ///      Emits {ComponentAdded}.
    /// @param twin Twin id.
    /// @param id New component id (non-zero, never used on this twin before).
    /// @param parent Parent component id, or `bytes32(0)`.
    /// @param name Human-readable name, 1..{MAX_NAME_LENGTH} bytes.
    /// @param kind Free-form kind tag (e.g. a short ASCII string or a role-class hash).
    function addComponent(uint256 twin, bytes32 id, bytes32 parent, string calldata name, bytes32 kind) external;

    /// @notice Adds several components in order; a parent may be added earlier in the same batch.
    /// @dev Needs SPEC_UPDATE for each parent. At most {MAX_BATCH} items. Emits {ComponentAdded} each.
    function addComponents(
        uint256 twin,
        bytes32[] calldata ids,
        bytes32[] calldata parents,
        string[] calldata names,
        bytes32[] calldata kinds
    ) external;

    /// @notice Marks component `id` inactive. Never deletes it.
    /// @dev Needs SPEC_UPDATE for `id`, which must have no active children. Emits {ComponentRemoved}.
    function removeComponent(uint256 twin, bytes32 id) external;

    /// @notice Replaces component `oldId` by a new component `newId` under the same parent. The old
    ///         entry stays as inactive history with `replacedBy = newId`.
    /// @dev Needs SPEC_UPDATE for `oldId` and for its parent (where `newId` is added). Its children stay
    ///      active under it (follow `replacedBy`). Emits {ComponentReplaced} then {ComponentAdded}.
    function replaceComponent(
        uint256 twin,
        bytes32 oldId,
        bytes32 newId,
        string calldata name,
        bytes32 kind
    ) external;

    /// @notice A component's record. `exists == false` if it was never added.
    function component(
        uint256 twin,
        bytes32 id
    )
        external
        view
        returns (
            bool exists,
            bool active,
            bytes32 parent,
            bytes32 kind,
            bytes32 replacedBy,
            uint256 addedAt,
            string memory name
        );
    /// @notice Defines (or redefines) program `program` of `component` with inclusive parameter bounds.
    /// @dev Needs SPEC_UPDATE for `component`, which must be active. Emits {ProgramSet}.
    /// @param paramNames Parameter names in call order (non-zero), at most {MAX_PARAMS}.
    /// @param mins Lower bounds, inclusive.
    /// @param maxs Upper bounds, inclusive.
    function setProgram(
        uint256 twin,
        bytes32 componentId,
        bytes32 program,
        bytes32[] calldata paramNames,
        int256[] calldata mins,
        int256[] calldata maxs
    ) external;

    /// @notice Disables program `program` of `component`; its bounds stay readable.
    /// @dev Needs SPEC_UPDATE for `component`. Emits {ProgramRemoved}.
    function removeProgram(uint256 twin, bytes32 componentId, bytes32 program) external;

    /// @notice Calls `program` of `component` with `params`, checked against the program's bounds.
    /// @dev Needs PROGRAM_CALL for `component` (scoped). The component must be active and the
    ///      program enabled. Emits {ProgramCalled}.
    /// @return callId Global id of the queued call (ids start at 1).
    function callProgram(
        uint256 twin,
        bytes32 componentId,
        bytes32 program,
        int256[] calldata params
    ) external returns (uint256 callId);

    /// @notice The device agent acknowledges it picked up call `callId` (Queued -> Delivered).
    /// @dev Needs PROGRAM_EXECUTE for the call's component. Emits {CallDelivered}.
    function markDelivered(uint256 callId) external;

    /// @notice The device agent reports the outcome of call `callId` (Queued or Delivered -> Done
    ///         if `ok`, else Failed), with an optional result on IPFS (`resultCid == 0`: none).
    /// @dev Needs PROGRAM_EXECUTE for the call's component. Emits {CallCompleted}.
    function completeCall(uint256 callId, bool ok, bytes32 resultCid, uint16 resultCodec) external;

    /// @notice Cancels call `callId` (Queued or Delivered -> Cancelled), e.g. a stale one.
    /// @dev Only its caller (as long as it holds PROGRAM_CALL for the component) or an OWNER (TWIN_DISMISS
    ///      at twin level, which only OWNERs hold by default). Emits {CallCancelled}.
    function cancelCall(uint256 callId) external;

    /// @notice Program record: `enabled`, parameter count and revision.
    function programInfo(
        uint256 twin,
        bytes32 componentId,
        bytes32 program
    ) external view returns (bool enabled, uint256 paramCount, uint256 revision);

    /// @notice All parameter bounds of a program, in call order.
    function programBounds(
        uint256 twin,
        bytes32 componentId,
        bytes32 program
    ) external view returns (bytes32[] memory names, int256[] memory mins, int256[] memory maxs);

    /// @notice A queued or finished program call (params are in the {ProgramCalled} event).
    function programCall(
        uint256 callId
    )
        external
        view
        returns (
            uint256 twin,
            bytes32 componentId,
            bytes32 program,
            address caller,
            CallStatus status,
            bytes32 resultCid,
            uint16 resultCodec
        );

    /// @notice The program revision call `callId` was checked against.
    function callRevision(uint256 callId) external view returns (uint256);

    /// @notice Number of program calls ever made (ids are 1..callCount).
    function callCount() external view returns (uint256);
    /// @notice Creates a document on `componentId` of `twin` with its first version (version 0).
    /// @dev Needs DOC_CREATE for `componentId` (active, or `bytes32(0)` for the twin).
    ///      Emits {DocumentAdded} and {DocumentVersionAdded}.
    /// @return docId Global document id.
    function addDocument(
        uint256 twin,
        bytes32 componentId,
        string calldata name,
        bytes32 cid,
        uint16 codec,
        bytes32 digest
    ) external returns (uint256 docId);

    /// @notice {addDocument}, but only if the new document gets id `expectedId`: data sealed for that id
    ///         (an encrypted document) can then never land under another id. Reverts {IdTaken} otherwise.
    function addDocumentAt(
        uint256 expectedId,
        uint256 twin,
        bytes32 componentId,
        string calldata name,
        bytes32 cid,
        uint16 codec,
        bytes32 digest
    ) external returns (uint256 docId);

    /// @notice Adds a new version to document `docId` of `twin`.
    /// @dev Needs DOC_UPDATE for the document's component. Emits {DocumentVersionAdded}.
    /// @return version Index of the new version.
    function addDocumentVersion(
        uint256 twin,
        uint256 docId,
        bytes32 cid,
        uint16 codec,
        bytes32 digest
    ) external returns (uint256 version);

    /// @notice Archives document `docId` of `twin`: it keeps its versions but gets no new ones.
    /// @dev Needs DOC_UPDATE for the document's component. Emits {DocumentArchived}.
    function archiveDocument(uint256 twin, uint256 docId) external;

    /// @notice Document record.
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
        );

    /// @notice Number of versions of document `docId`.
    function documentVersionCount(uint256 docId) external view returns (uint256);

    /// @notice Version `index` of document `docId`.
    function documentVersion(
        uint256 docId,
        uint256 index
    ) external view returns (bytes32 cid, uint16 codec, bytes32 digest, address author, uint256 time);

    /// @notice Number of documents ever created (ids are 1..documentCount).
    function documentCount() external view returns (uint256);

    /// @notice Registers an external data source of `twin`, owned by the caller.
    /// @dev Needs SOURCE_MANAGE at twin level. `uri` 1..{MAX_URI_LENGTH} bytes, `description` at
    ///      most {MAX_DESCRIPTION_LENGTH}. Emits {SourceAdded}.
    /// @return sourceId Global source id.
    function addSource(
        uint256 twin,
        string calldata uri,
        string calldata description
    ) external returns (uint256 sourceId);

    /// @notice Marks source `sourceId` of `twin` removed (the id stays taken).
    /// @dev The source's owner needs SOURCE_MANAGE; anyone else needs TWIN_UPDATE (e.g. an OWNER).
    ///      Emits {SourceRemoved}.
    function removeSource(uint256 twin, uint256 sourceId) external;

    /// @notice Source record.
    function source(
        uint256 sourceId
    )
        external
        view
        returns (uint256 twin, address owner, bool removed, string memory uri, string memory description);

    /// @notice Number of sources ever registered (ids are 1..sourceCount).
    function sourceCount() external view returns (uint256);
}
