"""The Modbus connector against a real pymodbus TCP server on loopback: holding and input registers
with data types, scale and offset; a refused register; a device that restarts; register writes
for program calls, with the device's exception as the error."""
from __future__ import annotations

import struct

import pytest
from plant_servers import ModbusDevice, drain, wait_until

from twinledger.agent.connectors.base import ConnectorError
from twinledger.agent.connectors.modbus import ModbusConnector, ModbusRegister, ModbusWrite


def float_registers(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]


REGISTERS = {
    "tank_level_a": ModbusRegister(0, "holding", "uint16", scale=0.1),              # 0.1 % per count
    "pipe_flow": ModbusRegister(2, "input", "float32"),
    "temperature": ModbusRegister(4, "input", "int16", scale=0.5, offset=-40.0),
}


@pytest.fixture
def device():
    d = ModbusDevice().start()
    yield d
    d.close()


def connector_for(device: ModbusDevice, **kwargs) -> ModbusConnector:
    connector = ModbusConnector("127.0.0.1", device.port, kwargs.pop("registers", REGISTERS), poll_interval_s=0.05,
                                max_backoff_s=0.3, **kwargs)
    connector.start()
    return connector


def test_polled_registers_are_decoded_with_type_scale_and_offset(device):
    device.set("holding", 0, [734])
    device.set("input", 2, float_registers(12.5))
    device.set("input", 4, [0xFFF6])     # int16 -10 -> -10 * 0.5 - 40
    connector = connector_for(device)
    try:
        first = drain(connector, 3)
    finally:
        connector.stop()
    by_sensor = {s.sensor: s for s in first}
    assert by_sensor["tank_level_a"].value == pytest.approx(73.4)
    assert by_sensor["pipe_flow"].value == 12.5
    assert by_sensor["temperature"].value == -45.0
    assert len({s.t_ms for s in first}) == 1    # one source time per poll


def test_a_refused_register_is_counted_and_the_others_keep_coming(device):
    device.refuse.add(4)
    device.set("holding", 0, [100])
    connector = connector_for(device)
    try:
        got = drain(connector, 4)
    finally:
        connector.stop()
    assert {s.sensor for s in got} == {"tank_level_a", "pipe_flow"}
    assert connector.rejects.by_reason["register refused"] >= 2


def test_a_device_restart_and_a_device_down_at_start_are_retried():
    device = ModbusDevice()
    connector = ModbusConnector("127.0.0.1", device.port, {"tank_level_a": REGISTERS["tank_level_a"]},
                                poll_interval_s=0.05, max_backoff_s=0.3)
    connector.start()
    try:
        wait_until(lambda: connector.rejects.by_reason["device unavailable"] >= 2, what="retries while down")
        device.start()
        device.set("holding", 0, [5])
        assert drain(connector, 1)[0].value == pytest.approx(0.5)
        device.stop()
        before = connector.rejects.by_reason["device unavailable"]
        wait_until(lambda: connector.rejects.by_reason["device unavailable"] > before, what="the outage noticed")
        device.start()
        device.set("holding", 0, [77])
        wait_until(lambda: any(s.value == pytest.approx(7.7) for s in drain(connector, 1)), what="readings again")
    finally:
        connector.stop()
        device.close()


def test_program_calls_write_registers_and_return_the_devices_refusal(device):
    programs = {
        "SetFillRate": ModbusWrite(ModbusRegister(10, "holding", "float32"), arg="rate"),
        "SetValvePosition": ModbusWrite(ModbusRegister(12, "holding", "uint16", scale=0.1), arg="position"),
        "EmergencyStop": ModbusWrite(ModbusRegister(13, "holding", "uint16"), value=1),
        "Broken": ModbusWrite(ModbusRegister(20, "holding", "uint16"), value=1),
    }
    device.refuse.add(20)
    connector = connector_for(device, programs=programs)
    try:
        wait_until(connector.connected.is_set, what="connection")
        assert connector.call("SetFillRate", {"rate": 12.5}).ok
        assert connector.call("SetValvePosition", {"position": 42.3}).ok
        assert connector.call("EmergencyStop", {}).ok
        refused = connector.call("Broken", {})
        with pytest.raises(ConnectorError, match="does not fit"):
            connector.call("SetValvePosition", {"position": 1e9})
    finally:
        connector.stop()
    assert device.writes == [(10, float_registers(12.5)), (12, [423]), (13, [1])]
    assert not refused.ok and "device refused" in refused.message
