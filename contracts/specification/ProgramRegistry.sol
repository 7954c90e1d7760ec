// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Permissions} from "../interfaces/IAuthorization.sol";
import {ISpecification} from "../interfaces/ISpecification.sol";
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

    /// @inheritdoc ISpecification
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

    /// @inheritdoc ISpecification
    function removeProgram(uint256 twin, bytes32 componentId, bytes32 program) external {
        _requireTwin(twin);
        _authorize(twin, Permissions.SPEC_UPDATE, componentId);
        Program storage p = _programs[twin][componentId][program];
        if (!p.enabled) revert UnknownProgram(twin, componentId, program);
        p.enabled = false;
        emit ProgramRemoved(twin, componentId, program, msg.sender);
    }

    /// @inheritdoc ISpecification
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

    /// @inheritdoc ISpecification
    function markDelivered(uint256 callId) external {
        ProgramCall storage c = _requireCall(callId);
        if (c.status != CallStatus.Queued) revert InvalidCallStatus(callId, c.status);
        _requireCurrent(callId, c);
        c.status = CallStatus.Delivered;
        emit CallDelivered(callId, c.twin, msg.sender);
    }

    /// @inheritdoc ISpecification
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

    /// @inheritdoc ISpecification
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

    /// @inheritdoc ISpecification
    function programInfo(
        uint256 twin,
        bytes32 componentId,
        bytes32 program
    ) external view returns (bool enabled, uint256 paramCount, uint256 revision) {
        Program storage p = _programs[twin][componentId][program];
        return (p.enabled, p.paramCount, p.revision);
    }

    /// @inheritdoc ISpecification
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

    /// @inheritdoc ISpecification
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

    /// @inheritdoc ISpecification
    function callRevision(uint256 callId) external view returns (uint256) {
        return _calls[callId].revision;
    }

    /// @inheritdoc ISpecification
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
