"""The operations tables in the outbox (agent/operations.py): a schema 1 outbox gains them on open,
swap plans are recorded once per old sensor, and a program call's record moves executing -> executed
-> completed, or is forgotten when the device refused to act."""
from __future__ import annotations

import sqlite3

from twinledger.agent.operations import CallState, Operations, SwapRecord, SwapState
from twinledger.agent.outbox import Outbox
from twinledger.agent.outbox_schema import SCHEMA_VERSION
from twinledger.agent.validation import Accepted


def test_a_schema_1_outbox_gains_the_operation_tables(tmp_path):
    path = tmp_path / "outbox.sqlite"
    with Outbox(path) as outbox:
        outbox.append(1, Accepted("s", 1, 1.0, 0))
    db = sqlite3.connect(path)
    db.executescript("DROP TABLE swaps; DROP TABLE calls; UPDATE meta SET value = '1' WHERE key = 'schema';")
    db.close()
    with Outbox(path) as outbox:
        assert outbox.reading_count() == 1
        ops = Operations(outbox)
        assert ops.swaps() == [] and ops.call(1) is None
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (SCHEMA_VERSION,)
    db.close()


def test_a_swap_is_planned_once_per_old_sensor(tmp_path):
    with Outbox(tmp_path / "o.sqlite") as outbox:
        ops = Operations(outbox)
        plan = SwapRecord("a", "a2", 3, "c/a", "c/a/2", "k.json", "0x" + "11" * 20, SwapState.PLANNED, None)
        assert ops.plan_swap(plan) == plan
        again = SwapRecord("a", "a3", 3, "c/a", "c/a/3", "k3.json", "0x" + "22" * 20, SwapState.PLANNED, None)
        assert ops.plan_swap(again) == plan, "the first plan stands"
        done = ops.advance_swap("a", SwapState.FEED_REGISTERED, new_feed=9)
        assert (done.state, done.new_feed) == (SwapState.FEED_REGISTERED, 9)
        assert ops.advance_swap("a", SwapState.RETIRED).new_feed == 9
    with Outbox(tmp_path / "o.sqlite") as outbox:
        assert [r.state for r in Operations(outbox).swaps()] == [SwapState.RETIRED]


def test_call_records_move_forward_or_are_forgotten(tmp_path):
    with Outbox(tmp_path / "o.sqlite") as outbox:
        ops = Operations(outbox)
        ops.begin_call(5, "CloseValve")
        assert ops.call(5).state is CallState.EXECUTING
        ops.forget_call(5)
        assert ops.call(5) is None
        ops.begin_call(5, "CloseValve")
        ops.finish_call(5, "CloseValve", True, "valve -> 0.0")
        record = ops.call(5)
        assert (record.state, record.ok, record.message) == (CallState.EXECUTED, True, "valve -> 0.0")
        ops.forget_call(5)
        assert ops.call(5).state is CallState.EXECUTED, "an answered call is never forgotten"
        ops.complete_call(5, "bafy")
        assert ops.call(5).state is CallState.COMPLETED
