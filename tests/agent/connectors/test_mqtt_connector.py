"""The MQTT connector against a real broker (Debian's mosquitto, started on loopback): JSON topics at QoS 1 in a
persistent session with acknowledgement only after commit, bad payloads, a broker restart, command
topics with the device's reply; and Sparkplug B: births, aliases, seq/bdSeq gaps, NDEATH,
historical metrics and a DCMD confirmed by the device."""
from __future__ import annotations

import json
import queue
import threading
import time

import pytest
from plant_servers import MqttBroker, drain, mqtt_client, wait_until

from twinledger.agent.connectors import sparkplug as spb
from twinledger.agent.connectors.base import SourceQuality
from twinledger.agent.connectors.mqtt import MqttCommand, MqttConnector, SparkplugCommand, SparkplugTarget

TOPICS = {"tank_level_a": "plant/tank_level_a", "pipe_flow": "plant/pipe_flow"}
T0 = 1_700_000_000_000


@pytest.fixture
def broker(tmp_path):
    b = MqttBroker(tmp_path / "broker").start()
    yield b
    b.close()


def connector_for(broker: MqttBroker, client_id: str = "agent-1", **kwargs) -> MqttConnector:
    connector = MqttConnector(broker.url, client_id, **({"topics": TOPICS} | kwargs))
    connector.start()
    wait_until(connector.connected.is_set, what="the connector's connection")
    time.sleep(0.2)   # the SUBSCRIBE reaches the broker
    return connector


def publish(client, topic: str, payload, qos: int = 1) -> None:
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    client.publish(topic, body, qos=qos).wait_for_publish(5)


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_unacknowledged_messages_come_back_after_a_restart_and_acked_ones_do_not(broker, protocol):
    agent = connector_for(broker, protocol=protocol)
    plant = mqtt_client(broker, "plant-1")
    for i in range(6):
        publish(plant, TOPICS["tank_level_a"], {"t_ms": T0 + i, "value": 10.0 + i})
    got = drain(agent, 6)
    assert [(s.sensor, s.t_ms, s.value) for s in got] == [("tank_level_a", T0 + i, 10.0 + i) for i in range(6)]
    agent.acknowledge(got[:2])       # the outbox committed the first two, then the agent died
    wait_until(lambda: agent.acks.acked == 2, what="two PUBACKs")
    agent.stop()
    publish(plant, TOPICS["tank_level_a"], {"t_ms": T0 + 6, "value": 16.0})   # while the agent is away
    again = connector_for(broker, protocol=protocol)
    try:
        redelivered = drain(again, 5)
        again.acknowledge(redelivered)
        wait_until(lambda: again.acks.acked == 5, what="five PUBACKs")
    finally:
        again.stop()
        plant.loop_stop()
    assert [s.t_ms for s in redelivered] == [T0 + i for i in range(2, 7)]
    third = connector_for(broker, protocol=protocol)
    try:
        time.sleep(0.5)
        assert third.queue.empty()    # everything was acknowledged: nothing comes back
    finally:
        third.stop()


def test_bad_payloads_are_counted_acknowledged_and_the_connector_keeps_going(broker):
    agent = connector_for(broker)
    plant = mqtt_client(broker, "plant-2")
    try:
        publish(plant, TOPICS["pipe_flow"], b"\xff not json")
        publish(plant, TOPICS["pipe_flow"], {"value": 3.0})             # no t_ms
        publish(plant, TOPICS["pipe_flow"], {"t_ms": T0, "value": "abc"})  # validation rejects the value
        publish(plant, TOPICS["pipe_flow"], [{"t_ms": T0 + 1, "value": 1.5}, {"t_ms": T0 + 2, "value": 2.5}])
        got = drain(agent, 3)
        agent.acknowledge(got)
        wait_until(lambda: agent.acks.acked == 4, what="all four messages acknowledged")
    finally:
        agent.stop()
        plant.loop_stop()
    assert [(s.t_ms, s.value) for s in got] == [(T0, "abc"), (T0 + 1, 1.5), (T0 + 2, 2.5)]
    assert agent.rejects.by_reason["bad payload"] == 2


def test_a_broker_restart_is_survived(broker):
    agent = connector_for(broker, max_backoff_s=1)
    try:
        broker.stop()
        wait_until(lambda: not agent.connected.is_set(), what="the connector noticing")
        broker.start()
        wait_until(lambda: agent.connections >= 2, timeout=30, what="reconnection")
        time.sleep(0.3)
        plant = mqtt_client(broker, "plant-3")
        publish(plant, TOPICS["tank_level_a"], {"t_ms": T0, "value": 1.0})
        assert [(s.t_ms, s.value) for s in drain(agent, 1)] == [(T0, 1.0)]
        plant.loop_stop()
    finally:
        agent.stop()
    assert agent.rejects.by_reason["broker unavailable"] >= 1


def test_a_command_topic_carries_the_program_and_the_device_replies(broker):
    def device(client, userdata, msg):
        body = json.loads(msg.payload)
        ok = 0 <= body["args"].get("position", 0) <= 100
        client.publish("plant/cmd/reply", json.dumps({"id": body["id"], "ok": ok,
                                                     "message": "valve moved" if ok else "position out of range"}),
                       qos=1)

    plant = mqtt_client(broker, "valve-plc", on_message=device, subscribe=("plant/cmd/valve",))
    programs = {"SetValvePosition": MqttCommand("plant/cmd/valve", reply_topic="plant/cmd/reply"),
                "Fire": MqttCommand("plant/cmd/fire")}
    agent = connector_for(broker, programs=programs)
    try:
        answer = agent.call("SetValvePosition", {"position": 40.0})
        refused = agent.call("SetValvePosition", {"position": 400.0})
        fire = agent.call("Fire", {})
    finally:
        agent.stop()
        plant.loop_stop()
    assert (answer.ok, answer.message) == (True, "valve moved")
    assert (refused.ok, refused.message) == (False, "position out of range")
    assert fire.ok and "published" in fire.message


