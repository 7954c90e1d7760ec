"""The bottling plant as a device on the network: an OPC UA server (asyncua) whose variables are the
simulator's sensors, with history, and whose methods are the plant's programs.

Address space (namespace ``urn:twinledger:bottling-plant``, index 2 on a fresh server)::

    Objects/Plant                      ns=2;s=Plant
        TankLevelA, TankLevelB, ...    ns=2;s=Plant.TankLevelA   Double, historized
        SetValvePosition(position)     ns=2;s=Plant.SetValvePosition
        CloseValve(), SetFillRate(rate), EmergencyStop()
        ValveSetpoint                  ns=2;s=Plant.ValveSetpoint  Double, writable: valve position %
        SensorSwaps                    ns=2;s=Plant.SensorSwaps    String: JSON list of the sensor swaps so far

A sensor swap (the simulator's ``SensorSwapped``) adds a variable for the new sensor (a new transmitter
gets a new tag, ``Plant.BottleLevel2``), stops writing the old one, and appends
``{"old", "new", "t_ms", "old_serial", "new_serial", "node"}`` to ``SensorSwaps``, which an OPC UA
source configured with ``swaps:`` follows. Every method call is logged and kept in ``calls``.

Every value written is also stored in the server's history right away (not through asyncua's own
historizing subscription, which coalesces changes faster than its 10 ms interval and skips repeated
values), so a client's HistoryRead returns every reading the plant made. A value the simulator
could not measure (a broken transmitter's NaN or garbage) is written as NaN with status
``BadSensorFailure``.
"""
from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping, Protocol

import structlog
from asyncua import Server, ua

from ..formats.samples import Sample, SensorSwapped
from .plant import DEFAULT_SENSORS, CommandError, FillingPlantSimulator

__all__ = ["NAMESPACE_URI", "PROGRAM_ARGS", "SWAPS_NODE", "Device", "MqttPlantPublisher", "PlantOpcuaServer",
           "PlantServerThread", "node_id", "program_node_id", "serve"]

log = structlog.get_logger(__name__)

NAMESPACE_URI = "urn:twinledger:bottling-plant"
# The AML programs of examples/bottling-plant.aml and their parameters, in method-argument order.
PROGRAM_ARGS: dict[str, tuple[str, ...]] = {
    "SetValvePosition": ("position",),
    "CloseValve": (),
    "SetFillRate": ("rate",),
    "EmergencyStop": (),
}


class Device(Protocol):
    """What runs a program on the plant (the agent's ``PlantDriver`` over the simulator). A command that
    reaches the plant over the network acts each time it arrives: at-most-once per on-chain call is the
    agent's part (its `calls` table), not the plant's."""

    def act(self, program: str, args: dict[str, Any]) -> Any: ...


def _camel(sensor: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in sensor.split("_"))


def node_id(sensor: str, ns: int = 2) -> str:
    """``tank_level_a`` -> ``ns=2;s=Plant.TankLevelA``."""
    return f"ns={ns};s=Plant.{_camel(sensor)}"


def program_node_id(program: str, ns: int = 2) -> str:
    return f"ns={ns};s=Plant.{program}"


SWAPS_NODE = "ns=2;s=Plant.SensorSwaps"


