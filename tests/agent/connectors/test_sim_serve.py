"""`twinledger sim serve` runs the bottling plant as an OPC UA server that the agent's connector reads
and drives; the example configs that point the agent at a plant parse and build their sources."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from plant_servers import drain, wait_until

from twinledger.agent.config import load_config
from twinledger.agent.connectors.mqtt import MqttConnector
from twinledger.agent.connectors.opcua import OpcuaConnector, OpcuaMethod
from twinledger.chain.devnet import free_port
from twinledger.sim.server import node_id, program_node_id

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_sim_serve_is_an_opcua_plant_the_connector_reads_and_drives():
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/twinledger/"
    proc = subprocess.Popen([sys.executable, "-m", "twinledger.cli.main", "sim", "serve", "--endpoint", endpoint,
                             "--hz", "20", "--log-level", "warning"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    connector = OpcuaConnector(endpoint, {"tank_level_a": node_id("tank_level_a")}, max_backoff_s=0.5, programs={
        "SetValvePosition": OpcuaMethod("ns=2;s=Plant", program_node_id("SetValvePosition"), ("position",))})
    connector.start()
    try:
        wait_until(connector.connected.is_set, timeout=60, what="the served plant")
        samples = drain(connector, 20)
        answer = connector.call("SetValvePosition", {"position": 30.0})
    finally:
        connector.stop()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    times = [s.t_ms for s in samples]
    assert times == sorted(times) and len(set(times)) == 20
    assert all(0 <= s.value <= 100 for s in samples[1:])    # tank level in %
    assert answer.ok and "valve -> 0.3" in answer.message
    assert proc.returncode == 0 and b"plant stopped" in out, err.decode()[-2000:]


def test_sim_serve_refuses_a_bad_endpoint_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "twinledger.cli.main", "sim", "serve", "--endpoint", "http://x"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "opc.tcp://" in proc.stderr and "Traceback" not in proc.stderr


def test_the_example_plant_configs_build_their_sources():
    opcua = load_config(EXAMPLES / "agent-opcua.yaml")
    [source] = opcua.build_sources()
    assert isinstance(source, OpcuaConnector) and source.nodes["tank_level_a"] == "ns=2;s=Plant.TankLevelA"
    assert set(source.programs) == {"SetValvePosition", "CloseValve", "SetFillRate"}
    mqtt = load_config(EXAMPLES / "agent-mqtt.yaml")
    [source] = mqtt.build_sources()
    assert isinstance(source, MqttConnector) and source.topics["pipe_flow"] == "plant/pipe_flow"
