"""The agent checks itself against the chain before it sends anything, on a real anvil chain: a feed of
another component, another twin or another device key is refused with one line each; an outbox shared
with another config's batches anchors only this agent's feeds; a feed the chain refuses for good ends a
finite run non-zero naming it; the chain's safety limits and measurement ranges are only ever
tightened locally, and a new
specification version recorded while the agent runs is followed."""
from __future__ import annotations

import subprocess
import sys

import pytest
from eth_utils import keccak

from plant_support import OWNER, PLANT_AML, SENSORS, provision_plant
from twinledger.agent.config import load_config
from twinledger.agent.daemon import AgentDaemon
from twinledger.agent.guards import AgentRefused
from twinledger.agent.outbox import Outbox
from twinledger.agent.validation import Accepted
from twinledger.chain.devnet import test_account as account_of
from twinledger.formats import cids
from twinledger.ledger import contracts, transactions
from twinledger.ledger.provision import create_twin_from_aml

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def plant(tmp_path):
    plant = provision_plant(tmp_path / "plant")
    yield plant
    plant.stack.stop()


def simulator(duration_s: float = 2, hz: float = 20) -> dict:
    return {"kind": "simulator", "seed": 1, "realtime": False, "duration_s": duration_s,
            "rates_hz": {s: hz for s in SENSORS}}


def anchors(plant) -> int:
    return len(plant.stack.chain().feeds.events.Anchored.get_logs(from_block=0))


