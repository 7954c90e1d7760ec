"""Sources: the filling-plant simulator (dynamics, determinism, faults, commands) and replays."""

import io
import math

import pytest

from twinledger.agent.sources import CsvReplay, JsonLinesReplay, Sample, SensorSwapped, StdinSource
from twinledger.sim import Broken, CommandError, Drift, FillingPlantSimulator, Spikes, Stuck, Swap

RATES = {"tank_level_a": 10, "tank_level_b": 10, "pipe_flow": 100, "bottle_level": 50, "valve_position": 20}


def run(sim):
    return list(sim)


def series(items, sensor):
    return [(s.t_ms, s.value) for s in items if isinstance(s, Sample) and s.sensor == sensor]


def test_simulator_is_deterministic_per_seed():
    a = run(FillingPlantSimulator(seed=3, rates_hz=RATES, duration_s=5))
    b = run(FillingPlantSimulator(seed=3, rates_hz=RATES, duration_s=5))
    c = run(FillingPlantSimulator(seed=4, rates_hz=RATES, duration_s=5))
    assert a == b
    assert a != c
    assert len(a) == 5 * sum(RATES.values())


def test_rates_and_time_order():
    items = run(FillingPlantSimulator(rates_hz={"pipe_flow": 1000, "tank_level_a": 2}, duration_s=2, start_ms=0))
    flow = series(items, "pipe_flow")
    assert len(flow) == 2000 and [t for t, _ in flow[:3]] == [0, 1, 2]
    assert len(series(items, "tank_level_a")) == 4
    times = [s.t_ms for s in items]
    assert times == sorted(times)


def test_auto_mode_fills_bottles_and_drains_tank():
    sim = FillingPlantSimulator(seed=1, rates_hz={"tank_level_a": 10, "pipe_flow": 50, "bottle_level": 50},
                                duration_s=30)
    items = run(sim)
    assert sim.bottles_done >= 5
    assert not sim.flooding
    level = series(items, "tank_level_a")
    assert level[-1][1] < level[0][1] - 0.005            # the tank falls as bottles fill
    flow = [v for _, v in series(items, "pipe_flow")]
    assert max(flow) > 0.3 and min(flow) < 0.02          # valve opens and closes
    bottle = [v for _, v in series(items, "bottle_level")]
    assert max(bottle) == pytest.approx(95, abs=5)  # % of the bottle, as in the AML


def test_manual_valve_left_open_floods_the_bottle():
    sim = FillingPlantSimulator(seed=1, mode="manual", rates_hz={"bottle_level": 10, "pipe_flow": 10},
                                duration_s=1)
    assert run(sim) and sim.bottle_fill_l == 0 and sim.flow_l_s == 0        # valve closed: nothing moves
    sim = FillingPlantSimulator(seed=1, mode="manual", rates_hz={"bottle_level": 10}, duration_s=5)
    sim.set_valve(1.0)
    items = run(sim)
    assert sim.flooding and sim.spilled_l > 0
    assert series(items, "bottle_level")[-1][1] == pytest.approx(100, abs=1)


def test_valve_command_is_rate_limited_and_drives_flow():
    sim = FillingPlantSimulator(seed=0, mode="manual", rates_hz={"valve_position": 100, "pipe_flow": 100},
                                duration_s=1, params=None)
    sim.execute("set_valve", {"position": 0.5})
    items = run(sim)
    valve = [v for _, v in series(items, "valve_position")]
    assert valve[0] == 0 and valve[10] == pytest.approx(25, abs=2) and valve[-1] == pytest.approx(50)
    flow = series(items, "pipe_flow")[-1][1]
    assert flow == pytest.approx(60 * 0.35 * 0.5 * math.sqrt(sim.level_m), abs=1.2)  # l/min


def test_commands_are_checked():
    sim = FillingPlantSimulator()
    with pytest.raises(CommandError):
        sim.set_valve(1.5)
    with pytest.raises(CommandError):
        sim.execute("open_everything")
    with pytest.raises(CommandError):
        sim.execute("set_valve", {"pos": 1})
    sim.emergency_stop()
    with pytest.raises(CommandError, match="emergency"):
        sim.set_valve(1)
    sim.reset()
    assert sim.set_valve(1).ok


def test_realtime_mode_paces_with_sleep():
    slept = []
    sim = FillingPlantSimulator(rates_hz={"tank_level_a": 10}, duration_s=1, realtime=True, sleep=slept.append)
    assert len(run(sim)) == 10
    assert slept[-1] == pytest.approx(0.9, abs=0.05)    # the fake sleep does not advance time


