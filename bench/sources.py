"""Each source's ingest rate: readings/s from the source into the outbox (validated, group-committed on
SQLite with ``synchronous=FULL``, and for MQTT acknowledged to the broker after the commit), next to
the JSON-lines file source. Real servers on loopback, each in a thread or process of its own:

- ``opcua``: the plant's asyncua server writes values while the connector is subscribed (live
  notifications; the server's own write rate bounds it), and ``opcua_history``: a HistoryRead
  backfill of readings the server already holds (what a restart reads back);
- ``mqtt``: Debian's mosquitto, QoS 1 JSON messages queued for the agent's persistent session;
- ``sparkplug``: the same broker, an edge node's NBIRTH/DBIRTH then DDATA protobuf payloads with one
  metric per sensor, every seq checked;
- ``modbus``: a pymodbus TCP server, polls of ten registers, as fast as it answers.

Keys: ``ingest_readings_per_s_{file,opcua,opcua_history,mqtt,sparkplug,modbus}``."""
from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from .common import Results

SENSORS = ("tank_level_a", "pipe_flow")


def _pipeline(path: Path, sensors: Iterable[str]) -> tuple[Any, Any]:
    from twinledger.agent.batcher import Batcher, Pipeline
    from twinledger.agent.outbox import Outbox
    from twinledger.agent.validation import ValidationRules, Validator

    outbox = Outbox(path)
    batcher = Batcher(outbox, {s: i + 1 for i, s in enumerate(sensors)}, window_s=3600)
    return outbox, Pipeline(Validator(ValidationRules()), batcher)


TICK_S = 0.05  # the daemon's main loop: a group that waited long enough is committed though nothing arrives


def ingest(source: Iterable[Any], total: int, path: Path, sensors: Iterable[str],
           acknowledge: Callable[[list[Any]], None] | None = None) -> float:
    """readings/s from the first item to the commit of the ``total``-th reading. As in ``AgentDaemon``, a ticker
    commits a group whose delay has passed while the source is quiet: a broker that holds back messages until
    the ones in flight are acknowledged (MQTT's receive maximum) would otherwise wait for a commit forever."""
    outbox, pipeline = _pipeline(path, sensors)
    pending: list[Any] = []
    started = None
    lock = threading.Lock()
    done = threading.Event()

    def settle() -> None:
        nonlocal pending
        if pipeline.uncommitted == 0 and acknowledge is not None and pending:
            acknowledge(pending)
            pending = []

    def tick() -> None:
        while not done.wait(TICK_S):
            with lock:
                pipeline.tick()
                settle()

    ticker = threading.Thread(target=tick, name="bench-ingest-tick", daemon=True)
    ticker.start()
    try:
        for item in source:
            with lock:
                started = started or time.perf_counter()
                pipeline.push(item)
                pending.append(item)
                settle()
                if pipeline.stats.accepted + pipeline.uncommitted >= total:
                    pipeline.commit()
                    break
        assert started is not None and pipeline.stats.accepted == total, (pipeline.stats, total)
        return total / (time.perf_counter() - started)
    finally:
        done.set()
        ticker.join()
        outbox.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jsonl_rate(workdir: Path, total: int) -> float:
    from twinledger.agent.sources import JsonLinesReplay

    path = workdir / "readings.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(total):
            f.write(json.dumps({"sensor": SENSORS[i % 2], "t_ms": 1_700_000_000_000 + i, "value": i * 0.5}) + "\n")
    return ingest(JsonLinesReplay(path), total, workdir / "jsonl.sqlite", SENSORS)


