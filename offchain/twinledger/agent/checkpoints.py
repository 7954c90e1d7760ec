"""Source checkpoints in the outbox (schema 3): where each line source stands, committed in the same
SQLite transaction as the readings read up to there.

A file source's checkpoint is the byte offset just after the last line whose readings are committed
(or that was rejected, which is final too); a restarted agent resumes the file from it, so a SIGKILL
at any moment neither skips a line nor reads one twice into the outbox. Stdin's checkpoint is the
number of lines committed, which the daemon also acknowledges to the producer (``ack``).
"""
from __future__ import annotations

import sqlite3
import time
from typing import Mapping

SCHEMA_V3 = """
CREATE TABLE IF NOT EXISTS checkpoints (
    source     TEXT PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
)
"""


def migrate_v3(db: sqlite3.Connection) -> None:
    """Schema 2 -> 3: the checkpoints table (the chain identity lives in ``meta``, see chain_identity)."""
    db.execute(SCHEMA_V3)


def save_checkpoints(db: sqlite3.Connection, checkpoints: Mapping[str, int]) -> None:
    """Inside an open outbox transaction: record each source's position."""
    now = time.time_ns() // 1_000_000
    for source, position in checkpoints.items():
        db.execute(
            "INSERT INTO checkpoints (source, position, updated_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (source) DO UPDATE SET position = excluded.position,"
            " updated_ms = excluded.updated_ms",
            (source, int(position), now),
        )


def load_checkpoint(db: sqlite3.Connection, source: str) -> int:
    row = db.execute("SELECT position FROM checkpoints WHERE source = ?", (source,)).fetchone()
    return 0 if row is None else int(row[0])
