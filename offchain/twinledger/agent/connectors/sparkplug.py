"""Sparkplug B: the payload schema, its encoding, and the per-edge-node session state.

The schema is the subset of Eclipse Tahu's ``sparkplug_b.proto`` (Sparkplug 3.0, package
``org.eclipse.tahu.protobuf``) that readings and commands need, built as a protobuf descriptor here
so no ``protoc`` step is needed. Field numbers are the specification's, so the bytes are those of
any Sparkplug B edge node; fields left out (datasets, templates, metadata) are skipped on decode.

Session rules checked (Sparkplug 3.0, "Payload" and "Sequence numbers"):
- every message of an edge node except NDEATH carries ``seq``, 0..255, one more than the previous
  (mod 256) since the NBIRTH; a jump is a *seq gap*: messages were lost;
- NBIRTH and NDEATH carry the metric ``bdSeq``; an NDEATH whose bdSeq is not the current birth's is
  stale (from an earlier session) and ignored; a new NBIRTH whose bdSeq is not the previous one plus
  one means a whole session was missed (*bdSeq gap*);
- DATA may name a metric by the alias its BIRTH gave it.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Iterable

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from ...errors import TwinLedgerError
from .base import SourceQuality

__all__ = [
    "DataType",
    "EdgeSession",
    "Metric",
    "NAMESPACE",
    "SparkplugError",
    "Topic",
    "decode_payload",
    "encode_payload",
    "metric_quality",
]

NAMESPACE = "spBv1.0"
MESSAGE_TYPES = frozenset({"NBIRTH", "NDEATH", "DBIRTH", "DDEATH", "NDATA", "DDATA", "NCMD", "DCMD", "STATE"})


class SparkplugError(TwinLedgerError, ValueError):
    """A topic or payload that is not Sparkplug B."""


class DataType(IntEnum):
    Unknown = 0
    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14


_OPT, _REP = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL, descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
_T = descriptor_pb2.FieldDescriptorProto


def _fields(msg: descriptor_pb2.DescriptorProto, spec: Iterable[tuple[str, int, int, int, str | None]]) -> None:
    for name, number, ftype, label, type_name in spec:
        f = msg.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name


def _build_schema() -> tuple[type, type]:
    fd = descriptor_pb2.FileDescriptorProto(name="twinledger_sparkplug_b.proto",
                                            package="org.eclipse.tahu.protobuf", syntax="proto2")
    payload = fd.message_type.add(name="Payload")
    prefix = ".org.eclipse.tahu.protobuf.Payload."
    pvalue = payload.nested_type.add(name="PropertyValue")
    pvalue.oneof_decl.add(name="value")
    _fields(pvalue, [("type", 1, _T.TYPE_UINT32, _OPT, None), ("is_null", 2, _T.TYPE_BOOL, _OPT, None)])
    for name, number, ftype in [("int_value", 3, _T.TYPE_UINT32), ("long_value", 4, _T.TYPE_UINT64),
                                ("float_value", 5, _T.TYPE_FLOAT), ("double_value", 6, _T.TYPE_DOUBLE),
                                ("boolean_value", 7, _T.TYPE_BOOL), ("string_value", 8, _T.TYPE_STRING)]:
        pvalue.field.add(name=name, number=number, type=ftype, label=_OPT, oneof_index=0)
    pset = payload.nested_type.add(name="PropertySet")
    _fields(pset, [("keys", 1, _T.TYPE_STRING, _REP, None),
                   ("values", 2, _T.TYPE_MESSAGE, _REP, prefix + "PropertyValue")])
    metric = payload.nested_type.add(name="Metric")
    metric.oneof_decl.add(name="value")
    _fields(metric, [("name", 1, _T.TYPE_STRING, _OPT, None), ("alias", 2, _T.TYPE_UINT64, _OPT, None),
                     ("timestamp", 3, _T.TYPE_UINT64, _OPT, None), ("datatype", 4, _T.TYPE_UINT32, _OPT, None),
                     ("is_historical", 5, _T.TYPE_BOOL, _OPT, None), ("is_transient", 6, _T.TYPE_BOOL, _OPT, None),
                     ("is_null", 7, _T.TYPE_BOOL, _OPT, None),
                     ("properties", 9, _T.TYPE_MESSAGE, _OPT, prefix + "PropertySet")])
    for name, number, ftype in [("int_value", 10, _T.TYPE_UINT32), ("long_value", 11, _T.TYPE_UINT64),
                                ("float_value", 12, _T.TYPE_FLOAT), ("double_value", 13, _T.TYPE_DOUBLE),
                                ("boolean_value", 14, _T.TYPE_BOOL), ("string_value", 15, _T.TYPE_STRING),
                                ("bytes_value", 16, _T.TYPE_BYTES)]:
        metric.field.add(name=name, number=number, type=ftype, label=_OPT, oneof_index=0)
    _fields(payload, [("timestamp", 1, _T.TYPE_UINT64, _OPT, None),
                      ("metrics", 2, _T.TYPE_MESSAGE, _REP, prefix + "Metric"),
                      ("seq", 3, _T.TYPE_UINT64, _OPT, None), ("uuid", 4, _T.TYPE_STRING, _OPT, None),
                      ("body", 5, _T.TYPE_BYTES, _OPT, None)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    payload_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload"))
    metric_cls = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload.Metric"))
    return payload_cls, metric_cls


PayloadMessage, MetricMessage = _build_schema()


@dataclass(frozen=True, slots=True)
class Metric:
    """A decoded metric. ``value`` is ``None`` for a null metric; ``name`` may be empty when only
    the alias was sent (``EdgeSession.resolve`` fills it in)."""

    name: str
    value: Any
    timestamp: int | None = None
    datatype: DataType = DataType.Unknown
    alias: int | None = None
    is_historical: bool = False
    quality: int | None = None


@dataclass(frozen=True, slots=True)
class Payload:
    timestamp: int | None
    seq: int | None
    metrics: tuple[Metric, ...]


@dataclass(frozen=True, slots=True)
class Topic:
    group: str
    message_type: str
    edge_node: str
    device: str | None = None

    @classmethod
    def parse(cls, topic: str) -> Topic:
        parts = topic.split("/")
        if len(parts) not in (4, 5) or parts[0] != NAMESPACE or parts[2] not in MESSAGE_TYPES:
            raise SparkplugError(f"not a Sparkplug B topic: {topic!r}")
        return cls(parts[1], parts[2], parts[3], parts[4] if len(parts) == 5 else None)

    def __str__(self) -> str:
        tail = f"/{self.device}" if self.device else ""
        return f"{NAMESPACE}/{self.group}/{self.message_type}/{self.edge_node}{tail}"


_SIGNED_BITS = {DataType.Int8: 8, DataType.Int16: 16, DataType.Int32: 32, DataType.Int64: 64}


def _metric_value(m: Any) -> Any:
    if m.is_null:
        return None
    kind = m.WhichOneof("value")
    if kind is None:
        return None
    value = getattr(m, kind)
    bits = _SIGNED_BITS.get(DataType(m.datatype) if m.datatype in DataType._value2member_map_ else DataType.Unknown)
    if bits and kind in ("int_value", "long_value") and value >= 1 << (bits - 1):
        value -= 1 << (32 if kind == "int_value" else 64)   # two's complement in an unsigned field
    return value


def _quality_property(m: Any) -> int | None:
    if not m.HasField("properties"):
        return None
    for key, value in zip(m.properties.keys, m.properties.values):
        if key.lower() == "quality":
            kind = value.WhichOneof("value")
            return int(getattr(value, kind)) if kind in ("int_value", "long_value") else None
    return None


def decode_payload(data: bytes) -> Payload:
    msg = PayloadMessage()
    try:
        msg.ParseFromString(data)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise SparkplugError(f"not a Sparkplug B payload: {exc}") from None
    metrics = tuple(
        Metric(m.name, _metric_value(m), m.timestamp if m.HasField("timestamp") else None,
               DataType(m.datatype) if m.datatype in DataType._value2member_map_ else DataType.Unknown,
               m.alias if m.HasField("alias") else None, m.is_historical, _quality_property(m))
        for m in msg.metrics)
    return Payload(msg.timestamp if msg.HasField("timestamp") else None,
                   msg.seq if msg.HasField("seq") else None, metrics)


def _set_value(m: Any, datatype: DataType, value: Any) -> None:
    if value is None:
        m.is_null = True
    elif datatype == DataType.Boolean:
        m.boolean_value = bool(value)
    elif datatype == DataType.Float:
        m.float_value = float(value)
    elif datatype == DataType.Double:
        m.double_value = float(value)
    elif datatype in (DataType.String, DataType.Text):
        m.string_value = str(value)
    elif datatype in (DataType.Int64, DataType.UInt64, DataType.DateTime):
        m.long_value = int(value) & (2**64 - 1)
    elif datatype in (DataType.Int8, DataType.Int16, DataType.Int32, DataType.UInt8, DataType.UInt16,
                      DataType.UInt32):
        m.int_value = int(value) & (2**32 - 1)
    else:
        raise SparkplugError(f"cannot encode a metric of type {datatype!r}")


def encode_payload(metrics: Iterable[Metric], *, seq: int | None, timestamp: int | None) -> bytes:
    msg = PayloadMessage()
    if timestamp is not None:
        msg.timestamp = timestamp
    if seq is not None:
        msg.seq = seq
    for metric in metrics:
        m = msg.metrics.add()
        if metric.name:
            m.name = metric.name
        if metric.alias is not None:
            m.alias = metric.alias
        if metric.timestamp is not None:
            m.timestamp = metric.timestamp
        m.datatype = int(metric.datatype)
        if metric.is_historical:
            m.is_historical = True
        if metric.quality is not None:
            m.properties.keys.append("Quality")
            m.properties.values.add(type=int(DataType.Int32), int_value=metric.quality & (2**32 - 1))
        _set_value(m, metric.datatype, metric.value)
    return msg.SerializeToString()


def metric_quality(metric: Metric) -> SourceQuality:
    """Sparkplug's ``Quality`` property follows OPC DA: 192 good, below 64 bad, 64..191 uncertain;
    500 is Ignition's "stale". Historical metrics are flagged as such."""
    q = SourceQuality.HISTORICAL if metric.is_historical else SourceQuality.GOOD
    if metric.quality is None or metric.quality == 192:
        return q
    if metric.quality < 64:
        return q | SourceQuality.BAD
    return q | SourceQuality.UNCERTAIN


