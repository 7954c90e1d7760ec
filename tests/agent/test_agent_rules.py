"""The AML's redundancy groups as the agent applies them: their tolerance comes from the on-chain
specification, and a local `validation.redundant_groups` entry may only tighten it."""
from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from twinledger.agent.rules import redundancy_groups
from twinledger.agent.validation import Accepted, RedundantGroup, ValidationRules, Validator
from twinledger.formats.aml import load_aml
from twinledger.formats.batch import Quality
from twinledger.formats.samples import Sample
from twinledger.ledger.twinspec import OnChainSpec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bottling-plant.aml"
TANKS = ("tank_level_a", "tank_level_b")


@pytest.fixture(scope="module")
def spec() -> OnChainSpec:
    return OnChainSpec(load_aml(EXAMPLE), version=0, cid="bafkrei-example")


def _without_tolerance(spec: OnChainSpec) -> OnChainSpec:
    components = list(
        dataclasses.replace(c, sensor=dataclasses.replace(c.sensor, redundancy_tolerance=None)) if c.sensor else c
        for c in spec.spec.components)
    return OnChainSpec(dataclasses.replace(spec.spec, components=components), spec.version, spec.cid)


def test_the_aml_group_and_its_tolerance_apply_without_any_local_rule(spec: OnChainSpec) -> None:
    groups, notes = redundancy_groups(spec, [])
    assert groups == [RedundantGroup(TANKS, 1.0, 1000)] and notes == []


def test_a_local_tolerance_may_only_tighten_the_amls(spec: OnChainSpec) -> None:
    tighter, notes = redundancy_groups(spec, [RedundantGroup(TANKS[::-1], 0.25, 200)])
    assert tighter == [RedundantGroup(TANKS, 0.25, 200)] and notes == []
    looser, notes = redundancy_groups(spec, [RedundantGroup(TANKS, 5.0, 200)])
    assert looser == [RedundantGroup(TANKS, 1.0, 200)]
    assert len(notes) == 1 and "above the AML's 1.0" in notes[0] and "may only tighten" in notes[0]


def test_a_local_group_the_aml_lacks_adds_a_check(spec: OnChainSpec) -> None:
    extra = RedundantGroup(("pipe_flow", "bottle_level"), 3.0)
    groups, _ = redundancy_groups(spec, [extra])
    assert RedundantGroup(TANKS, 1.0, 1000) in groups and extra in groups


def test_a_group_without_any_tolerance_is_named_not_guessed(spec: OnChainSpec) -> None:
    bare = _without_tolerance(spec)
    assert bare.spec.component("tank_level_a").sensor.redundancy_tolerance is None
    groups, notes = redundancy_groups(bare, [])
    assert groups == [] and len(notes) == 1 and "'tank_level' declares no Tolerance" in notes[0]
    groups, notes = redundancy_groups(bare, [RedundantGroup(TANKS, 2.0)])
    assert groups == [RedundantGroup(TANKS, 2.0, 1000)] and notes == []


def test_the_validator_flags_a_disagreement_by_the_amls_tolerance(spec: OnChainSpec) -> None:
    validator = Validator(ValidationRules())
    groups, _ = redundancy_groups(spec, [])
    validator.set_groups(groups)
    assert spec.spec.component("tank_level_a").sensor.redundancy_tolerance == Decimal("1.0")
    first, close, apart = (validator.validate(Sample(sensor, t_ms, value)) for sensor, t_ms, value in
                           [("tank_level_a", 1_000, 50.0), ("tank_level_b", 1_010, 50.5), ("tank_level_b", 1_020, 52.0)])
    assert all(isinstance(r, Accepted) for r in (first, close, apart))
    assert not int(first.quality) & Quality.REDUNDANCY_MISMATCH
    assert not int(close.quality) & Quality.REDUNDANCY_MISMATCH
    assert int(apart.quality) & Quality.REDUNDANCY_MISMATCH
