"""The bottling plant as a device on the network: an OPC UA server (asyncua) whose variables are the
simulator's sensors, with history, and whose methods are the plant's programs.

Address space (namespace ``urn:twinledger:bottling-plant``, index 2 on a fresh server)::

    Objects/Plant                      ns=2;s=Plant
        TankLevelA, TankLevelB, ...    ns=2;s=Plant.TankLevelA   Double, historized
        SetValvePosition(position)     ns=2;s=Plant.SetValvePosition
        CloseValve(), SetFillRate(rate), EmergencyStop()
        ValveSetpoint                  ns=2;s=Plant.ValveSetpoint  Double, writable: valve position %

Every value written is also stored in the server's history right away (not through asyncua's own
historizing subscription, which coalesces changes faster than its 10 ms interval and skips repeated
values), so a client's HistoryRead returns every reading the plant made. A value the simulator
could not measure (a broken transmitter's NaN or garbage) is written as NaN with status
``BadSensorFailure``.
"""
from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping, Protocol

import structlog
from asyncua import Server, ua

from ..formats.samples import Sample
from .plant import DEFAULT_SENSORS, CommandError, FillingPlantSimulator

__all__ = ["NAMESPACE_URI", "PROGRAM_ARGS", "Device", "MqttPlantPublisher", "PlantOpcuaServer", "node_id",
           "program_node_id", "serve"]

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
        self.listeners: list[Callable[[str, int, Any], None]] = []   # also told of every value written
        self.server = Server()
        self.ns = 2
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
        storage = s.iserver.history_manager.storage
        for sensor in self.sensors:
            var = await plant.add_variable(ua.NodeId(f"Plant.{_camel(sensor)}", self.ns),
                                           ua.QualifiedName(_camel(sensor), self.ns), 0.0, ua.VariantType.Double)
            await var.write_attribute(ua.AttributeIds.Historizing, ua.DataValue(ua.Variant(True)))
            await var.set_attr_bit(ua.AttributeIds.AccessLevel, ua.AccessLevel.HistoryRead)
            await var.set_attr_bit(ua.AttributeIds.UserAccessLevel, ua.AccessLevel.HistoryRead)
            await storage.new_historized_node(var.nodeid, None, self.history_count)
            self._vars[sensor] = var
        for program, params in PROGRAM_ARGS.items():
            inputs = [_argument(name) for name in params]
            outputs = [ua.Argument(Name="result", DataType=ua.NodeId(ua.ObjectIds.String), ValueRank=-1)]
            await plant.add_method(ua.NodeId(f"Plant.{program}", self.ns), ua.QualifiedName(program, self.ns),
                                   self._method(program, params), inputs, outputs)
        self.setpoint = await plant.add_variable(ua.NodeId("Plant.ValveSetpoint", self.ns),
                                                 ua.QualifiedName("ValveSetpoint", self.ns), 0.0, ua.VariantType.Double)
        await self.setpoint.set_writable()
        await s.start()
        started_ms = int(time.time() * 1000)
        for sensor in self.sensors:   # every sensor has a first, timestamped value (in the history too)
            await self.write(sensor, started_ms, 0.0)
        if self.driver is not None:
            subscription = await s.create_subscription(20, _SetpointHandler(self))
            await subscription.subscribe_data_change(self.setpoint)
        log.info("opcua plant server started", endpoint=self.endpoint, sensors=len(self.sensors))

    async def stop(self) -> None:
        await self.server.stop()

    def _method(self, program: str, params: tuple[str, ...]) -> Any:
        def handler(parent: Any, *variants: ua.Variant) -> list[ua.Variant] | ua.StatusCode:
            args = tuple(v.Value for v in variants)
            self.calls.append((program, args))
            if self.driver is None:
                return [ua.Variant(f"{program} accepted", ua.VariantType.String)]
            try:
                result = self.driver.act(program, dict(zip(params, args)))
            except (CommandError, TypeError, ValueError, KeyError) as exc:
                log.warning("opcua plant: program refused", program=program, error=str(exc))
                return ua.StatusCode(ua.StatusCodes.BadInvalidArgument)   # the device's own refusal
            return [ua.Variant(getattr(result, "detail", "") or f"{program} done", ua.VariantType.String)]

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
            if not isinstance(item, Sample) or item.sensor not in self._vars:
                continue
            delay = item.t_ms / 1000 - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.write(item.sensor, item.t_ms, item.value)
            written += 1
        return written


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