def float32(value: float) -> float:
    """The value a Float metric carries (for comparing a written setpoint with its echo)."""
    return struct.unpack("<f", struct.pack("<f", value))[0] if math.isfinite(value) else value


@dataclass
class EdgeSession:
    """The state of one edge node's session as the host application sees it."""

    online: bool = False
    bd_seq: int | None = None
    last_seq: int | None = None
    aliases: dict[int, str] = field(default_factory=dict)

    def birth(self, payload: Payload) -> list[str]:
        """An NBIRTH: the session restarts. Returns the problems to log (a bdSeq gap)."""
        problems = []
        bd = next((m.value for m in payload.metrics if m.name == "bdSeq"), None)
        if self.bd_seq is not None and isinstance(bd, int) and bd != (self.bd_seq + 1) % 256 and bd != self.bd_seq:
            problems.append(f"bdSeq gap: birth {bd} after {self.bd_seq}, a whole session was missed")
        self.online, self.bd_seq, self.last_seq = True, bd if isinstance(bd, int) else None, payload.seq
        self.learn_aliases(payload)
        return problems

    def learn_aliases(self, payload: Payload) -> None:
        for m in payload.metrics:
            if m.alias is not None and m.name:
                self.aliases[m.alias] = m.name

    def death(self, payload: Payload) -> bool:
        """An NDEATH; False when it is stale (another session's bdSeq) and must be ignored."""
        bd = next((m.value for m in payload.metrics if m.name == "bdSeq"), None)
        if self.bd_seq is not None and bd is not None and bd != self.bd_seq:
            return False
        self.online = False
        return True

    def sequence(self, payload: Payload) -> str | None:
        """Check a DATA/DBIRTH/DDEATH message's seq; returns the problem to log, if any."""
        if not self.online:
            return "data from an edge node that is not born (no NBIRTH seen since it died)"
        seq = payload.seq
        expected = None if self.last_seq is None else (self.last_seq + 1) % 256
        self.last_seq = seq if seq is not None else self.last_seq
        if seq is None:
            return "message without seq"
        if expected is not None and seq != expected:
            return f"seq gap: got {seq}, expected {expected}; messages were lost"
        return None

    def resolve(self, metric: Metric) -> str:
        if metric.name:
            return metric.name
        return self.aliases.get(metric.alias, "") if metric.alias is not None else ""
