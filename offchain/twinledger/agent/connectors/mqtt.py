"""MQTT source (paho-mqtt 2.x): plain topics with JSON payloads, or Sparkplug B; commands out.

Exactly once from the broker's side: subscriptions are QoS 1 in a persistent session (MQTT 3.1.1
``clean_session=False``, or 5.0 ``clean_start=False`` with a session that outlives a restart) and
paho's ``manual_ack``: a message is PUBACKed only when every reading in it was committed by the
outbox (``acknowledge``), and PUBACKs leave in the order the messages came, as MQTT requires. A
message not acknowledged before a crash is delivered again by the broker; the outbox refuses the
copy of a reading it already has.

Plain topics: ``topics: {sensor: topic}``, payload ``{"t_ms": int, "value": number}`` (or a list of
such objects). Sparkplug B: ``sparkplug: {group, edge_node, device}``; NBIRTH/DBIRTH/NDATA/DDATA
metrics become readings (metric name = sensor name unless ``metrics`` maps them), ``seq`` and
``bdSeq`` gaps are logged and counted and a rebirth is requested, NDEATH is logged, historical
metrics are accepted and flagged.

Commands: a program maps to a command topic (a JSON ``{"id", "program", "args"}``; with a
``reply_topic`` the device's ``{"id", "ok", "message"}`` is the answer) or, with Sparkplug, to a
DCMD writing one metric, confirmed when the device reports the new value.
"""
from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion

from . import sparkplug as spb
from .base import CallAnswer, ConnectorError, Delivery, DeviceUnavailable, PlantSample, QueueConnector

__all__ = ["MqttCommand", "MqttConnector", "SparkplugCommand", "SparkplugTarget", "prime_session"]

log = structlog.get_logger(__name__)

_CONTROL_PREFIXES = ("Node Control/", "Device Control/", "Properties/")


@dataclass(frozen=True)
class SparkplugTarget:
    group: str
    edge_node: str
    device: str | None = None


@dataclass(frozen=True)
class MqttCommand:
    """A program published as JSON to ``topic``; ``reply_topic`` carries the device's answer."""

    topic: str
    reply_topic: str | None = None


@dataclass(frozen=True)
class SparkplugCommand:
    """A program as a DCMD (NCMD without a device) writing ``metric``: the parameter ``arg``'s
    value, or the constant ``value``."""

    metric: str
    arg: str | None = None
    value: float | bool | None = None
    datatype: spb.DataType = spb.DataType.Double


class _AckQueue:
    """PUBACKs in arrival order: a settled message waits for the ones before it."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self.lock = threading.Lock()
        self.pending: deque[list[Any]] = deque()   # [mid, qos, settled]
        self.acked = 0

    def add(self, mid: int, qos: int) -> Delivery:
        entry = [mid, qos, False]
        with self.lock:
            self.pending.append(entry)
        return Delivery(settle=lambda: self._settle(entry))

    def _settle(self, entry: list[Any]) -> None:
        with self.lock:
            entry[2] = True
            while self.pending and self.pending[0][2]:
                mid, qos, _ = self.pending.popleft()
                if qos > 0:
                    self.client.ack(mid, qos)
                self.acked += 1

    def reset(self) -> None:
        """After a reconnect the broker resends what was not acknowledged; old mids are void."""
        with self.lock:
            self.pending.clear()


def prime_session(host: str, port: int, client_id: str, topics: list[str]) -> None:
    """Create ``client_id``'s persistent session with QoS 1 subscriptions now, so the broker queues
    what the plant publishes before the agent's first start (as it does after any later one)."""
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_subscribe = lambda *_: ready.set()
    client.connect(host, port)
    client.loop_start()
    try:
        for topic in topics:
            ready.clear()
            client.subscribe(topic, qos=1)
            if not ready.wait(10):
                raise ConnectorError(f"mqtt: the broker did not confirm the subscription to {topic}")
    finally:
        client.disconnect()
        client.loop_stop()


