"""Batcher and pipeline: time windows, size limits, restart, sensor swap, and a 200k-reading flood."""

import psutil
import pytest

from twinledger.agent.batcher import Batcher, BlockCuts, Pipeline, UnknownSensorError
from twinledger.agent.outbox import Outbox
from twinledger.agent.sources import Sample
from twinledger.sim import FillingPlantSimulator, Swap
from twinledger.agent.validation import Accepted, RedundantGroup, ValidationRules, Validator
from twinledger.formats.batch import BATCH_SIZE_LIMIT, Quality, decode_batch

T0 = 1_700_000_000_000
FEEDS = {"tank_level_a": 1, "tank_level_b": 1, "pipe_flow": 2, "bottle_level": 3, "valve_position": 4}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def acc(sensor: str, i: int) -> Accepted:
    return Accepted(sensor, i, float(i), Quality.GOOD)


def test_window_closes_batches_per_feed(tmp_path):
    clock = Clock()
    with Outbox(tmp_path / "o.sqlite") as ob:
        b = Batcher(ob, FEEDS, window_s=1.0, clock=clock)
        b.add_many([acc("pipe_flow", 0), acc("tank_level_a", 1)])
        clock.now = 0.5
        b.add(acc("pipe_flow", 2))
        assert b.due() == [] and b.next_deadline() == 1.0
        clock.now = 1.0
        closed = b.due()
        assert [(x.feed, x.seq, x.count) for x in closed] == [(1, 0, 1), (2, 0, 2)]
        assert b.next_deadline() is None
        clock.now = 1.2
        b.add(acc("pipe_flow", 3))
        clock.now = 2.1
        assert b.due() == []
        clock.now = 2.2
        assert [(x.feed, x.seq) for x in b.due()] == [(2, 1)]


def test_size_limits_close_early(tmp_path):
    clock = Clock()
    with Outbox(tmp_path / "o.sqlite") as ob:
        b = Batcher(ob, FEEDS, max_readings=10, clock=clock)
        b.add_many([acc("pipe_flow", i) for i in range(25)])
        assert [x.count for x in b.due()] == [10, 10]       # full ones only, the rest waits
        assert [x.count for x in b.flush()] == [5]
        b2 = Batcher(ob, {"s" * 100: 7}, max_bytes=20_000, clock=clock)
        b2.add_many([acc("s" * 100, i) for i in range(1000)])
        sizes = [len(ob.batch_data(7, x.seq)) for x in b2.due()]
        assert sizes and all(s <= 20_000 for s in sizes) and min(sizes) > 19_000
    with pytest.raises(ValueError):
        Batcher(ob, FEEDS, max_bytes=BATCH_SIZE_LIMIT)


def test_unknown_sensor(tmp_path):
    with Outbox(tmp_path / "o.sqlite") as ob:
        with pytest.raises(UnknownSensorError):
            Batcher(ob, FEEDS).add(acc("nope", 1))
        assert ob.reading_count() == 0


def test_restart_picks_up_unbatched_readings(tmp_path):
    clock = Clock()
    path = tmp_path / "o.sqlite"
    with Outbox(path) as ob:
        Batcher(ob, FEEDS, clock=clock).add_many([acc("pipe_flow", i) for i in range(5)])
    clock.now = 100.0
    with Outbox(path) as ob:
        b = Batcher(ob, FEEDS, clock=clock)
        assert b.due() == []
        clock.now = 101.0
        assert [(x.feed, x.seq, x.count) for x in b.due()] == [(2, 0, 5)]


def test_pipeline_from_simulator_with_swap(tmp_path):
    clock = Clock()
    sim = FillingPlantSimulator(seed=9, rates_hz={"tank_level_a": 10, "tank_level_b": 10, "pipe_flow": 100},
                                duration_s=5, faults=[Swap("tank_level_b", 2.5, new_name="tank_level_bb")])
    rules = ValidationRules(groups=(RedundantGroup(("tank_level_a", "tank_level_b"), 0.05, 100),),
                            known_sensors=frozenset(FEEDS))
    events, batches = [], []
    with Outbox(tmp_path / "o.sqlite") as ob:
        batcher = Batcher(ob, FEEDS, clock=clock)
        pipe = Pipeline(Validator(rules), batcher, on_batch=batches.append, group_size=64)

        def on_event(e):
            events.append(e)
            pipe._default_swap(e)

        pipe.on_event = on_event
        for item in sim:
            if isinstance(item, Sample):
                clock.now = (item.t_ms - sim.start_ms) / 1000
            pipe.push(item)
        pipe.flush()
        assert len(events) == 1
        assert pipe.stats.accepted == 600 and pipe.stats.rejected == 0
        assert sum(b.count for b in batches) == 600
        sensors = {r.sensor for b in batches for r in decode_batch(ob.batch_data(b.feed, b.seq)).readings}
        assert {"tank_level_b", "tank_level_bb"} <= sensors
        assert all(b.t_last - b.t_first <= 1100 for b in batches)   # about one window each


