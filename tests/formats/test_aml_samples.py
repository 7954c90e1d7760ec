"""The sample bottling plant: component tree, ids, sensors, programs and the v1 -> v2 diff."""

from decimal import Decimal
from pathlib import Path

import pytest
from eth_utils import keccak

from twinledger.formats.aml import diff_specs, load_aml, parse_aml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CORPUS = Path(__file__).parent / "aml_corpus"


@pytest.fixture(scope="module")
def v1():
    return load_aml(EXAMPLES / "bottling-plant.aml")


@pytest.fixture(scope="module")
def v2():
    return load_aml(EXAMPLES / "bottling-plant-v2.aml")


def tree(spec) -> dict[str, str | None]:
    names = {c.component_id: c.name for c in spec.components}
    return {c.name: names.get(c.parent_id) if c.parent_id else None for c in spec.components}


def test_component_tree(v1):
    assert v1.name == "bottling_plant"
    assert v1.device_id == "BP-01"
    assert tree(v1) == {
        "bottling_plant": None,
        "buffer_tank": "bottling_plant",
        "tank_level_a": "buffer_tank",
        "tank_level_b": "buffer_tank",
        "fill_pipe": "bottling_plant",
        "pipe_flow": "fill_pipe",
        "fill_valve": "fill_pipe",
        "valve_position": "fill_valve",
        "filler": "bottling_plant",
        "bottle_level": "filler",
        "outfeed_conveyor": "bottling_plant",
    }
    assert [c.kind for c in v1.components][:4] == ["Plant", "Tank", "LevelSensor", "LevelSensor"]


def test_component_ids_are_keccak_of_aml_ids(v1):
    for c in v1.components:
        assert c.component_id == keccak(c.aml_id.encode("utf-8"))
        assert len(c.component_id) == 32
    lt101 = v1.component("tank_level_a")
    assert lt101.aml_id == "1d5a6547-fe79-41ce-9c04-71d35dc69049"
    assert lt101.tag == "LT-101"


def test_raw_digest_is_keccak_of_file(v1):
    assert v1.raw_digest == keccak((EXAMPLES / "bottling-plant.aml").read_bytes())


def test_sensors_match_simulator_names(v1):
    assert {s.name for s in v1.sensors} == {"tank_level_a", "tank_level_b", "pipe_flow", "valve_position", "bottle_level"}
    a, b = v1.component("tank_level_a").sensor, v1.component("tank_level_b").sensor
    assert a.redundancy_group == b.redundancy_group == "tank_level"
    assert a.redundancy_tolerance == b.redundancy_tolerance == Decimal("1.0")
    assert (a.measurement_range.min, a.measurement_range.max, a.unit) == (0, 100, "%")
    assert (a.safety_limits.min, a.safety_limits.max) == (5, 95)
    assert a.sample_rate_hz == Decimal(10)
    flow = v1.component("pipe_flow").sensor
    assert flow.unit == "l/min" and flow.measurement_range.max == 50
    assert v1.component("valve_position").sensor.safety_limits is None
    assert v1.component("fill_valve").sensor is None


def test_programs_and_bounds(v1):
    valve = v1.component("fill_valve")
    programs = {p.name: p for p in v1.programs_of(valve.component_id)}
    assert list(programs) == ["SetValvePosition", "CloseValve", "SetFillRate"]
    (position,) = programs["SetValvePosition"].params
    assert position.name == "position"
    assert (position.bounds.scaled_min, position.bounds.scaled_max, position.bounds.decimals) == (0, 1000, 1)
    assert position.bounds.unit == "%"
    assert programs["CloseValve"].params == ()
    (rate,) = programs["SetFillRate"].params
    assert (rate.bounds.min, rate.bounds.max, rate.bounds.scaled_min, rate.bounds.scaled_max) == (
        Decimal("0.5"), Decimal(40), 50, 4000)
    assert rate.bounds.contains(12.5) and not rate.bounds.contains(40.01)
    assert all(p.component_id == valve.component_id for p in v1.programs)
    assert programs["SetFillRate"].program_id == keccak(valve.component_id + b"SetFillRate")
    assert position.name_bytes32 == b"position" + b"\0" * 24
    assert valve.kind_bytes32 == b"Valve".ljust(32, b"\0")


def test_programs_are_not_plain_attributes(v1):
    assert not any(k.startswith("Programs") for k in v1.component("fill_valve").attributes)
    assert v1.component("buffer_tank").attributes == {"Tag": "TK-100", "Volume": "2000"}


def test_diff_v1_to_v2_shows_sensor_replacement(v1, v2):
    diff = diff_specs(v1, v2)
    assert [c.tag for c in diff.removed] == ["LT-401"]
    assert [c.tag for c in diff.added] == ["LT-402"]
    assert diff.changed == [] and diff.programs_added == diff.programs_removed == diff.programs_changed == []
    ((old, new),) = diff.replacements
    assert old.name == new.name == "bottle_level" and old.component_id != new.component_id
    lines = diff.summary_lines()
    assert any(line.startswith("+ component bottle_level LT-402") for line in lines)
    assert any(line.startswith("- component bottle_level LT-401") for line in lines)


def test_diff_of_identical_specs_is_empty(v1):
    assert diff_specs(v1, v1).empty


def test_diff_reports_changed_bounds_and_attributes(v1):
    text = (EXAMPLES / "bottling-plant.aml").read_text()
    text = text.replace("<Value>40</Value>", "<Value>35</Value>")  # SetFillRate max
    text = text.replace("<Value>6.5</Value>", "<Value>8</Value>")  # conveyor length
    diff = diff_specs(v1, parse_aml(text.encode()))
    assert [(ch.new.name, ch.fields) for ch in diff.changed] == [("outfeed_conveyor", ("attribute:Length",))]
    ((change,),) = [diff.programs_changed]
    assert change.new.name == "SetFillRate" and change.new.params[0].bounds.max == 35


def test_caex_2_15_with_constraints(tmp_path):
    spec = load_aml(CORPUS / "valid-caex-2.15.aml")
    assert spec.schema_version == "2.15"
    assert [(c.name, c.kind) for c in spec.components] == [
        ("mixer", "Mixer"), ("mixer_temperature", "TemperatureSensor"), ("agitator", "Resource")]
    temperature = spec.component("mixer_temperature").sensor
    assert (temperature.measurement_range.min, temperature.measurement_range.max) == (-20, Decimal("150.5"))
    assert temperature.unit == "°C" and temperature.measurement_range.decimals == 1
    (program,) = spec.programs
    assert program.params[0].bounds.unit == "1/min" and program.params[0].bounds.max == 1200


def test_minimal_file():
    spec = load_aml(CORPUS / "valid-minimal.aml")
    (root,) = spec.components
    assert root.parent_id is None and root.kind == "" and spec.device_id == root.aml_id
