"""OPC UA source (asyncua client): subscriptions in, method calls and node writes out.

One thread runs an asyncio loop holding the client. Each (re)connection, in this order:
1. subscribe to every configured node (unknown node ids are logged, counted and skipped), with a
   trigger on status, value *and* source timestamp and a deep queue, so no change is coalesced;
   notifications are held back while step 2 runs;
2. backfill with HistoryRead (raw, by source time) every node from just after the last reading
   known for it (committed in the outbox at start, emitted since then on a reconnect) on; a first
   start, with nothing committed, begins at the subscription's current value;
3. release the held-back notifications, dropping those at or before what the backfill gave; a
   node's notifications keep being checked so until one newer than the backfill has passed, since
   one that repeats the backfill's last value can come just after the release.
A dead connection (the keep-alive read fails) is dropped and rebuilt with exponential backoff;
readings made meanwhile are read back from the server's history in step 2.

Status codes map to quality: severity bits ``00`` good, ``01`` uncertain, ``1x`` bad.

Sensor swaps (``swaps:``, a String node holding the plant's JSON list of ``{"old", "new", "t_ms",
"old_serial", "new_serial", "node"}``, as ``twinledger sim serve`` keeps it): for a swap not seen yet
the connector waits a few publishing intervals (so the old sensor's last readings, which may come in
the same notification, go first), yields ``SensorSwapped``, then subscribes to the new sensor's node
and backfills it from the swap's time. After a restart, a swap whose new sensor already has
readings in the outbox is followed without being announced again.
"""
from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

import structlog
from asyncua import Client, Node, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from ...formats.samples import SensorSwapped
from .base import CallAnswer, ConnectorError, DeviceUnavailable, PlantSample, QueueConnector, SourceQuality

__all__ = ["OpcuaConnector", "OpcuaMethod", "OpcuaSecurity", "OpcuaWrite", "status_quality"]

log = structlog.get_logger(__name__)

KEEPALIVE_S = 1.0
CALL_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class OpcuaMethod:
    """A program mapped to a method: ``args`` are the program's parameter names, in the method's
    input-argument order."""

    object_id: str
    method_id: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpcuaWrite:
    """A program mapped to a node write of one parameter's value (``value``: a constant instead)."""

    node_id: str
    arg: str | None = None
    value: float | None = None


@dataclass(frozen=True)
class OpcuaSecurity:
    """Basic256Sha256 with the client's own certificate; the server's is fetched when not given."""

    certificate: str
    private_key: str
    server_certificate: str | None = None
    mode: str = "SignAndEncrypt"          # or "Sign"
    application_uri: str = "urn:twinledger:agent"


def status_quality(code: ua.StatusCode | None) -> SourceQuality:
    if code is None:
        return SourceQuality.GOOD
    severity = (code.value >> 30) & 0b11
    if severity == 0:
        return SourceQuality.GOOD
    return SourceQuality.UNCERTAIN if severity == 1 else SourceQuality.BAD


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def from_ms(t_ms: int) -> datetime:
    return datetime.fromtimestamp(t_ms / 1000, tz=timezone.utc)


class _Handler:
    def __init__(self, connector: OpcuaConnector) -> None:
        self.connector = connector

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self.connector._on_change(node, data.monitored_item.Value)

    def status_change_notification(self, status: Any) -> None:
        log.warning("opcua: subscription status changed", status=str(status))