def _flood(n: int):
    for i in range(n):
        if i % 97 == 0:
            yield Sample("pipe_flow", i, "garbage")
        else:
            yield Sample(("pipe_flow", "tank_level_a", "bottle_level")[i % 3], 1_700_000_000_000 + i, str(i % 1000 / 7))


def test_flood_of_200k_readings_in_bounded_memory(tmp_path):
    n = 200_000
    clock = Clock()
    with Outbox(tmp_path / "o.sqlite", synchronous="NORMAL") as ob:
        batcher = Batcher(ob, FEEDS, window_s=1.0, clock=clock)
        count = {"batches": 0}
        pipe = Pipeline(Validator(ValidationRules(ranges={"pipe_flow": (0, 100)}, stuck_count=50)), batcher,
                        on_batch=lambda b: count.__setitem__("batches", count["batches"] + 1), group_size=2000)
        process = psutil.Process()
        baseline = None
        for k, item in enumerate(_flood(n)):
            clock.now = k / 20_000                     # 20 kHz aggregate input
            pipe.push(item)
            if k == 20_000:                            # after warm-up: caches and pools are full
                baseline = process.memory_info().rss
        pipe.flush()
        growth = process.memory_info().rss - baseline
        rejected = len(range(0, n, 97))
        assert pipe.stats.rejected == rejected and pipe.stats.accepted == n - rejected
        assert ob.reading_count() == n - rejected
        assert sum(ob.unbatched(f)[0] for f in (1, 2, 3)) == 0
        assert count["batches"] >= 30
        # Keeping one ~200-byte object per reading would add ~36 MB over the last 180k readings.
        assert growth < 12 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB"
        ob.check_integrity()


def test_a_block_cut_closes_every_open_batch_once(tmp_path):
    """The gateway's anchorer sets a cut just before the next block: once the clock passes it, every open batch
    closes (its 1 s window not over), and the cut is closed once (`BlockCuts.closed`); what opens after it waits
    for its window or the next cut."""
    clock = Clock()
    with Outbox(tmp_path / "o.sqlite") as ob:
        b = Batcher(ob, FEEDS, window_s=1.0, clock=clock)
        b.cuts = BlockCuts(next=0.5)
        b.add_many([acc("pipe_flow", 0), acc("bottle_level", 1)])  # opened at 0.0
        clock.now = 0.4
        assert b.due() == [] and b.cuts.closed == 0.0
        clock.now = 0.5
        b.add(acc("valve_position", 2))
        assert [(x.feed, x.count) for x in b.due()] == [(2, 1), (3, 1), (4, 1)]
        assert b.cuts.closed == 0.5
        clock.now = 0.6
        b.add(acc("pipe_flow", 3))
        assert b.due() == []  # the cut is closed; its window runs until 1.6
        b.cuts.next = 0.7
        clock.now = 0.7
        assert [(x.feed, x.count) for x in b.due()] == [(2, 1)] and b.cuts.closed == 0.7
        clock.now = 0.8
        b.add(acc("pipe_flow", 4))
        clock.now = 1.79
        assert b.due() == []
        clock.now = 1.8
        assert [(x.feed, x.count) for x in b.due()] == [(2, 1)]  # no cut set: the window closes it


def test_the_pipeline_commits_its_group_at_a_cut(tmp_path):
    """A reading still in the group commit when the cut passes is committed and closed at the cut, on the next
    push or tick, not a group delay later."""
    clock = Clock()
    sensors = {"a": 1, "b": 2}
    with Outbox(tmp_path / "o.sqlite") as ob:
        batcher = Batcher(ob, sensors, window_s=1.0, clock=clock)
        batcher.cuts = BlockCuts(next=0.52)
        closed = []
        p = Pipeline(Validator(ValidationRules(known_sensors=frozenset(sensors))), batcher, group_delay_s=0.05,
                     on_batch=closed.append)
        clock.now = 0.5
        p.push(Sample("a", T0, 1.0))
        clock.now = 0.51
        p.tick()
        assert p.uncommitted == 1 and closed == []  # neither the delay nor the cut has passed
        clock.now = 0.52
        p.tick()
        assert p.uncommitted == 0 and [(x.feed, x.count) for x in closed] == [(1, 1)]
        batcher.cuts.next = 0.60
        clock.now = 0.58
        p.push(Sample("b", T0, 2.0))  # the group's deadline: the cut at 0.60, before its delay (0.63)
        clock.now = 0.60
        p.push(Sample("a", T0 + 1, 3.0))
        assert p.uncommitted == 0 and [(x.feed, x.count) for x in closed[1:]] == [(1, 1), (2, 1)]
