"""Reading and batch encoding, version 1 (docs/formats.md section 1)."""

import math
import time

import dag_cbor
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinledger.formats.batch import (
    BATCH_SIZE_LIMIT,
    MAX_UINT64,
    Batch,
    BatchFormatError,
    Quality,
    Reading,
    batch_encoded_size,
    decode_batch,
    decode_reading,
    encode_batch,
    encode_reading,
    reading_encoded_size,
)

uint64 = st.integers(min_value=0, max_value=MAX_UINT64)
sensor_names = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)
finite = st.floats(allow_nan=False, allow_infinity=False)
qualities = st.integers(min_value=0, max_value=31)


@st.composite
def readings_lists(draw, max_size=30):
    n = draw(st.integers(min_value=1, max_value=max_size))
    rids = sorted(draw(st.sets(uint64, min_size=n, max_size=n)))
    return tuple(
        Reading(rid, draw(sensor_names), draw(uint64), draw(finite), draw(qualities)) for rid in rids
    )


batches = st.builds(lambda f, s, rs: Batch(f, s, rs), uint64, uint64, readings_lists())


@given(batches)
@settings(max_examples=200, deadline=None)
def test_batch_round_trip_and_stable_bytes(batch):
    data = encode_batch(batch, max_bytes=None)
    assert decode_batch(data, max_bytes=None) == batch
    # same content, freshly built objects: same bytes
    clone = Batch(batch.feed, batch.seq, tuple(Reading(r.rid, r.sensor, r.t_ms, r.value, r.quality)
                                               for r in batch.readings))
    assert encode_batch(clone, max_bytes=None) == data
    assert len(data) == batch_encoded_size(
        batch.feed, batch.seq, [reading_encoded_size(r.sensor, r.rid, r.t_ms, r.quality) for r in batch.readings])


@given(uint64, sensor_names, uint64, finite, qualities)
def test_reading_round_trip_and_size(rid, sensor, t, v, q):
    r = Reading(rid, sensor, t, v, q)
    data = encode_reading(r)
    assert decode_reading(data) == r
    assert data == dag_cbor.encode({"r": rid, "s": sensor, "t": t, "v": float(v), "q": q})
    assert len(data) == reading_encoded_size(sensor, rid, t, q)


def test_golden_reading_bytes():
    r = Reading(rid=1, sensor="tank_level", t_ms=1_700_000_000_000, value=1.0, quality=0)
    # a5: map(5); keys q, r, s, t, v (length then bytewise); value always float64 (fb)
    assert encode_reading(r).hex() == (
        "a5" "617100" "617201" "6173" "6a74616e6b5f6c6576656c" "61741b0000018bcfe56800" "6176fb3ff0000000000000")


def test_golden_batch_bytes():
    b = Batch(feed=7, seq=300, readings=(Reading(5, "a", 1, -0.5, Quality.SPIKE | Quality.STUCK),))
    assert encode_batch(b).hex() == (
        "a4" "617601" "63736571" "19012c" "6466656564" "07" "687265616469" "6e6773" "81"
        "a5" "617118" "18" "617205" "617361" "61" "617401" "6176fbbfe0000000000000")


def test_integer_value_is_encoded_as_float():
    assert Reading(1, "s", 2, 3, 0).value == 3.0
    assert encode_reading(Reading(1, "s", 2, 3, 0)) == encode_reading(Reading(1, "s", 2, 3.0, 0))


@pytest.mark.parametrize("kwargs, match", [
    (dict(rid=-1), "rid"), (dict(rid=True), "rid"), (dict(sensor=""), "sensor"), (dict(t_ms=2**64), "t_ms"),
    (dict(value=math.nan), "finite"), (dict(value=math.inf), "finite"), (dict(value="1"), "float"),
    (dict(quality=128), "unknown flag"),
])
def test_reading_rejects_bad_fields(kwargs, match):
    base = dict(rid=1, sensor="s", t_ms=0, value=0.0, quality=0)
    with pytest.raises(BatchFormatError, match=match):
        Reading(**{**base, **kwargs})


def test_batch_rules():
    r1, r2 = Reading(1, "s", 0, 0.0), Reading(2, "s", 0, 0.0)
    with pytest.raises(BatchFormatError, match="at least one"):
        Batch(0, 0, ())
    with pytest.raises(BatchFormatError, match="increase"):
        Batch(0, 0, (r2, r1))
    assert Batch(0, 0, [r1, r2]).readings == (r1, r2)  # lists are frozen into tuples


