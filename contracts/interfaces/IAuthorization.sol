// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Permission bits of the TwinLedger permission matrix.
/// @notice A role's permissions on a twin are a bitmask of these flags. `can` takes a mask and
///         answers true only if every bit in it is granted.
library Permissions {
    uint256 internal constant TWIN_UPDATE = 1 << 0; // phase, parent/child, twin metadata
    uint256 internal constant SPEC_UPDATE = 1 << 1; // spec versions, components, programs
    uint256 internal constant DOC_CREATE = 1 << 2;
    uint256 internal constant DOC_UPDATE = 1 << 3; // new versions, archive
    uint256 internal constant DOC_READ = 1 << 4;
    uint256 internal constant SENSOR_CREATE = 1 << 5; // register feeds
    uint256 internal constant SENSOR_UPDATE = 1 << 6; // retire feeds, rotate device keys, pause feeds
    uint256 internal constant SENSOR_READ = 1 << 7;
    uint256 internal constant ANCHOR = 1 << 8; // anchor batches without a device signature
    uint256 internal constant PROGRAM_CALL = 1 << 9;
    uint256 internal constant ROLE_ADMIN = 1 << 10; // grant/revoke roles, set scopes
    uint256 internal constant SOURCE_MANAGE = 1 << 11; // external sources
    uint256 internal constant PROGRAM_EXECUTE = 1 << 12; // move a program call's status (device agent)
    uint256 internal constant KEY_PUBLISH = 1 << 13; // publish key envelopes for encrypted data
    uint256 internal constant TWIN_DISMISS = 1 << 14; // dismiss the twin (irreversible); only OWNERs by default
}

/// @title What the other TwinLedger contracts ask the Authorization contract.
interface IAuthorization {
    /// @notice True if `account` holds, through any of its roles on `twin`, every permission bit in
    ///         `permissions`, and `component` is inside its component scope (`bytes32(0)` = whole twin).
    function can(uint256 twin, address account, uint256 permissions, bytes32 component) external view returns (bool);

    /// @notice True once the twin is dismissed: no state of that twin may change any more.
    function isFrozen(uint256 twin) external view returns (bool);

    /// @notice Called by the twin registry when a twin is created: makes `owner` its first OWNER.
    function initializeTwin(uint256 twin, address owner) external;

    /// @notice Called by the twin registry when a twin is dismissed.
    function freezeTwin(uint256 twin) external;
}