class MqttConnector(QueueConnector):
    name = "mqtt"

    def __init__(self, url: str, client_id: str, *, topics: Mapping[str, str] | None = None,
                 sparkplug: SparkplugTarget | None = None, metrics: Mapping[str, str] | None = None,
                 programs: Mapping[str, MqttCommand | SparkplugCommand] | None = None,
                 protocol: str = "3.1.1", username: str | None = None, password: str | None = None,
                 keepalive_s: int = 10, max_backoff_s: float = 5.0, call_timeout_s: float = 5.0) -> None:
        super().__init__()
        if not topics and sparkplug is None:
            raise ConnectorError("mqtt: configure topics: {sensor: topic} or sparkplug: {group, edge_node}")
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
            raise ConnectorError(f"mqtt: url must look like mqtt://host:1883, got {url!r}")
        self.url, self.host, self.port = url, parsed.hostname, parsed.port or 1883
        self.topics = dict(topics or {})
        self._sensor_of_topic = {topic: sensor for sensor, topic in self.topics.items()}
        self.target = sparkplug
        self._sensor_of_metric = {metric: sensor for sensor, metric in (metrics or {}).items()}
        self.programs = dict(programs or {})
        self.keepalive_s = keepalive_s
        self.call_timeout_s = call_timeout_s
        self.session = spb.EdgeSession()
        self.connected = threading.Event()
        self.connections = 0
        v5 = protocol == "5"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                                  clean_session=None if v5 else False, manual_ack=True)
        self._v5 = v5
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(max_backoff_s)))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.acks = _AckQueue(self.client)
        self._waiters: dict[str, tuple[threading.Event, list[Any]]] = {}
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        props = None
        if self._v5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 0xFFFFFFFF   # the session outlives any restart of the agent
        self.client.connect_async(self.host, self.port, keepalive=self.keepalive_s,
                                  clean_start=False if self._v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                                  properties=props)
        self.client.loop_start()

    def stop(self, join_timeout_s: float = 5.0) -> None:
        super().stop(join_timeout_s)
        if self._started:
            self._started = False
            self.client.disconnect()
            self.client.loop_stop()

    def _subscriptions(self) -> list[str]:
        if self.target is not None:
            return [f"{spb.NAMESPACE}/{self.target.group}/+/{self.target.edge_node}/#"]
        return list(self.topics.values())

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.rejects.reject("broker refused the connection", "check url, client_id and credentials",
                                url=self.url, reason=str(reason))
            return
        self.acks.reset()
        self.connections += 1
        for topic in self._subscriptions():
            client.subscribe(topic, qos=1)
        self.connected.set()
        log.info("mqtt: connected", url=self.url, session_present=bool(flags.session_present),
                 connections=self.connections)
        if self.target is not None and not self.session.online:
            self._request_rebirth("connected without a current birth certificate")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if not self.stopped.is_set():
            self.rejects.reject("broker unavailable" if was else "broker unreachable",
                                "reconnecting; unacknowledged messages are delivered again by the broker",
                                url=self.url, reason=str(reason))

    # -- readings ------------------------------------------------------------------------------

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        delivery = self.acks.add(msg.mid, msg.qos)
        if msg.topic in self._waiting_replies():
            self._reply(msg)
            self.emit([], delivery)
            return
        try:
            samples = self._sparkplug(msg) if self.target is not None else self._plain(msg)
        except (ValueError, spb.SparkplugError) as exc:
            self.rejects.reject("bad payload", "publish JSON {\"t_ms\": int, \"value\": number}"
                                if self.target is None else "publish Sparkplug B protobuf payloads",
                                topic=msg.topic, error=str(exc)[:200])
            samples = []
        self.emit(samples, delivery)

    def _plain(self, msg: mqtt.MQTTMessage) -> list[PlantSample]:
        sensor = self._sensor_of_topic.get(msg.topic)
        if sensor is None:
            return []
        try:
            body = json.loads(msg.payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"not JSON: {exc}") from None
        items = body if isinstance(body, list) else [body]
        out = []
        for item in items:
            if not isinstance(item, dict) or "t_ms" not in item or "value" not in item:
                raise ValueError("expected an object with t_ms and value")
            out.append(PlantSample(sensor, item["t_ms"], item["value"], f"mqtt:{msg.topic}"))
        return out

    def _sparkplug(self, msg: mqtt.MQTTMessage) -> list[PlantSample]:
        topic = spb.Topic.parse(msg.topic)
        if topic.message_type in ("NCMD", "DCMD", "STATE"):
            return []
        payload = spb.decode_payload(msg.payload)
        kind = topic.message_type
        if kind == "NBIRTH":
            for problem in self.session.birth(payload):
                self.rejects.reject("bdSeq gap", "readings of the missed session cannot be recovered",
                                    topic=msg.topic, problem=problem)
        elif kind == "NDEATH":
            if self.session.death(payload):
                self.rejects.reject("NDEATH", "the edge node went offline; readings resume after its NBIRTH",
                                    topic=msg.topic)
            return []
        else:
            problem = self.session.sequence(payload)
            if problem is not None:
                self.rejects.reject("seq gap" if "gap" in problem else "sequence", "a rebirth was requested",
                                    topic=msg.topic, problem=problem)
                self._request_rebirth(problem)
            if kind == "DBIRTH":
                self.session.learn_aliases(payload)
            if kind == "DDEATH":
                return []
        if topic.device is not None and self.target is not None and self.target.device not in (None, topic.device):
            return []
        samples = []
        for metric in payload.metrics:
            name = self.session.resolve(metric)
            self._echo(name, metric)
            sensor = self._sensor_name(name)
            if sensor is None:
                continue
            t_ms = metric.timestamp if metric.timestamp is not None else payload.timestamp
            samples.append(PlantSample(sensor, t_ms, metric.value, f"sparkplug:{msg.topic}",
                                       source_quality=spb.metric_quality(metric)))
        return samples

    def _sensor_name(self, metric: str) -> str | None:
        if self._sensor_of_metric:
            return self._sensor_of_metric.get(metric)
        if not metric or metric == "bdSeq" or metric.startswith(_CONTROL_PREFIXES):
            return None
        return metric

    def _request_rebirth(self, why: str) -> None:
        if self.target is None:
            return
        topic = str(spb.Topic(self.target.group, "NCMD", self.target.edge_node))
        body = spb.encode_payload([spb.Metric("Node Control/Rebirth", True, datatype=spb.DataType.Boolean)],
                                  seq=None, timestamp=int(time.time() * 1000))
        self.client.publish(topic, body, qos=0)
        log.info("sparkplug: rebirth requested", edge_node=self.target.edge_node, why=why)

    # -- program calls -------------------------------------------------------------------------

    def _waiting_replies(self) -> set[str]:
        return {c.reply_topic for c in self.programs.values() if isinstance(c, MqttCommand) and c.reply_topic}

    def call(self, program: str, args: Mapping[str, Any]) -> CallAnswer:
        command = self.programs.get(program)
        if command is None:
            raise ConnectorError(f"mqtt: program {program!r} is not mapped (known: {', '.join(self.programs)})")
        if not self.connected.is_set():
            raise DeviceUnavailable(f"mqtt: not connected to {self.url}; the call is retried")
        if isinstance(command, SparkplugCommand):
            return self._dcmd(program, command, args)
        return self._command(program, command, args)

    def _command(self, program: str, command: MqttCommand, args: Mapping[str, Any]) -> CallAnswer:
        call_id = uuid.uuid4().hex
        waiter = self._wait_for(f"reply:{call_id}") if command.reply_topic else None
        if command.reply_topic:
            self.client.subscribe(command.reply_topic, qos=1)
        info = self.client.publish(command.topic, json.dumps({"id": call_id, "program": program, "args": dict(args)}),
                                   qos=1)
        info.wait_for_publish(self.call_timeout_s)
        if waiter is None:
            return CallAnswer(program, True, f"published to {command.topic}")
        reply = self._await(f"reply:{call_id}", waiter)
        if reply is None:
            return CallAnswer(program, False, f"no reply on {command.reply_topic} within {self.call_timeout_s}s")
        return CallAnswer(program, bool(reply.get("ok")), str(reply.get("message", "")), reply.get("value"))

    def _reply(self, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
            key = f"reply:{body['id']}"
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            self.rejects.reject("bad reply", "a reply is JSON {\"id\", \"ok\", \"message\"}", topic=msg.topic)
            return
        self._resolve(key, body)

    def _dcmd(self, program: str, command: SparkplugCommand, args: Mapping[str, Any]) -> CallAnswer:
        assert self.target is not None
        if command.arg is not None:
            if command.arg not in args:
                raise ConnectorError(f"{program}: missing argument {command.arg}")
            value = args[command.arg]
        else:
            value = command.value
        kind = "DCMD" if self.target.device else "NCMD"
        topic = str(spb.Topic(self.target.group, kind, self.target.edge_node, self.target.device))
        waiter = self._wait_for(f"metric:{command.metric}")
        body = spb.encode_payload([spb.Metric(command.metric, value, datatype=command.datatype)], seq=None,
                                  timestamp=int(time.time() * 1000))
        self.client.publish(topic, body, qos=0)   # Sparkplug commands are QoS 0
        echo = self._await(f"metric:{command.metric}", waiter)
        if echo is None:
            return CallAnswer(program, False, f"{command.metric}: the edge node did not confirm within "
                                              f"{self.call_timeout_s}s")
        if not _same(echo, value, command.datatype):
            return CallAnswer(program, False, f"{command.metric}: the edge node reports {echo}, not {value}", echo)
        return CallAnswer(program, True, f"{command.metric} = {echo}", echo)

    def _echo(self, name: str, metric: spb.Metric) -> None:
        if f"metric:{name}" in self._waiters:
            self._resolve(f"metric:{name}", metric.value)

    def _wait_for(self, key: str) -> threading.Event:
        event = threading.Event()
        self._waiters[key] = (event, [])
        return event

    def _resolve(self, key: str, value: Any) -> None:
        waiter = self._waiters.get(key)
        if waiter is not None:
            waiter[1].append(value)
            waiter[0].set()

    def _await(self, key: str, event: threading.Event) -> Any:
        try:
            if not event.wait(self.call_timeout_s):
                return None
            return self._waiters[key][1][0]
        finally:
            self._waiters.pop(key, None)


def _same(echo: Any, value: Any, datatype: spb.DataType) -> bool:
    if datatype == spb.DataType.Float and isinstance(value, (int, float)) and isinstance(echo, (int, float)):
        return math.isclose(echo, spb.float32(float(value)), rel_tol=1e-6)
    if isinstance(value, (int, float)) and isinstance(echo, (int, float)) and not isinstance(value, bool):
        return math.isclose(float(echo), float(value), rel_tol=1e-9)
    return echo == value