def _raw(obj) -> bytes:
    return dag_cbor.encode(obj)


GOOD_READING = {"r": 1, "s": "x", "t": 2, "v": 1.5, "q": 0}


@pytest.mark.parametrize("obj, match", [
    ({"v": 2, "feed": 0, "seq": 0, "readings": [GOOD_READING]}, "version 2"),
    ({"v": "1", "feed": 0, "seq": 0, "readings": [GOOD_READING]}, "version"),
    ({"feed": 0, "seq": 0, "readings": [GOOD_READING]}, "keys"),
    ({"v": 1, "feed": 0, "seq": 0, "readings": [GOOD_READING], "x": 1}, "keys"),
    ({"v": 1, "feed": -1, "seq": 0, "readings": [GOOD_READING]}, "feed"),
    ({"v": 1, "feed": 0, "seq": "0", "readings": [GOOD_READING]}, "seq"),
    ({"v": 1, "feed": 0, "seq": 0, "readings": []}, "at least one"),
    ({"v": 1, "feed": 0, "seq": 0, "readings": {}}, "list"),
    ({"v": 1, "feed": 0, "seq": 0, "readings": [{**GOOD_READING, "v": 1}]}, "float"),
    ({"v": 1, "feed": 0, "seq": 0, "readings": [{**GOOD_READING, "s": b"x"}]}, "sensor"),
    ({"v": 1, "feed": 0, "seq": 0, "readings": [{**GOOD_READING, "q": 128}]}, "flag"),
    ({"v": 1, "feed": 0, "seq": 0, "readings": [{"r": 1, "s": "x", "t": 2, "v": 1.5}]}, "keys"),
    ({"v": 1, "feed": 0, "seq": 0, "readings": [GOOD_READING, GOOD_READING]}, "increase"),
    ([1, 2], "map"),
])
def test_decode_rejects_invalid_batches(obj, match):
    with pytest.raises(BatchFormatError, match=match):
        decode_batch(_raw(obj))


def test_decode_rejects_non_canonical_bytes():
    good = encode_batch(Batch(0, 0, (Reading(1, "x", 2, 1.5),)))
    decode_batch(good)
    with pytest.raises(BatchFormatError, match="canonical"):
        decode_batch(good + b"\x00")             # trailing data
    float32 = good.replace(bytes.fromhex("fb3ff8000000000000"), bytes.fromhex("fa3fc00000"))
    with pytest.raises(BatchFormatError, match="canonical"):
        decode_batch(float32)                    # floats must be 64-bit
    with pytest.raises(BatchFormatError, match="canonical"):
        decode_batch(bytes.fromhex("a2617601617101"))   # keys out of order
    with pytest.raises(BatchFormatError):
        decode_batch("not bytes")  # type: ignore[arg-type]


def test_size_limit_on_both_sides():
    big = Batch(0, 0, tuple(Reading(i, "s" * 100, i, 0.0) for i in range(1, 3000)))
    data = encode_batch(big, max_bytes=None)
    assert len(data) >= BATCH_SIZE_LIMIT
    with pytest.raises(BatchFormatError, match="limit"):
        encode_batch(big)
    with pytest.raises(BatchFormatError, match="limit"):
        decode_batch(data)
    assert decode_batch(data, max_bytes=None) == big


def test_decoding_100k_readings_is_fast():
    readings = tuple(Reading(i, f"sensor_{i % 5}", 1_700_000_000_000 + i, i * 0.25, i % 32) for i in range(100_000))
    # as the agent stores them: batches below 256 KiB
    chunks = [Batch(1, n, readings[i:i + 5000]) for n, i in enumerate(range(0, len(readings), 5000))]
    blobs = [encode_batch(b) for b in chunks]
    start = time.perf_counter()
    decoded = [decode_batch(b) for b in blobs]
    elapsed = time.perf_counter() - start
    assert sum(b.count for b in decoded) == 100_000 and decoded == chunks
    assert elapsed < 5, f"decoding 100k readings took {elapsed:.1f}s"


def test_time_range_is_min_max_for_out_of_order_readings():
    b = Batch(0, 0, (Reading(1, "a", 50, 0.0), Reading(2, "a", 10, 0.0), Reading(3, "a", 30, 0.0)))
    assert (b.t_first, b.t_last, b.count) == (10, 50, 3)
