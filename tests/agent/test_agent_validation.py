"""Validation: parse failures are rejected and counted; every suspect reading is flagged and kept."""

import io
import math

import pytest

from twinledger.agent.sources import Sample, StdinSource
from twinledger.sim import FillingPlantSimulator, Stuck, Spikes
from twinledger.agent.validation import (
    Accepted,
    RedundantGroup,
    Rejected,
    SpikeRule,
    ValidationRules,
    Validator,
)
from twinledger.formats.batch import Quality


def ok(v: Validator, sensor: str, t: int, value) -> Accepted:
    result = v.validate(Sample(sensor, t, value))
    assert isinstance(result, Accepted), result
    return result


def test_good_reading_passes_with_types_normalised():
    v = Validator(ValidationRules())
    r = ok(v, " pipe_flow ", "17", "0.25")
    assert r == Accepted("pipe_flow", 17, 0.25, Quality.GOOD)
    assert ok(v, "a", 5.0, 3).value == 3.0


@pytest.mark.parametrize("sample, reason", [
    (Sample(None, 1, 1.0), "bad sensor"),
    (Sample("", 1, 1.0), "bad sensor"),
    (Sample(5, 1, 1.0), "bad sensor"),
    (Sample("x" * 200, 1, 1.0), "bad sensor"),
    (Sample("a", -1, 1.0), "bad time"),
    (Sample("a", 1.5, 1.0), "bad time"),
    (Sample("a", "soon", 1.0), "bad time"),
    (Sample("a", True, 1.0), "bad time"),
    (Sample("a", 2**64, 1.0), "bad time"),
    (Sample("a", 1, None), "bad value"),
    (Sample("a", 1, math.nan), "bad value"),
    (Sample("a", 1, "inf"), "bad value"),
    (Sample("a", 1, "ERR"), "bad value"),
    (Sample("a", 1, True), "bad value"),
    (Sample("a", 1, [1.0]), "bad value"),
    (Sample("a", 1, 10**400), "bad value"),
    (Sample(None, None, "{", error="invalid JSON"), "unparseable"),
])
def test_unparseable_input_is_rejected_with_reason(sample, reason):
    v = Validator(ValidationRules())
    result = v.validate(sample)
    assert isinstance(result, Rejected) and result.reason.startswith(reason)
    assert v.stats.rejected == 1 and v.stats.accepted == 0


def test_unknown_sensor_rejected_when_sensors_are_known():
    v = Validator(ValidationRules(known_sensors=frozenset({"a"})))
    assert isinstance(v.validate(Sample("b", 1, 1.0)), Rejected)
    ok(v, "a", 1, 1.0)


def test_range_flag():
    v = Validator(ValidationRules(ranges={"t": (0.0, 2.0)}))
    assert ok(v, "t", 1, 1.0).quality == Quality.GOOD
    assert ok(v, "t", 2, 2.5).quality == Quality.OUT_OF_RANGE
    assert ok(v, "t", 3, -0.1).quality == Quality.OUT_OF_RANGE


def test_safety_rule_flag_one_sided_and_updatable():
    v = Validator(ValidationRules(safety={"t": (None, 1.8)}))
    assert ok(v, "t", 1, -100.0).quality == Quality.GOOD
    assert ok(v, "t", 2, 1.9).quality == Quality.SAFETY_RULE
    v.set_safety_rules({"t": (None, 2.0)})        # a new spec version from the chain
    assert ok(v, "t", 3, 1.9).quality == Quality.GOOD


def test_redundancy_flag_time_aligned():
    v = Validator(ValidationRules(groups=(RedundantGroup(("l1", "l2"), tolerance=0.05, window_ms=100),)))
    assert ok(v, "l1", 1000, 1.00).quality == Quality.GOOD        # nothing to compare with yet
    assert ok(v, "l2", 1010, 1.02).quality == Quality.GOOD
    assert ok(v, "l2", 1050, 1.20).quality == Quality.REDUNDANCY_MISMATCH
    assert ok(v, "l1", 1060, 1.01).quality == Quality.REDUNDANCY_MISMATCH   # nearest l2 (1050) disagrees
    assert ok(v, "l1", 5000, 3.00).quality == Quality.GOOD        # no l2 sample within 100 ms


