"""The outbox's SQLite schema: the tables, the schema version and the statements the hot path reuses.

The invariants they hold are described in ``agent/outbox.py``; the checkpoints table of schema 3 is in
``agent/checkpoints.py``.
"""
from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS readings (
    rid       INTEGER PRIMARY KEY AUTOINCREMENT,
    feed      INTEGER NOT NULL,
    sensor    TEXT    NOT NULL,
    t_ms      INTEGER NOT NULL,
    value     REAL    NOT NULL,
    quality   INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    batch_seq INTEGER
);
CREATE INDEX IF NOT EXISTS readings_unbatched ON readings (feed, rid) WHERE batch_seq IS NULL;
CREATE INDEX IF NOT EXISTS readings_batch ON readings (feed, batch_seq, rid) WHERE batch_seq IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS readings_once ON readings (sensor, t_ms, value);
CREATE TABLE IF NOT EXISTS feeds (feed INTEGER PRIMARY KEY, next_seq INTEGER NOT NULL);
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
    cid        TEXT,
    txhash     TEXT,
    nonce      INTEGER,
    block      INTEGER,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (feed, seq)
);
CREATE INDEX IF NOT EXISTS batches_open ON batches (feed, seq) WHERE state != 'confirmed';
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
# (agent/checkpoints.py). An older file gains them on open.
SCHEMA_VERSION = "3"
MIGRATABLE = {"1", "2"}
INSERT_READING = ("INSERT OR IGNORE INTO readings (rid, feed, sensor, t_ms, value, quality, size)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)")
BATCH_COLUMNS = "feed, seq, state, count, first_rid, last_rid, t_first, t_last, size, cid, txhash, nonce, block"
