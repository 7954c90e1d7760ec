"""The device agent end to end on a real anvil chain and the embedded IPFS node: readings go in, and
every accepted one is provable from the chain and IPFS alone."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_utils import keccak

from plant_support import OWNER, SENSORS, assert_nothing_lost, anchored_feed, provision_plant
from twinledger.agent.commands import PlantDriver, ProgramCallWatcher
from twinledger.agent.config import load_config
from twinledger.agent.daemon import AgentDaemon
from twinledger.sim import FillingPlantSimulator
from twinledger.chain.errors import ContractRevert
from twinledger.formats.batch import Quality, decode_batch, encode_reading
from twinledger.formats.cids import raw_cid_from_digest

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def plant(tmp_path):
    """A fresh chain per test (about a second): reading ids are per agent, so feeds are never shared."""
    plant = provision_plant(tmp_path / "plant")
    yield plant
    plant.stack.stop()


def simulator(duration_s: float, hz: float = 50, realtime: bool = False, faults=(), seed: int = 1) -> dict:
    return {"kind": "simulator", "seed": seed, "realtime": realtime, "duration_s": duration_s,
            "rates_hz": {s: hz for s in SENSORS}, "faults": list(faults)}


def run_agent(config_path, **kwargs) -> tuple[AgentDaemon, dict]:
    daemon = AgentDaemon(load_config(config_path), **kwargs)
    return daemon, daemon.run(status_every_s=60, install_signals=False)


def test_every_accepted_reading_is_anchored_and_provable(plant):
    faults = [{"kind": "broken", "sensor": "pipe_flow", "start_s": 1, "end_s": 2, "mode": "garbage"},
              {"kind": "stuck", "sensor": "tank_level_b", "start_s": 0.5}]
    config = plant.config("e2e", source=simulator(3, hz=100, faults=faults),
                          validation={"stuck_count": 20, "redundant_groups": [
                              {"sensors": ["tank_level_a", "tank_level_b"], "tolerance": 0.02}]})
    daemon, summary = run_agent(config)
    assert summary["rejected"] > 0, "the broken sensor's garbage must be rejected and counted"
    assert summary["accepted"] == summary["readings_anchored"] > 0
    outbox = load_config(config).outbox_path
    assert assert_nothing_lost(plant, outbox) == summary["accepted"]

    # Suspect readings are kept and flagged, not dropped.
    chain, store = plant.stack.chain(), plant.stack.store()
    stuck = anchored_feed(plant, plant.feeds["tank_level_b"])
    event = chain.feeds.events.Anchored.get_logs(from_block=0, argument_filters={"feedId": plant.feeds["tank_level_b"]})[-1]
    batch = decode_batch(store.block_get(raw_cid_from_digest(event["args"]["cid"])))
    assert any(r.quality & Quality.STUCK for r in batch.readings)
    assert stuck.rids

    # One reading, proven on-chain with OpenZeppelin's MerkleProof against the batch's header.
    from twinledger.agent.publish import merkle_tree
    from twinledger.formats.merkle import keccak256
    tree = merkle_tree(batch)
    index = len(batch.readings) // 2
    args = event["args"]
    before = {"feedId": batch.feed, "seq": batch.seq - 1}
    prev = (bytes(32) if batch.seq == 0 else
            chain.feeds.events.Anchored.get_logs(from_block=0, argument_filters=before)[-1]["args"]["head"])
    header = (prev, args["root"], args["cid"], args["count"], args["tFirst"], args["tLast"])
    reading_hash = keccak256(encode_reading(batch.readings[index]))
    assert chain.feeds.functions.verifyReading(batch.feed, batch.seq, header, reading_hash, tree.proof(index)).call()
    forged = keccak256(encode_reading(batch.readings[index].__class__(
        rid=batch.readings[index].rid, sensor=batch.readings[index].sensor, t_ms=batch.readings[index].t_ms,
        value=batch.readings[index].value + 1, quality=batch.readings[index].quality)))
    assert not chain.feeds.functions.verifyReading(batch.feed, batch.seq, header, forged, tree.proof(index)).call()


def test_malformed_lines_are_rejected_and_a_flood_is_absorbed(plant, tmp_path):
    lines, good = [], 0
    for i in range(30_000):
        sensor = SENSORS[i % len(SENSORS)]
        lines.append(json.dumps({"sensor": sensor, "t_ms": 1_700_000_000_000 + i, "value": 40.0 + (i % 7)}))
        good += 1
        if i % 1000 == 0:
            lines += ["{not json", json.dumps({"sensor": sensor, "t_ms": "soon", "value": 1}),
                      json.dumps({"sensor": sensor, "t_ms": 1, "value": "NaN"}), ""]
    replay = tmp_path / "flood.jsonl"
    replay.write_text("\n".join(lines) + "\n")
    config = plant.config("flood", source={"kind": "jsonl", "path": str(replay)})  # no speed: as fast as it reads
    _, summary = run_agent(config)
    assert summary["accepted"] == good
    assert summary["rejected"] >= 3 * 30  # three malformed lines every 1000 (blank lines may be skipped)
    assert summary["readings_anchored"] == good


def test_program_calls_rejected_out_of_bounds_and_executed_within(plant):
    owner = plant.stack.chain(OWNER)
    valve = plant_program(plant, "SetValvePosition")
    with pytest.raises(ContractRevert) as refused:
        owner.sender.transact(owner.spec.functions.callProgram(plant.twin, valve.component_id, valve.program_id,
                                                               [1001]))  # 100.1 % with one decimal
    assert refused.value.error_name == "ParameterOutOfBounds"
    assert refused.value.error_args["param"].rstrip(b"\0") == b"position"

    owner.sender.transact(owner.spec.functions.callProgram(plant.twin, valve.component_id, valve.program_id, [250]))
    agent = plant.stack.chain(6)
    device = FillingPlantSimulator(seed=3, realtime=False, duration_s=1)
    watcher = ProgramCallWatcher(agent, plant.stack.store(), plant.twin,
                                 {valve.program_id: valve}, PlantDriver(device), from_block=0)
    outcomes = watcher.poll()
    assert [(o.program, o.ok) for o in outcomes] == [("SetValvePosition", True)]
    assert device.valve_cmd == pytest.approx(0.25)
    call_id = outcomes[0].call_id
    _, _, _, _, status, result_digest, _ = owner.spec.functions.programCall(call_id).call()
    assert status == 3  # Done
    result = json.loads(plant.stack.store().cat(outcomes[0].result_cid))
    assert result["ok"] is True and result["call"] == call_id
    assert watcher.poll() == []  # a call is acknowledged once

    # The bounds tightened after a call was queued: the call is stale, the device is not driven, and the
    # contract would refuse its delivery (StaleCall); its caller cancels it.
    owner.sender.transact(owner.spec.functions.callProgram(plant.twin, valve.component_id, valve.program_id, [900]))
    owner.sender.transact(owner.spec.functions.setProgram(plant.twin, valve.component_id, valve.program_id,
                                                          [b"position".ljust(32, b"\0")], [0], [500]))
    [late] = watcher.poll()
    assert not late.ok and "stale call" in late.message
    assert device.valve_cmd == pytest.approx(0.25)
    assert owner.spec.functions.programCall(late.call_id).call()[4] == 1  # still Queued
    owner.sender.transact(owner.spec.functions.cancelCall(late.call_id))
    assert owner.spec.functions.programCall(late.call_id).call()[4] == 5  # Cancelled


def plant_program(plant, name):
    from twinledger.formats.aml import load_aml
    from plant_support import PLANT_AML

    return next(p for p in load_aml(PLANT_AML).programs if p.name == name)


def test_sensor_swap_retires_old_feed_and_keeps_history(plant, monkeypatch):
    monkeypatch.setenv("TWINLEDGER_KEYSTORE_PASSPHRASE", "swap test")
    old_feed = plant.feeds["bottle_level"]
    swap = {"kind": "swap", "sensor": "bottle_level", "start_s": 1.0, "new_name": "bottle_level_2",
            "new_serial": "LT402-0001"}
    config = plant.config("swap", source=simulator(2.5, hz=40, faults=[swap]))
    daemon, summary = run_agent(config)
    [replacement] = daemon.replacer.done.values()
    assert replacement.old_feed == old_feed and replacement.retired
    chain = plant.stack.chain()
    view = chain.feeds.functions.feed(old_feed).call()
    assert view[5] == 3 and view[7] == replacement.new_feed  # FeedStatus.Retired, with its successor
    new_view = chain.feeds.functions.feed(replacement.new_feed).call()
    from eth_account import Account
    assert new_view[2] == Account.from_key(daemon.replacer.key_of(replacement)).address  # its own device key
    assert "crypto" in json.loads(Path(replacement.key_file).read_text()), "kept in an encrypted keystore"
    old_component = keccak(text=plant.components["bottle_level"])
    assert chain.spec.functions.component(plant.twin, old_component).call()[1] is False  # inactive history
    assert chain.spec.functions.componentActive(plant.twin, keccak(text=replacement.new_component_aml_id)).call()
    assert anchored_feed(plant, replacement.new_feed).rids, "the new sensor's readings are anchored"
    assert assert_nothing_lost(plant, load_config(config).outbox_path) == summary["accepted"]


def test_sigterm_flushes_the_open_batch(plant):
    config = plant.config("sigterm", source=simulator(None, hz=20, realtime=True), window_s=30)
    log = config.parent / "stderr.log"
    with open(log, "wb") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "twinledger.cli.main", "agent", "run", "--config",
                                 str(config), "--status-every", "0.5"], stdout=subprocess.PIPE, stderr=err_file,
                                start_new_session=True)
    deadline = time.monotonic() + 60
    while b'"agent ready"' not in log.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    err = log.read_bytes()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"readings/s" in err, "the status line is printed"
    summary = dict(kv.split("=") for kv in out.decode().split())
    # The 30 s window never closed on its own: everything anchored came from the shutdown flush.
    assert int(summary["accepted"]) > 0 and summary["accepted"] == summary["readings_anchored"]
    assert_nothing_lost(plant, load_config(config).outbox_path)


def test_a_late_stop_still_anchors_the_flushed_batches(plant):
    """The drain deadline runs from when the stop arrives, not from start-up: an agent that ran longer
    than the deadline before SIGTERM must still anchor what the shutdown flush closed."""
    import threading

    stop = threading.Event()
    config = plant.config("late-stop", source=simulator(None, hz=20, realtime=True), window_s=30)
    daemon = AgentDaemon(load_config(config), stop_event=stop, drain_timeout_s=1.0)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(daemon.run(status_every_s=60, install_signals=False)))
    runner.start()
    time.sleep(2.5)  # longer than the drain deadline; the 30 s window has closed no batch yet
    stop.set()
    runner.join(timeout=60)
    assert result["accepted"] > 0 and result["accepted"] == result["readings_anchored"]
