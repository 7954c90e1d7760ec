"""Real protocol servers on 127.0.0.1 for the connector tests, each in its own thread and asyncio
loop so a test can stop and restart it while a connector runs: the plant's asyncua server, an amqtt
broker, a pymodbus TCP server. Also self-signed certificates made with ``cryptography``."""
from __future__ import annotations

import asyncio
import getpass
import shutil
import socket
import subprocess
import datetime as dt
import ipaddress
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from twinledger.chain.devnet import free_port
from twinledger.formats.batch import decode_batch
from twinledger.formats.cids import raw_cid_from_digest

T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a daemon thread; ``run`` executes a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def drain(connector: Any, count: int, timeout: float = 20.0) -> list[Any]:
    """Take ``count`` samples from a connector's queue (it must already be started)."""
    import queue

    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"got {len(out)} of {count} samples: {out[-3:]}")
        try:
            out.append(connector.queue.get(timeout=left))
        except queue.Empty:
            continue
    return out


# -- what the chain holds -------------------------------------------------------------------------

def chain_readings(plant: Any) -> Counter:
    """(sensor, t_ms, value) of every reading anchored on any feed, as the chain and IPFS say."""
    chain, store = plant.stack.chain(), plant.stack.store()
    found: Counter = Counter()
    for feed in plant.feeds.values():
        for event in chain.feeds.events.Anchored.get_logs(from_block=0, argument_filters={"feedId": feed}):
            batch = decode_batch(store.block_get(raw_cid_from_digest(event["args"]["cid"])))
            found.update((r.sensor, r.t_ms, r.value) for r in batch.readings)
    return found


def wait_anchored(plant: Any, expected: Counter, timeout: float = 60) -> None:
    try:
        wait_until(lambda: chain_readings(plant) == expected, timeout=timeout, what="every reading anchored")
    except AssertionError:
        got = chain_readings(plant)
        assert (sorted((got - expected).items())[:10], sorted((expected - got).items())[:10]) == ([], [])


def self_signed(folder: Path, name: str, uri: str) -> tuple[Path, Path]:
    """An RSA-2048 certificate for an OPC UA application (its URI in subjectAltName), PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri), x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True,
                                         data_encipherment=True, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class OpcuaPlant:
    """The plant's OPC UA server (``sim_server.PlantOpcuaServer``) that a test can restart."""

    def __init__(self, port: int | None = None, **kwargs: Any) -> None:
        self.port = port or free_port()
        self.endpoint = f"opc.tcp://127.0.0.1:{self.port}/twinledger/"
        self.kwargs = kwargs
        self.loop = LoopThread()
        self.server: Any = None

    def start(self) -> OpcuaPlant:
        from twinledger.sim.server import PlantOpcuaServer

        self.server = PlantOpcuaServer(self.endpoint, **self.kwargs)
        self.loop.run(self.server.start())
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.loop.run(self.server.stop())
            self.server = None

    def write(self, sensor: str, t_ms: int, value: Any) -> None:
        self.loop.run(self.server.write(sensor, t_ms, value))

    def close(self) -> None:
        self.stop()
        self.loop.close()


def iter_values(start_ms: int, count: int, step_ms: int = 10) -> Iterator[tuple[int, float]]:
    for i in range(count):
        yield start_ms + i * step_ms, round(10.0 + i * 0.25, 6)


MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class MqttBroker:
    """Debian's mosquitto on a free loopback port, with persistence in ``folder`` so that a restart
    (``stop``/``start``) keeps the sessions and their queued messages, as a plant's broker does."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nautosave_interval 1\nmax_queued_messages 100000\n"
            f"user {getpass.getuser()}\nlog_dest file {folder}/mosquitto.log\n")

    def start(self) -> MqttBroker:
        if not Path(MOSQUITTO).exists():
            raise RuntimeError("mosquitto is not installed: run make setup (it installs Debian's mosquitto)")
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {(self.folder / 'mosquitto.log').read_text()[-500:]}") from None
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()     # mosquitto saves its persistence file on SIGTERM
            self.process.wait(10)
            self.process = None

    def close(self) -> None:
        self.stop()


def mqtt_client(broker: MqttBroker, client_id: str, on_message: Callable[..., None] | None = None,
                subscribe: tuple[str, ...] = ()) -> Any:
    """A connected paho client (the plant's side: a publisher, a device answering commands)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    ready = threading.Event()

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        for topic in subscribe:
            c.subscribe(topic, qos=1)
        ready.set()

    client.on_connect = on_connect
    if on_message is not None:
        client.on_message = on_message
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    if not ready.wait(10):
        raise AssertionError("the test's MQTT client did not connect")
    time.sleep(0.1)   # let the SUBSCRIBE reach the broker
    return client


class ModbusDevice:
    """A pymodbus TCP server with 32 holding and 32 input registers. The test sets register values
    (``set``); every write a client makes is recorded in ``writes``; ``refuse`` makes an address
    answer with an exception (ILLEGAL_DATA_ADDRESS)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.loop = LoopThread()
        self.values: dict[tuple[str, int], int] = {}
        self.writes: list[tuple[int, list[int]]] = []
        self.refuse: set[int] = set()
        self.server: Any = None

    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      current_registers: list[int], set_values: Any) -> Any:
        from pymodbus.constants import ExcCodes

        if any(a in self.refuse for a in range(address, address + count)):
            return ExcCodes.ILLEGAL_ADDRESS
        kind = {3: "holding", 4: "input"}.get(function_code)
        if kind is not None:
            for i in range(count):
                if (kind, address + i) in self.values:
                    current_registers[address - start_address + i] = self.values[(kind, address + i)]
        elif function_code in (6, 16) and set_values is not None:
            self.writes.append((address, list(set_values)))
            for i, v in enumerate(set_values):
                self.values[("holding", address + i)] = v
        return None

    def start(self) -> ModbusDevice:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        async def start() -> Any:
            bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
            regs = lambda: [SimData(0, count=32, values=0, datatype=DataType.REGISTERS)]  # noqa: E731
            device = SimDevice(1, simdata=(bits, bits, regs(), regs()), action=self._action)
            server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
            await server.serve_forever(background=True)
            return server

        self.server = self.loop.run(start())
        return self

    def set(self, kind: str, address: int, registers: list[int]) -> None:
        for i, v in enumerate(registers):
            self.values[(kind, address + i)] = v

    def stop(self) -> None:
        if self.server is not None:
            self.loop.run(self.server.shutdown())
            self.server = None

    def close(self) -> None:
        self.stop()
        self.loop.close()
