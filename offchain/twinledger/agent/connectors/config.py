"""The agent-config entries of the plant sources (``kind: opcua | mqtt | modbus``), with the names any
OPC UA or MQTT tutorial uses, and the program mapping that sits next to the source mapping::

    source:
      kind: opcua
      endpoint: opc.tcp://127.0.0.1:4840
      nodes: {tank_level_a: "ns=2;s=Plant.TankLevelA"}
      programs: {CloseValve: {object: "ns=2;s=Plant", method: "ns=2;s=Plant.CloseValve"}}
    source:
      kind: mqtt
      url: mqtt://127.0.0.1:1883
      client_id: agent-1
      topics: {tank_level_a: plant/tank_level_a}        # or sparkplug: {group, edge_node, device}
      programs: {CloseValve: {topic: plant/cmd/close_valve, reply_topic: plant/cmd/reply}}
    source:
      kind: modbus
      host: 127.0.0.1
      port: 502
      registers: {tank_level_a: {address: 0, kind: holding, data_type: uint16, scale: 0.1}}
      programs: {SetFillRate: {address: 10, data_type: float32, arg: rate}}

Each model's ``build`` makes the connector; ``last_committed`` (sensor -> last source time in the
outbox) lets the OPC UA source backfill from history after a restart.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Callable, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The protocol libraries (asyncua, paho, pymodbus, protobuf) load only when a source of theirs is
# built: an agent on a file or the simulator starts as fast as before.
if TYPE_CHECKING:
    from .modbus import ModbusConnector, ModbusRegister, ModbusWrite
    from .mqtt import MqttCommand, MqttConnector, SparkplugCommand
    from .opcua import OpcuaConnector, OpcuaMethod, OpcuaWrite

__all__ = ["ModbusSourceConfig", "MqttSourceConfig", "OpcuaSourceConfig", "PLANT_SOURCE_KINDS", "PlantSourceConfig"]

LastCommitted = Callable[[str], "int | None"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- OPC UA ------------------------------------------------------------------------------------

class OpcuaSecurityConfig(_Model):
    policy: Literal["Basic256Sha256"] = "Basic256Sha256"
    mode: Literal["Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    certificate: Path
    private_key: Path
    server_certificate: Path | None = None
    application_uri: str = "urn:twinledger:agent"


class OpcuaProgramConfig(_Model):
    """``method`` (on ``object``, with ``args`` in input-argument order) or ``write`` (a node) of
    ``arg``'s value or of a constant ``value``."""

    object: str | None = None
    method: str | None = None
    args: list[str] = []
    write: str | None = None
    arg: str | None = None
    value: float | None = None

    @model_validator(mode="after")
    def _one_target(self) -> OpcuaProgramConfig:
        if (self.method is None) == (self.write is None):
            raise ValueError("give either method (with object) or write")
        if self.method is not None and self.object is None:
            raise ValueError("a method needs the object it is called on")
        if self.write is not None and (self.arg is None) == (self.value is None):
            raise ValueError("a write needs either arg or value")
        return self

    def build(self) -> OpcuaMethod | OpcuaWrite:
        from .opcua import OpcuaMethod, OpcuaWrite

        if self.method is not None:
            assert self.object is not None
            return OpcuaMethod(self.object, self.method, tuple(self.args))
        assert self.write is not None
        return OpcuaWrite(self.write, self.arg, self.value)


class OpcuaSourceConfig(_Model):
    kind: Literal["opcua"]
    endpoint: str = Field(pattern=r"^opc\.tcp://")
    nodes: dict[str, str] = Field(min_length=1)     # sensor name -> node id
    history: bool = True                            # backfill with HistoryRead after a restart
    publishing_interval_ms: float = Field(100.0, gt=0)
    security: OpcuaSecurityConfig | None = None
    swaps: str | None = None                        # node id of the plant's sensor-swap list (JSON), if it keeps one
    programs: dict[str, OpcuaProgramConfig] = {}

    def build(self, last_committed: LastCommitted | None = None) -> OpcuaConnector:
        from .opcua import OpcuaConnector, OpcuaSecurity

        s = self.security
        security = None if s is None else OpcuaSecurity(
            str(s.certificate), str(s.private_key), str(s.server_certificate) if s.server_certificate else None,
            s.mode, s.application_uri)
        return OpcuaConnector(self.endpoint, self.nodes, programs={p: c.build() for p, c in self.programs.items()},
                              last_committed=last_committed, security=security, history=self.history,
                              publishing_interval_ms=self.publishing_interval_ms, swaps=self.swaps)


# -- MQTT --------------------------------------------------------------------------------------

class SparkplugConfig(_Model):
    group: str = Field(min_length=1)
    edge_node: str = Field(min_length=1)
    device: str | None = None


