"""Side effects as durable as the anchors: sensor swaps and program calls as rows in the outbox's SQLite.

Each row records how far its operation got; every step is committed *after* the chain (or the
device) has done it, and every step is checked against the chain before it is done again, so a
SIGKILL between any two steps is repaired on restart (agent/swap.py, agent/commands.py):

- swap: ``planned`` (key written, plan recorded) -> ``component_replaced`` -> ``feed_registered``
  -> ``retired``;
- program call: ``executing`` (recorded *before* the device acts) -> ``executed`` (the device's
  answer) -> ``completed`` (acknowledged on-chain). A call found ``executing`` after a restart is
  never driven again: its outcome is unknown, and it is completed as failed saying so.

``crash_point`` lets the crash tests kill the agent between two steps (``$TWINLEDGER_CRASH_AT``).
"""
from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from enum import Enum

import structlog

from .outbox import Outbox

log = structlog.get_logger(__name__)

CRASH_ENV = "TWINLEDGER_CRASH_AT"


def crash_point(name: str) -> None:
    """SIGKILL this process if `$TWINLEDGER_CRASH_AT` names this point (the crash tests' hook)."""
    if os.environ.get(CRASH_ENV) == name:
        print(f"crash point {name}: SIGKILL", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SwapState(str, Enum):
    PLANNED = "planned"
    COMPONENT_REPLACED = "component_replaced"
    FEED_REGISTERED = "feed_registered"
    RETIRED = "retired"


class CallState(str, Enum):
    EXECUTING = "executing"
    EXECUTED = "executed"
    COMPLETED = "completed"


@dataclass(frozen=True)
class SwapRecord:
    old_sensor: str
    new_sensor: str
    old_feed: int
    old_component: str  # AML ids
    new_component: str
    key_file: str
    device: str         # the new device key's address
    state: SwapState
    new_feed: int | None


@dataclass(frozen=True)
class CallRecord:
    call_id: int
    program: str
    state: CallState
    ok: bool | None
    message: str | None


_SWAP_COLUMNS = "old_sensor, new_sensor, old_feed, old_component, new_component, key_file, device, state, new_feed"


class Operations:
    """The swaps and calls tables of one outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    # -- swaps -----------------------------------------------------------------------------------

    def plan_swap(self, r: SwapRecord) -> SwapRecord:
        """Record a swap's plan, or return the one already recorded for the same old sensor."""
        with self.outbox.transaction() as db:
            db.execute(f"INSERT OR IGNORE INTO swaps ({_SWAP_COLUMNS}, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (r.old_sensor, r.new_sensor, r.old_feed, r.old_component, r.new_component, r.key_file,
                        r.device, r.state.value, r.new_feed, _now_ms()))
        found = self.swap(r.old_sensor)
        assert found is not None
        return found

    def swap(self, old_sensor: str) -> SwapRecord | None:
        with self.outbox.transaction() as db:
            row = db.execute(f"SELECT {_SWAP_COLUMNS} FROM swaps WHERE old_sensor = ?", (old_sensor,)).fetchone()
        return _swap(row) if row else None

    def swaps(self) -> list[SwapRecord]:
        with self.outbox.transaction() as db:
            rows = db.execute(f"SELECT {_SWAP_COLUMNS} FROM swaps ORDER BY rowid").fetchall()
        return [_swap(row) for row in rows]

    def advance_swap(self, old_sensor: str, state: SwapState, new_feed: int | None = None) -> SwapRecord:
        with self.outbox.transaction() as db:
            db.execute("UPDATE swaps SET state = ?, new_feed = coalesce(?, new_feed), updated_ms = ?"
                       " WHERE old_sensor = ?", (state.value, new_feed, _now_ms(), old_sensor))
        record = self.swap(old_sensor)
        assert record is not None
        log.info("swap step", old=old_sensor, state=state.value, new_feed=record.new_feed)
        return record

    # -- program calls ---------------------------------------------------------------------------

    def call(self, call_id: int) -> CallRecord | None:
        with self.outbox.transaction() as db:
            row = db.execute("SELECT call_id, program, state, ok, message FROM calls WHERE call_id = ?",
                             (call_id,)).fetchone()
        if row is None:
            return None
        return CallRecord(row[0], row[1], CallState(row[2]), None if row[3] is None else bool(row[3]), row[4])

    def begin_call(self, call_id: int, program: str) -> None:
        """Record that the device is about to act on `call_id`; committed before it does."""
        with self.outbox.transaction() as db:
            db.execute("INSERT INTO calls (call_id, program, state, updated_ms) VALUES (?, ?, ?, ?)",
                       (call_id, program, CallState.EXECUTING.value, _now_ms()))

    def forget_call(self, call_id: int) -> None:
        """The device refused to act (it raised before doing anything): the call may be tried again."""
        with self.outbox.transaction() as db:
            db.execute("DELETE FROM calls WHERE call_id = ? AND state = ?", (call_id, CallState.EXECUTING.value))

    def finish_call(self, call_id: int, program: str, ok: bool, message: str) -> None:
        """The device's answer (or the agent's verdict), recorded before it is acknowledged on-chain."""
        with self.outbox.transaction() as db:
            db.execute("INSERT INTO calls (call_id, program, state, ok, message, updated_ms) VALUES (?,?,?,?,?,?)"
                       " ON CONFLICT (call_id) DO UPDATE SET state = excluded.state, ok = excluded.ok,"
                       " message = excluded.message, updated_ms = excluded.updated_ms",
                       (call_id, program, CallState.EXECUTED.value, int(ok), message, _now_ms()))

    def complete_call(self, call_id: int, result_cid: str | None) -> None:
        with self.outbox.transaction() as db:
            db.execute("UPDATE calls SET state = ?, result_cid = coalesce(?, result_cid), updated_ms = ?"
                       " WHERE call_id = ?",
                       (CallState.COMPLETED.value, result_cid, _now_ms(), call_id))


def _swap(row: tuple) -> SwapRecord:
    return SwapRecord(row[0], row[1], int(row[2]), row[3], row[4], row[5], row[6], SwapState(row[7]),
                      None if row[8] is None else int(row[8]))
