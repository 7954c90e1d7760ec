"""Schema 3 -> 4: an outbox written by the previous agent (readings with an AUTOINCREMENT rid and a
``batch_seq`` each) opens with its batches, its unbatched readings, its copy refusal and its rid sequence
intact, and goes on closing batches where it stopped."""
from __future__ import annotations

import sqlite3

from twinledger.agent.outbox import Outbox
from twinledger.agent.outbox_schema import SCHEMA_VERSION
from twinledger.agent.validation import Accepted
from twinledger.formats.batch import Batch, Reading, decode_batch, encode_batch

# The readings and feeds tables of schema 3, as agent/outbox_schema.py created them.
SCHEMA_3 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE readings (
    rid INTEGER PRIMARY KEY AUTOINCREMENT, feed INTEGER NOT NULL, sensor TEXT NOT NULL, t_ms INTEGER NOT NULL,
    value REAL NOT NULL, quality INTEGER NOT NULL, size INTEGER NOT NULL, batch_seq INTEGER);
CREATE INDEX readings_unbatched ON readings (feed, rid) WHERE batch_seq IS NULL;
CREATE INDEX readings_batch ON readings (feed, batch_seq, rid) WHERE batch_seq IS NOT NULL;
CREATE UNIQUE INDEX readings_once ON readings (sensor, t_ms, value);
CREATE TABLE feeds (feed INTEGER PRIMARY KEY, next_seq INTEGER NOT NULL);
CREATE TABLE batches (
    feed INTEGER NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL, count INTEGER NOT NULL,
    first_rid INTEGER NOT NULL, last_rid INTEGER NOT NULL, t_first INTEGER NOT NULL, t_last INTEGER NOT NULL,
    size INTEGER NOT NULL, data BLOB, cid TEXT, txhash TEXT, nonce INTEGER, block INTEGER,
    created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, PRIMARY KEY (feed, seq));
INSERT INTO meta VALUES ('schema', '3');
"""
T0 = 1_700_000_000_000


def _schema_3_outbox(path):
    """Feeds 1 and 2 interleaved, rids 1..12; feed 1's first 3 readings batched as seq 0; rid 13 was used and
    deleted (pruned), so the sequence stands above every row."""
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_3)
    readings = [Reading(rid, f"s{1 + (rid - 1) % 2}", T0 + rid, rid / 4, 0) for rid in range(1, 14)]
    for r in readings:
        db.execute("INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, 30, NULL)",
                   (r.rid, 1 + (r.rid - 1) % 2, r.sensor, r.t_ms, r.value, r.quality))
    db.execute("DELETE FROM readings WHERE rid = 13")
    batch = Batch(1, 0, tuple(r for r in readings if r.sensor == "s1")[:3])
    data = encode_batch(batch)
    db.execute("UPDATE readings SET batch_seq = 0 WHERE rid IN (1, 3, 5)")
    db.execute("INSERT INTO batches VALUES (1, 0, 'confirmed', 3, 1, 5, ?, ?, ?, ?, 'cid', NULL, NULL, 7, 0, 0)",
               (batch.t_first, batch.t_last, len(data), data))
    db.execute("INSERT INTO feeds VALUES (1, 1)")
    db.commit()
    db.close()
    return batch


def test_a_schema_3_outbox_is_migrated_in_place(tmp_path):
    path = tmp_path / "outbox.sqlite"
    old_batch = _schema_3_outbox(path)
    with Outbox(path) as outbox:
        outbox.check_integrity()
        assert outbox.reading_count() == 12
        assert outbox.unbatched(1)[0] == 3 and outbox.unbatched(2)[0] == 6
        assert outbox.feeds_with_unbatched() == [1, 2]
        assert outbox.load_batch(1, 0) == old_batch
        seqs = {r.rid: seq for _feed, r, seq in outbox.iter_readings()}
        assert [rid for rid, seq in seqs.items() if seq == 0] == [1, 3, 5]
        assert list(seqs) == list(range(1, 13))
        assert outbox.append_many([(1, Accepted("s1", T0 + 1, 0.25))]) == [], "copies are still refused"
        fresh = outbox.append(1, Accepted("s1", T0 + 100, 1.0))
        assert fresh.rid == 14, "rids continue above the old sequence, never reused"
        batch = outbox.claim_batch(1)
        assert (batch.seq, [r.rid for r in batch.readings]) == (1, [7, 9, 11, 14])
        assert decode_batch(outbox.batch_data(1, 1)) == batch
        assert outbox.claim_batch(2).seq == 0
        outbox.check_integrity()
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (SCHEMA_VERSION,)
    db.close()