def test_redundancy_uses_median_of_three():
    v = Validator(ValidationRules(groups=(RedundantGroup(("a", "b", "c"), tolerance=0.1, window_ms=50),)))
    ok(v, "a", 0, 1.0)
    ok(v, "b", 0, 1.05)
    assert ok(v, "c", 0, 5.0).quality == Quality.REDUNDANCY_MISMATCH
    assert ok(v, "a", 10, 1.0).quality == Quality.GOOD    # majority (a, b) agrees: only c is the odd one
    assert ok(v, "b", 10, 1.02).quality == Quality.GOOD
    assert ok(v, "c", 10, 4.0).quality == Quality.REDUNDANCY_MISMATCH


def test_stuck_flag_and_override():
    v = Validator(ValidationRules(stuck_count=3, stuck_overrides={"valve": 0}))
    qs = [ok(v, "s", t, 1.0).quality for t in range(5)]
    assert qs == [Quality.GOOD, Quality.GOOD, Quality.STUCK, Quality.STUCK, Quality.STUCK]
    assert ok(v, "s", 6, 1.1).quality == Quality.GOOD
    assert all(ok(v, "valve", t, 0.0).quality == Quality.GOOD for t in range(10))


def test_spike_flag_single_outlier():
    v = Validator(ValidationRules(spikes={"f": SpikeRule(max_delta=0.5, window=5)}))
    values = [1.0, 1.1, 0.9, 1.0, 9.0, 1.05, 1.0]
    qs = [ok(v, "f", t, x).quality for t, x in enumerate(values)]
    assert qs == [Quality.GOOD] * 4 + [Quality.SPIKE] + [Quality.GOOD] * 2


def test_flags_combine_and_are_counted():
    v = Validator(ValidationRules(ranges={"x": (0, 1)}, safety={"x": (0, 1)}, stuck_count=2))
    ok(v, "x", 0, 5.0)
    r = ok(v, "x", 1, 5.0)
    assert r.quality == Quality.OUT_OF_RANGE | Quality.SAFETY_RULE | Quality.STUCK
    assert v.stats.flagged["OUT_OF_RANGE"] == 2 and v.stats.flagged["STUCK"] == 1


def test_rename_after_swap_keeps_rules_and_stats():
    v = Validator(ValidationRules(ranges={"old": (0, 1)}, known_sensors=frozenset({"old"})))
    v.validate(Sample("x", 1, 1.0))
    v.rename_sensor("old", "new")
    assert ok(v, "new", 1, 2.0).quality == Quality.OUT_OF_RANGE
    assert isinstance(v.validate(Sample("old", 1, 1.0)), Rejected)
    assert v.stats.rejected == 2 and v.stats.accepted == 1


def test_malformed_lines_rejected_good_lines_pass():
    lines = []
    for i in range(1000):
        lines.append(f"pipe_flow,{i},{i / 10}")
        if i % 10 == 0:
            lines += ["pipe_flow,abc,1", "{not json", "pipe_flow,1", '{"sensor": "pipe_flow", "t_ms": 3}', "x,1,NaN"]
    v = Validator(ValidationRules())
    results = [v.validate(s) for s in StdinSource(io.StringIO("\n".join(lines)))]
    accepted = [r for r in results if isinstance(r, Accepted)]
    assert len(accepted) == 1000 and [r.t_ms for r in accepted] == list(range(1000))
    assert v.stats.rejected == 500
    assert v.stats.rejected_by_reason == {"bad time": 100, "unparseable": 300, "bad value": 100}


def test_simulator_faults_show_up_as_flags_and_rejections():
    sim = FillingPlantSimulator(seed=2, rates_hz={"tank_level_a": 20, "tank_level_b": 20, "pipe_flow": 20},
                                duration_s=6,
                                faults=[Stuck("tank_level_a", 2, 4), Spikes("pipe_flow", 0, probability=0.1, magnitude=3)])
    from twinledger.sim import Broken, Drift
    sim._faults += [Broken("pipe_flow", 5, 6, mode="garbage"), Drift("tank_level_b", 0, rate_per_s=0.05)]
    v = Validator(ValidationRules(groups=(RedundantGroup(("tank_level_a", "tank_level_b"), 0.05, 100),),
                                  stuck_count=10, spikes={"pipe_flow": SpikeRule(1.0)}))
    results = [v.validate(s) for s in sim]
    assert v.stats.flagged["STUCK"] > 0
    assert v.stats.flagged["SPIKE"] > 0
    assert v.stats.flagged["REDUNDANCY_MISMATCH"] > 0
    assert v.stats.rejected == 20
    assert len(results) == 6 * 60
