"""Bounded outbox: confirmed data is deleted once it has been confirmed for ``retention_s``.

A confirmed batch lives on-chain (its anchor) and on IPFS (its bytes), so the outbox keeps it only
for a while, for local inspection and for refusing copies of recent readings. Per feed the oldest
confirmed batches are deleted as a prefix (readings and bookkeeping row), so seqs stay consecutive;
the newest batch of every feed is always kept, so the feed's last source time (which a plant source
backfills from) survives. The file itself does not shrink: SQLite reuses the freed pages, so its size
stays near the peak of what retention holds (tests/agent/test_agent_bounds.py measures it).
"""
from __future__ import annotations

from dataclasses import dataclass

import structlog

from .outbox import Outbox

__all__ = ["PruneReport", "prune_confirmed_before"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PruneReport:
    batches: int
    readings: int


def prune_confirmed_before(outbox: Outbox, cutoff_ms: int) -> PruneReport:
    """Delete every feed's leading run of batches confirmed at or before ``cutoff_ms`` (wall-clock ms),
    but never a feed's newest batch; returns what was deleted."""
    batches = readings = 0
    with outbox.transaction() as db:
        feeds = [r[0] for r in db.execute("SELECT DISTINCT feed FROM batches WHERE state = 'confirmed'")]
        for feed in feeds:
            newest = db.execute("SELECT max(seq) FROM batches WHERE feed = ?", (feed,)).fetchone()[0]
            blocker = db.execute(  # the first batch that must stay: open, recent, or the newest
                "SELECT min(seq) FROM batches WHERE feed = ? AND (state != 'confirmed' OR updated_ms > ?)",
                (feed, cutoff_ms)).fetchone()[0]
            upto = min(newest, blocker if blocker is not None else newest) - 1
            if upto < 0:
                continue
            readings += db.execute(  # the feed's batched prefix up to the last batch pruned
                "DELETE FROM readings WHERE feed = ?1 AND rid <= (SELECT last_rid FROM batches WHERE feed = ?1 AND seq = ?2)",
                (feed, upto)).rowcount
            batches += db.execute("DELETE FROM batches WHERE feed = ? AND seq <= ?", (feed, upto)).rowcount
    if batches:
        log.info("outbox pruned", batches=batches, readings=readings)
    return PruneReport(batches, readings)
