"""Checks of the fixed-width fields that the signed and hashed formats share (an unsigned integer of so many
bits, a 32-byte word): one definition, raising the error class of the format that asks."""

from __future__ import annotations

from typing import Any

__all__ = ["check_b32", "check_uint"]


def check_uint(value: Any, bits: int, name: str, error: type[Exception] = ValueError) -> int:
    """``value`` if it is an int (not a bool) in ``[0, 2**bits)``, else raises ``error``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise error(f"{name} must be an integer in [0, 2**{bits}), got {value!r:.80}")
    return value


def check_b32(value: Any, name: str, error: type[Exception] = ValueError) -> bytes:
    """``value`` as bytes if it is 32 bytes (bytes or bytearray), else raises ``error``."""
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise error(f"{name} must be 32 bytes, got {value!r:.80}")
    return bytes(value)