def test_a_wrong_mapping_is_refused_with_one_line_per_feed(plant):
    owner, store = plant.stack.chain(OWNER), plant.stack.store()
    other_twin = create_twin_from_aml(owner, store, PLANT_AML, name="second plant").twin_id
    pipe, level = plant.feeds["pipe_flow"], plant.feeds["tank_level_a"]
    # tank_level_a's readings sent into pipe_flow's feed (pipe_flow itself left out of this config)
    config = plant.config("wrong", source=simulator(), feeds={
        "tank_level_a": {"feed_id": pipe, "component": plant.components["tank_level_a"]}})
    with pytest.raises(AgentRefused) as caught:
        AgentDaemon(load_config(config))
    assert str(caught.value).splitlines() == [
        f"feed {pipe} (sensor tank_level_a) belongs to another component than "
        f"{plant.components['tank_level_a']!r}: fix its component or feed_id in the config"]

    config = plant.config("other-twin", source=simulator(), twin_id=other_twin)
    with pytest.raises(AgentRefused) as caught:
        AgentDaemon(load_config(config))
    lines = str(caught.value).splitlines()
    assert len(lines) == len(SENSORS)
    assert lines[0] == (f"feed {level} (sensor tank_level_a) belongs to twin {plant.twin}, not to twin "
                        f"{other_twin}: fix its feed_id or twin_id in the config")

    wrong_key = plant.config("wrong-key", source=simulator(), device_key_file=str(plant.workdir / "agent.key"))
    cli = subprocess.run([sys.executable, "-m", "twinledger.cli.main", "agent", "run", "--config", str(wrong_key)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    errors = [line for line in cli.stderr.splitlines() if not line.startswith("{")]
    assert errors[0] == (f"Error: feed {level} (sensor tank_level_a) is signed by device key {account_of(7).address} "
                         f"on-chain, but the agent's device key is {account_of(6).address}: give that key as "
                         "device_key_file")
    assert len(errors) == len(SENSORS)
    assert anchors(plant) == 0, "nothing may be sent before the mapping is checked"


def test_a_shared_outbox_anchors_only_this_agents_feeds(plant):
    mine, theirs = plant.feeds["tank_level_a"], plant.feeds["pipe_flow"]
    only_level = {"tank_level_a": {"feed_id": mine, "component": plant.components["tank_level_a"]}}
    config = plant.config("shared", source=simulator(), feeds=only_level,
                          validation={"ranges": {}})  # the other sensors are unknown here: rejected, counted
    with Outbox(load_config(config).outbox_path) as outbox:  # another config's batch, written before
        outbox.append_many([(theirs, Accepted("pipe_flow", 1_700_000_000_000 + i, 1.0)) for i in range(5)])
        assert outbox.claim_batch(theirs) is not None
    daemon = AgentDaemon(load_config(config))
    summary = daemon.run(status_every_s=60, install_signals=False)  # it ends: it does not wait for their batch
    chain = plant.stack.chain()
    assert contracts.next_seq_of(chain, mine) > 0 and summary["readings_anchored"] == summary["accepted"] > 0
    assert contracts.next_seq_of(chain, theirs) == 0, "another config's batch was anchored"
    with Outbox(load_config(config).outbox_path) as outbox:
        assert outbox.get_batch(theirs, 0).state.value == "pending"


def test_a_refused_feed_ends_a_finite_run_non_zero_naming_it(plant):
    owner = plant.stack.chain(OWNER)
    paused = plant.feeds["pipe_flow"]
    owner.sender.transact(owner.feeds.functions.pauseFeed(paused))
    config = plant.config("refused", source=simulator())
    run = subprocess.run([sys.executable, "-m", "twinledger.cli.main", "agent", "run", "--config", str(config)],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        f"Error: the chain refused anchoring for feed {paused} (FeedIsPaused): their batches stay in the outbox; "
        "fix the feed on-chain (or the config) and run the agent again")
    assert "refused_feeds=1" in run.stdout
    chain = plant.stack.chain()
    assert contracts.next_seq_of(chain, paused) == 0
    assert all(contracts.next_seq_of(chain, f) > 0 for s, f in plant.feeds.items() if f != paused)


def test_local_limits_only_tighten_and_a_new_spec_version_is_followed(plant):
    config = plant.config("rules", source=simulator(), validation={
        "safety_limits": {"tank_level_a": {"min": 0, "max": 99}, "tank_level_b": {"min": 10}},
        "ranges": {"tank_level_a": {"min": -10, "max": 200}, "tank_level_b": {"max": 80}}})
    daemon = AgentDaemon(load_config(config))
    try:
        safety = daemon.validator.rules.safety
        assert safety["tank_level_a"] == (5.0, 95.0), "a local rule loosened the chain's limit"
        assert safety["tank_level_b"] == (10.0, 95.0)
        ranges = daemon.validator.rules.ranges  # the AML's MeasurementRange, only tightened locally
        assert ranges["tank_level_a"] == (0.0, 100.0) and ranges["tank_level_b"] == (0.0, 80.0)
        assert not daemon.spec_follower.poll()

        data = PLANT_AML.read_bytes().replace(b"<Value>95</Value>", b"<Value>90</Value>", 1)
        owner, store = plant.stack.chain(OWNER), plant.stack.store()
        digest, codec = cids.pack(str(store.add_bytes(data).cid))
        owner.sender.transact(transactions.update_spec(owner, plant.twin, digest, codec, keccak(data)))
        assert daemon.spec_follower.poll()
        assert daemon.spec.version == 1
        assert daemon.validator.rules.safety["tank_level_a"] == (5.0, 90.0)
        assert daemon.validator.rules.safety["tank_level_b"] == (10.0, 95.0)
    finally:
        daemon.outbox.close()


def test_without_feeds_in_the_config_they_come_from_the_chain(plant):
    config = plant.config("from-chain", source=simulator(duration_s=1), feeds={})
    daemon = AgentDaemon(load_config(config))
    try:
        assert {s: (f.feed_id, f.component) for s, f in daemon.config.feeds.items()} == {
            s: (plant.feeds[s], plant.components[s]) for s in SENSORS}
        assert set(daemon.anchorer.device_keys) == set(plant.feeds.values())
    finally:
        daemon.outbox.close()
    other_key = plant.config("from-chain-other", source=simulator(duration_s=1), feeds={},
                             device_key_file=str(plant.workdir / "agent.key"))
    with pytest.raises(AgentRefused) as caught:
        AgentDaemon(load_config(other_key))
    assert str(caught.value) == (
        f"twin {plant.twin} has no active feed signed by the agent's device key {account_of(6).address}: "
        "register them with `twinledger feed register TWIN COMPONENT --device ADDRESS`, or list feeds in the config")
