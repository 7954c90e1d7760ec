"""ReadingCodec, pinned to the Python encoder: every reading `formats/batch.py` encodes decodes on-chain to
the same fields, and bytes the Python decoder refuses as non-canonical are refused on-chain too. Also pins
`orderKey` to `formats/valuekey.py` and to the order of doubles."""

from __future__ import annotations

import struct
from typing import Any

import ape
import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinledger.formats.batch import BatchFormatError, Reading, decode_reading, encode_reading
from twinledger.formats.valuekey import order_key, value_bits

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
UINT64 = st.integers(0, 2**64 - 1)
READINGS = st.builds(
    Reading,
    rid=UINT64,
    sensor=st.text(min_size=1, max_size=40),
    t_ms=UINT64,
    value=st.floats(allow_nan=False, allow_infinity=False),
    quality=st.integers(0, 31),
)


@pytest.fixture(scope="module")
def codec(project: Any, deployer: Any) -> Any:
    return deployer.deploy(project.TestReadingCodec)


def fields_of(r: Reading) -> tuple[int, int, bytes, int, int]:
    return (r.quality, r.rid, keccak(r.sensor.encode()), r.t_ms, value_bits(r.value))


@SETTINGS
@given(reading=READINGS)
def test_every_encoded_reading_decodes_to_its_fields(codec: Any, reading: Reading) -> None:
    decoded = codec.decode(encode_reading(reading))
    assert tuple(decoded) == fields_of(reading)


def test_a_known_reading_decodes(codec: Any) -> None:
    data = encode_reading(Reading(rid=7, sensor="TempC", t_ms=1_700_000_000_123, value=-2.5, quality=1))
    assert data[:1] == b"\xa5"
    assert tuple(codec.decode(data)) == (1, 7, keccak(b"TempC"), 1_700_000_000_123, value_bits(-2.5))


def python_accepts(data: bytes) -> bool:
    try:
        return encode_reading(decode_reading(data)) == data
    except BatchFormatError:
        return False


@SETTINGS
@given(reading=READINGS, where=st.integers(0, 10_000), byte=st.integers(0, 255), cut=st.booleans())
def test_a_mutated_reading_is_decoded_only_if_python_accepts_it(
    codec: Any, reading: Reading, where: int, byte: int, cut: bool
) -> None:
    data = bytearray(encode_reading(reading))
    i = where % len(data)
    if cut:
        del data[i:]
    else:
        data[i] = byte
    mutated = bytes(data)
    accepted = python_accepts(mutated)
    if accepted:
        assert tuple(codec.decode(mutated)) == fields_of(decode_reading(mutated))
        return
    # On-chain the sensor name is only hashed: bytes that differ from a valid reading only by invalid UTF-8
    # in the name, or by unknown quality bits, are still well-formed there. Everything else is refused.
    name = reading.sensor.encode()
    name_at = len(encode_reading(reading)) - 11 - _uint_len(reading.t_ms) - 2 - len(name)
    in_name = not cut and name_at <= i < name_at + len(name)
    in_quality = not cut and 3 <= i < 3 + _uint_len(reading.quality)
    if in_name or in_quality:
        return
    with ape.reverts(codec.MalformedReading):
        codec.decode(mutated)


def _uint_len(n: int) -> int:
    return 1 if n < 24 else 2 if n < 0x100 else 3 if n < 0x10000 else 5 if n < 2**32 else 9


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xa4\x61q\x00",  # a map of four
        bytes.fromhex("a5") + b"\x61q\x18\x05" + b"\x61r\x00\x61s\x61x\x61t\x00\x61v\xfb" + bytes(8),  # 5 as 0x18 05
        b"\xa5\x61q\x00\x61r\x00\x61s\x60\x61t\x00\x61v\xfb" + bytes(8),  # empty sensor name
        b"\xa5\x61q\x00\x61r\x00\x61s\x61x\x61t\x00\x61v\xfa" + bytes(4),  # a 32-bit float
        b"\xa5\x61q\x00\x61r\x00\x61s\x61x\x61t\x00\x61v\xfb\x7f\xf8" + bytes(6),  # NaN
        b"\xa5\x61q\x00\x61r\x00\x61s\x61x\x61t\x00\x61v\xfb\xff\xf0" + bytes(6),  # -infinity
        b"\xa5\x61q\x00\x61r\x00\x61s\x61x\x61t\x00\x61v\xfb" + bytes(9),  # a trailing byte
        b"\xa5\x61r\x00\x61q\x00\x61s\x61x\x61t\x00\x61v\xfb" + bytes(8),  # keys out of order
        b"\xa5\x61q\x20\x61r\x00\x61s\x61x\x61t\x00\x61v\xfb" + bytes(8),  # a negative integer
    ],
)
def test_non_canonical_bytes_are_refused(codec: Any, data: bytes) -> None:
    assert not python_accepts(data)
    with ape.reverts(codec.MalformedReading):
        codec.decode(data)


def test_the_canonical_form_of_the_refused_cases_is_accepted(codec: Any) -> None:
    good = b"\xa5\x61q\x05\x61r\x00\x61s\x61x\x61t\x00\x61v\xfb" + bytes(8)
    assert python_accepts(good)
    assert codec.decode(good).quality == 5


@SETTINGS
@given(a=st.floats(allow_nan=False, allow_infinity=False), b=st.floats(allow_nan=False, allow_infinity=False))
def test_order_keys_sort_like_the_doubles(codec: Any, a: float, b: float) -> None:
    ka, kb = order_key(a), order_key(b)
    assert codec.orderKey(value_bits(a)) == ka
    if a < b:
        assert ka < kb
    elif a > b:
        assert ka > kb
    else:  # equal doubles: only 0.0 and -0.0 have two encodings, and -0.0 sorts first
        assert (ka == kb) == (struct.pack(">d", a) == struct.pack(">d", b))
