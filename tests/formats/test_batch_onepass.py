"""The one-pass decoder (``decode_batch_slices``) against ``decode_batch`` + ``reading_slices``, and the shared
layout scanner (formats/batchlayout.py) against a field-by-field reference of the layout."""

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinledger.formats.batch import (
    MAX_UINT64,
    Batch,
    BatchFormatError,
    Reading,
    decode_batch,
    decode_batch_slices,
    encode_batch,
    encode_reading,
    reading_slices,
)

from batch_strategies import mixed_batches, uints


@st.composite
def run_batches(draw):
    """Long runs of one sensor with consecutive ids and times across head-size boundaries (the common case)."""
    n = draw(st.integers(min_value=1, max_value=400))
    rid0 = draw(st.sampled_from([0, 1, 20, 250, 65530, 2**32 - 5, MAX_UINT64 - 400]))
    t0 = draw(st.sampled_from([0, 10, 200, 65000, 2**32 - 100, 1_700_000_000_000]))
    step = draw(st.sampled_from([1, 10]))
    sensor = draw(st.sampled_from(["FillLevel", "s", "x" * 23, "y" * 24, "Füllstand", "z" * 300]))
    qualities = draw(st.lists(st.sampled_from([0, 0, 0, 1, 23, 24, 127]), min_size=n, max_size=n))
    readings = tuple(Reading(rid0 + i, sensor, t0 + step * i, 0.5 + i * 0.25, qualities[i]) for i in range(n))
    return Batch(draw(uints), draw(uints), readings)


any_batch = st.one_of(mixed_batches(), run_batches())


def _outcome(fn, data):
    try:
        return fn(data)
    except BatchFormatError as exc:
        return ("BatchFormatError", str(exc))


def _reference_slices(data: bytes):
    """The layout parsed field by field, as ``reading_slices`` did before the scanner: the oracle."""
    def uint(pos, major):
        ib = data[pos]
        if ib >> 5 != major or ib & 0x1F > 27:
            raise ValueError
        info = ib & 0x1F
        if info < 24:
            return info, pos + 1
        width = {24: 1, 25: 2, 26: 4, 27: 8}[info]
        end = pos + 1 + width
        n = int.from_bytes(data[pos + 1:end], "big")
        if end > len(data) or n < {24: 24, 25: 0x100, 26: 0x10000, 27: 0x100000000}[info]:
            raise ValueError
        return n, end

    def expect(pos, literal):
        if data[pos:pos + len(literal)] != literal:
            raise ValueError
        return pos + len(literal)

    try:
        seq, pos = uint(expect(0, b"\xa4\x61v\x01\x63seq"), 0)
        feed, pos = uint(expect(pos, b"\x64feed"), 0)
        count, pos = uint(expect(pos, b"\x68readings"), 4)
        if count == 0:
            return None
        out, times = [], []
        for _ in range(count):
            start = pos
            _q, pos = uint(expect(pos, b"\xa5\x61q"), 0)
            _r, pos = uint(expect(pos, b"\x61r"), 0)
            n, pos = uint(expect(pos, b"\x61s"), 3)
            if len(data[pos:pos + n]) != n:
                return None
            t, pos = uint(expect(pos + n, b"\x61t"), 0)
            pos = expect(pos, b"\x61v\xfb") + 8
            if pos > len(data):
                return None
            out.append(data[start:pos])
            times.append(t)
        if pos != len(data):
            return None
        return feed, seq, out, min(times), max(times)
    except (ValueError, IndexError):
        return None


@given(any_batch)
@settings(max_examples=400, deadline=None)
def test_one_pass_equals_decode_plus_slices_on_valid_batches(batch):
    data = encode_batch(batch, max_bytes=None)
    decoded, slices = decode_batch_slices(data, max_bytes=None)
    assert decoded == decode_batch(data, max_bytes=None) == batch
    found = reading_slices(data)
    assert found is not None and slices == found[2] == [encode_reading(r) for r in batch.readings]
    assert found[:2] == (batch.feed, batch.seq) and found[3:] == (batch.t_first, batch.t_last)
    assert found == _reference_slices(data)


