"""The outbox's encoders (``encode_reading_fields``, ``encode_batch_of_encoded``) and the bulk hashes
(``merkle.leaf_hashes``) give exactly the bytes and leaves of the reference paths."""

from hypothesis import given, settings
from hypothesis import strategies as st

from twinledger.formats.batch import (
    MAX_UINT64,
    Batch,
    Reading,
    encode_batch,
    encode_batch_of_encoded,
    encode_batch_reference,
    encode_reading_fields,
    encode_reading_reference,
)
from twinledger.formats.merkle import MerkleTree, fast_root, leaf_hash, leaf_hashes

boundaries = [0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, MAX_UINT64]
uints = st.one_of(st.sampled_from(boundaries), st.integers(min_value=0, max_value=MAX_UINT64))
texts = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=300)
floats = st.floats(allow_nan=False, allow_infinity=False)
qualities = st.integers(0, 127)


@settings(max_examples=500, deadline=None)
@given(uints, texts, uints, floats, qualities)
def test_reading_from_fields_matches_dag_cbor(rid, sensor, t_ms, value, quality):
    reading = Reading(rid, sensor, t_ms, value, quality)
    assert encode_reading_fields(rid, sensor, t_ms, value, quality) == encode_reading_reference(reading)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(texts, uints, floats, qualities), min_size=1, max_size=40), uints, uints)
def test_batch_of_encoded_readings_matches_encode_batch(fields, feed, seq):
    readings = tuple(Reading(rid, s, t, v, q) for rid, (s, t, v, q) in enumerate(fields, start=1))
    encoded = [encode_reading_fields(r.rid, r.sensor, r.t_ms, r.value, r.quality) for r in readings]
    batch = Batch(feed, seq, readings)
    assert encode_batch_of_encoded(feed, seq, encoded) == encode_batch(batch, max_bytes=None)
    assert encode_batch_of_encoded(feed, seq, encoded) == encode_batch_reference(batch)
    leaves = leaf_hashes(encoded)
    assert leaves == [leaf_hash(e) for e in encoded]
    assert fast_root(leaves) == MerkleTree(leaves).root
