"""The agent against a real plant, end to end on a real chain and the embedded IPFS node, one test per
protocol: readings from an OPC UA server, an MQTT broker and a Modbus device are anchored on-chain
each exactly once, and a program called on-chain reaches the device through the same connection
and is acknowledged on-chain with a result CID."""
from __future__ import annotations

import json
import struct
import threading
import time
from collections import Counter

import pytest
from plant_servers import ModbusDevice, MqttBroker, OpcuaPlant, chain_readings, mqtt_client, wait_anchored, wait_until
from plant_support import OWNER, SENSORS, PLANT_AML, assert_nothing_lost, provision_plant

from twinledger.agent.config import load_config
from twinledger.agent.connectors.opcua import to_ms
from twinledger.sim.server import MqttPlantPublisher, node_id, program_node_id
from twinledger.agent.daemon import AgentDaemon
from twinledger.agent.commands import PlantDriver
from twinledger.sim import FillingPlantSimulator

pytestmark = pytest.mark.timeout(300)
DONE = 3   # Specification.CallStatus


@pytest.fixture
def plant(tmp_path):
    plant = provision_plant(tmp_path / "plant")
    yield plant
    plant.stack.stop()


class RunningAgent:
    def __init__(self, config) -> None:
        self.daemon = AgentDaemon(load_config(config))
        self.summary: dict = {}
        self.thread = threading.Thread(target=lambda: self.summary.update(
            self.daemon.run(status_every_s=60, install_signals=False)), daemon=True)
        self.thread.start()

    def stop(self) -> dict:
        self.daemon.request_stop()
        self.thread.join(120)
        assert not self.thread.is_alive(), "the agent did not stop"
        return self.summary


def call_program(plant, name: str, params: list[int]) -> int:
    from twinledger.formats.aml import load_aml

    program = next(p for p in load_aml(PLANT_AML).programs if p.name == name)
    owner = plant.stack.chain(OWNER)
    receipt = owner.sender.transact(owner.spec.functions.callProgram(plant.twin, program.component_id,
                                                                     program.program_id, params))
    from web3.logs import DISCARD

    return owner.spec.events.ProgramCalled().process_receipt(receipt, errors=DISCARD)[0]["args"]["callId"]


def wait_done(plant, call_id: int) -> dict:
    chain = plant.stack.chain()
    wait_until(lambda: chain.spec.functions.programCall(call_id).call()[4] >= DONE, timeout=60,
               what=f"program call {call_id} acknowledged on-chain")
    status, digest, codec = chain.spec.functions.programCall(call_id).call()[4:7]
    from twinledger.formats import cids

    result = json.loads(plant.stack.store().cat(cids.unpack(digest, codec)))
    return {"status": status, **result}


def test_opcua_readings_anchored_once_and_a_method_call_acknowledged(plant):
    sim = FillingPlantSimulator(mode="auto")
    server = OpcuaPlant(device=PlantDriver(sim)).start()
    programs = {"SetValvePosition": {"object": "ns=2;s=Plant", "method": program_node_id("SetValvePosition"),
                                     "args": ["position"]},
                "CloseValve": {"object": "ns=2;s=Plant", "method": program_node_id("CloseValve")}}
    config = plant.config("opcua", source={"kind": "opcua", "endpoint": server.endpoint,
                                           "nodes": {s: node_id(s) for s in SENSORS}, "programs": programs})
    initial = {s: server.loop.run(server.server._vars[s].read_data_value()) for s in SENSORS}
    expected = Counter((s, to_ms(dv.SourceTimestamp), 0.0) for s, dv in initial.items())
    agent = RunningAgent(config)
    try:
        # A first start has no committed time to backfill from: readings count from the subscription on.
        wait_until(lambda: agent.daemon.sources[0].connected.is_set(), timeout=60, what="the agent's session")
        t0 = int(time.time() * 1000) + 1000
        for i in range(20):
            for j, sensor in enumerate(SENSORS):
                value = round(20.0 + i + j / 10, 3)
                server.write(sensor, t0 + 10 * i, value)
                expected[(sensor, t0 + 10 * i, value)] += 1
        call = call_program(plant, "SetValvePosition", [250])      # 25.0 %
        result = wait_done(plant, call)
        closed = wait_done(plant, call_program(plant, "CloseValve", []))
        wait_anchored(plant, expected)
    finally:
        summary = agent.stop()
        server.close()
    assert result["status"] == DONE and result["ok"] and "valve -> 0.25" in result["message"]
    assert sim.valve_cmd == 0.0 and sim.mode == "manual" and closed["ok"]
    assert chain_readings(plant) == expected       # each exactly once
    assert summary["accepted"] == sum(expected.values())
    assert assert_nothing_lost(plant, load_config(config).outbox_path) == summary["accepted"]


