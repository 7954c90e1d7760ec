"""The OPC UA connector against the plant's real asyncua server on loopback: subscriptions with
source times and status codes, HistoryRead backfill after an agent restart, reconnect after the
server restarts or was down at start, an unknown node id, method calls and node writes, and
Basic256Sha256 with certificates."""
from __future__ import annotations

import math
import time

import pytest
from plant_servers import OpcuaPlant, drain, iter_values, self_signed, wait_until

from twinledger.agent.connectors.base import ConnectorError, SourceQuality
from twinledger.agent.connectors.opcua import OpcuaConnector, OpcuaMethod, OpcuaSecurity, OpcuaWrite
from twinledger.sim.server import node_id, program_node_id
from twinledger.agent.commands import PlantDriver
from twinledger.sim import FillingPlantSimulator

SENSORS = {"tank_level_a": node_id("tank_level_a"), "pipe_flow": node_id("pipe_flow")}
T0 = int(time.time() * 1000) + 60_000   # after the nodes' initial values, whatever the test's start


@pytest.fixture
def plant():
    server = OpcuaPlant().start()
    yield server
    server.close()


def connect(plant: OpcuaPlant, **kwargs) -> OpcuaConnector:
    connector = OpcuaConnector(plant.endpoint, kwargs.pop("nodes", SENSORS), max_backoff_s=0.5, **kwargs)
    connector.start()
    return connector


def readings(samples) -> list[tuple[str, int, float]]:
    return [(s.sensor, s.t_ms, s.value) for s in samples]


def test_subscription_delivers_every_change_with_source_time_and_quality(plant):
    connector = connect(plant)
    try:
        wait_until(connector.connected.is_set, what="connection")
        drain(connector, 2)   # the subscription's first values (the initial 0.0 of each node)
        written = list(iter_values(T0, 40, step_ms=7))
        for t, v in written:
            plant.write("tank_level_a", t, v)
        plant.write("pipe_flow", T0 + 500, "garbage")   # a broken transmitter: BadSensorFailure
        got = drain(connector, 41)
    finally:
        connector.stop()
    level = [(s.t_ms, s.value) for s in got if s.sensor == "tank_level_a"]
    assert level == written
    assert all(s.source_quality == SourceQuality.GOOD for s in got if s.sensor == "tank_level_a")
    broken = next(s for s in got if s.sensor == "pipe_flow")
    assert broken.t_ms == T0 + 500 and (broken.value is None or math.isnan(broken.value))
    assert broken.source_quality & SourceQuality.BAD


def test_restart_backfills_from_history_from_the_last_committed_time(plant):
    for t, v in iter_values(T0, 30):
        plant.write("tank_level_a", t, v)
    committed = T0 + 9 * 10   # the outbox held the first 10 readings when the agent died
    connector = connect(plant, nodes={"tank_level_a": SENSORS["tank_level_a"]},
                        last_committed=lambda sensor: committed)
    try:
        got = drain(connector, 20)
        wait_until(connector.connected.is_set, what="connection")
        plant.write("tank_level_a", T0 + 1000, 99.0)
        live = drain(connector, 1)
        time.sleep(0.3)
        assert connector.queue.empty()   # the subscription's initial value was not delivered twice
    finally:
        connector.stop()
    assert readings(got) == [("tank_level_a", t, v) for t, v in list(iter_values(T0, 30))[10:]]
    assert all(s.source_quality & SourceQuality.HISTORICAL for s in got)
    assert readings(live) == [("tank_level_a", T0 + 1000, 99.0)]
    assert connector.backfilled == 20


