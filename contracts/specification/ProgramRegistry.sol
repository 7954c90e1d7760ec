// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Permissions} from "../interfaces/IAuthorization.sol";
import {SpecificationBase} from "./SpecificationBase.sol";

/// @title Programs of components, their parameter bounds (safety & security rules) and calls.
/// @notice A program is identified per component by a `bytes32` id and has up to {MAX_PARAMS}
///         named `int256` parameters, each with inclusive bounds `[min, max]`. A call is checked
///         against them, queued with a global id and moved by the device agent
///         (PROGRAM_EXECUTE): Queued -> Delivered -> Done | Failed, or Queued -> Done | Failed. A call
///         carries the program revision it was checked against: it can be delivered and completed only
///         while that revision is current, the program enabled and the component active, so a later
///         safety change (tighter bounds, removal) stops every call queued before it. Its caller or an
///         OWNER can cancel a call that is not finished (-> Cancelled).
abstract contract ProgramRegistry is SpecificationBase {
    /// @notice Most parameters of one program.
    uint256 public constant MAX_PARAMS = 16;

    struct Param {
        bytes32 name;
        int256 min;
        int256 max;
    }

    struct Program {
        bool enabled;
        uint8 paramCount;
        uint24 revision; // bumped by every setProgram
        mapping(uint256 index => Param) params;
    }

    /// @dev Slot 0: caller, twin, status, resultCodec, revision.
    struct ProgramCall {
        address caller;
        uint48 twin;
        CallStatus status;
        uint16 resultCodec;
        uint24 revision; // the program revision the parameters were checked against
        bytes32 component;
        bytes32 program;
        bytes32 resultCid;
    }

    mapping(uint256 twin => mapping(bytes32 component => mapping(bytes32 program => Program))) private _programs;
    mapping(uint256 callId => ProgramCall) private _calls;

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
    ) external {
        _activeComponent(twin, componentId);
        _authorize(twin, Permissions.SPEC_UPDATE, componentId);
        if (program == bytes32(0)) revert InvalidProgramId();
        uint256 n = paramNames.length;
        if (mins.length != n || maxs.length != n) revert LengthMismatch();
        if (n > MAX_PARAMS) revert TooManyParameters(n, MAX_PARAMS);
        Program storage p = _programs[twin][componentId][program];
        for (uint256 i; i < n; ++i) {
            bytes32 name = paramNames[i];
            if (name == bytes32(0) || mins[i] > maxs[i]) revert InvalidBounds(name, mins[i], maxs[i]);
            p.params[i] = Param(name, mins[i], maxs[i]);
        }
        p.enabled = true;
        p.paramCount = uint8(n);
        uint24 revision = p.revision + 1;
        p.revision = revision;
        emit ProgramSet(twin, componentId, program, revision, paramNames, mins, maxs, msg.sender);
    }

    /// @notice Disables program `program` of `component`; its bounds stay readable.
    /// @dev Needs SPEC_UPDATE for `component`. Emits {ProgramRemoved}.
    function removeProgram(uint256 twin, bytes32 componentId, bytes32 program) external {
        _requireTwin(twin);
        _authorize(twin, Permissions.SPEC_UPDATE, componentId);
        Program storage p = _programs[twin][componentId][program];
        if (!p.enabled) revert UnknownProgram(twin, componentId, program);
        p.enabled = false;
        emit ProgramRemoved(twin, componentId, program, msg.sender);
    }

    /// @notice Calls `program` of `component` with `params`, checked against the program's bounds.
    /// @dev Needs PROGRAM_CALL for `component` (scoped). The component must be active and the
    ///      program enabled. Emits {ProgramCalled}.
    /// @return callId Global id of the queued call (ids start at 1).
    function callProgram(
        uint256 twin,
        bytes32 componentId,
        bytes32 program,
        int256[] calldata params
    ) external returns (uint256 callId) {
        _activeComponent(twin, componentId);
        _authorize(twin, Permissions.PROGRAM_CALL, componentId);
        Program storage p = _programs[twin][componentId][program];
        if (!p.enabled) revert UnknownProgram(twin, componentId, program);
        uint256 n = p.paramCount;
        if (params.length != n) revert WrongParameterCount(n, params.length);
        for (uint256 i; i < n; ++i) {
            Param storage b = p.params[i];
            int256 v = params[i];
            if (v < b.min || v > b.max) revert ParameterOutOfBounds(b.name, v, b.min, b.max);
        }
        callId = ++_counters.calls;
        ProgramCall storage c = _calls[callId];
        c.caller = msg.sender;
        c.twin = uint48(twin);
        c.status = CallStatus.Queued;
        c.revision = p.revision;
        c.component = componentId;
        c.program = program;
        emit ProgramCalled(callId, twin, componentId, program, params, msg.sender);
    }

    /// @notice The device agent acknowledges it picked up call `callId` (Queued -> Delivered).
    /// @dev Needs PROGRAM_EXECUTE for the call's component. Emits {CallDelivered}.
    function markDelivered(uint256 callId) external {
        ProgramCall storage c = _requireCall(callId);
        if (c.status != CallStatus.Queued) revert InvalidCallStatus(callId, c.status);
        _requireCurrent(callId, c);
        c.status = CallStatus.Delivered;
        emit CallDelivered(callId, c.twin, msg.sender);
    }

    /// @notice The device agent reports the outcome of call `callId` (Queued or Delivered -> Done
    ///         if `ok`, else Failed), with an optional result on IPFS (`resultCid == 0`: none).
    /// @dev Needs PROGRAM_EXECUTE for the call's component. Emits {CallCompleted}.
    function completeCall(uint256 callId, bool ok, bytes32 resultCid, uint16 resultCodec) external {
        ProgramCall storage c = _requireCall(callId);
        CallStatus s = c.status;
        if (s != CallStatus.Queued && s != CallStatus.Delivered) revert InvalidCallStatus(callId, s);
        _requireCurrent(callId, c);
        if (resultCid != bytes32(0)) {
            _requireCid(resultCid, resultCodec);
            c.resultCid = resultCid;
            c.resultCodec = resultCodec;
        } else if (resultCodec != 0) {
            revert InvalidCid(resultCid, resultCodec);
        }
        c.status = ok ? CallStatus.Done : CallStatus.Failed;
        emit CallCompleted(callId, c.twin, ok, resultCid, resultCodec, msg.sender);
    }

    /// @notice Cancels call `callId` (Queued or Delivered -> Cancelled), e.g. a stale one.
    /// @dev Only its caller (as long as it holds PROGRAM_CALL for the component) or an OWNER (TWIN_DISMISS
    ///      at twin level, which only OWNERs hold by default). Emits {CallCancelled}.
    function cancelCall(uint256 callId) external {
        ProgramCall storage c = _calls[callId];
        CallStatus s = c.status;
        if (s == CallStatus.None) revert UnknownCall(callId);
        uint256 twin = c.twin;
        if (c.caller == msg.sender) _authorize(twin, Permissions.PROGRAM_CALL, c.component);
        else _authorizeAs(twin, Permissions.TWIN_DISMISS, bytes32(0), callId);
        if (s != CallStatus.Queued && s != CallStatus.Delivered) revert InvalidCallStatus(callId, s);
        c.status = CallStatus.Cancelled;
        emit CallCancelled(callId, twin, msg.sender);
    }

    /// @notice Program record: `enabled`, parameter count and revision.
    function programInfo(
        uint256 twin,
        bytes32 componentId,
        bytes32 program
    ) external view returns (bool enabled, uint256 paramCount, uint256 revision) {
        Program storage p = _programs[twin][componentId][program];
        return (p.enabled, p.paramCount, p.revision);
    }

    /// @notice All parameter bounds of a program, in call order.
    function programBounds(
        uint256 twin,
        bytes32 componentId,
        bytes32 program
    ) external view returns (bytes32[] memory names, int256[] memory mins, int256[] memory maxs) {
        Program storage p = _programs[twin][componentId][program];
        uint256 n = p.paramCount;
        names = new bytes32[](n);
        mins = new int256[](n);
        maxs = new int256[](n);
        for (uint256 i; i < n; ++i) {
            Param storage b = p.params[i];
            (names[i], mins[i], maxs[i]) = (b.name, b.min, b.max);
        }
    }

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
        )
    {
        ProgramCall storage c = _calls[callId];
        return (c.twin, c.component, c.program, c.caller, c.status, c.resultCid, c.resultCodec);
    }

    /// @notice The program revision call `callId` was checked against.
    function callRevision(uint256 callId) external view returns (uint256) {
        return _calls[callId].revision;
    }

    /// @notice Number of program calls ever made (ids are 1..callCount).
    function callCount() external view returns (uint256) {
        return _counters.calls;
    }

    /// @dev The call's program is still the one its parameters were checked against.
    function _requireCurrent(uint256 callId, ProgramCall storage c) private view {
        uint256 twin = c.twin;
        bytes32 componentId = c.component;
        Program storage p = _programs[twin][componentId][c.program];
        if (!p.enabled || p.revision != c.revision || !_components[twin][componentId].active) {
            revert StaleCall(callId, c.revision);
        }
    }

    /// @dev Like `_authorize`, but a refusal names the call: {NotCallCanceller}.
    function _authorizeAs(uint256 twin, uint256 permissions, bytes32 component, uint256 callId) private view {
        (bool allowed, bool frozen) = _check(twin, permissions, component);
        if (frozen) revert TwinDismissed(twin);
        if (!allowed) revert NotCallCanceller(callId, msg.sender);
    }

    function _requireCall(uint256 callId) private view returns (ProgramCall storage c) {
        c = _calls[callId];
        if (c.status == CallStatus.None) revert UnknownCall(callId);
        _authorize(c.twin, Permissions.PROGRAM_EXECUTE, c.component);
    }
}
