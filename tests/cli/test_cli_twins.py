"""End to end: `twin create|show|list|history`, `spec update`, `component replace`, `phase set`, and the
error path (unknown twin, invalid AML, unreachable node) against anvil + embedded IPFS."""
from __future__ import annotations

import re

import pytest
from cli_harness import AML_V1, AML_V2, MAINTAINER, OWNER, Twinledger, address

from twinledger.formats.aml import load_aml


@pytest.fixture(scope="module")
def twin(tl: Twinledger) -> int:
    return tl.create_twin()


def test_create_registers_the_whole_tree_and_programs(tl: Twinledger, twin: int) -> None:
    spec = load_aml(AML_V1)
    chain = tl.stack.chain()
    for component in spec.components:
        exists, active, parent, _kind, _repl, _at, name = chain.spec.functions.component(twin, component.component_id).call()
        assert (exists, active, name) == (True, True, component.name)
        assert parent == (component.parent_id or bytes(32))
    for program in spec.programs:
        enabled, count, _rev = chain.spec.functions.programInfo(twin, program.component_id, program.program_id).call()
        assert enabled and count == len(program.params)
    _names, mins, maxs = chain.spec.functions.programBounds(
        twin, spec.component("fill_valve").component_id,
        next(p for p in spec.programs if p.name == "SetFillRate").program_id).call()
    assert (mins, maxs) == ([50], [4000])  # 0.5 .. 40 l/min with 2 decimals


def test_show_lists_name_owner_phase_versions_tree_and_programs(tl: Twinledger, twin: int) -> None:
    out = tl("twin", "show", twin, account=None).stdout
    assert f"Twin {twin}: bottling_plant" in out
    assert "phase Design" in out and "device id BP-01" in out
    assert address(OWNER) in out
    assert "Components (11 active)" in out
    assert re.search(r"bottle_level \(LevelSensor\) LT-401", out)
    assert "rate ∈ [0.50, 40.00] l/min" in out and "position ∈ [0.0, 100.0] %" in out


def test_list_shows_own_twins_or_all(tl: Twinledger, twin: int) -> None:
    other = tl.create_twin(account=MAINTAINER, name="not mine")
    mine = tl("twin", "list").stdout
    assert "bottling_plant" in mine and "not mine" not in mine and "OWNER" in mine
    everything = tl("twin", "list", "--all").stdout
    assert "not mine" in everything and str(other) in everything


def test_history_in_block_order_with_author_and_time(tl: Twinledger) -> None:
    twin = tl.create_twin(name="history")
    tl("role", "grant", twin, "MAINTAINER", address(MAINTAINER))
    tl("source", "add", twin, "https://historian.example/line1", "--description", "plant historian",
       account=MAINTAINER)
    out = tl("twin", "history", twin, account=None).stdout
    rows = [line for line in out.splitlines() if re.match(r"│ \d+", line)]
    blocks = [int(re.match(r"│ (\d+)", r).group(1)) for r in rows]
    assert blocks == sorted(blocks) and len(rows) >= 18
    names = [re.search(r"(\w+\.\w+)\s+│", r).group(1) for r in rows]
    assert names[:2] == ["Specification.TwinCreated", "Specification.SpecUpdated"]
    assert names.count("Specification.ComponentAdded") == 11 and names.count("Specification.ProgramSet") == 3
    granted = next(r for r in rows if "role=MAINTAINER" in r)
    assert address(OWNER) in granted and "UTC" in granted
    source = next(r for r in rows if "SourceAdded" in r)
    assert source.count(address(MAINTAINER)) >= 1  # the author column is the maintainer


def test_spec_update_shows_the_diff_and_replaces_the_sensor(tl: Twinledger) -> None:
    twin = tl.create_twin(name="update")
    refused = tl("spec", "update", twin, "--aml", AML_V2, ok=False)  # no tty, no --yes: show, send nothing
    assert refused.exit_code == 1
    assert "+ component bottle_level LT-402" in refused.stdout
    assert "- component bottle_level LT-401" in refused.stdout
    assert "pass --yes" in refused.stderr
    chain = tl.stack.chain()
    assert chain.spec.functions.specVersionCount(twin).call() == 1

    out = tl("spec", "update", twin, "--aml", AML_V2, "--yes").stdout
    assert "replace bottle_level" in out and "record specification v1" in out
    assert chain.spec.functions.specVersionCount(twin).call() == 2
    old, new = (load_aml(p).component("bottle_level").component_id for p in (AML_V1, AML_V2))
    assert tuple(chain.spec.functions.component(twin, old).call()[1:5:3]) == (False, new)  # inactive, replacedBy new
    assert chain.spec.functions.componentActive(twin, new).call()
    assert "nothing to send" in tl("spec", "update", twin, "--aml", AML_V2, "--yes").stdout
    assert "LT-402" in tl("twin", "show", twin).stdout


def test_component_replace_copies_programs(tl: Twinledger) -> None:
    twin = tl.create_twin(name="replace")
    out = tl("component", "replace", twin, "fill_valve", "fill_valve", "--aml-id", "valve-2024-serial-77").stdout
    assert "Replaced fill_valve by fill_valve (AML ID valve-2024-serial-77" in out
    show = tl("twin", "show", twin).stdout
    assert show.count("SetValvePosition") == 1  # only the new part's programs are listed
    queued = tl("program", "call", twin, "valve-2024-serial-77", "SetValvePosition", "position=10").stdout
    assert "Queued call" in queued
    again = tl.fails("component", "replace", twin, "6155534c-d11f-458d-a332-b8c295af36c6", "x")
    assert "ComponentNotActive" in again


def test_phase_set_and_dismissed_twin_refuses_writes(tl: Twinledger) -> None:
    twin = tl.create_twin(name="phases")
    assert "phase Operation" in tl("phase", "set", twin, "operation").stdout
    assert "pass --yes" in tl.fails("phase", "set", twin, "Dismissed")
    tl("phase", "set", twin, "Dismissed", "--yes")
    assert "phase Dismissed" in tl("twin", "show", twin).stdout
    line = tl.fails("source", "add", twin, "https://late.example")
    assert "TwinDismissed" in line
    assert "TwinFrozen" in tl.fails("role", "grant", twin, "AUDITOR", address(MAINTAINER))
    assert "unknown phase" in tl.fails("phase", "set", twin, "Scrapped")


def test_bad_input_gives_one_line(tl: Twinledger, tmp_path) -> None:
    assert "TwinNotFound" in tl.fails("twin", "show", "999")
    bad = tmp_path / "bad.aml"
    bad.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><CAEXFile SchemaVersion="3.0"/>')
    assert "bad.aml" in tl.fails("twin", "create", "--aml", str(bad))
    unreachable = tl.fails("--network", "http://127.0.0.1:9", "twin", "list")
    assert "no Ethereum node answers at http://127.0.0.1:9" in unreachable
    assert "choose an account" in tl.fails("twin", "create", "--aml", str(AML_V1), account=None)
