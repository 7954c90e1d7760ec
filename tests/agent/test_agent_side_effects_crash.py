"""Side effects as durable as the anchors: a real agent process kills itself (SIGKILL, through the
`$TWINLEDGER_CRASH_AT` crash points) between every pair of steps of a sensor swap and of a program
call, and is restarted. After every kill the chain never holds a step twice and the outbox is never
ahead of it; after the restart chain and outbox agree, and the device acted at most once per call."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak

from plant_support import OWNER, PLANT_AML, SENSORS, anchored_feed, assert_nothing_lost, provision_plant
from twinledger.agent.config import load_config
from twinledger.formats import cids
from twinledger.formats.aml import load_aml

pytestmark = pytest.mark.timeout(900)
PASSPHRASE = {"TWINLEDGER_KEYSTORE_PASSPHRASE": "plant engineer's passphrase"}
SWAP_POINTS = ("swap-keyed", "swap-planned", "swap-component-sent", "swap-component-recorded", "swap-feed-sent",
               "swap-feed-recorded", "swap-retire-sent", "swap-retired")
DONE, FAILED = 3, 4  # Specification.CallStatus
# crash point -> (the call's final status, how often the device acted on it)
CALL_POINTS = {"call-delivered-sent": (DONE, 1), "call-executing": (FAILED, 0), "call-device-acted": (FAILED, 1),
               "call-executed": (DONE, 1), "call-completed-sent": (DONE, 1)}


@pytest.fixture
def plant(tmp_path):
    plant = provision_plant(tmp_path / "plant")
    yield plant
    plant.stack.stop()


def start_agent(config: Path, log: Path, crash: str | None = None) -> subprocess.Popen:
    env = {**os.environ, **PASSPHRASE}
    env.pop("TWINLEDGER_CRASH_AT", None)
    if crash:
        env["TWINLEDGER_CRASH_AT"] = crash
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "twinledger.cli.main", "agent", "run", "--config", str(config)],
                                stdout=out, stderr=out, env=env, start_new_session=True)


def crashed_at(proc: subprocess.Popen, point: str, log: Path) -> None:
    status = proc.wait(timeout=240)
    assert status == -signal.SIGKILL, f"crash point {point} never reached (exit {status}):\n" + log.read_text()[-3000:]
    assert f"crash point {point}: SIGKILL" in log.read_text().splitlines()[-1]


def outbox_rows(path: Path, table: str) -> list[dict]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute(f"SELECT * FROM {table}")]
    finally:
        db.close()


# -- sensor swap ----------------------------------------------------------------------------------

def swap_on_chain(plant, new_component: bytes) -> tuple[list, list]:
    chain = plant.stack.chain()
    old = keccak(text=plant.components["bottle_level"])
    replaced = chain.spec.events.ComponentReplaced.get_logs(from_block=0, argument_filters={"oldComponent": old})
    registered = chain.feeds.events.FeedRegistered.get_logs(from_block=0,
                                                             argument_filters={"component": new_component})
    return replaced, registered


def assert_never_diverged(plant, outbox_path: Path, new_component: bytes) -> None:
    """Right after a kill: each chain step at most once, and the outbox never claims more than the chain."""
    replaced, registered = swap_on_chain(plant, new_component)
    assert len(replaced) <= 1 and len(registered) <= 1, "a swap step reached the chain twice"
    assert len(list(outbox_path.parent.glob("device-*.keystore.json"))) <= 1, "a second device key was made"
    rows = outbox_rows(outbox_path, "swaps")
    assert len(rows) <= 1
    if not rows:
        return
    row = rows[0]
    if row["state"] != "planned":
        assert replaced, f"outbox says {row['state']}, chain has no replaced component"
    if row["state"] in ("feed_registered", "retired"):
        assert [e["args"]["feedId"] for e in registered] == [row["new_feed"]]
    if row["state"] == "retired":
        assert plant.stack.chain().feeds.functions.feed(row["old_feed"]).call()[5] == 3


def test_sigkill_between_every_step_of_a_sensor_swap(plant):
    swap = {"kind": "swap", "sensor": "bottle_level", "start_s": 1.0, "new_name": "bottle_level_2",
            "new_serial": "LT402-0001"}
    source = {"kind": "simulator", "seed": 1, "realtime": False, "duration_s": 2.5,
              "rates_hz": {s: 40 for s in SENSORS}, "faults": [swap]}
    config = plant.config("swap-crash", source=source, window_s=0.3)
    outbox_path = load_config(config).outbox_path
    log = config.parent / "agent.log"
    new_aml_id = f"{plant.components['bottle_level']}/LT402-0001"
    new_component = keccak(text=new_aml_id)
    for point in SWAP_POINTS:
        crashed_at(start_agent(config, log, crash=point), point, log)
        assert_never_diverged(plant, outbox_path, new_component)

    final = start_agent(config, log)
    assert final.wait(timeout=240) == 0, log.read_text()[-3000:]
    [row] = outbox_rows(outbox_path, "swaps")
    replaced, [registered] = swap_on_chain(plant, new_component)
    assert len(replaced) == 1 and replaced[0]["args"]["newComponent"] == new_component
    assert (row["state"], row["new_feed"], row["new_component"]) == ("retired", registered["args"]["feedId"], new_aml_id)
    [keystore] = outbox_path.parent.glob("device-*.keystore.json")
    key = Account.decrypt(json.loads(keystore.read_text()), PASSPHRASE["TWINLEDGER_KEYSTORE_PASSPHRASE"])
    chain = plant.stack.chain()
    assert registered["args"]["deviceKey"] == Account.from_key(key).address == row["device"]
    old_view = chain.feeds.functions.feed(row["old_feed"]).call()
    assert old_view[5] == 3 and old_view[7] == row["new_feed"]  # Retired, pointing at its successor
    assert chain.spec.functions.component(plant.twin, keccak(text=plant.components["bottle_level"])).call()[1] is False
    assert anchored_feed(plant, row["new_feed"]).rids, "the new sensor's readings are anchored under the new key"
    assert_nothing_lost(plant, outbox_path)


# -- program call ---------------------------------------------------------------------------------

def queue_valve_call(plant, position_tenths: int) -> int:
    from web3.logs import DISCARD

    program = next(p for p in load_aml(PLANT_AML).programs if p.name == "SetValvePosition")
    owner = plant.stack.chain(OWNER)
    receipt = owner.sender.transact(owner.spec.functions.callProgram(plant.twin, program.component_id,
                                                                     program.program_id, [position_tenths]))
    return owner.spec.events.ProgramCalled().process_receipt(receipt, errors=DISCARD)[0]["args"]["callId"]


def device_actions(log: Path, call_id: int) -> int:
    count = 0
    for line in log.read_text().splitlines():
        if '"device acted"' in line:
            entry = json.loads(line)
            count += entry["call"] == call_id
    return count


def wait_until_completed(plant, outbox_path: Path, call_id: int, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = plant.stack.chain().spec.functions.programCall(call_id).call()[4]
        rows = [r for r in outbox_rows(outbox_path, "calls") if r["call_id"] == call_id]
        if status in (DONE, FAILED) and rows and rows[0]["state"] == "completed":
            return
        time.sleep(0.3)
    raise AssertionError(f"call {call_id} never completed:\n" + log.read_text()[-3000:])


def test_sigkill_between_every_step_of_a_program_call(plant):
    source = {"kind": "simulator", "seed": 2, "realtime": True, "rates_hz": {s: 5 for s in SENSORS}}
    config = plant.config("call-crash", source=source, window_s=0.5)
    outbox_path = load_config(config).outbox_path
    log = config.parent / "agent.log"
    for position, (point, (status, acted)) in enumerate(CALL_POINTS.items(), start=1):
        call_id = queue_valve_call(plant, 100 * position)
        crashed_at(start_agent(config, log, crash=point), point, log)
        recovery = start_agent(config, log)
        wait_until_completed(plant, outbox_path, call_id, log)
        recovery.send_signal(signal.SIGTERM)
        assert recovery.wait(timeout=120) == 0, log.read_text()[-3000:]

        assert device_actions(log, call_id) == acted, f"{point}: the device acted {device_actions(log, call_id)} times"
        chain = plant.stack.chain()
        _, _, _, _, on_chain, digest, codec = chain.spec.functions.programCall(call_id).call()
        [row] = [r for r in outbox_rows(outbox_path, "calls") if r["call_id"] == call_id]
        assert on_chain == status, f"{point}: call ended {on_chain}"
        assert bool(row["ok"]) == (on_chain == DONE) and row["result_cid"] == cids.unpack(bytes(digest), codec)
        completions = chain.spec.events.CallCompleted.get_logs(from_block=0, argument_filters={"callId": call_id})
        assert len(completions) == 1
        result = json.loads(plant.stack.store().cat(row["result_cid"]))
        assert result["call"] == call_id and result["ok"] is (status == DONE)
        if status == FAILED:
            assert result["message"].startswith("outcome unknown: the agent stopped while the device was executing")