def test_a_repeat_of_the_backfill_after_the_release_is_dropped_until_a_newer_value_passed():
    """The race a loaded machine hits: the backfill read a node's newest value, and the subscription's
    notification of that same value comes after the held-back ones were released. It is dropped; the
    first newer value passes, and after it a value going back in time passes as live values do."""
    from asyncua import ua

    from twinledger.agent.connectors.opcua import from_ms

    class Node:
        class nodeid:
            @staticmethod
            def to_string() -> str:
                return "ns=2;s=level"

    def change(t_ms: int, v: float) -> None:
        value = ua.DataValue(ua.Variant(v, ua.VariantType.Double), SourceTimestamp=from_ms(t_ms))
        connector._on_change(Node(), value)

    connector = OpcuaConnector("opc.tcp://127.0.0.1:1", {"level": "ns=2;s=level"},
                               last_committed={"level": T0}.get)
    connector._sensor_of = {"ns=2;s=level": "level"}
    connector._held, connector._overlapping = None, {"level"}   # as _attach leaves them
    change(T0, 40.0)          # the repeat, after the release
    change(T0, 40.0)          # and again, still not newer
    change(T0 + 10, 41.0)     # new: passes and ends the overlap
    change(T0 + 5, 39.0)      # a plant clock going back: live values pass
    got = [connector.queue.get_nowait() for _ in range(connector.queue.qsize())]
    assert readings(got) == [("level", T0 + 10, 41.0), ("level", T0 + 5, 39.0)]


def test_server_restart_mid_run_reconnects_and_backfills_what_it_missed(plant):
    connector = connect(plant, nodes={"tank_level_a": SENSORS["tank_level_a"]})
    try:
        wait_until(connector.connected.is_set, what="connection")
        drain(connector, 1)
        plant.write("tank_level_a", T0, 1.0)
        assert readings(drain(connector, 1)) == [("tank_level_a", T0, 1.0)]
        plant.stop()
        wait_until(lambda: not connector.connected.is_set(), what="the connector noticing the outage")
        plant.start()
        for t, v in iter_values(T0 + 100, 5):   # made while the agent was still reconnecting
            plant.write("tank_level_a", t, v)
        wait_until(lambda: connector.connections >= 2, what="reconnection")
        for t, v in iter_values(T0 + 200, 3):
            plant.write("tank_level_a", t, v)
        got = drain(connector, 8)
    finally:
        connector.stop()
    assert readings(got) == [("tank_level_a", t, v) for t, v in [*iter_values(T0 + 100, 5), *iter_values(T0 + 200, 3)]]
    assert connector.rejects.by_reason["server unavailable"] >= 1


def test_server_down_at_start_is_retried_and_an_unknown_node_is_skipped():
    plant = OpcuaPlant()
    connector = OpcuaConnector(plant.endpoint, {**SENSORS, "ghost": "ns=2;s=Plant.NoSuchSensor"}, max_backoff_s=0.3)
    connector.start()
    try:
        wait_until(lambda: connector.rejects.by_reason["server unavailable"] >= 2, what="retries")
        plant.start()
        wait_until(connector.connected.is_set, what="connection once the server is up")
        drain(connector, 2)
        plant.write("pipe_flow", T0, 3.5)
        assert readings(drain(connector, 1)) == [("pipe_flow", T0, 3.5)]
        assert connector.rejects.by_reason["unknown node id"] == 1
    finally:
        connector.stop()
        plant.close()


def test_program_calls_reach_the_plant_as_method_calls_and_node_writes():
    sim = FillingPlantSimulator(mode="auto")
    plant = OpcuaPlant(device=PlantDriver(sim)).start()
    programs = {
        "SetValvePosition": OpcuaMethod("ns=2;s=Plant", program_node_id("SetValvePosition"), ("position",)),
        "CloseValve": OpcuaMethod("ns=2;s=Plant", program_node_id("CloseValve")),
        "SetValve": OpcuaWrite("ns=2;s=Plant.ValveSetpoint", arg="percent"),
    }
    connector = connect(plant, programs=programs)
    try:
        wait_until(connector.connected.is_set, what="connection")
        answer = connector.call("SetValvePosition", {"position": 40.0})
        assert answer.ok and "valve -> 0.4" in answer.message and sim.valve_cmd == pytest.approx(0.4)
        refused = connector.call("SetValvePosition", {"position": 250.0})   # the device's own check
        assert not refused.ok and "BadInvalidArgument" in refused.message
        assert connector.call("CloseValve", {}).ok and sim.valve_cmd == 0.0 and sim.mode == "manual"
        assert connector.call("SetValve", {"percent": 25.0}).ok
        assert plant.loop.run(plant.server.setpoint.read_value()) == 25.0
        wait_until(lambda: sim.valve_cmd == pytest.approx(0.25), what="the setpoint moving the valve")
        read_only = OpcuaWrite(node_id("tank_level_b"), arg="level")   # a sensor: not writable by clients
        connector.programs["ForceLevel"] = read_only
        refused = connector.call("ForceLevel", {"level": 1.0})
        assert not refused.ok and ("BadUserAccessDenied" in refused.message or "BadNotWritable" in refused.message)
        calls = [c[0] for c in plant.server.calls]
        with pytest.raises(ConnectorError, match="not mapped"):
            connector.call("Unknown", {})
    finally:
        connector.stop()
        plant.close()
    assert calls == ["SetValvePosition", "SetValvePosition", "CloseValve"]


