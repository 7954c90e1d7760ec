"""Hypothesis strategies for sensor batches, shared by the batch codec tests: integers around every CBOR
head-size boundary, sensor names, finite floats, and batches whose readings each have a shape of their own."""
from hypothesis import strategies as st

from twinledger.formats.batch import MAX_UINT64, Batch, Reading

boundaries = [0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, MAX_UINT64]
uints = st.one_of(st.sampled_from(boundaries), st.integers(min_value=0, max_value=MAX_UINT64))
floats = st.floats(allow_nan=False, allow_infinity=False)


def texts(max_size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=max_size)


@st.composite
def mixed_batches(draw, max_name: int = 40, max_quality: int = 127):
    """Every reading of its own shape: head sizes and name lengths change from one reading to the next."""
    n = draw(st.integers(min_value=1, max_value=30))
    rids = sorted(draw(st.sets(uints, min_size=n, max_size=n)))
    names = texts(max_name)
    readings = tuple(Reading(rid, draw(names), draw(uints), draw(floats), draw(st.integers(0, max_quality)))
                     for rid in rids)
    return Batch(draw(uints), draw(uints), readings)