def test_mqtt_readings_anchored_once_and_a_command_topic_call_acknowledged(plant, tmp_path):
    broker = MqttBroker(tmp_path / "broker").start()
    sim = FillingPlantSimulator(mode="auto")
    device = MqttPlantPublisher(broker.url, PlantDriver(sim))
    wait_until(device.client.is_connected, what="the plant's MQTT connection")
    topics = {s: device.topic(s) for s in SENSORS}
    programs = {"SetValvePosition": {"topic": "plant/cmd/SetValvePosition", "reply_topic": "plant/cmd/reply"}}
    config = plant.config("mqtt", source={"kind": "mqtt", "url": broker.url, "client_id": "agent-e2e",
                                          "topics": topics, "programs": programs})
    agent = RunningAgent(config)
    expected: Counter = Counter()
    try:
        wait_until(lambda: agent.daemon.sources[0].connected.is_set(), what="the agent's MQTT connection")
        time.sleep(0.3)
        t0 = int(time.time() * 1000)
        for i in range(20):
            for j, sensor in enumerate(SENSORS):
                value = round(30.0 + i + j / 10, 3)
                device.publish(sensor, t0 + 10 * i, value)
                expected[(sensor, t0 + 10 * i, value)] += 1
        garbage = mqtt_client(broker, "noise")
        garbage.publish(topics["pipe_flow"], b"not json", qos=1).wait_for_publish(5)
        result = wait_done(plant, call_program(plant, "SetValvePosition", [400]))
        wait_anchored(plant, expected)
        garbage.loop_stop()
    finally:
        summary = agent.stop()
        device.close()
        broker.close()
    assert result["ok"] and sim.valve_cmd == pytest.approx(0.4)
    assert chain_readings(plant) == expected
    assert agent.daemon.sources[0].rejects.by_reason["bad payload"] == 1
    assert summary["accepted"] == sum(expected.values())


def test_modbus_polled_readings_anchored_and_a_register_write_acknowledged(plant):
    device = ModbusDevice().start()
    device.set("holding", 0, [734])
    device.set("input", 2, list(struct.unpack(">HH", struct.pack(">f", 12.5))))
    registers = {"tank_level_a": {"address": 0, "kind": "holding", "data_type": "uint16", "scale": 0.1},
                 "pipe_flow": {"address": 2, "kind": "input", "data_type": "float32"}}
    programs = {"SetFillRate": {"address": 10, "data_type": "float32", "arg": "rate"}}
    config = plant.config("modbus", source={"kind": "modbus", "host": "127.0.0.1", "port": device.port,
                                            "poll_interval_s": 0.1, "registers": registers, "programs": programs})
    agent = RunningAgent(config)
    try:
        wait_until(lambda: agent.daemon.sources[0].polls >= 10, timeout=60, what="ten polls")
        result = wait_done(plant, call_program(plant, "SetFillRate", [1250]))      # 12.50 l/min
    finally:
        summary = agent.stop()
        device.close()
    anchored = chain_readings(plant)
    assert result["ok"] and device.writes == [(10, list(struct.unpack(">HH", struct.pack(">f", 12.5))))]
    assert {s for s, _, _ in anchored} == {"tank_level_a", "pipe_flow"}
    assert all(v == pytest.approx(73.4) for s, _, v in anchored if s == "tank_level_a")
    assert max(anchored.values()) == 1 and sum(anchored.values()) == summary["accepted"] >= 20
