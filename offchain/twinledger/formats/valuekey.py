"""Order keys of reading values: the unsigned 64-bit form in which contracts compare doubles.

An agreement's bounds are stored on-chain as order keys (docs/formats.md section 7): for an IEEE-754
double with bits ``b``, the key is ``b | 1<<63`` when the sign bit is clear and ``~b`` when it is set.
Keys sort exactly like the finite doubles they stand for, with -0.0 just below +0.0, so a contract
compares a reading's value with two integer comparisons. ``ReadingCodec.orderKey`` is the Solidity twin
of ``order_key``.
"""

from __future__ import annotations

import math
import struct

__all__ = ["KEY_MAX", "KEY_MIN", "from_order_key", "order_key", "value_bits"]

_SIGN = 1 << 63
_MASK = (1 << 64) - 1
KEY_MIN = 0
KEY_MAX = _MASK


def value_bits(value: float) -> int:
    """The 64 bits of ``value`` as a big-endian IEEE-754 double, as a reading stores it."""
    return int.from_bytes(struct.pack(">d", value), "big")


def order_key(value: float) -> int:
    """The order key of a finite double; raises ``ValueError`` for NaN or an infinity."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"a bound must be a finite number, got {value!r}")
    bits = value_bits(value)
    return bits | _SIGN if not bits & _SIGN else ~bits & _MASK


def from_order_key(key: int) -> float:
    """The double whose order key is ``key`` (the inverse of ``order_key``)."""
    if not 0 <= key <= _MASK:
        raise ValueError(f"an order key is a 64-bit unsigned integer, got {key}")
    bits = key & ~_SIGN if key & _SIGN else ~key & _MASK
    return float(struct.unpack(">d", bits.to_bytes(8, "big"))[0])
