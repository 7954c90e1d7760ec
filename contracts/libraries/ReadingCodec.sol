// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Reads one version-1 reading from its canonical DAG-CBOR bytes (docs/formats.md section 1).
/// @notice A reading is the map `{q, r, s, t, v}`. Its canonical encoding is fixed: the map header `0xa5`,
///         then the keys in DAG-CBOR order (`q`, `r`, `s`, `t`, `v`, each the one-byte text `0x61 k`), the
///         unsigned integers `q`, `r`, `t` in their shortest form, the sensor name `s` as non-empty text
///         with a shortest-form length, and `v` as `0xfb` followed by the IEEE-754 double, big-endian.
///         Anything else is refused, so a given reading has exactly one accepted byte string and
///         `keccak256(bytes)` is the `readingHash` whose leaf `SensorFeed` anchors.
/// @dev Values are compared through `orderKey`, an unsigned 64-bit key that sorts like the doubles do
///      (every finite double, with -0.0 just below +0.0). Non-finite values are refused, as the agent refuses them.
library ReadingCodec {
    /// @notice One decoded reading. `sensor` is keccak256 of the sensor name's UTF-8 bytes.
    struct Reading {
        uint64 quality;
        uint64 rid;
        bytes32 sensor;
        uint64 tMs;
        uint64 valueBits;
    }

    /// @notice The bytes are not the canonical encoding of a reading; `offset` is where parsing stopped.
    error MalformedReading(uint256 offset);

    uint64 private constant _SIGN = uint64(1) << 63;
    uint64 private constant _EXPONENT = 0x7ff0000000000000;

    /// @notice Decodes a canonical reading or reverts with `MalformedReading`.
    /// @param data The reading's DAG-CBOR bytes.
    /// @return r The reading's fields.
    function decode(bytes calldata data) internal pure returns (Reading memory r) {
        uint256 pos = _expect(data, 0, 0xa5);
        pos = _key(data, pos, "q");
        (r.quality, pos) = _uint(data, pos, 0);
        pos = _key(data, pos, "r");
        (r.rid, pos) = _uint(data, pos, 0);
        pos = _key(data, pos, "s");
        uint64 len;
        (len, pos) = _uint(data, pos, 3);
        if (len == 0 || data.length < pos + len) revert MalformedReading(pos);
        r.sensor = keccak256(data[pos:pos + len]);
        pos += len;
        pos = _key(data, pos, "t");
        (r.tMs, pos) = _uint(data, pos, 0);
        pos = _key(data, pos, "v");
        pos = _expect(data, pos, 0xfb);
        if (data.length != pos + 8) revert MalformedReading(pos);
        r.valueBits = uint64(bytes8(data[pos:pos + 8]));
        if (r.valueBits & _EXPONENT == _EXPONENT) revert MalformedReading(pos);
    }

    /// @notice The order-preserving key of an IEEE-754 double given by its bits: `bits | 1<<63` for a
    ///         positive sign, `~bits` for a negative one. `a < b` as doubles iff `orderKey(a) < orderKey(b)`.
    /// @param bits The double's 64 bits.
    /// @return The key.
    function orderKey(uint64 bits) internal pure returns (uint64) {
        return bits & _SIGN == 0 ? bits | _SIGN : ~bits;
    }

    function _expect(bytes calldata data, uint256 pos, uint8 b) private pure returns (uint256) {
        if (data.length <= pos || uint8(data[pos]) != b) revert MalformedReading(pos);
        return pos + 1;
    }

    function _key(bytes calldata data, uint256 pos, bytes1 k) private pure returns (uint256) {
        pos = _expect(data, pos, 0x61);
        return _expect(data, pos, uint8(k));
    }

    /// @dev A CBOR head of major type `major` with a shortest-form argument up to 64 bits.
    function _uint(bytes calldata data, uint256 pos, uint8 major) private pure returns (uint64 value, uint256 next) {
        if (data.length <= pos) revert MalformedReading(pos);
        uint8 head = uint8(data[pos]);
        if (head >> 5 != major) revert MalformedReading(pos);
        uint8 info = head & 0x1f;
        if (info < 24) return (info, pos + 1);
        if (info > 27) revert MalformedReading(pos);
        uint256 size = 1 << (info - 24); // 1, 2, 4 or 8 bytes
        if (data.length < pos + 1 + size) revert MalformedReading(pos);
        bytes calldata arg = data[pos + 1:pos + 1 + size];
        uint256 v;
        for (uint256 i; i < size; ++i) {
            v = (v << 8) | uint8(arg[i]);
        }
        // Shortest form: the value must not fit in the next smaller head.
        uint256 floor = size == 1 ? 24 : uint256(1) << (4 * size);
        if (v < floor) revert MalformedReading(pos);
        return (uint64(v), pos + 1 + size);
    }
}
