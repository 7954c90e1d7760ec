"""Each source's ingest rate: readings/s from the source into the outbox (validated, group-committed on
SQLite with ``synchronous=FULL``, and for MQTT acknowledged to the broker after the commit), next to
the JSON-lines file source. Real servers on loopback: the plant's asyncua server (a HistoryRead
backfill of readings already made), Debian's mosquitto (QoS 1 messages queued for the agent's
persistent session), a pymodbus TCP server (polls of ten registers, as fast as it answers)."""
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


def ingest(source: Iterable[Any], total: int, path: Path, sensors: Iterable[str],
           acknowledge: Callable[[list[Any]], None] | None = None) -> float:
    """readings/s from the first item to the commit of the ``total``-th reading."""
    outbox, pipeline = _pipeline(path, sensors)
    pending: list[Any] = []
    started = None
    try:
        for item in source:
            started = started or time.perf_counter()
            pipeline.push(item)
            pending.append(item)
            if pipeline.uncommitted == 0 and acknowledge is not None:
                acknowledge(pending)
                pending = []
            if pipeline.stats.accepted + pipeline.uncommitted >= total:
                pipeline.commit()
                break
        assert started is not None and pipeline.stats.accepted == total, (pipeline.stats, total)
        return total / (time.perf_counter() - started)
    finally:
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


def opcua_rate(workdir: Path, total: int) -> float:
    from twinledger.agent.connectors.opcua import OpcuaConnector
    from twinledger.sim.server import PlantOpcuaServer, node_id

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    run = lambda coro: asyncio.run_coroutine_threadsafe(coro, loop).result(120)  # noqa: E731
    endpoint = f"opc.tcp://127.0.0.1:{_free_port()}/bench/"
    server = PlantOpcuaServer(endpoint, sensors={s: "" for s in SENSORS})
    run(server.start())
    t0 = int(time.time() * 1000) + 10_000
    for i in range(total // 2):
        for sensor in SENSORS:
            run(server.write(sensor, t0 + i, i * 0.5))
    connector = OpcuaConnector(endpoint, {s: node_id(s) for s in SENSORS}, last_committed=lambda s: t0 - 1)
    try:
        return ingest(connector, total, workdir / "opcua.sqlite", SENSORS)
    finally:
        connector.stop()
        run(server.stop())
        loop.call_soon_threadsafe(loop.stop)


def mqtt_rate(workdir: Path, total: int) -> float:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from twinledger.agent.connectors.mqtt import MqttConnector, prime_session

    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                    f"max_inflight_messages 1000\n")
    broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        topics = {s: f"bench/{s}" for s in SENSORS}
        prime_session("127.0.0.1", port, "bench-agent", list(topics.values()))
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-plant")
        publisher.connect("127.0.0.1", port)
        publisher.loop_start()
        infos = [publisher.publish(topics[SENSORS[i % 2]], json.dumps({"t_ms": 1_700_000_000_000 + i, "value": i}),
                                   qos=1) for i in range(total)]
        for info in infos:
            info.wait_for_publish(30)
        publisher.loop_stop()
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


def measure(workdir: Path, runs: int = 3, total: int = 20_000, modbus_total: int = 5_000) -> Results:
    res = Results()
    workdir.mkdir(parents=True, exist_ok=True)
    plan = [("source_jsonl_per_s", jsonl_rate, total), ("source_opcua_per_s", opcua_rate, total),
            ("source_mqtt_per_s", mqtt_rate, total), ("source_modbus_per_s", modbus_rate, modbus_total)]
    for key, rate, n in plan:
        samples = []
        for run_no in range(runs):
            folder = workdir / f"{key}-{run_no}"
            folder.mkdir()
            samples.append(rate(folder, n))
        res.put(key, samples)
    res.extra["source_readings_per_run"] = total
    res.extra["source_modbus_readings_per_run"] = modbus_total
    return res