class OpcuaConnector(QueueConnector):
    name = "opcua"

    def __init__(self, endpoint: str, nodes: Mapping[str, str], *,
                 programs: Mapping[str, OpcuaMethod | OpcuaWrite] | None = None,
                 last_committed: Callable[[str], int | None] | None = None,
                 security: OpcuaSecurity | None = None, history: bool = True,
                 publishing_interval_ms: float = 100.0, max_backoff_s: float = 5.0,
                 timeout_s: float = 4.0, swaps: str | None = None) -> None:
        super().__init__()
        if not nodes:
            raise ConnectorError("opcua: no nodes configured (nodes: {sensor: node id})")
        self.endpoint = endpoint
        self.nodes = dict(nodes)
        self.programs = dict(programs or {})
        self.security = security
        self.history = history
        self.publishing_interval_ms = publishing_interval_ms
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.swaps_node = swaps
        self._last_committed = last_committed
        self._swaps_key: str | None = None
        self._swap_lock: asyncio.Lock | None = None
        self._subscription: Any = None
        self._last_t: dict[str, int] = {}
        if last_committed is not None:
            for sensor in self.nodes:
                t = last_committed(sensor)
                if t is not None:
                    self._last_t[sensor] = t
        self._sensor_of: dict[str, str] = {}
        self._held: list[tuple[str, ua.DataValue]] | None = None
        self._overlapping: set[str] = set()   # sensors whose next notification may repeat the backfill
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Client | None = None
        self.connected = threading.Event()
        self.connections = 0
        self.backfilled = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self, join_timeout_s: float | None = None) -> None:
        super().stop(self.timeout_s + 2 if join_timeout_s is None else join_timeout_s)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        failures = 0
        while not self.stopped.is_set():
            try:
                await self._session()
                failures = 0
            except (OSError, asyncio.TimeoutError, ua.UaError, ConnectionError) as exc:
                failures += 1
                delay = min(self.max_backoff_s, 0.2 * 2 ** min(failures, 6))
                self.rejects.reject("server unavailable", "retrying; readings made meanwhile are read back "
                                    "from the server's history", endpoint=self.endpoint, error=_describe(exc),
                                    retry_in_s=delay)
                await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        end = asyncio.get_running_loop().time() + seconds
        while not self.stopped.is_set() and asyncio.get_running_loop().time() < end:
            await asyncio.sleep(0.05)

    async def _session(self) -> None:
        client = Client(self.endpoint, timeout=self.timeout_s)
        if self.security is not None:
            await self._secure(client)
        await client.connect()
        self._client = client
        try:
            subscription = await self._subscribe(client)
            self.connections += 1
            self.connected.set()
            log.info("opcua: connected", endpoint=self.endpoint, nodes=len(self._sensor_of),
                     connections=self.connections)
            while not self.stopped.is_set():
                await self._sleep(KEEPALIVE_S)
                await asyncio.wait_for(client.nodes.server_state.read_value(), self.timeout_s)
            await subscription.delete()
        finally:
            self.connected.clear()
            self._client = None
            try:
                await asyncio.wait_for(client.disconnect(), 2)
            except Exception:  # noqa: BLE001 - the connection is already gone; nothing to tidy
                pass

    async def _secure(self, client: Client) -> None:
        s = self.security
        assert s is not None
        client.application_uri = s.application_uri
        mode = ua.MessageSecurityMode.Sign if s.mode == "Sign" else ua.MessageSecurityMode.SignAndEncrypt
        await client.set_security(SecurityPolicyBasic256Sha256, s.certificate, s.private_key,
                                  server_certificate=s.server_certificate, mode=mode)

    async def _subscribe(self, client: Client) -> Any:
        self._held = []
        nodes: list[tuple[str, Node]] = []
        for sensor, node_id in self.nodes.items():
            node = await self._resolve(client, sensor, node_id)
            if node is not None:
                nodes.append((sensor, node))
        self._sensor_of = {}
        self._overlapping = set()
        self._swap_lock = asyncio.Lock()
        subscription = self._subscription = await client.create_subscription(self.publishing_interval_ms,
                                                                              _Handler(self))
        if self.swaps_node is not None:
            swaps = await self._resolve(client, "swaps", self.swaps_node)
            if swaps is not None:
                self._swaps_key = swaps.nodeid.to_string()
                await subscription.subscribe_data_change(swaps)
        await self._attach(subscription, nodes)
        return subscription

    async def _attach(self, subscription: Any, nodes: list[tuple[str, Node]]) -> None:
        """Subscribe to ``nodes``, backfill them from history, then release what came meanwhile."""
        self._held = []
        self._sensor_of.update({node.nodeid.to_string(): sensor for sensor, node in nodes})
        trigger = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
        for _, node in nodes:
            await subscription._subscribe(node, ua.AttributeIds.Value, trigger, queuesize=10_000)
        if self.history:
            for sensor, node in nodes:
                await self._backfill(sensor, node)
        held, self._held = self._held, None
        self._overlapping |= {sensor for sensor, _ in nodes}
        for sensor, value in held:
            if self._deliver(sensor, value, SourceQuality.GOOD, overlap=True):
                self._overlapping.discard(sensor)

    # -- sensor swaps ----------------------------------------------------------------------------

    def _on_swaps(self, value: ua.DataValue) -> None:
        try:
            entries = json.loads(value.Value.Value if value.Value is not None else "[]")
            swaps = [(str(e["old"]), str(e["new"]), int(e["t_ms"]), str(e.get("old_serial", "")),
                      str(e.get("new_serial", "")), str(e["node"])) for e in entries]
        except (ValueError, TypeError, KeyError) as exc:
            self.rejects.reject("unreadable sensor-swap list", "the swaps: node must hold a JSON list of "
                                "{old, new, t_ms, node}", node=self.swaps_node, error=_describe(exc))
            return
        for old, new, t_ms, old_serial, new_serial, node_id in swaps:
            if new in self.nodes:
                continue
            self.nodes[new] = node_id
            asyncio.get_running_loop().create_task(
                self._follow_swap(SensorSwapped(old, new, t_ms, old_serial, new_serial), node_id))

    async def _follow_swap(self, event: SensorSwapped, node_id: str) -> None:
        assert self._swap_lock is not None
        async with self._swap_lock:
            while self._held is not None:   # a (re)connection's backfill is still running
                await asyncio.sleep(0.05)
            await asyncio.sleep(max(0.5, 3 * self.publishing_interval_ms / 1000))
            committed = self._last_committed(event.new) if self._last_committed is not None else None
            if committed is None:
                self.queue.put(event)
                log.info("opcua: sensor swapped", old=event.old, new=event.new, node=node_id)
                self._last_t.setdefault(event.new, event.t_ms - 1)
            else:
                self._last_t.setdefault(event.new, committed)
            client, subscription = self._client, self._subscription
            if client is None or subscription is None:
                return   # the next connection subscribes to every node, this one included
            node = await self._resolve(client, event.new, node_id)
            if node is not None:
                await self._attach(subscription, [(event.new, node)])

    async def _resolve(self, client: Client, sensor: str, node_id: str) -> Node | None:
        try:
            node = client.get_node(node_id)
            await node.read_browse_name()
            return node
        except (ua.UaStatusCodeError, ValueError) as exc:
            self.rejects.reject("unknown node id", "fix the node id under nodes: in the agent config",
                                sensor=sensor, node=node_id, error=_describe(exc))
            return None

    async def _backfill(self, sensor: str, node: Node) -> None:
        since = self._last_t.get(sensor)
        if since is None:
            return
        try:
            # No end time: everything from the start on (an end of "now" would miss a plant clock
            # running ahead of ours); no bounding values, which are not readings.
            values = await node.read_raw_history(from_ms(since + 1), None, return_bounds=False)
        except ua.UaStatusCodeError as exc:
            self.rejects.reject("history unavailable", "the server keeps no history for this node; readings "
                                "made while the agent was away are missing", sensor=sensor, error=_describe(exc))
            return
        before = self.delivered
        for value in values:
            self._deliver(sensor, value, SourceQuality.HISTORICAL)
        self.backfilled += self.delivered - before
        if self.delivered > before:
            log.info("opcua: backfilled from history", sensor=sensor, readings=self.delivered - before)

    # -- readings ------------------------------------------------------------------------------

    def _on_change(self, node: Node, value: ua.DataValue) -> None:
        key = node.nodeid.to_string()
        if key == self._swaps_key:
            self._on_swaps(value)
            return
        sensor = self._sensor_of.get(key)
        if sensor is None:
            return
        if self._held is not None:
            self._held.append((sensor, value))
        else:
            overlap = sensor in self._overlapping
            if self._deliver(sensor, value, SourceQuality.GOOD, overlap=overlap) and overlap:
                self._overlapping.discard(sensor)

    def _deliver(self, sensor: str, value: ua.DataValue, flags: SourceQuality, *, overlap: bool = False) -> bool:
        """Emit one value; False if it was dropped. ``overlap``: the value may repeat one already
        delivered (it arrived while the backfill ran, or it is the subscription's current value, read
        by the backfill too); drop it if it is not newer. Live values pass even when their source
        time goes backwards: the outbox refuses exact copies."""
        stamp = value.SourceTimestamp
        if stamp is None:
            stamp, flags = value.ServerTimestamp, flags | SourceQuality.UNCERTAIN
        if stamp is None:
            self.emit([PlantSample(sensor, None, None, f"opcua:{sensor}", "no source or server timestamp")])
            return False
        t_ms = to_ms(stamp)
        if overlap and t_ms <= self._last_t.get(sensor, -1):
            return False
        self._last_t[sensor] = max(t_ms, self._last_t.get(sensor, t_ms))
        raw = value.Value.Value if value.Value is not None else None
        self.emit([PlantSample(sensor, t_ms, raw, f"opcua:{sensor}",
                               source_quality=flags | status_quality(value.StatusCode))])
        return True

    # -- program calls -------------------------------------------------------------------------

    def call(self, program: str, args: Mapping[str, Any]) -> CallAnswer:
        mapping = self.programs.get(program)
        if mapping is None:
            raise ConnectorError(f"opcua: program {program!r} is not mapped (known: {', '.join(self.programs)})")
        loop, client = self._loop, self._client
        if loop is None or client is None or not self.connected.is_set():
            raise DeviceUnavailable(f"opcua: not connected to {self.endpoint}; the call is retried")
        future = asyncio.run_coroutine_threadsafe(self._call(client, program, mapping, args), loop)
        return future.result(CALL_TIMEOUT_S)

    async def _call(self, client: Client, program: str, mapping: OpcuaMethod | OpcuaWrite,
                    args: Mapping[str, Any]) -> CallAnswer:
        try:
            if isinstance(mapping, OpcuaMethod):
                values = _ordered_args(program, mapping.args, args)
                result = await client.get_node(mapping.object_id).call_method(
                    ua.NodeId.from_string(mapping.method_id), *values)
                return CallAnswer(program, True, _answer_text(result), result)
            value = mapping.value if mapping.arg is None else _ordered_args(program, (mapping.arg,), args)[0]
            node = client.get_node(mapping.node_id)
            variant_type = await node.read_data_type_as_variant_type()
            await node.write_value(ua.DataValue(ua.Variant(_coerce(value, variant_type), variant_type)))
            return CallAnswer(program, True, f"wrote {value} to {mapping.node_id}", value)
        except ua.UaStatusCodeError as exc:
            return CallAnswer(program, False, f"device refused: {_describe(exc)}")


def _ordered_args(program: str, names: Sequence[str], args: Mapping[str, Any]) -> list[Any]:
    missing = [n for n in names if n not in args]
    if missing:
        raise ConnectorError(f"{program}: missing argument(s) {', '.join(missing)}")
    return [args[n] for n in names]


def _coerce(value: Any, variant_type: ua.VariantType) -> Any:
    if variant_type in (ua.VariantType.Float, ua.VariantType.Double):
        return float(value)
    if variant_type == ua.VariantType.Boolean:
        return bool(value)
    if variant_type.name.startswith(("Int", "UInt", "SByte", "Byte")):
        return int(round(float(value)))
    return value


def _answer_text(result: Any) -> str:
    if result is None:
        return "ok"
    if isinstance(result, list):
        return ", ".join(str(r) for r in result)
    return str(result)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
