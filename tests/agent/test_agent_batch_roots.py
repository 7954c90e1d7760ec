"""Batch roots hashed by helper processes (`BackgroundRoots`) while the batcher goes on: the batches stored are
those of the in-place close byte for byte and root for root, in seq order per feed; a helper killed with SIGKILL
costs nothing; a crash with batches waiting for their roots loses nothing; a feed moved on by another writer is
refused, not overwritten."""

import os
import signal

import pytest

from twinledger.agent.batch_roots import BACKGROUND_FROM_READINGS, BackgroundRoots
from twinledger.agent.batcher import Batcher
from twinledger.agent.outbox import Outbox, OutboxError
from twinledger.agent.validation import Accepted
from twinledger.formats.batch import Quality, decode_batch, encode_reading
from twinledger.formats.merkle import root_of_readings

FEEDS = {"a": 1, "b": 2, "c": 3}
PER_FEED = 3 * BACKGROUND_FROM_READINGS + 77  # three full batches (max_readings below) and a short one
MAX_READINGS = BACKGROUND_FROM_READINGS


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def roots():
    helpers = BackgroundRoots()
    yield helpers
    helpers.close()


def fill(batcher: Batcher) -> None:
    """The same readings every time: interleaved over the feeds, in a few group commits."""
    readings = [Accepted(sensor, 1_700_000_000_000 + 10 * i, 20.0 + (i % 97) * 0.5, Quality.GOOD)
                for i in range(PER_FEED) for sensor in FEEDS]
    for start in range(0, len(readings), 1000):
        batcher.add_many(readings[start:start + 1000])


def stored(ob: Outbox) -> list[tuple[int, int, int, bytes, bytes | None]]:
    """Every batch: feed, seq, count, bytes, stored root."""
    out = []
    for record in ob.batches():
        out.append((record.feed, record.seq, record.count, ob.batch_data(record.feed, record.seq), record.root))
    return sorted(out)


def in_place(tmp_path) -> list[tuple[int, int, int, bytes, bytes | None]]:
    with Outbox(tmp_path / "inline.sqlite") as ob:
        b = Batcher(ob, FEEDS, max_readings=MAX_READINGS, clock=Clock())
        fill(b)
        b.flush()
        return stored(ob)


def test_helpers_store_the_batches_the_in_place_close_stores(tmp_path, roots):
    expected = in_place(tmp_path)
    clock = Clock()
    with Outbox(tmp_path / "o.sqlite") as ob:
        b = Batcher(ob, FEEDS, max_readings=MAX_READINGS, clock=clock, roots=roots)
        fill(b)
        closed = b.due()  # the full batches: prepared, hashed by the helpers, stored when their roots are back
        while b.hashing:
            closed += b.due()
        closed += b.flush()  # the short ones, in place (below BACKGROUND_FROM_READINGS)
        assert b.hashing == 0 and not roots.failed
        got = stored(ob)
    assert got == expected
    assert [(c.feed, c.seq) for c in sorted(closed, key=lambda c: (c.feed, c.seq))] == [(f, s) for f, s, *_ in got]
    for feed, seq, count, data, root in got:
        batch = decode_batch(data)
        assert (batch.feed, batch.seq, len(batch.readings)) == (feed, seq, count)
        assert root == root_of_readings([encode_reading(r) for r in batch.readings])
    per_feed = [[s for f, s, *_ in got if f == feed] for feed in FEEDS.values()]
    assert per_feed == [[0, 1, 2, 3]] * 3  # each feed's batches chained in seq order, none skipped


def test_a_killed_helper_costs_nothing(tmp_path, roots):
    expected = in_place(tmp_path)
    with Outbox(tmp_path / "o.sqlite") as ob:
        b = Batcher(ob, FEEDS, max_readings=MAX_READINGS, clock=Clock(), roots=roots)
        fill(b)
        os.kill(roots.pids[0], signal.SIGKILL)
        os.waitpid(roots.pids[0], 0)
        b.flush()
        assert roots.failed and b.hashing == 0
        assert stored(ob) == expected


def test_a_crash_with_batches_waiting_for_roots_loses_nothing(tmp_path, roots):
    expected = in_place(tmp_path)
    path = tmp_path / "o.sqlite"
    ob = Outbox(path)
    b = Batcher(ob, FEEDS, max_readings=MAX_READINGS, clock=Clock(), roots=roots)
    fill(b)
    b.due()  # some roots may have come back and been stored already; others wait
    waiting = b.hashing
    ob.close()  # the process ends here: whatever waited for its root was never stored
    with Outbox(path) as again:
        assert sum(again.unbatched(f)[0] for f in FEEDS.values()) >= waiting * MAX_READINGS
        Batcher(again, FEEDS, max_readings=MAX_READINGS, clock=Clock()).flush()
        assert stored(again) == expected


def test_a_prepared_batch_is_refused_once_the_feed_moved_on(tmp_path):
    with Outbox(tmp_path / "o.sqlite") as ob:
        b = Batcher(ob, {"a": 1}, clock=Clock())
        b.add_many([Accepted("a", 1_700_000_000_000 + i, 1.0, Quality.GOOD) for i in range(10)])
        prepared = ob.prepare_batch(1)
        assert ob.close_batch(1) is not None  # another close got there first
        with pytest.raises(OutboxError, match="moved on"):
            ob.commit_batch(prepared, root_of_readings(prepared.encoded))
        assert [(r.seq, r.count) for r in ob.batches()] == [(0, 10)]
