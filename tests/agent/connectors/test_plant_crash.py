"""Exactly once from a live plant through SIGKILLs: the agent (a real process) is killed with SIGKILL
at random moments while an OPC UA server with history, an MQTT broker at QoS 1 (plain JSON topics or
a Sparkplug B edge node), or a Modbus device keeps producing readings. After the last, clean run the
chain holds exactly the readings the source produced, each once: OPC UA's HistoryRead backfills what
the agent missed, the broker redelivers what was not acknowledged, and the outbox refuses the copies.
Modbus keeps no history and stamps a reading with the poll's time, so there the promise is that
every reading the outbox committed (through every kill) is on-chain once, and each is a value the
device held."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from plant_servers import ModbusDevice, MqttBroker, OpcuaPlant, chain_readings, wait_anchored, wait_until
from plant_support import provision_plant

from twinledger.agent.connectors import sparkplug as spb
from twinledger.agent.connectors.mqtt import prime_session
from twinledger.agent.outbox import Outbox
from twinledger.agent.connectors.opcua import to_ms
from twinledger.sim.server import node_id

pytestmark = [pytest.mark.timeout(600)]
KILLS = int(os.environ.get("TWINLEDGER_PLANT_KILLS", "8"))
SENSORS = ("tank_level_a", "pipe_flow")


@pytest.fixture
def plant(tmp_path):
    plant = provision_plant(tmp_path / "plant")
    yield plant
    plant.stack.stop()


def start_agent(config: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "twinledger.cli.main", "agent", "run", "--config",
                                 str(config)], stdout=out, stderr=out, start_new_session=True)


class Producer:
    """Makes a reading of each sensor every ~20 ms (strictly increasing times) and remembers it."""

    def __init__(self, emit) -> None:
        self.emit = emit
        self.produced: Counter = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last, n = 0, 0
        while not self.stop.is_set():
            t = max(last + 1, int(time.time() * 1000))
            for i, sensor in enumerate(SENSORS):
                value = round(n * 0.5 + i, 3)
                self.emit(sensor, t, value)
                self.produced[(sensor, t, value)] += 1
            last, n = t, n + 1
            time.sleep(0.02)

    def start(self) -> Producer:
        self.thread.start()
        return self

    def finish(self) -> Counter:
        self.stop.set()
        self.thread.join(10)
        return self.produced


def kill_loop(config: Path, log: Path, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(KILLS):
        proc = start_agent(config, log)
        time.sleep(rng.uniform(1.0, 6.0))   # start-up takes ~3 s: some kills land in it, most mid-stream
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def final_clean_run(plant, config: Path, log: Path, expected: Counter) -> None:
    proc = start_agent(config, log)
    try:
        wait_anchored(plant, expected, timeout=180)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        status = proc.wait(timeout=90)
    assert status == 0, log.read_text()[-3000:]


def test_opcua_with_history_through_sigkills(plant):
    seed = int(os.environ.get("TWINLEDGER_CRASH_SEED", time.time_ns() % 2**32))
    print(f"crash seed {seed}")
    server = OpcuaPlant(sensors={s: "" for s in SENSORS}).start()
    config = plant.config("opcua-crash", source={"kind": "opcua", "endpoint": server.endpoint,
                                                 "nodes": {s: node_id(s) for s in SENSORS}}, window_s=0.3)
    log = config.parent / "agent.log"
    expected = Counter((s, to_ms(server.loop.run(server.server._vars[s].read_data_value()).SourceTimestamp), 0.0)
                       for s in SENSORS)
    try:
        # The very first run has no committed time to backfill from: produce once it has subscribed.
        first = start_agent(config, log)
        wait_until(lambda: "opcua: connected" in log.read_text(), timeout=60, what="the first subscription")
        producer = Producer(server.write).start()
        time.sleep(1.0)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        kill_loop(config, log, seed)
        expected += producer.finish()
        final_clean_run(plant, config, log, expected)
    finally:
        server.close()
    assert chain_readings(plant) == expected
    assert '"opcua: backfilled from history"' in log.read_text()


def test_mqtt_qos1_through_sigkills(plant, tmp_path):
    seed = int(os.environ.get("TWINLEDGER_CRASH_SEED", time.time_ns() % 2**32))
    print(f"crash seed {seed}")
    broker = MqttBroker(tmp_path / "broker").start()
    topics = {s: f"plant/{s}" for s in SENSORS}
    config = plant.config("mqtt-crash", source={"kind": "mqtt", "url": broker.url, "client_id": "agent-crash",
                                                "topics": topics}, window_s=0.3)
    log = config.parent / "agent.log"
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    # The agent's persistent session exists before the plant publishes (as after its first run).
    prime_session("127.0.0.1", broker.port, "agent-crash", list(topics.values()))
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="plant-crash")
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    try:
        producer = Producer(lambda s, t, v: publisher.publish(topics[s], json.dumps({"t_ms": t, "value": v}),
                                                              qos=1)).start()
        kill_loop(config, log, seed)
        expected = producer.finish()
        time.sleep(0.5)   # the last PUBLISHes reach the broker
        final_clean_run(plant, config, log, expected)
    finally:
        publisher.loop_stop()
        broker.close()
    assert chain_readings(plant) == expected


def test_sparkplug_qos1_through_sigkills(plant, tmp_path):
    """An edge node publishes one DDATA per reading (seq 0..255 wrapping) after its NBIRTH; each
    restarted agent starts without a birth certificate, logs it, asks for a rebirth (this edge node
    does not answer: its queued DDATA are still readings) and keeps every reading."""
    seed = int(os.environ.get("TWINLEDGER_CRASH_SEED", time.time_ns() % 2**32))
    print(f"crash seed {seed}")
    broker = MqttBroker(tmp_path / "broker").start()
    group, node, device = "Bottling", "edge-1", "filler"
    config = plant.config("sparkplug-crash", source={
        "kind": "mqtt", "url": broker.url, "client_id": "agent-spb-crash",
        "sparkplug": {"group": group, "edge_node": node, "device": device}}, window_s=0.3)
    log = config.parent / "agent.log"
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    prime_session("127.0.0.1", broker.port, "agent-spb-crash", [f"{spb.NAMESPACE}/{group}/+/{node}/#"])
    edge = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="edge-crash")
    edge.connect("127.0.0.1", broker.port)
    edge.loop_start()
    seq = 0

    def publish(kind: str, metrics: list, dev: str | None) -> None:
        nonlocal seq
        body = spb.encode_payload(metrics, seq=seq, timestamp=int(time.time() * 1000))
        seq = (seq + 1) % 256
        edge.publish(str(spb.Topic(group, kind, node, dev)), body, qos=1)

    publish("NBIRTH", [spb.Metric("bdSeq", 0, datatype=spb.DataType.Int64)], None)
    try:
        # The first run takes the NBIRTH and some DDATA, so every later run starts unborn, mid-session.
        first = start_agent(config, log)
        wait_until(lambda: "mqtt: connected" in log.read_text(), timeout=60, what="the first connection")
        producer = Producer(lambda s, t, v: publish("DDATA", [spb.Metric(s, v, t, spb.DataType.Double)],
                                                    device)).start()
        time.sleep(1.0)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        kill_loop(config, log, seed)
        expected = producer.finish()
        time.sleep(0.5)
        final_clean_run(plant, config, log, expected)
    finally:
        edge.loop_stop()
        broker.close()
    assert chain_readings(plant) == expected
    assert "data from an edge node that is not born" in log.read_text()   # a restart noticed it


def test_modbus_through_sigkills(plant):
    seed = int(os.environ.get("TWINLEDGER_CRASH_SEED", time.time_ns() % 2**32))
    print(f"crash seed {seed}")
    device = ModbusDevice().start()
    config = plant.config("modbus-crash", source={
        "kind": "modbus", "host": "127.0.0.1", "port": device.port, "poll_interval_s": 0.05,
        "registers": {"tank_level_a": {"address": 0, "scale": 0.1}, "pipe_flow": {"address": 1, "scale": 0.1}}},
        window_s=0.3)
    log = config.parent / "agent.log"
    held: set = set()
    stop = threading.Event()

    def change_registers() -> None:   # the plant's values move every 20 ms
        n = 0
        while not stop.is_set():
            device.set("holding", 0, [n % 1000, (n * 7) % 1000])
            held.update({("tank_level_a", round(n % 1000 * 0.1, 6)), ("pipe_flow", round((n * 7) % 1000 * 0.1, 6))})
            n += 1
            time.sleep(0.02)

    changer = threading.Thread(target=change_registers, daemon=True)
    changer.start()
    try:
        kill_loop(config, log, seed)
        final_start_ms = int(time.time() * 1000)
        proc = start_agent(config, log)
        time.sleep(4.0)
        os.killpg(proc.pid, signal.SIGTERM)   # a clean stop: the open batches are anchored first
        assert proc.wait(timeout=90) == 0, log.read_text()[-3000:]
    finally:
        stop.set()
        changer.join(5)
        device.close()
    with Outbox(config.parent / "outbox.sqlite") as outbox:
        committed = Counter((r.sensor, r.t_ms, r.value) for _, r, _ in outbox.iter_readings())
    on_chain = chain_readings(plant)
    assert on_chain == committed and set(on_chain.values()) == {1}
    assert {(s, round(v, 6)) for s, _, v in on_chain} <= held
    # The killed runs committed readings too, and the last run anchored them with its own.
    assert any(t < final_start_ms for _, t, _ in on_chain) and any(t > final_start_ms for _, t, _ in on_chain)