class _Loop:
    """An asyncio loop in a daemon thread (the plant's server runs there)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coro: Any, timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def opcua_history_rate(workdir: Path, total: int) -> float:
    """A HistoryRead backfill of ``total`` readings the server already holds."""
    from twinledger.agent.connectors.opcua import OpcuaConnector
    from twinledger.sim.server import PlantOpcuaServer, node_id

    loop = _Loop()
    endpoint = f"opc.tcp://127.0.0.1:{_free_port()}/bench/"
    server = PlantOpcuaServer(endpoint, sensors={s: "" for s in SENSORS})
    loop.run(server.start())
    t0 = int(time.time() * 1000) + 10_000
    for i in range(total // 2):
        for sensor in SENSORS:
            loop.run(server.write(sensor, t0 + i, i * 0.5))
    connector = OpcuaConnector(endpoint, {s: node_id(s) for s in SENSORS}, last_committed=lambda s: t0 - 1)
    try:
        return ingest(connector, total, workdir / "opcua.sqlite", SENSORS)
    finally:
        connector.stop()
        loop.run(server.stop())
        loop.close()


def opcua_rate(workdir: Path, total: int) -> float:
    """Live subscription: the server writes ``total`` readings as fast as it can once the connector
    is subscribed, and the connector's notifications go into the outbox."""
    from twinledger.agent.connectors.opcua import OpcuaConnector
    from twinledger.sim.server import PlantOpcuaServer, node_id

    loop = _Loop()
    endpoint = f"opc.tcp://127.0.0.1:{_free_port()}/bench/"
    server = PlantOpcuaServer(endpoint, sensors={s: "" for s in SENSORS})
    loop.run(server.start())
    connector = OpcuaConnector(endpoint, {s: node_id(s) for s in SENSORS}, publishing_interval_ms=20)
    t0 = int(time.time() * 1000) + 10_000

    async def produce() -> None:
        for i in range(total // 2):
            for sensor in SENSORS:
                await server.write(sensor, t0 + i, i * 0.5)
            if i % 50 == 0:
                await asyncio.sleep(0)   # let the server publish while it writes

    def source() -> Any:
        connector.start()
        if not connector.connected.wait(30):
            raise RuntimeError(f"opcua bench: no connection to {endpoint}")
        for _ in SENSORS:   # each subscription's first notification: the value the server wrote at start
            connector.queue.get(timeout=30)
        asyncio.run_coroutine_threadsafe(produce(), loop.loop)
        yield from connector

    try:
        return ingest(source(), total, workdir / "opcua-live.sqlite", SENSORS)
    finally:
        connector.stop()
        loop.run(server.stop())
        loop.close()


def _mosquitto(workdir: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                    f"max_inflight_messages 1000\n")
    broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return broker, port


def _publish_all(port: int, client_id: str, messages: Iterable[tuple[str, bytes | str]]) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    publisher.connect("127.0.0.1", port)
    publisher.loop_start()
    infos = [publisher.publish(topic, body, qos=1) for topic, body in messages]
    for info in infos:
        info.wait_for_publish(30)
    publisher.disconnect()
    publisher.loop_stop()


def sparkplug_rate(workdir: Path, total: int) -> float:
    """An edge node's Sparkplug B session queued at the broker: NBIRTH, DBIRTH, then DDATA messages
    each with one metric per sensor (Double, own timestamp), seq 0..255 wrapping."""
    from twinledger.agent.connectors import sparkplug as spb
    from twinledger.agent.connectors.mqtt import MqttConnector, SparkplugTarget, prime_session

    broker, port = _mosquitto(workdir)
    try:
        group, node, device = "Bench", "edge-1", "filler"
        prime_session("127.0.0.1", port, "bench-agent", [f"{spb.NAMESPACE}/{group}/+/{node}/#"])
        t0 = 1_700_000_000_000

        def messages() -> Iterable[tuple[str, bytes]]:
            seq = 0

            def message(kind: str, metrics: list[Any], dev: str | None) -> tuple[str, bytes]:
                nonlocal seq
                body = spb.encode_payload(metrics, seq=seq, timestamp=t0)
                seq = (seq + 1) % 256
                return str(spb.Topic(group, kind, node, dev)), body

            yield message("NBIRTH", [spb.Metric("bdSeq", 0, datatype=spb.DataType.Int64)], None)
            yield message("DBIRTH", [spb.Metric(s, 0.0, t0 - 1, spb.DataType.Double) for s in SENSORS], device)
            for i in range(total // len(SENSORS)):
                yield message("DDATA", [spb.Metric(s, i * 0.5, t0 + i, spb.DataType.Double) for s in SENSORS], device)

        _publish_all(port, "bench-edge", messages())
        connector = MqttConnector(f"mqtt://127.0.0.1:{port}", "bench-agent",
                                  sparkplug=SparkplugTarget(group, node, device))
        try:
            # The DBIRTH's metrics are readings too (one per sensor): count them in.
            rate = ingest(connector, total + len(SENSORS), workdir / "sparkplug.sqlite", SENSORS,
                          connector.acknowledge)
            if connector.rejects.total:
                raise RuntimeError(f"sparkplug bench: rejects {dict(connector.rejects.by_reason)}")
            return rate
        finally:
            connector.stop()
    finally:
        broker.terminate()
        broker.wait(10)


def mqtt_rate(workdir: Path, total: int) -> float:
    from twinledger.agent.connectors.mqtt import MqttConnector, prime_session

    broker, port = _mosquitto(workdir)
    try:
        topics = {s: f"bench/{s}" for s in SENSORS}
        prime_session("127.0.0.1", port, "bench-agent", list(topics.values()))
        _publish_all(port, "bench-plant", ((topics[SENSORS[i % 2]], json.dumps({"t_ms": 1_700_000_000_000 + i,
                                                                                  "value": i})) for i in range(total)))
        connector = MqttConnector(f"mqtt://127.0.0.1:{port}", "bench-agent", topics=topics)
        try:
            return ingest(connector, total, workdir / "mqtt.sqlite", SENSORS, connector.acknowledge)
        finally:
            connector.stop()
    finally:
        broker.terminate()
        broker.wait(10)


def modbus_rate(workdir: Path, total: int) -> float:
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    from twinledger.agent.connectors.modbus import ModbusConnector, ModbusRegister

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = _free_port()

    async def start() -> Any:
        bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
        regs = [SimData(0, count=32, values=7, datatype=DataType.REGISTERS)]
        server = ModbusTcpServer(SimDevice(1, simdata=(bits, bits, regs, regs)), address=("127.0.0.1", port))
        await server.serve_forever(background=True)
        return server

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    sensors = [f"register_{i}" for i in range(10)]
    clock = iter(range(1_700_000_000, 1_800_000_000))   # one distinct source time (a second) per poll
    connector = ModbusConnector("127.0.0.1", port, {s: ModbusRegister(i) for i, s in enumerate(sensors)},
                                poll_interval_s=0.0, clock=lambda: next(clock))
    try:
        return ingest(connector, total, workdir / "modbus.sqlite", sensors)
    finally:
        connector.stop()
        asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)


PREFIX = "ingest_readings_per_s_"


def measure(workdir: Path, runs: int = 3, total: int = 20_000, modbus_total: int = 5_000) -> Results:
    res = Results()
    workdir.mkdir(parents=True, exist_ok=True)
    plan = [("file", jsonl_rate, total), ("opcua", opcua_rate, total), ("opcua_history", opcua_history_rate, total),
            ("mqtt", mqtt_rate, total), ("sparkplug", sparkplug_rate, total), ("modbus", modbus_rate, modbus_total)]
    for name, rate, n in plan:
        samples = []
        for run_no in range(runs):
            folder = workdir / f"{name}-{run_no}"
            folder.mkdir()
            samples.append(rate(folder, n))
        res.put(PREFIX + name, samples)
    res.extra["ingest_readings_per_run"] = total
    res.extra["ingest_modbus_readings_per_run"] = modbus_total
    return res
