"""The bottling-plant scenario, end to end on anvil and the embedded IPFS node (`make demo`).

Every step a person takes is a real `twinledger` command, run in-process and shown as typed. The
simulated plant is a device on the network: the OPC UA server of `twinledger sim serve` on a free
loopback port (sensors as historized variables, programs as methods, the sensor swap published on
`Plant.SensorSwaps`), in a thread of its own. The device agent runs in the background with an
`opcua` source against it: it subscribes to the sensors, and the owner's `CloseValve` reaches the
plant as an OPC UA method call. Parties are the dev chain's test accounts; each one acts only
through its own roles.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .cli.agent import configure_logging
from .agent.config import load_config
from .agent.commands import PlantDriver
from .agent.daemon import AgentDaemon
from .chain.devnet import free_port, test_account
from .chain.stack import DevStack
from .cli.scripted import run_shown
from .errors import TwinLedgerError
from .sim import FillingPlantSimulator, Stuck, Swap
from .sim.server import PROGRAM_ARGS, SWAPS_NODE, PlantServerThread, node_id, program_node_id

ROOT = Path(__file__).resolve().parents[2]
PLANT_AML = ROOT / "examples" / "bottling-plant.aml"
SENSORS = ("tank_level_a", "tank_level_b", "pipe_flow", "valve_position", "bottle_level")

# The roles `twinledger dev up` suggests for the test accounts; the device key is a ninth account.
OWNER, MANUFACTURER, MAINTAINER, AUDITOR, AGENT, OUTSIDER, DEVICE = 1, 2, 3, 5, 6, 7, 9
NAMES = {MANUFACTURER: "manufacturer", OWNER: "owner", MAINTAINER: "maintainer", AUDITOR: "auditor", AGENT: "agent"}

RUN_S = 26.0          # simulated plant time, in real time
SENSOR_FAILS_S = 5.0  # the bottle-level transmitter sticks
SENSOR_SWAP_S = 15.0  # the maintainer fits a new one

console = Console(highlight=False, soft_wrap=True)


class DemoFailed(TwinLedgerError, RuntimeError):
    pass


@dataclass
class Demo:
    workdir: Path
    stack: DevStack | None = None
    plant_server: PlantServerThread | None = None

    # -- running commands ------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        assert self.stack is not None
        return {"TWINLEDGER_RPC": self.stack.rpc_url, "TWINLEDGER_DEPLOYMENT": str(self.stack.deployment_path),
                "TWINLEDGER_IPFS": self.stack.ipfs_spec, "COLUMNS": "110"}

    def tl(self, who: int, command: str, expect_ok: bool = True) -> str:
        """Run `twinledger --account TEST::who COMMAND` and show it as typed, with its output."""
        result = run_shown(command, account=who, label=str(NAMES.get(who, who)), env=self.env(), console=console)
        if (result.exit_code == 0) != expect_ok:
            raise DemoFailed(f"`twinledger {command}` exited {result.exit_code}, expected "
                             f"{'success' if expect_ok else 'a refusal'}")
        return result.output

    # -- the scenario ----------------------------------------------------------------------------

    def run(self) -> tuple[bool, Path]:
        try:
            return self._run()
        finally:
            if self.plant_server is not None:   # after the agent: it stays connected until it stopped
                self.plant_server.stop()

    def _run(self) -> tuple[bool, Path]:
        configure_logging("console", "error")
        started = time.monotonic()
        step(0, "Start a local chain (anvil) and the embedded IPFS node, and deploy the contracts")
        self.stack = DevStack(self.workdir / "stack").start()
        console.print(f"  chain {self.stack.rpc_url}, IPFS store {self.stack.ipfs_path}")

        step(1, "The manufacturer creates the bottling-plant twin from its AutomationML file")
        out = self.tl(MANUFACTURER, f"twin create --aml {PLANT_AML}")
        twin = int(re.search(r"Created twin (\d+)", out).group(1))
        self.tl(MANUFACTURER, f"role offer-owner {twin} {addr(OWNER)}")
        self.tl(OWNER, f"role accept-owner {twin}")

        step(2, "The owner grants roles and registers the plant's sensor feeds")
        for who, role in ((MANUFACTURER, "MANUFACTURER"), (MAINTAINER, "MAINTAINER"), (AUDITOR, "AUDITOR"),
                          (AGENT, "DEVICE_AGENT"), (AGENT, "MAINTAINER")):
            self.tl(OWNER, f"role grant {twin} {role} {addr(who)}")
        feeds = {}
        for sensor in SENSORS:
            out = self.tl(OWNER, f"feed register {twin} {sensor} --device {addr(DEVICE)}")
            feeds[sensor] = int(re.search(r"Registered feed (\d+)", out).group(1))
        self.tl(OUTSIDER, f"role grant {twin} OWNER {addr(OUTSIDER)}", expect_ok=False)
        self.tl(OWNER, f"phase set {twin} Operation --yes")

        endpoint = f"opc.tcp://127.0.0.1:{free_port()}/twinledger/"
        step(3, f"The plant goes on the network as an OPC UA server; the device agent subscribes to it "
                f"({RUN_S:.0f} s, 5 sensors at 20 Hz, 1 s batches)")
        plant = FillingPlantSimulator(seed=11, rates_hz={s: 20.0 for s in SENSORS}, duration_s=RUN_S,
                                      faults=[Stuck("bottle_level", SENSOR_FAILS_S),
                                              Swap("bottle_level", SENSOR_SWAP_S, new_name="bottle_level_2",
                                                   new_serial="LT402-0001")])
        console.print(f"  [bold cyan]plant[/]$ twinledger sim serve --endpoint {endpoint}   "
                      f"[dim](its server, in a thread of this process)[/]")
        self.plant_server = served = PlantServerThread(endpoint, device=PlantDriver(plant)).start()
        daemon = AgentDaemon(load_config(self.agent_config(twin, feeds, endpoint)), record_latency=True)
        connector = daemon.source
        runner = threading.Thread(target=lambda: daemon.run(status_every_s=3600, install_signals=False), daemon=True)
        runner.start()
        if not connector.connected.wait(20):
            raise DemoFailed(f"the agent could not connect to the plant's OPC UA server at {endpoint}")
        # The plant's clock starts one sample after the values the server wrote at start, so the
        # feeds have no gap; what it made before the agent connected is simply delivered first.
        plant.start_ms = served.server.started_ms + 50
        served.simulate(plant)
        console.print(f"  agent: connected to {endpoint}, subscribed to {len(connector.nodes)} nodes "
                      f"({', '.join(connector.nodes.values())}), following {SWAPS_NODE}")
        with plant_progress() as (progress, task):
            wait_until(progress, task, daemon, plant, served, SENSOR_FAILS_S + 3)
            step(4, "The bottle-level sensor sticks; the filler no longer sees full bottles and they flood")
            flagged = dict(daemon.validator.stats.flagged)
            console.print(f"  spilled so far: {plant.spilled_l:.2f} l; readings flagged by validation so far (kept and "
                          f"anchored, never dropped): {flagged or 'none yet'}")

            step(5, "The owner closes the valve with a program call; out-of-bounds values are refused")
            self.tl(OWNER, f"program call {twin} fill_valve SetValvePosition position=150", expect_ok=False)
            out = self.tl(OWNER, f"program call {twin} fill_valve CloseValve")
            call_id = int(re.search(r"call (\d+)", out).group(1))
            wait_for(lambda: daemon.watcher and any(o.call_id == call_id for o in daemon.watcher.outcomes), 15)
            for (program, args), answer in zip(served.server.calls, served.server.answers):
                console.print(f"  [bold cyan]plant[/] (OPC UA server): method call {program}{args or '()'} "
                              f"on {program_node_id(program)} -> {answer!r}")
            self.tl(OWNER, f"program status {call_id}")
            console.print(f"  valve command {plant.valve_cmd:.0%}; spill stopped at {plant.spilled_l:.2f} l")

            wait_until(progress, task, daemon, plant, served, SENSOR_SWAP_S + 2)
            step(6, "The maintainer fits a new bottle-level sensor; the plant publishes it as a new node, the "
                    "spec is updated and a new feed registered")
            wait_for(lambda: daemon.replacer.done, 15)
            console.print(f"  plant: {served.server.swaps[0]['old']} -> {served.server.swaps[0]['new']} "
                          f"on {served.server.swaps[0]['node']}")
            wait_until(progress, task, daemon, plant, served, RUN_S)
        served.finished.wait(10)
        # Every value the plant wrote (and the first ones its server wrote at start) reaches the agent.
        expected = served.written + len(SENSORS)
        wait_for(lambda: connector.delivered >= expected, 10)
        console.print(f"  plant: {served.written} readings served over OPC UA; agent: {connector.delivered} received "
                      f"({connector.backfilled} of them read back with HistoryRead)")
        daemon.request_stop()
        runner.join(timeout=120)
        summary = daemon.summary()
        console.print(f"  agent: {summary['accepted']} readings accepted, {summary['readings_anchored']} anchored in "
                      f"{summary['batches_anchored']} batches and {summary['transactions']} transactions "
                      f"({summary['gas']:,} gas), {summary['rejected']} rejected")
        self.tl(MAINTAINER, f"feed list --twin {twin}")

        step(7, "The maintainer uploads the maintenance report")
        report_md = self.workdir / "maintenance-report.md"
        report_md.write_text(maintenance_report(plant, daemon))
        [replacement] = daemon.replacer.done.values()
        self.tl(MAINTAINER, f"doc add {twin} {report_md} --name 'Maintenance report: bottle level sensor' "
                            f"--component {replacement.new_sensor}")

        console.print(f"  flagged by validation: {dict(daemon.validator.stats.flagged)}")

        step(8, "The auditor verifies the whole twin from the chain and IPFS alone, and writes the report")
        verdict = self.tl(AUDITOR, f"verify twin {twin}", expect_ok=True)
        html = self.workdir / "audit-report.html"
        self.tl(AUDITOR, f"audit report --twin {twin} -o {html}")
        ok = "FAIL" not in verdict.upper().split("VERDICT")[-1]
        console.rule()
        console.print(f"[bold]{'PASS' if ok else 'FAIL'}[/]: the twin's history verifies from the chain and IPFS "
                      f"alone. Report: {html}  ({time.monotonic() - started:.0f} s)")
        return ok, html

    def agent_config(self, twin: int, feeds: dict[str, int], endpoint: str) -> Path:
        assert self.stack is not None
        keys = self.workdir / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        (keys / "device.key").write_text(test_account(DEVICE).key.hex())
        (keys / "agent.key").write_text(test_account(AGENT).key.hex())
        # The sensor swap writes the new device key to an encrypted keystore; the demo's passphrase is public.
        os.environ.setdefault("TWINLEDGER_DEMO_KEYSTORE_PASSPHRASE", "demo only")
        from .formats.aml import load_aml

        spec = load_aml(PLANT_AML)
        config = {
            "twin_id": twin, "device_key_file": str(keys / "device.key"), "account_key_file": str(keys / "agent.key"),
            "keystore_passphrase_env": "TWINLEDGER_DEMO_KEYSTORE_PASSPHRASE",
            "outbox_path": str(self.workdir / "agent" / "outbox.sqlite"), "ipfs": self.stack.ipfs_spec,
            "chain": {"rpc_url": self.stack.rpc_url, "deployment_file": str(self.stack.deployment_path),
                      "confirmations": 0, "poll_interval_s": 0.3},
            "feeds": {s: {"feed_id": f, "component": spec.component(s).aml_id} for s, f in feeds.items()},
            "batching": {"window_s": 1.0},
            # A closed valve and its zero flow hold still by design; the level transmitters never do.
            "validation": {"stuck_count": 10, "stuck_overrides": {"valve_position": 0, "pipe_flow": 0},
                           "redundant_groups": [{"sensors": ["tank_level_a", "tank_level_b"], "tolerance": 1.0}]},  # %, as the AML
            # The same keys as examples/agent-opcua.yaml: sensor -> node id, program -> method.
            "source": {"kind": "opcua", "endpoint": endpoint, "nodes": {s: node_id(s) for s in SENSORS},
                       "history": True, "swaps": SWAPS_NODE,
                       "programs": {p: {"object": "ns=2;s=Plant", "method": program_node_id(p), "args": list(a)}
                                    for p, a in PROGRAM_ARGS.items()}},
        }
        path = self.workdir / "agent" / "agent.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=1))
        return path


def addr(index: int) -> str:
    return test_account(index).address


def step(number: int, text: str) -> None:
    console.print(f"\n[bold]{number}. {text}[/]")


def plant_progress():
    progress = Progress(TextColumn("  plant"), BarColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                        console=console, transient=True)

    class _Ctx:
        def __enter__(self):
            progress.start()
            return progress, progress.add_task("plant", total=RUN_S, status="")

        def __exit__(self, *exc):
            progress.stop()

    return _Ctx()


def wait_until(progress: Progress, task, daemon: AgentDaemon, plant: FillingPlantSimulator,
               served: PlantServerThread, plant_s: float) -> None:
    """Let the plant run until its clock reaches `plant_s`, updating the progress bar."""
    while plant.t_us / 1e6 < plant_s and not served.finished.is_set():
        stats = daemon.anchorer.stats
        progress.update(task, completed=plant.t_us / 1e6,
                        status=f"{daemon.pipeline.stats.accepted} readings, {stats.batches} batches anchored")
        time.sleep(0.2)


def wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise DemoFailed("the agent did not react in time")
        time.sleep(0.1)


def maintenance_report(plant, daemon: AgentDaemon) -> str:
    [r] = daemon.replacer.done.values()
    return (f"# Maintenance report\n\nThe bottle-level transmitter (feed {r.old_feed}) stuck at "
            f"{SENSOR_FAILS_S:.0f} s; the filler could not see full bottles and {plant.spilled_l:.2f} l were "
            f"spilled before the owner closed the valve by program call.\n\nReplaced by {r.new_sensor} "
            f"(serial LT402-0001), component `{r.new_component_aml_id}`, new feed {r.new_feed}. The old feed was "
            f"retired with the new one as its successor.\n")