class PlantOpcuaServer:
    """An asyncua server for the plant. ``start()``/``stop()`` run inside an asyncio loop; values come
    from ``write`` (tests drive it) or from ``run_simulator`` (``twinledger sim serve``)."""

    def __init__(self, endpoint: str, *, sensors: Mapping[str, str] | None = None, device: Device | None = None,
                 certificate: str | None = None, private_key: str | None = None,
                 history_count: int = 0) -> None:
        self.endpoint = endpoint
        self.sensors = list(sensors or DEFAULT_SENSORS)
        self.driver = device
        self.certificate, self.private_key = certificate, private_key
        self.history_count = history_count
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.answers: list[str] = []                                  # the answer to each call, in order
        self.swaps: list[dict[str, Any]] = []
        self.listeners: list[Callable[[str, int, Any], None]] = []   # also told of every value written
        self.server = Server()
        self.ns = 2
        self.started_ms = 0        # the source time of every sensor's first value, written at start
        self._vars: dict[str, Any] = {}

    async def start(self) -> None:
        s = self.server
        await s.init()
        s.set_endpoint(self.endpoint)
        s.set_server_name("TwinLedger bottling plant")
        if self.certificate and self.private_key:
            s.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                                   ua.SecurityPolicyType.Basic256Sha256_Sign])
            await s.load_certificate(self.certificate)
            await s.load_private_key(self.private_key)
        self.ns = await s.register_namespace(NAMESPACE_URI)
        plant = await s.nodes.objects.add_object(ua.NodeId("Plant", self.ns), ua.QualifiedName("Plant", self.ns))
        self._plant = plant
        for sensor in self.sensors:
            await self._add_sensor(sensor)
        for program, params in PROGRAM_ARGS.items():
            inputs = [_argument(name) for name in params]
            outputs = [ua.Argument(Name="result", DataType=ua.NodeId(ua.ObjectIds.String), ValueRank=-1)]
            await plant.add_method(ua.NodeId(f"Plant.{program}", self.ns), ua.QualifiedName(program, self.ns),
                                   self._method(program, params), inputs, outputs)
        self.setpoint = await plant.add_variable(ua.NodeId("Plant.ValveSetpoint", self.ns),
                                                 ua.QualifiedName("ValveSetpoint", self.ns), 0.0, ua.VariantType.Double)
        await self.setpoint.set_writable()
        self.swaps_var = await plant.add_variable(ua.NodeId("Plant.SensorSwaps", self.ns),
                                                  ua.QualifiedName("SensorSwaps", self.ns), "[]", ua.VariantType.String)
        await s.start()
        started_ms = self.started_ms = int(time.time() * 1000)
        for sensor in self.sensors:   # every sensor has a first, timestamped value (in the history too)
            await self.write(sensor, started_ms, 0.0)
        if self.driver is not None:
            subscription = await s.create_subscription(20, _SetpointHandler(self))
            await subscription.subscribe_data_change(self.setpoint)
        log.info("opcua plant server started", endpoint=self.endpoint, sensors=len(self.sensors))

    async def _add_sensor(self, sensor: str) -> None:
        var = await self._plant.add_variable(ua.NodeId(f"Plant.{_camel(sensor)}", self.ns),
                                             ua.QualifiedName(_camel(sensor), self.ns), 0.0, ua.VariantType.Double)
        await var.write_attribute(ua.AttributeIds.Historizing, ua.DataValue(ua.Variant(True)))
        await var.set_attr_bit(ua.AttributeIds.AccessLevel, ua.AccessLevel.HistoryRead)
        await var.set_attr_bit(ua.AttributeIds.UserAccessLevel, ua.AccessLevel.HistoryRead)
        await self.server.iserver.history_manager.storage.new_historized_node(var.nodeid, None, self.history_count)
        self._vars[sensor] = var

    async def swap(self, event: SensorSwapped) -> None:
        """A new transmitter replaces ``event.old``: a new variable for it, and the swap published."""
        if event.new not in self._vars:
            await self._add_sensor(event.new)
        self._vars.pop(event.old, None)
        self.swaps.append({"old": event.old, "new": event.new, "t_ms": event.t_ms, "old_serial": event.old_serial,
                           "new_serial": event.new_serial, "node": node_id(event.new, self.ns)})
        await self.swaps_var.write_value(ua.Variant(json.dumps(self.swaps), ua.VariantType.String))
        log.info("opcua plant: sensor swapped", old=event.old, new=event.new, node=node_id(event.new, self.ns))

    async def stop(self) -> None:
        await self.server.stop()

    def _method(self, program: str, params: tuple[str, ...]) -> Any:
        def handler(parent: Any, *variants: ua.Variant) -> list[ua.Variant] | ua.StatusCode:
            args = tuple(v.Value for v in variants)
            self.calls.append((program, args))
            log.info("opcua plant: method called", program=program, args=list(args))
            if self.driver is None:
                self.answers.append(f"{program} accepted")
                return [ua.Variant(self.answers[-1], ua.VariantType.String)]
            try:
                result = self.driver.act(program, dict(zip(params, args)))
            except (CommandError, TypeError, ValueError, KeyError) as exc:
                log.warning("opcua plant: program refused", program=program, error=str(exc))
                self.answers.append(f"refused: {exc}")
                return ua.StatusCode(ua.StatusCodes.BadInvalidArgument)   # the device's own refusal
            self.answers.append(getattr(result, "detail", "") or f"{program} done")
            return [ua.Variant(self.answers[-1], ua.VariantType.String)]

        return handler

    async def write(self, sensor: str, t_ms: int, value: Any) -> None:
        """Set a sensor's value with its source time, and store it in the history."""
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
        bad = not isinstance(number, (int, float)) or math.isnan(number)
        stamp = datetime.fromtimestamp(t_ms / 1000, tz=timezone.utc)
        data = ua.DataValue(ua.Variant(float(number), ua.VariantType.Double),
                            ua.StatusCode(ua.StatusCodes.BadSensorFailure if bad else ua.StatusCodes.Good),
                            SourceTimestamp=stamp, ServerTimestamp=datetime.now(timezone.utc))
        var = self._vars[sensor]
        await self.server.write_attribute_value(var.nodeid, data)
        await self.server.iserver.history_manager.storage.save_node_value(var.nodeid, data)
        for listener in self.listeners:
            listener(sensor, t_ms, value)

    async def run_simulator(self, simulator: FillingPlantSimulator, *, stop: asyncio.Event | None = None) -> int:
        """Publish the simulator's samples at wall-clock pace (its ``start_ms`` should be now)."""
        written = 0
        samples: Iterator[Any] = iter(simulator)
        for item in samples:
            if stop is not None and stop.is_set():
                break
            if isinstance(item, SensorSwapped):
                await self.swap(item)
                continue
            if not isinstance(item, Sample) or item.sensor not in self._vars:
                continue
            delay = item.t_ms / 1000 - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.write(item.sensor, item.t_ms, item.value)
            written += 1
        return written


