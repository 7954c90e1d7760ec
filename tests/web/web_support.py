"""The world the browser tests run in: a real dev stack (anvil + embedded IPFS) with the demo's
bottling-plant twin, its parties and feeds, the device agent streaming the simulated plant in a thread,
and `twinledger web` started as a real process for one account. Unique module name: the test folders
have no __init__.py."""
from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

from twinledger.agent.config import load_config
from twinledger.agent.daemon import AgentDaemon
from twinledger.chain.devnet import test_account
from twinledger.chain.stack import DevStack
from twinledger.cli import main as cli_module
from twinledger.cli.agent import configure_logging
from twinledger.formats.aml import load_aml

ROOT = Path(__file__).resolve().parents[2]
PLANT_AML = ROOT / "examples" / "bottling-plant.aml"
SENSORS = ("tank_level_a", "tank_level_b", "pipe_flow", "valve_position", "bottle_level")
OWNER, MANUFACTURER, MAINTAINER, AUDITOR, AGENT, OUTSIDER, DEVICE = 1, 2, 3, 5, 6, 7, 9
AGENT_RUN_S = 1800.0  # longer than the suite; the agent is stopped when the world is
RATE_HZ = 4.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage", "--disable-gpu",
                 "--disable-component-update", "--no-first-run"]


def addr(index: int) -> str:
    return test_account(index).address


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class WebServer:
    """`twinledger --account TEST::N web --port P` as a child process."""

    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


@dataclass
class World:
    workdir: Path
    stack: DevStack
    twin: int = 0
    feeds: dict[str, int] = field(default_factory=dict)
    daemon: AgentDaemon | None = None
    agent_thread: threading.Thread | None = None
    servers: list[WebServer] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {"TWINLEDGER_RPC": self.stack.rpc_url, "TWINLEDGER_DEPLOYMENT": str(self.stack.deployment_path),
                "TWINLEDGER_IPFS": self.stack.ipfs_spec}

    def tl(self, who: int, command: str) -> str:
        result = CliRunner().invoke(cli_module.cli, ["--account", f"TEST::{who}", *shlex.split(command)],
                                    env=self.env(), catch_exceptions=False)
        assert result.exit_code == 0, f"twinledger {command}: {result.output}"
        return result.output

    def serve(self, account: int | None, *extra: str) -> WebServer:
        port = free_port()
        args = [sys.executable, "-m", "twinledger.cli"] + (["--account", f"TEST::{account}"] if account else [])
        env = {**os.environ, **self.env()}
        log = open(self.workdir / f"web-{port}.log", "wb")
        process = subprocess.Popen(args + ["web", "--port", str(port), *extra], env=env, stdout=log, stderr=log,
                                   cwd=self.workdir)
        server = WebServer(f"http://127.0.0.1:{port}", process)
        self.servers.append(server)
        wait_for(lambda: _answers(server.url) or process.poll() is not None, 60, "the web server to listen")
        assert process.poll() is None, (self.workdir / f"web-{port}.log").read_text()
        return server

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        if self.daemon is not None and self.agent_thread is not None:
            self.daemon.request_stop()
            self.agent_thread.join(timeout=60)
        self.stack.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/static/app.css", timeout=2):
            return True
    except OSError:
        return False


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def make_world(workdir: Path) -> World:
    """The demo's steps 1-3 as real commands, then the agent streaming in the background."""
    configure_logging("console", "error")
    world = World(workdir, DevStack(workdir / "stack").start())
    out = world.tl(MANUFACTURER, f"twin create --aml {PLANT_AML}")
    world.twin = twin = int(re.search(r"Created twin (\d+)", out).group(1))
    world.tl(MANUFACTURER, f"role offer-owner {twin} {addr(OWNER)}")
    world.tl(OWNER, f"role accept-owner {twin}")
    for who, role in ((MANUFACTURER, "MANUFACTURER"), (MAINTAINER, "MAINTAINER"), (AUDITOR, "AUDITOR"),
                      (AGENT, "DEVICE_AGENT"), (AGENT, "MAINTAINER")):
        world.tl(OWNER, f"role grant {twin} {role} {addr(who)}")
    for sensor in SENSORS:
        out = world.tl(OWNER, f"feed register {twin} {sensor} --device {addr(DEVICE)}")
        world.feeds[sensor] = int(re.search(r"Registered feed (\d+)", out).group(1))
    world.tl(OWNER, f"phase set {twin} Operation --yes")
    for who in (OWNER, MAINTAINER, AUDITOR):  # the parties that open encrypted documents publish a key
        world.tl(who, "key register")
    world.daemon = AgentDaemon(load_config(agent_config(world)))
    world.agent_thread = threading.Thread(target=lambda: world.daemon.run(status_every_s=3600, install_signals=False),
                                          daemon=True)
    world.agent_thread.start()
    return world


def agent_config(world: World) -> Path:
    keys = world.workdir / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    (keys / "device.key").write_text(test_account(DEVICE).key.hex())
    (keys / "agent.key").write_text(test_account(AGENT).key.hex())
    spec = load_aml(PLANT_AML)
    config = {
        "twin_id": world.twin, "device_key_file": str(keys / "device.key"), "account_key_file": str(keys / "agent.key"),
        "outbox_path": str(world.workdir / "agent" / "outbox.sqlite"), "ipfs": world.stack.ipfs_spec,
        "chain": {"rpc_url": world.stack.rpc_url, "deployment_file": str(world.stack.deployment_path),
                  "confirmations": 0, "poll_interval_s": 0.3},
        "feeds": {s: {"feed_id": f, "component": spec.component(s).aml_id} for s, f in world.feeds.items()},
        "batching": {"window_s": 1.0},
        "validation": {"stuck_count": 10, "stuck_overrides": {"valve_position": 0, "pipe_flow": 0},
                       "redundant_groups": [{"sensors": ["tank_level_a", "tank_level_b"], "tolerance": 1.0}]},
        "source": {"kind": "simulator", "seed": 11, "realtime": True, "duration_s": AGENT_RUN_S,
                   "rates_hz": {s: RATE_HZ for s in SENSORS}, "faults": []},
    }
    path = world.workdir / "agent" / "agent.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=1))
    return path
