"""Outbox: durable readings, fixed batches, state machine, resume and reconcile."""

import sqlite3

import pytest

from twinledger.agent.outbox import BatchState, Outbox, OutboxError
from twinledger.agent.validation import Accepted
from twinledger.formats.batch import BATCH_SIZE_LIMIT, Quality, decode_batch, encode_batch


def acc(i: int, sensor: str = "pipe_flow", q: Quality = Quality.GOOD) -> Accepted:
    return Accepted(sensor, 1_700_000_000_000 + i, i / 8, q)


@pytest.fixture
def outbox(tmp_path):
    with Outbox(tmp_path / "outbox.sqlite") as ob:
        yield ob


def test_wal_and_full_sync(tmp_path, outbox):
    db = sqlite3.connect(tmp_path / "outbox.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2   # FULL


def test_append_assigns_increasing_rids_across_feeds(outbox):
    r1 = outbox.append(1, acc(0))
    rs = outbox.append_many([(2, acc(1)), (1, acc(2, q=Quality.SPIKE))])
    assert [r1.rid, *(r.rid for r in rs)] == [1, 2, 3]
    assert rs[1].quality == 16 and outbox.reading_count() == 3


def test_append_many_is_all_or_nothing(outbox):
    outbox.append(1, acc(0))
    with pytest.raises(Exception):
        outbox.append_many([(1, acc(1)), (1, Accepted("", 1, 1.0))])    # empty sensor name
    assert outbox.reading_count() == 1
    assert outbox.append(1, acc(2)).rid == 2


def test_claim_batch_per_feed_in_order(outbox):
    outbox.append_many([(1 + i % 2, acc(i)) for i in range(10)])
    b = outbox.claim_batch(1, max_readings=3)
    assert (b.feed, b.seq, [r.rid for r in b.readings]) == (1, 0, [1, 3, 5])
    b = outbox.claim_batch(1)
    assert (b.seq, [r.rid for r in b.readings]) == (1, [7, 9])
    assert outbox.claim_batch(1) is None
    assert outbox.claim_batch(2).seq == 0
    assert outbox.unbatched(1) == (0, 0)
    assert outbox.batch_data(1, 1) == encode_batch(b)
    assert outbox.load_batch(1, 1) == b
    outbox.check_integrity()


def test_claim_respects_max_bytes(outbox):
    outbox.append_many([(1, acc(i, sensor="s" * 100)) for i in range(6000)])
    sizes = []
    while (b := outbox.claim_batch(1, max_readings=100_000)) is not None:
        data = outbox.batch_data(1, b.seq)
        assert len(data) < BATCH_SIZE_LIMIT
        sizes.append(len(data))
    assert len(sizes) >= 3 and max(sizes) > BATCH_SIZE_LIMIT - 200      # filled up to the limit
    small = Outbox(outbox.path)
    small.append_many([(9, acc(i)) for i in range(50)])
    b = small.claim_batch(9, max_bytes=1000)
    assert len(small.batch_data(9, 0)) <= 1000 and b.count > 10
    with pytest.raises(ValueError):
        small.claim_batch(9, max_bytes=BATCH_SIZE_LIMIT)


def test_state_machine_and_resume(outbox):
    outbox.append_many([(1, acc(i)) for i in range(4)])
    for _ in range(4):
        outbox.claim_batch(1, max_readings=1)
    outbox.mark_stored(1, 0, "bafkrei0")
    outbox.mark_submitted(1, 0, "0xaa", 7)
    outbox.mark_anchored(1, 0, 123)
    outbox.mark_confirmed(1, 0)
    outbox.mark_stored(1, 1, "bafkrei1")
    outbox.mark_submitted(1, 1, "0xbb", 8)
    with pytest.raises(OutboxError):
        outbox.mark_confirmed(1, 1)                 # must be anchored first
    with pytest.raises(OutboxError):
        outbox.mark_stored(1, 0, "x")               # confirmed is final
    with pytest.raises(KeyError):
        outbox.mark_stored(1, 99, "x")
    outbox.mark_dropped(1, 1)                       # tx dropped: back to stored, keep the cid
    rec = outbox.get_batch(1, 1)
    assert (rec.state, rec.cid, rec.txhash, rec.nonce) == (BatchState.STORED, "bafkrei1", None, None)
    assert [(r.seq, r.state) for r in outbox.resume()] == [
        (1, BatchState.STORED), (2, BatchState.PENDING), (3, BatchState.PENDING)]


def test_reconcile_with_chain(outbox):
    outbox.append_many([(1, acc(i)) for i in range(5)])
    for _ in range(5):
        outbox.claim_batch(1, max_readings=1)
    outbox.mark_stored(1, 0, "c0")
    outbox.mark_submitted(1, 0, "0x0", 1)       # crashed before seeing the receipt
    outbox.mark_stored(1, 1, "c1")               # crashed right after sending the tx
    outbox.mark_stored(1, 3, "c3")
    outbox.mark_submitted(1, 3, "0x3", 3)
    outbox.mark_anchored(1, 3, 50)               # then a reorg removed that block
    report = outbox.reconcile(1, onchain_next_seq=2)
    assert report.marked_anchored == (0, 1) and report.reverted == (3,) and report.next_seq == 5
    assert outbox.get_batch(1, 1).state is BatchState.ANCHORED
    assert outbox.get_batch(1, 3).state is BatchState.STORED
    assert outbox.get_batch(1, 2).state is BatchState.PENDING


def test_reconcile_fresh_outbox_behind_chain(outbox):
    assert outbox.reconcile(4, onchain_next_seq=17).next_seq == 17
    outbox.append(4, acc(0))
    assert outbox.claim_batch(4).seq == 17
    outbox.check_integrity()


def test_restart_keeps_everything(tmp_path):
    path = tmp_path / "o.sqlite"
    with Outbox(path) as ob:
        ob.append_many([(1, acc(i)) for i in range(10)])
        ob.claim_batch(1, max_readings=4)
        data = ob.batch_data(1, 0)
    with Outbox(path) as ob:
        assert ob.reading_count() == 10 and ob.unbatched(1)[0] == 6
        assert ob.batch_data(1, 0) == data      # re-anchored byte for byte
        assert ob.claim_batch(1).seq == 1
        assert ob.append(1, acc(11)).rid == 11


def test_prune_confirmed_keeps_rids_unique(outbox):
    outbox.append_many([(1, acc(i)) for i in range(6)])
    for seq in range(3):
        outbox.claim_batch(1, max_readings=2)
    for seq in range(2):
        outbox.mark_stored(1, seq, f"c{seq}")
        outbox.mark_submitted(1, seq, "0x", seq)
        outbox.mark_anchored(1, seq, 1)
        outbox.mark_confirmed(1, seq)
    assert outbox.prune_confirmed(1) == 4
    assert outbox.reading_count() == 2
    with pytest.raises(OutboxError, match="pruned"):
        outbox.batch_data(1, 0)
    assert outbox.append(1, acc(9)).rid == 7       # AUTOINCREMENT: no rid reuse after deletes
    assert decode_batch(outbox.batch_data(1, 2)).readings[0].rid == 5


def test_iterators_are_paged(outbox):
    outbox.append_many([(i % 3, acc(i)) for i in range(25)])
    for feed in range(3):
        while outbox.claim_batch(feed, max_readings=2):
            pass
    rows = list(outbox.iter_readings(page=4))
    assert [r.rid for _, r, _ in rows] == list(range(1, 26))
    recs = list(outbox.batches(page=3))
    assert [(r.feed, r.seq) for r in recs] == sorted((r.feed, r.seq) for r in recs)
    assert len(recs) == 5 + 4 + 4
    assert [r.seq for r in outbox.batches(feed=1, page=2)] == [0, 1, 2, 3]