@given(any_batch, st.data())
@settings(max_examples=600, deadline=None)
def test_one_pass_fails_like_decode_batch_on_malformed_bytes(batch, data):
    raw = bytearray(encode_batch(batch, max_bytes=None))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    mutated = bytes(raw)
    expected = _outcome(lambda d: decode_batch(d, max_bytes=None), mutated)
    got = _outcome(lambda d: decode_batch_slices(d, max_bytes=None), mutated)
    if isinstance(expected, Batch):
        assert got == (expected, [encode_reading(r) for r in expected.readings])
    else:
        assert got == expected  # the same error class and message
    assert reading_slices(mutated) == _reference_slices(mutated)


def _batch_of_run(n: int = 50) -> tuple[Batch, bytes]:
    b = Batch(3, 4, tuple(Reading(100 + i, "level", 1_700_000_000_000 + 10 * i, 1.5, 0) for i in range(n)))
    return b, encode_batch(b)


def _patch_value(data: bytes, index: int, value: bytes) -> bytes:
    """Reading `index`'s 8 value bytes (the last of its encoding) replaced by `value`."""
    found = reading_slices(data)
    assert found is not None
    at = len(data) - sum(len(s) for s in found[2][index + 1:]) - 8
    return data[:at] + value + data[at + 8:]


@pytest.mark.parametrize("index", [0, 1, 37, 49])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_value_anywhere_in_a_run_is_refused_with_the_reference_error(index, value):
    _, data = _batch_of_run()
    bad = _patch_value(data, index, struct.pack(">d", value))
    with pytest.raises(BatchFormatError) as slow:
        decode_batch(bad)
    with pytest.raises(BatchFormatError) as one_pass:
        decode_batch_slices(bad)
    assert str(one_pass.value) == str(slow.value)  # dag_cbor itself refuses non-finite floats
    assert reading_slices(bad) == _reference_slices(bad)  # the layout itself is intact: slices still found


@pytest.mark.parametrize("fault", ["rid", "utf8", "quality"])
def test_field_faults_inside_a_run_are_refused_with_the_reference_error(fault):
    b, data = _batch_of_run()
    r = b.readings[30]
    if fault == "rid":  # reading 30 gets reading 29's id: ids must increase
        bad = data.replace(encode_reading(r), encode_reading(Reading(r.rid - 1, r.sensor, r.t_ms, r.value, 0)))
    elif fault == "utf8":  # same length, not UTF-8
        bad = data.replace(encode_reading(r), encode_reading(r).replace(b"level", b"lev\xffl"))
    else:  # q = 128: an unknown flag (a two-byte head, so this reading starts a run of its own)
        bad = data.replace(encode_reading(r), encode_reading(r).replace(b"\x61q\x00", b"\x61q\x18\x80"))
    assert bad != data
    expected = _outcome(decode_batch, bad)
    assert isinstance(expected, tuple) and expected[0] == "BatchFormatError"
    assert _outcome(decode_batch_slices, bad) == expected


@pytest.mark.parametrize("field", ["rid", "t", "q"])
def test_a_non_shortest_head_inside_a_run_is_refused_like_the_reference(field):
    """The run's first reading fixes the head sizes; a later reading of the same length whose head is not in
    shortest form (a value below its size class) is not canonical."""
    b = Batch(1, 2, tuple(Reading(0x100 + i, "s", 2**32 + i, 0.5, 24) for i in range(40)))
    data = encode_batch(b)
    r = b.readings[20]
    enc = encode_reading(r)
    patched = {"rid": enc.replace(b"\x61r\x19\x01\x14", b"\x61r\x19\x00\xff"),
               "t": enc.replace(b"\x61t\x1b\x00\x00\x00\x01\x00\x00\x00\x14", b"\x61t\x1b\x00\x00\x00\x00\xff\xff\xff\xff"),
               "q": enc.replace(b"\x61q\x18\x18", b"\x61q\x18\x05")}[field]
    assert patched != enc and len(patched) == len(enc)
    bad = data.replace(enc, patched)
    expected = _outcome(decode_batch, bad)
    assert isinstance(expected, tuple) and expected[0] == "BatchFormatError"
    assert _outcome(decode_batch_slices, bad) == expected
    assert reading_slices(bad) is None is _reference_slices(bad)
