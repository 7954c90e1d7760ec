"""The outbox's SQLite schema: the tables, the schema version, the migration to it and the statements the
hot path reuses.

The invariants they hold are described in ``agent/outbox.py``; the checkpoints table of schema 3 is in
``agent/checkpoints.py``. Since schema 4 the readings table is keyed ``(feed, rid)`` (``WITHOUT ROWID``), and
a feed's batched readings are the prefix up to its ``feeds.batched_rid``: closing a batch reads one key range
and moves one number instead of updating every reading it takes.
"""
from __future__ import annotations

import sqlite3

READINGS_TABLE = """
CREATE TABLE IF NOT EXISTS readings (
    feed      INTEGER NOT NULL,
    rid       INTEGER NOT NULL,
    sensor    TEXT    NOT NULL,
    t_ms      INTEGER NOT NULL,
    value     REAL    NOT NULL,
    quality   INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    PRIMARY KEY (feed, rid)
) WITHOUT ROWID
"""
READINGS_ONCE = "CREATE UNIQUE INDEX IF NOT EXISTS readings_once ON readings (sensor, t_ms, value)"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
""" + READINGS_TABLE + ";\n" + READINGS_ONCE + """;
CREATE TABLE IF NOT EXISTS rid_counter (id INTEGER PRIMARY KEY CHECK (id = 0), last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (
    feed        INTEGER PRIMARY KEY,
    next_seq    INTEGER NOT NULL,
    batched_rid INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS batches (
    feed       INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    state      TEXT    NOT NULL,
    count      INTEGER NOT NULL,
    first_rid  INTEGER NOT NULL,
    last_rid   INTEGER NOT NULL,
    t_first    INTEGER NOT NULL,
    t_last     INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    data       BLOB,
    root       BLOB,
    cid        TEXT,
    txhash     TEXT,
    nonce      INTEGER,
    block      INTEGER,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (feed, seq)
);
CREATE INDEX IF NOT EXISTS batches_open ON batches (feed, seq) WHERE state != 'confirmed';
CREATE INDEX IF NOT EXISTS batches_rids ON batches (feed, first_rid);
CREATE TABLE IF NOT EXISTS swaps (
    old_sensor    TEXT PRIMARY KEY,
    new_sensor    TEXT    NOT NULL,
    old_feed      INTEGER NOT NULL,
    old_component TEXT    NOT NULL,
    new_component TEXT    NOT NULL,
    key_file      TEXT    NOT NULL,
    device        TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    new_feed      INTEGER,
    updated_ms    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    call_id    INTEGER PRIMARY KEY,
    program    TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    ok         INTEGER,
    message    TEXT,
    result_cid TEXT,
    updated_ms INTEGER NOT NULL
)
"""
# Version 2 added the swaps and calls tables (agent/operations.py); version 3 the source checkpoints
# (agent/checkpoints.py); version 4 the (feed, rid)-keyed readings with a batched prefix per feed. An older
# file gains them on open (``migrate_v4``).
SCHEMA_VERSION = "4"
MIGRATABLE = {"1", "2", "3"}
INSERT_READING = ("INSERT OR IGNORE INTO readings (rid, feed, sensor, t_ms, value, quality, size)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)")


def migrate_v4(db: sqlite3.Connection) -> None:
    """Schema 1-3 -> 4, inside the opening transaction. The old readings table (an AUTOINCREMENT rowid and a
    ``batch_seq`` per reading) is copied into the ``(feed, rid)``-keyed one; each feed's ``batched_rid`` is
    its batches' highest ``last_rid``, which is exact because a batch always took the oldest unbatched
    readings of its feed, so the batched readings were a rid prefix per feed; the rid counter continues
    from ``sqlite_sequence``, so no rid is ever reused. Batches gain the ``root`` column (the Merkle root of
    their readings, computed when closed; NULL for those closed before, whose root the anchorer computes)."""
    if "root" not in {row[1] for row in db.execute("PRAGMA table_info(batches)")}:
        db.execute("ALTER TABLE batches ADD COLUMN root BLOB")  # NULL for the batches closed before
    columns = {row[1] for row in db.execute("PRAGMA table_info(readings)")}
    if "batch_seq" not in columns:
        return
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'readings'").fetchone()
    top = db.execute("SELECT max(rid) FROM readings").fetchone()[0]
    last = max(int(row[0]) if row else 0, int(top or 0))
    db.execute("ALTER TABLE readings RENAME TO readings_v3")
    for index in ("readings_unbatched", "readings_batch", "readings_once"):
        db.execute(f"DROP INDEX IF EXISTS {index}")
    db.execute(READINGS_TABLE)
    db.execute("INSERT INTO readings (feed, rid, sensor, t_ms, value, quality, size)"
               " SELECT feed, rid, sensor, t_ms, value, quality, size FROM readings_v3 ORDER BY feed, rid")
    db.execute("DROP TABLE readings_v3")
    if "batched_rid" not in {r[1] for r in db.execute("PRAGMA table_info(feeds)")}:
        db.execute("ALTER TABLE feeds ADD COLUMN batched_rid INTEGER NOT NULL DEFAULT 0")
    db.execute("UPDATE feeds SET batched_rid = coalesce((SELECT max(last_rid) FROM batches b"
               " WHERE b.feed = feeds.feed), 0)")
    db.execute("INSERT OR REPLACE INTO rid_counter (id, last) VALUES (0, ?)", (last,))
    try:
        db.execute(READINGS_ONCE)
    except sqlite3.IntegrityError:  # a file written before copies were refused: the caller has warned
        pass
BATCH_COLUMNS = ("feed, seq, state, count, first_rid, last_rid, t_first, t_last, size, cid, txhash, nonce, block,"
                 " root")