class PlantServerThread:
    """The plant's OPC UA server in its own thread and asyncio loop, for a process that does something
    else meanwhile (the demo runs the agent next to it). ``simulate`` starts publishing a simulator's
    samples at wall-clock pace; ``finished`` is set once the simulation ended."""

    def __init__(self, endpoint: str, *, device: Device | None = None, sensors: Mapping[str, str] | None = None,
                 history_count: int = 0) -> None:
        self.server = PlantOpcuaServer(endpoint, sensors=sensors, device=device, history_count=history_count)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="plant-opcua", daemon=True)
        self.finished = threading.Event()
        self.written = 0
        self._stop: asyncio.Event | None = None

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> PlantServerThread:
        self.thread.start()
        self.run(self.server.start())
        return self

    def simulate(self, simulator: FillingPlantSimulator) -> None:
        async def go() -> None:
            self._stop = asyncio.Event()
            try:
                self.written = await self.server.run_simulator(simulator, stop=self._stop)
            finally:
                self.finished.set()

        asyncio.run_coroutine_threadsafe(go(), self.loop)

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        try:
            self.run(self.server.stop(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


class _SetpointHandler:
    """A client's write of ValveSetpoint moves the valve, as a PLC's setpoint register would."""

    def __init__(self, server: PlantOpcuaServer) -> None:
        self.server = server
        self.first = True

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        if self.first:   # the subscription's initial value is not a write
            self.first = False
            return
        try:
            self.server.driver.act("SetValvePosition", {"position": float(val)})
        except CommandError as exc:
            log.warning("opcua plant: setpoint refused", value=val, error=str(exc))


def _argument(name: str) -> ua.Argument:
    return ua.Argument(Name=name, DataType=ua.NodeId(ua.ObjectIds.Double), ValueRank=-1)


class MqttPlantPublisher:
    """The plant's optional MQTT face: each sample is published QoS 1 as ``{"t_ms", "value"}`` on
    ``<prefix>/<sensor>``; a JSON command ``{"id", "program", "args"}`` on ``<prefix>/cmd/<program>``
    is executed and answered on ``<prefix>/cmd/reply`` with ``{"id", "ok", "message"}``."""

    def __init__(self, url: str, driver: Device | None, *, prefix: str = "plant",
                 client_id: str = "twinledger-plant") -> None:
        from urllib.parse import urlparse

        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        parsed = urlparse(url)
        self.prefix = prefix
        self.driver = driver
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = lambda c, *_: c.subscribe(f"{prefix}/cmd/+", qos=1)
        self.client.on_message = self._on_command
        self.client.connect_async(parsed.hostname or "127.0.0.1", parsed.port or 1883)
        self.client.loop_start()

    def topic(self, sensor: str) -> str:
        return f"{self.prefix}/{sensor}"

    def publish(self, sensor: str, t_ms: int, value: Any) -> None:
        import json

        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if isinstance(number, float) and math.isnan(number):
            number = None
        self.client.publish(self.topic(sensor), json.dumps({"t_ms": t_ms, "value": number}), qos=1)

    def _on_command(self, client: Any, userdata: Any, msg: Any) -> None:
        import json

        if msg.topic == f"{self.prefix}/cmd/reply":
            return
        try:
            body = json.loads(msg.payload)
            program, call_id, args = msg.topic.rsplit("/", 1)[1], body["id"], dict(body.get("args") or {})
        except (ValueError, KeyError, TypeError):
            log.warning("mqtt plant: unreadable command", topic=msg.topic)
            return
        try:
            if self.driver is None:
                raise CommandError("no plant behind this publisher")
            result = self.driver.act(program, args)
            reply = {"id": call_id, "ok": True, "message": getattr(result, "detail", "") or f"{program} done"}
        except (CommandError, TypeError, ValueError, KeyError) as exc:
            reply = {"id": call_id, "ok": False, "message": str(exc)}
        client.publish(f"{self.prefix}/cmd/reply", json.dumps(reply), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def serve(endpoint: str, simulator: FillingPlantSimulator, device: Device | None, *,
                mqtt_url: str | None = None, stop: asyncio.Event | None = None) -> int:
    """``twinledger sim serve``: the plant on OPC UA (and MQTT) until ``stop`` or the simulation ends."""
    server = PlantOpcuaServer(endpoint, device=device)
    await server.start()
    publisher = MqttPlantPublisher(mqtt_url, server.driver) if mqtt_url else None
    if publisher is not None:
        server.listeners.append(publisher.publish)
    try:
        return await server.run_simulator(simulator, stop=stop)
    finally:
        if publisher is not None:
            publisher.close()
        await server.stop()
