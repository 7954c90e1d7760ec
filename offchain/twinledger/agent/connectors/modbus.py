"""Modbus TCP source (pymodbus 3.x): polls holding and input registers, writes registers for calls.

Each register maps to a sensor with its kind (``holding`` or ``input``), data type (``int16`` ..
``float64``, several registers for the wide ones, in ``word_order``), and ``value = raw * scale +
offset``. Modbus carries no timestamps, so a reading's source time is the poll's (one per poll and
register, so two polls never give the same reading). A device that is down or restarts is retried
with exponential backoff; a register the device refuses (an exception response) is logged and
counted, and the other registers go on being read.

A program maps to a register write: the parameter ``arg``'s value (or a constant ``value``) goes
through the inverse of scale and offset, is encoded as the data type, and is written with function
16 (or 6 for one register). The device's exception code, if any, is the call's error.
"""
from __future__ import annotations

import struct
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import structlog
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from .base import CallAnswer, ConnectorError, DeviceUnavailable, PlantSample, QueueConnector

__all__ = ["ModbusConnector", "ModbusRegister", "ModbusWrite"]

log = structlog.get_logger(__name__)

DataTypeName = Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]
_TYPES = {name: getattr(ModbusTcpClient.DATATYPE, name.upper()) for name in DataTypeName.__args__}


@dataclass(frozen=True)
class ModbusRegister:
    address: int
    kind: Literal["holding", "input"] = "holding"
    data_type: DataTypeName = "uint16"
    scale: float = 1.0
    offset: float = 0.0
    word_order: Literal["big", "little"] = "big"

    @property
    def count(self) -> int:
        return _TYPES[self.data_type].value[1]

    def decode(self, registers: list[int]) -> float:
        raw = ModbusTcpClient.convert_from_registers(registers, _TYPES[self.data_type], word_order=self.word_order)
        return raw * self.scale + self.offset   # type: ignore[operator]

    def encode(self, value: float) -> list[int]:
        raw = (float(value) - self.offset) / self.scale
        if not self.data_type.startswith("float"):
            raw = int(round(raw))
        try:
            return ModbusTcpClient.convert_to_registers(raw, _TYPES[self.data_type], word_order=self.word_order)
        except (struct.error, ValueError, OverflowError) as exc:
            raise ConnectorError(f"{value} does not fit a {self.data_type} register: {exc}") from None


@dataclass(frozen=True)
class ModbusWrite:
    """A program writing one holding register (group): parameter ``arg`` or the constant ``value``."""

    register: ModbusRegister
    arg: str | None = None
    value: float | None = None


class ModbusConnector(QueueConnector):
    name = "modbus"

    def __init__(self, host: str, port: int, registers: Mapping[str, ModbusRegister], *,
                 programs: Mapping[str, ModbusWrite] | None = None, device_id: int = 1,
                 poll_interval_s: float = 1.0, timeout_s: float = 2.0, max_backoff_s: float = 5.0,
                 clock: Any = time.time) -> None:
        super().__init__()
        if not registers:
            raise ConnectorError("modbus: no registers configured (registers: {sensor: {address, ...}})")
        self.host, self.port = host, port
        self.registers = dict(registers)
        self.programs = dict(programs or {})
        self.device_id = device_id
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        self.clock = clock
        self.client = ModbusTcpClient(host, port=port, timeout=timeout_s, retries=0, reconnect_delay=0)
        self.lock = threading.Lock()   # the poll thread and program calls share one connection
        self.polls = 0
        self.connected = threading.Event()

    def stop(self, join_timeout_s: float = 5.0) -> None:
        super().stop(join_timeout_s)
        self.client.close()

    def _run(self) -> None:
        failures = 0
        while not self.stopped.is_set():
            started = time.monotonic()
            try:
                self._poll()
                failures = 0
                wait = self.poll_interval_s - (time.monotonic() - started)
            except (ConnectionError, ModbusException, OSError) as exc:
                self.connected.clear()
                self.client.close()
                failures += 1
                wait = min(self.max_backoff_s, 0.2 * 2 ** min(failures, 6))
                self.rejects.reject("device unavailable", "retrying; Modbus keeps no history, so polls "
                                    "missed meanwhile are gone", host=self.host, port=self.port,
                                    error=str(exc)[:200], retry_in_s=wait)
            self.stopped.wait(max(0.0, wait))

    def _poll(self) -> None:
        with self.lock:
            if not self.client.connected and not self.client.connect():
                raise ConnectionError(f"cannot connect to {self.host}:{self.port}")
            self.connected.set()
            t_ms = int(self.clock() * 1000)
            samples = [s for s in (self._read(sensor, reg, t_ms) for sensor, reg in self.registers.items()) if s]
        self.polls += 1
        self.emit(samples)

    def _read(self, sensor: str, reg: ModbusRegister, t_ms: int) -> PlantSample | None:
        read = self.client.read_holding_registers if reg.kind == "holding" else self.client.read_input_registers
        response = read(reg.address, count=reg.count, device_id=self.device_id)
        if response.isError():
            self.rejects.reject("register refused", "check the register's address, kind and device id",
                                sensor=sensor, address=reg.address, kind=reg.kind, response=str(response)[:120])
            return None
        return PlantSample(sensor, t_ms, reg.decode(list(response.registers)), f"modbus:{reg.kind}:{reg.address}")

    def call(self, program: str, args: Mapping[str, Any]) -> CallAnswer:
        write = self.programs.get(program)
        if write is None:
            raise ConnectorError(f"modbus: program {program!r} is not mapped (known: {', '.join(self.programs)})")
        if write.arg is not None and write.arg not in args:
            raise ConnectorError(f"{program}: missing argument {write.arg}")
        value = args[write.arg] if write.arg is not None else write.value
        registers = write.register.encode(value)
        with self.lock:
            if not self.client.connected and not self.client.connect():
                raise DeviceUnavailable(f"modbus: device {self.host}:{self.port} unavailable; the call is retried")
            try:
                if len(registers) == 1:
                    response = self.client.write_register(write.register.address, registers[0],
                                                          device_id=self.device_id)
                else:
                    response = self.client.write_registers(write.register.address, registers,
                                                           device_id=self.device_id)
            except (ConnectionError, ModbusException, OSError) as exc:
                self.client.close()
                raise DeviceUnavailable(f"modbus: write failed ({exc}); the call is retried") from None
        if response.isError():
            return CallAnswer(program, False, f"device refused: {response}")
        return CallAnswer(program, True, f"wrote {value} to register {write.register.address}", value)
