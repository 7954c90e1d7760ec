"""The fast encoder/decoder of formats/batch.py against the ``dag_cbor`` reference."""

import dag_cbor
from hypothesis import given, settings
from hypothesis import strategies as st

from twinledger.formats import batch as fmt
from twinledger.formats.batch import (
    Batch,
    BatchFormatError,
    Reading,
    decode_batch,
    encode_batch,
    encode_batch_reference,
    encode_reading,
    encode_reading_reference,
)

from batch_strategies import mixed_batches


def batches():
    return mixed_batches(max_name=300, max_quality=31)


def _slow_decode(data: bytes):
    try:
        obj = dag_cbor.decode(data)
    except Exception:  # noqa: BLE001 - any refusal counts as the reference's "error"
        return "error"
    try:
        return decode_batch(dag_cbor.encode(obj), max_bytes=None) if obj is not None else "error"
    except BatchFormatError:
        return "error"


@given(batches())
@settings(max_examples=300, deadline=None)
def test_fast_encoding_matches_dag_cbor(batch):
    assert encode_batch(batch, max_bytes=None) == encode_batch_reference(batch)
    for r in batch.readings[:3]:
        assert encode_reading(r) == encode_reading_reference(r)
    assert fmt._fast_decode_batch(encode_batch_reference(batch)) == batch


@given(batches(), st.data())
@settings(max_examples=500, deadline=None)
def test_fast_decoder_never_accepts_what_the_reference_rejects(batch, data):
    good = bytearray(encode_batch(batch, max_bytes=None))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(good) - 1))
        good[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(good)))
        good = good[:cut]
    mutated = bytes(good)
    fast = fmt._fast_decode_batch(mutated)
    if fast is not None:
        assert _slow_decode(mutated) == fast
        assert encode_batch_reference(fast) == mutated      # canonical: one encoding per content


def test_fast_decoder_falls_back_for_errors():
    b = Batch(1, 2, (Reading(1, "s", 3, 0.5, 0),))
    data = encode_batch(b)
    assert fmt._fast_decode_batch(data) == b
    bad_q = data.replace(b"\x61q\x00", b"\x61q\x18\x80")      # q = 128: unknown flag
    assert fmt._fast_decode_batch(bad_q) is None
    try:
        decode_batch(bad_q)
    except BatchFormatError as exc:
        assert "flag" in str(exc)
    else:
        raise AssertionError("accepted an unknown flag")
