"""Closing batches without reading the readings back (``UnbatchedRows``) and several closes per commit
(``Outbox.closing``): the batches are byte for byte those made from the file, whatever was appended, copied,
written by another connection or left by a crash, and a round of many small batches commits once."""
import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

from twinledger.agent.batcher import Batcher
from twinledger.agent.outbox import Outbox, OutboxError
from twinledger.agent.outbox_rows import UnbatchedRows

T0 = 1_700_000_000_000

values = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, -0.0, 5e-324, -1e308]))
groups = st.lists(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 40), values), max_size=40), max_size=8)


def rows_of(group):
    return [(feed, f"s{feed}", T0 + t, value, 0) for feed, t, value in group]


def batches(ob):
    return [(r.feed, r.seq, r.count, r.root, ob.batch_data(r.feed, r.seq)) for r in ob.batches()]


@settings(max_examples=60, deadline=None)
@given(groups=groups, limits=st.lists(st.integers(1, 50), min_size=8, max_size=8))
def test_batches_from_the_kept_copy_are_the_batches_from_the_file(tmp_path_factory, groups, limits):
    """The same appends (copies and -0.0 among them) and closes on two outboxes, one closing from the copy it
    kept, one from the file: every batch's bytes and root are equal, and the copy was used."""
    d = tmp_path_factory.mktemp("close")
    with Outbox(d / "kept.sqlite") as kept, Outbox(d / "file.sqlite") as from_file:
        for group, limit in zip(groups, limits):
            for ob in (kept, from_file):
                ob.append_rows(rows_of(group))
                if ob is from_file:
                    ob._unbatched.clear()
                for feed in (1, 2, 3):
                    ob.close_batch(feed, max_readings=limit)
        assert batches(kept) == batches(from_file)
        if any(groups):
            assert kept._unbatched.used > 0 and from_file._unbatched.used == 0
        kept.check_integrity()


def test_readings_another_connection_appended_are_in_the_batch(tmp_path):
    path = tmp_path / "o.sqlite"
    with Outbox(path) as ours, Outbox(path) as other:
        ours.append_rows(rows_of([(1, t, 1.0) for t in range(3)]))
        other.append_rows(rows_of([(1, t, 2.0) for t in range(2)]))
        ours.append_rows(rows_of([(1, 10, 3.0)]))
        closed = ours.close_batch(1)
        assert closed.count == 6 and ours._unbatched.used == 0  # the copy lacked two: read from the file
        ours.append_rows(rows_of([(1, 20, 4.0)]))
        assert ours.close_batch(1).count == 1 and ours._unbatched.used == 1


def test_a_restart_reads_the_unbatched_readings_from_the_file(tmp_path):
    path = tmp_path / "o.sqlite"
    with Outbox(path) as ob:
        ob.append_rows(rows_of([(1, t, 1.0) for t in range(4)]))
    with Outbox(path) as ob:
        ob.append_rows(rows_of([(1, 9, 1.0)]))
        assert ob.close_batch(1).count == 5 and ob._unbatched.used == 0


def test_the_copy_is_dropped_past_its_cap_and_the_file_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(UnbatchedRows, "MAX_ROWS", 5)
    with Outbox(tmp_path / "o.sqlite") as ob:
        ob.append_rows(rows_of([(1, t, 1.0) for t in range(4)]))
        ob.append_rows(rows_of([(1, t, 1.0) for t in range(4, 8)]))  # 8 held > 5: dropped
        assert ob.close_batch(1).count == 8 and ob._unbatched.used == 0


def commits_during(ob, fn):
    statements = []
    ob._db.set_trace_callback(statements.append)
    try:
        result = fn()
    finally:
        ob._db.set_trace_callback(None)
    return result, sum(1 for s in statements if s == "COMMIT")


def test_a_round_of_small_batches_commits_once_and_big_ones_each(tmp_path):
    feeds = {f"s{f}": f for f in range(1, 201)}
    with Outbox(tmp_path / "o.sqlite") as ob:
        batcher = Batcher(ob, feeds)
        batcher.add_rows([(f, f"s{f}", T0 + t, 1.0, 0) for f in feeds.values() for t in range(3)])
        closed, commits = commits_during(ob, batcher.flush)
        assert len(closed) == 200 and commits == 1
        batcher.add_rows([(f, f"s{f}", T0 + 100 + t, 1.0, 0) for f in (1, 2) for t in range(5000)])
        closed, commits = commits_during(ob, batcher.flush)
        assert [b.count for b in closed] == [5000, 5000] and commits == 2
        ob.check_integrity()


def test_a_close_that_fails_keeps_the_closes_before_it(tmp_path):
    """Feed 1's short readings fit the byte limit, feed 2's long sensor name does not: feed 1's batch is
    committed (seen by another connection), feed 2's readings stay unbatched, and the error reaches the caller."""
    path = tmp_path / "o.sqlite"
    long_name = "s" * 120
    with Outbox(path) as ob:
        batcher = Batcher(ob, {"s1": 1, long_name: 2}, max_bytes=100)
        batcher.add_rows([(1, "s1", T0, 1.0, 0), (2, long_name, T0, 1.0, 0)])
        with pytest.raises(OutboxError, match="above 100"):
            batcher.flush()
        with sqlite3.connect(path) as other:
            assert other.execute("SELECT feed, seq, count FROM batches").fetchall() == [(1, 0, 1)]
        assert ob.unbatched(2)[0] == 1 and ob.unbatched(1) == (0, 0)
        ob.check_integrity()
