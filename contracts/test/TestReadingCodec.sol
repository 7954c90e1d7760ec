// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ReadingCodec} from "../libraries/ReadingCodec.sol";

/// @title Exposes ReadingCodec for the tests that pin it to the Python encoder.
contract TestReadingCodec {
    /// @notice Decodes `data` as ReadingCodec does.
    function decode(bytes calldata data) external pure returns (ReadingCodec.Reading memory) {
        return ReadingCodec.decode(data);
    }

    /// @notice ReadingCodec.orderKey.
    function orderKey(uint64 bits) external pure returns (uint64) {
        return ReadingCodec.orderKey(bits);
    }
}