def test_basic256sha256_with_certificates(tmp_path):
    server_cert, server_key = self_signed(tmp_path, "server", "urn:twinledger:plant-server")
    client_cert, client_key = self_signed(tmp_path, "agent", "urn:twinledger:agent")
    plant = OpcuaPlant(certificate=str(server_cert), private_key=str(server_key)).start()
    security = OpcuaSecurity(str(client_cert), str(client_key), server_certificate=str(server_cert))
    connector = connect(plant, nodes={"tank_level_a": SENSORS["tank_level_a"]}, security=security)
    try:
        wait_until(connector.connected.is_set, what="a secure connection")
        drain(connector, 1)
        plant.write("tank_level_a", T0, 42.0)
        assert readings(drain(connector, 1)) == [("tank_level_a", T0, 42.0)]
        assert connector._client.security_policy.URI.endswith("Basic256Sha256")
    finally:
        connector.stop()
        plant.close()


def test_a_sensor_swap_the_plant_publishes_is_followed_in_order_and_backfilled(plant):
    """The plant announces a new transmitter on Plant.SensorSwaps: the connector yields the swap after
    the old sensor's readings, then the new node's readings, those written before it subscribed read
    back from history; a restarted connector whose outbox has the new sensor does not announce it again."""
    from twinledger.formats.samples import SensorSwapped
    from twinledger.sim.server import SWAPS_NODE

    t0 = int(time.time() * 1000) + 60_000   # after the nodes' initial values
    connector = connect(plant, swaps=SWAPS_NODE, publishing_interval_ms=50)
    try:
        wait_until(connector.connected.is_set, what="connection")
        drain(connector, 2)
        plant.write("tank_level_a", t0, 40.0)
        plant.write("tank_level_a", t0 + 10, 41.0)
        swap = SensorSwapped("tank_level_a", "tank_level_a_2", t0 + 20, "LT101-0001", "LT101-0002")
        plant.loop.run(plant.server.swap(swap))
        plant.write("tank_level_a_2", t0 + 20, 42.0)    # before the connector can have subscribed
        got = drain(connector, 3)
        plant.write("tank_level_a_2", t0 + 30, 43.0)
        got += drain(connector, 2)
        time.sleep(0.3)
        extra = [connector.queue.get_nowait() for _ in range(connector.queue.qsize())]
        assert extra == [], f"delivered after {got}"   # the new node's current value is not delivered twice
    finally:
        connector.stop()
    kinds = [(g.old, g.new) if isinstance(g, SensorSwapped) else (g.sensor, g.t_ms, g.value) for g in got]
    assert kinds == [("tank_level_a", t0, 40.0), ("tank_level_a", t0 + 10, 41.0), ("tank_level_a", "tank_level_a_2"),
                     ("tank_level_a_2", t0 + 20, 42.0), ("tank_level_a_2", t0 + 30, 43.0)]
    assert got[3].source_quality & SourceQuality.HISTORICAL
    again = connect(plant, swaps=SWAPS_NODE, nodes={"tank_level_a": SENSORS["tank_level_a"]},
                    last_committed={"tank_level_a": t0 + 10, "tank_level_a_2": t0 + 30}.get)
    try:
        wait_until(again.connected.is_set, what="reconnection")
        time.sleep(1.5)
        plant.write("tank_level_a_2", t0 + 40, 44.0)
        [live] = drain(again, 1)
        time.sleep(0.3)
        leftover = [again.queue.get_nowait() for _ in range(again.queue.qsize())]
    finally:
        again.stop()
    assert (live.sensor, live.t_ms, live.value) == ("tank_level_a_2", t0 + 40, 44.0)
    assert not any(isinstance(x, SensorSwapped) for x in leftover)