# -- Sparkplug B ----------------------------------------------------------------------------------

GROUP, NODE, DEVICE = "Bottling", "edge-1", "filler"


class EdgeNode:
    """A Sparkplug B edge node with one device: births, data, death, and DCMD handling."""

    def __init__(self, broker: MqttBroker) -> None:
        self.seq = 0
        self.bd_seq = 0
        self.valve = 0.0
        self.commands: queue.Queue = queue.Queue()
        self.client = mqtt_client(broker, "edge-1", on_message=self._on_command,
                                  subscribe=(f"spBv1.0/{GROUP}/DCMD/{NODE}/{DEVICE}", f"spBv1.0/{GROUP}/NCMD/{NODE}"))
        self.lock = threading.Lock()

    def topic(self, kind: str, device: bool = True) -> str:
        return str(spb.Topic(GROUP, kind, NODE, DEVICE if device else None))

    def send(self, kind: str, metrics, *, device: bool = True, seq: int | None = None) -> None:
        with self.lock:
            if seq is None:
                seq, self.seq = self.seq, (self.seq + 1) % 256
            body = spb.encode_payload(metrics, seq=seq, timestamp=T0)
            self.client.publish(self.topic(kind, device), body, qos=1).wait_for_publish(5)

    def birth(self) -> None:
        self.seq = 0
        self.send("NBIRTH", [spb.Metric("bdSeq", self.bd_seq, datatype=spb.DataType.Int64)], device=False)
        self.send("DBIRTH", [spb.Metric("tank_level_a", 50.0, T0, spb.DataType.Double, alias=1),
                             spb.Metric("valve", 0.0, T0, spb.DataType.Float, alias=2)])

    def _on_command(self, client, userdata, msg) -> None:
        payload = spb.decode_payload(msg.payload)
        self.commands.put((msg.topic, payload))
        for metric in payload.metrics:
            if metric.name == "valve" and 0 <= metric.value <= 100:
                self.valve = metric.value
                threading.Thread(target=self.send, args=(
                    "DDATA", [spb.Metric("", self.valve, T0 + 999, spb.DataType.Float, alias=2)])).start()


def test_sparkplug_births_data_gaps_death_and_a_confirmed_dcmd(broker):
    agent = connector_for(broker, topics=None, sparkplug=SparkplugTarget(GROUP, NODE, DEVICE),
                          programs={"SetValvePosition": SparkplugCommand("valve", arg="position",
                                                                         datatype=spb.DataType.Float)})
    edge = EdgeNode(broker)
    try:
        edge.birth()
        born = drain(agent, 2)
        edge.send("DDATA", [spb.Metric("", 49.5, T0 + 100, spb.DataType.Double, alias=1)])        # by alias
        edge.send("DDATA", [spb.Metric("tank_level_a", 48.0, T0 + 50, spb.DataType.Double, is_historical=True),
                            spb.Metric("tank_level_a", 0.0, T0 + 200, spb.DataType.Double, quality=0)])
        edge.seq += 3                                                                            # 3 messages lost
        edge.send("DDATA", [spb.Metric("tank_level_a", 47.0, T0 + 300, spb.DataType.Double)])
        data = drain(agent, 4)
        rebirth_topic, rebirth = edge.commands.get(timeout=10)
        answer = agent.call("SetValvePosition", {"position": 30.5})
        echo = drain(agent, 1)
        edge.send("NDEATH", [spb.Metric("bdSeq", 0, datatype=spb.DataType.Int64)], device=False, seq=None)
        edge.bd_seq = 2                                                                          # session 1 missed
        edge.birth()
        reborn = drain(agent, 2)
    finally:
        agent.stop()
        edge.client.loop_stop()
    assert [(s.sensor, s.t_ms, s.value) for s in born] == [("tank_level_a", T0, 50.0), ("valve", T0, 0.0)]
    assert [(s.sensor, s.t_ms, s.value) for s in data] == [
        ("tank_level_a", T0 + 100, 49.5), ("tank_level_a", T0 + 50, 48.0), ("tank_level_a", T0 + 200, 0.0),
        ("tank_level_a", T0 + 300, 47.0)]
    assert data[1].source_quality == SourceQuality.HISTORICAL and data[2].source_quality == SourceQuality.BAD
    assert agent.rejects.by_reason["seq gap"] == 1
    assert rebirth_topic == f"spBv1.0/{GROUP}/NCMD/{NODE}" and rebirth.metrics[0].name == "Node Control/Rebirth"
    assert answer.ok and answer.value == pytest.approx(30.5) and edge.valve == pytest.approx(30.5)
    assert [(s.sensor, s.value) for s in echo] == [("valve", pytest.approx(30.5))]
    assert agent.rejects.by_reason["NDEATH"] == 1 and agent.rejects.by_reason["bdSeq gap"] == 1
    assert [s.sensor for s in reborn] == ["tank_level_a", "valve"]