class MqttProgramConfig(_Model):
    """``topic`` (JSON command, optional ``reply_topic``) or, with Sparkplug, ``metric`` (a DCMD)."""

    topic: str | None = None
    reply_topic: str | None = None
    metric: str | None = None
    arg: str | None = None
    value: float | bool | None = None
    datatype: Literal["Float", "Double", "Int32", "Int64", "UInt16", "UInt32", "Boolean"] = "Double"

    @model_validator(mode="after")
    def _one_target(self) -> MqttProgramConfig:
        if (self.topic is None) == (self.metric is None):
            raise ValueError("give either topic or metric (Sparkplug)")
        if self.metric is not None and (self.arg is None) == (self.value is None):
            raise ValueError("a metric write needs either arg or value")
        return self

    def build(self) -> MqttCommand | SparkplugCommand:
        from . import sparkplug as spb
        from .mqtt import MqttCommand, SparkplugCommand

        if self.topic is not None:
            return MqttCommand(self.topic, self.reply_topic)
        assert self.metric is not None
        return SparkplugCommand(self.metric, self.arg, self.value, spb.DataType[self.datatype])


class MqttSourceConfig(_Model):
    kind: Literal["mqtt"]
    url: str = Field(pattern=r"^(mqtt|tcp)://")
    client_id: str = Field(min_length=1)
    topics: dict[str, str] = {}                     # sensor -> topic, payload {"t_ms": int, "value": number}
    sparkplug: SparkplugConfig | None = None
    metrics: dict[str, str] = {}                    # Sparkplug: sensor -> metric name (default: the same)
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    username: str | None = None
    password: str | None = None
    programs: dict[str, MqttProgramConfig] = {}

    @model_validator(mode="after")
    def _topics_or_sparkplug(self) -> MqttSourceConfig:
        if not self.topics and self.sparkplug is None:
            raise ValueError("give topics: {sensor: topic} or sparkplug: {group, edge_node, device}")
        if any(p.metric is not None for p in self.programs.values()) and self.sparkplug is None:
            raise ValueError("a program with a metric (a DCMD) needs sparkplug:")
        return self

    def build(self, last_committed: LastCommitted | None = None) -> MqttConnector:
        from .mqtt import MqttConnector, SparkplugTarget

        target = None if self.sparkplug is None else SparkplugTarget(
            self.sparkplug.group, self.sparkplug.edge_node, self.sparkplug.device)
        return MqttConnector(self.url, self.client_id, topics=self.topics or None, sparkplug=target,
                             metrics=self.metrics or None, programs={p: c.build() for p, c in self.programs.items()},
                             protocol=self.protocol, username=self.username, password=self.password)


# -- Modbus ------------------------------------------------------------------------------------

class ModbusRegisterConfig(_Model):
    address: int = Field(ge=0, le=65535)
    kind: Literal["holding", "input"] = "holding"
    data_type: Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"] = "uint16"
    scale: float = 1.0
    offset: float = 0.0
    word_order: Literal["big", "little"] = "big"

    @model_validator(mode="after")
    def _scale(self) -> ModbusRegisterConfig:
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self

    def build(self) -> ModbusRegister:
        from .modbus import ModbusRegister

        return ModbusRegister(self.address, self.kind, self.data_type, self.scale, self.offset, self.word_order)


class ModbusProgramConfig(ModbusRegisterConfig):
    kind: Literal["holding"] = "holding"
    arg: str | None = None
    value: float | None = None

    @model_validator(mode="after")
    def _arg_or_value(self) -> ModbusProgramConfig:
        if (self.arg is None) == (self.value is None):
            raise ValueError("a register write needs either arg or value")
        return self

    def write(self) -> ModbusWrite:
        from .modbus import ModbusWrite

        return ModbusWrite(self.build(), self.arg, self.value)


class ModbusSourceConfig(_Model):
    kind: Literal["modbus"]
    host: str = "127.0.0.1"
    port: int = Field(502, ge=1, le=65535)
    device_id: int = Field(1, ge=0, le=255)
    poll_interval_s: float = Field(1.0, gt=0)
    registers: dict[str, ModbusRegisterConfig] = Field(min_length=1)
    programs: dict[str, ModbusProgramConfig] = {}

    def build(self, last_committed: LastCommitted | None = None) -> ModbusConnector:
        from .modbus import ModbusConnector

        return ModbusConnector(self.host, self.port, {s: r.build() for s, r in self.registers.items()},
                               programs={p: c.write() for p, c in self.programs.items()}, device_id=self.device_id,
                               poll_interval_s=self.poll_interval_s)


PlantSourceConfig = Annotated[Union[OpcuaSourceConfig, MqttSourceConfig, ModbusSourceConfig],
                              Field(discriminator="kind")]
PLANT_SOURCE_KINDS = ("opcua", "mqtt", "modbus")