def test_faults_are_visible():
    faults = [
        Stuck("tank_level_a", 2, 4),
        Broken("pipe_flow", 1, 2, mode="mixed"),
        Drift("tank_level_b", 0, rate_per_s=0.1),
        Spikes("bottle_level", 0, probability=0.2, magnitude=500),
    ]
    items = run(FillingPlantSimulator(seed=5, rates_hz=RATES, duration_s=5, faults=faults))
    stuck = [v for t, v in series(items, "tank_level_a") if 1_700_000_002_000 <= t < 1_700_000_004_000]
    assert len(set(stuck)) == 1 and len(stuck) == 20
    broken = [v for t, v in series(items, "pipe_flow") if 1_700_000_001_000 <= t < 1_700_000_002_000]
    assert all(v is None or isinstance(v, str) or math.isnan(v) for v in broken)
    assert {type(v) for v in broken} >= {type(None), str, float}
    l1 = dict(series(items, "tank_level_a"))
    l2 = dict(series(items, "tank_level_b"))
    assert l2[1_700_000_004_900] - l1[1_700_000_004_900] == pytest.approx(0.49, abs=0.35)  # the drift, within two transmitters' noise
    assert any(abs(v) > 300 for _, v in series(items, "bottle_level"))


def test_sensor_swap_emits_event_and_renames():
    items = run(FillingPlantSimulator(seed=1, rates_hz={"tank_level_b": 10}, duration_s=3,
                                      faults=[Broken("tank_level_b", 1, mode="nan"),
                                              Swap("tank_level_b", 2, new_name="tank_level_bb", new_serial="LT102-0002")]))
    events = [i for i in items if isinstance(i, SensorSwapped)]
    assert events == [SensorSwapped("tank_level_b", "tank_level_bb", 1_700_000_002_000, "LT102-0001", "LT102-0002")]
    at = items.index(events[0])
    assert {s.sensor for s in items[:at]} == {"tank_level_b"}
    after = items[at + 1:]
    assert {s.sensor for s in after} == {"tank_level_bb"}
    assert all(math.isfinite(s.value) for s in after)     # the new sensor works


def test_simulator_rejects_bad_setup():
    with pytest.raises(ValueError, match="unknown simulated sensor"):
        FillingPlantSimulator(rates_hz={"nope": 1})
    with pytest.raises(ValueError, match="1000"):
        FillingPlantSimulator(rates_hz={"pipe_flow": 5000})


def test_csv_replay(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("sensor,t_ms,value\npipe_flow,1,0.5\n\n# comment\nbad line\npipe_flow,2,\"1,5\"\n"
                    "tank_level_a,3,garbage\n")
    items = list(CsvReplay(path))
    assert items[0] == Sample("pipe_flow", "1", "0.5", f"{path}:2")
    assert items[1].error and "3 CSV fields" in items[1].error
    assert items[2].value == "1,5" and items[2].error is None
    assert items[3].value == "garbage"


def test_jsonl_replay_with_events(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"sensor": "a", "t_ms": 1, "value": 2.5}\n{"broken json\n[1,2]\n{"sensor": "a"}\n'
                    '{"event": "sensor_swapped", "old": "a", "new": "b", "t_ms": 9}\n')
    items = list(JsonLinesReplay(path))
    assert items[0] == Sample("a", 1, 2.5, f"{path}:1")
    assert "invalid JSON" in items[1].error
    assert "not an object" in items[2].error
    assert "missing field" in items[3].error
    assert items[4] == SensorSwapped("a", "b", 9)


def test_stdin_auto_detects_each_line():
    stream = io.StringIO('{"sensor": "a", "t_ms": 1, "value": 1}\nb,2,3.5\n')
    items = list(StdinSource(stream))
    assert [(i.sensor, i.t_ms, i.value) for i in items] == [("a", 1, 1), ("b", "2", "3.5")]


def test_replay_speed_paces(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("a,0,1\na,1000,1\na,2000,1\n")
    slept = []
    assert len(list(CsvReplay(path, speed=10.0, sleep=slept.append))) == 3
    assert slept[-1] == pytest.approx(0.2, abs=0.02)


def test_a_failed_bottle_level_sensor_floods_the_line():
    """The filler's controller acts on its transmitter: stuck or broken, it never sees a full bottle."""
    from twinledger.sim import Broken, FillingPlantSimulator, Stuck

    def run(faults):
        sim = FillingPlantSimulator(seed=1, realtime=False, duration_s=20, faults=faults)
        for _ in sim:
            pass
        return sim

    healthy = run([])
    assert healthy.spilled_l == 0 and not healthy.flooding and healthy.bottles_done >= 5
    for fault in (Stuck(sensor="bottle_level", start_s=3.0), Broken(sensor="bottle_level", start_s=3.0, mode="nan")):
        failed = run([fault])
        assert failed.flooding and failed.spilled_l > 1.0 and failed.bottles_done < healthy.bottles_done
