"""The ingest path's rows (``Outbox.append_rows``, ``Outbox.close_batch``): checked like ``Reading``s, copies
refused with consecutive rids, sizes exact, and the root stored with a batch is the Merkle root of its bytes."""
import pytest

from twinledger.agent.outbox import Outbox
from twinledger.agent.publish import merkle_tree
from twinledger.formats.batch import BatchFormatError, Reading, decode_batch, encode_reading

T0 = 1_700_000_000_000


@pytest.fixture
def outbox(tmp_path):
    with Outbox(tmp_path / "outbox.sqlite") as ob:
        yield ob


@pytest.mark.parametrize("row", [
    (1, "s", T0 + 0.5, 1.0, 0),          # a float time
    (1, "s", T0, float("nan"), 0),       # not finite
    (1, "s", -1, 1.0, 0),                # negative time
    (1, "s", T0, 1.0, 128),              # an unknown quality flag
    (1, "", T0, 1.0, 0),                 # no sensor name
])
def test_rows_a_reading_could_not_carry_are_refused_whole(outbox, row):
    with pytest.raises(BatchFormatError):
        outbox.append_rows([(1, "s", T0 - 1, 1.0, 0), row])
    assert outbox.reading_count() == 0


def test_copies_are_skipped_and_rids_stay_consecutive(outbox):
    first = outbox.append_rows([(1, "a", T0 + i, float(i), 0) for i in range(100)])
    assert [p[0] for p in first.params] == list(range(1, 101)) and first.by_feed == {1: [100, first.by_feed[1][1]]}
    again = outbox.append_rows([(1, "a", T0 + i, float(i), 0) for i in range(95, 105)] + [(2, "b", T0, 0.0, 16)])
    assert [(p[0], p[2], p[3]) for p in again.params] == [(101 + i, "a", T0 + 100 + i) for i in range(5)] + [
        (106, "b", T0)]
    assert again.by_feed[1][0] == 5 and again.by_feed[2][0] == 1
    assert outbox.reading_count() == 106


def test_sizes_are_the_encoded_sizes_and_the_root_is_the_batch_root(outbox):
    rows = [(7, "s" * (i % 40 + 1), T0 + i, i / 3, i % 128) for i in range(70_000)]  # rids cross 2^16
    stored = []
    for k in range(0, len(rows), 4096):
        stored += outbox.append_rows(rows[k:k + 4096]).params
    for rid, _feed, sensor, t_ms, value, quality, size in stored[::997]:
        assert size == len(encode_reading(Reading(rid, sensor, t_ms, value, quality)))
    while (closed := outbox.close_batch(7)) is not None:
        data = outbox.batch_data(7, closed.seq)
        batch = decode_batch(data)
        assert len(data) == closed.size and batch.count == closed.count
        assert (closed.t_first, closed.t_last) == (batch.t_first, batch.t_last)
        assert outbox.get_batch(7, closed.seq).root == merkle_tree(batch).root
    assert outbox.unbatched(7) == (0, 0)
    outbox.check_integrity()

