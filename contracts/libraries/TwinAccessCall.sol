// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITwinAccess} from "../interfaces/ITwinAccess.sol";

/// @title `ITwinAccess.check`, hand-encoded.
/// @notice The twin registry asks it on every write; the ABI helpers cost a few hundred gas more per call.
///         `contracts/test/TestTwinAccessCall.sol` and `tests/contracts/test_twin_access_call.py` pin it to the
///         ABI-encoded call: same answers, the callee's revert bubbled up, short return data refused.
library TwinAccessCall {
    /// @notice `auth.check(twin, account, permissions, component)`. A failed call bubbles its revert data up; a
    ///         reply shorter than two words (e.g. `auth` has no code) reverts without data.
    function check(ITwinAccess auth, uint256 twin, address account, uint256 permissions, bytes32 component)
        internal
        view
        returns (bool allowed, bool frozen)
    {
        bytes4 selector = ITwinAccess.check.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), twin)
            mstore(add(ptr, 0x24), and(account, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x44), permissions)
            mstore(add(ptr, 0x64), component)
            if iszero(staticcall(gas(), auth, ptr, 0x84, ptr, 0x40)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
            if lt(returndatasize(), 0x40) {
                revert(0, 0)
            }
            allowed := iszero(iszero(mload(ptr)))
            frozen := iszero(iszero(mload(add(ptr, 0x20))))
        }
    }
}
