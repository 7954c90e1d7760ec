"""`twinledger dev up|down|status`: a local stack that outlives the command.

`dev up` starts anvil and the embedded IPFS RPC server as detached processes (their own sessions,
so they survive the shell), deploys the contracts with test account 0 and writes `.twinledger/dev.json`
in the working directory. Every other command run from that directory then finds the chain, the
deployment and the IPFS store on its own. The CLI itself opens the embedded store directly (it is
safe for several processes); the RPC server is there for Kubo clients such as the agent.
`dev down` stops exactly the processes recorded there; anvil writes its chain to
`.twinledger/anvil-state.json` as it stops, and the next `dev up` loads it and reuses the deployment,
so the same chain (same genesis, same contracts, same twins) continues. `dev down --reset` forgets it.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import click
from rich.table import Table

from ..chain.connection import connect
from ..chain.deploy import deploy_system
from ..chain.deployment import Deployment
from ..chain.devnet import Anvil, test_account
from ..errors import TwinLedgerError
from .context import STATE_DIR, STATE_FILE, load_dev_state

DEFAULT_RPC_PORT = 8545
DEFAULT_IPFS_PORT = 5001
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
CHAIN_STATE = "anvil-state.json"   # in .twinledger/: the dev chain, kept across `dev down` / `dev up`
ACCOUNT_USES = ("deployer (contract admin)", "twin owner", "manufacturer", "maintainer", "distributor", "auditor",
                "device agent", "outsider")


@dataclass(frozen=True)
class DevState:
    rpc_url: str
    deployment: str
    ipfs: str
    ipfs_api: str
    anvil_pid: int
    ipfs_pid: int
    started_at: int

    def save(self, path: Path = STATE_FILE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)


class DevError(TwinLedgerError, click.ClickException):
    pass


# ------------------------------------------------------------------------------------------ processes


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def is_running(pid: int | None, marker: str) -> bool:
    """True if `pid` is alive and still the process we started (a reused pid has another command line)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return marker in _cmdline(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child (started by another `twinledger` run): init reaps it


def stop_process(pid: int | None, marker: str) -> bool:
    """SIGTERM the process group we started, SIGKILL after a grace period; False if it was not running."""
    if not pid or not is_running(pid, marker):
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_running(pid, marker):
            return True
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    _reap(pid)
    return True


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            raise DevError(f"the IPFS server exited with status {proc.returncode}: {' '.join(tail) or 'see ' + str(log)}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise DevError(f"the IPFS server did not listen on port {port} within {START_TIMEOUT_S:.0f}s (log: {log})")


def start_ipfs(store_dir: Path, port: int, log: Path) -> subprocess.Popen:
    args = [sys.executable, "-m", "twinledger.cli.ipfs", "--store", f"embedded:{store_dir}", "serve",
            "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    wait_for_port(port, proc, log)
    return proc


# ------------------------------------------------------------------------------------------ commands


@click.group("dev")
def dev_group() -> None:
    """A local development stack: anvil, the contracts and an IPFS node."""


@dev_group.command("up")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_RPC_PORT, show_default=True,
              help="anvil JSON-RPC port.")
@click.option("--ipfs-port", type=click.IntRange(1, 65535), default=DEFAULT_IPFS_PORT, show_default=True,
              help="IPFS RPC API port (Kubo subset).")
def dev_up(port: int, ipfs_port: int) -> None:
    """Start anvil and IPFS in the background, deploy, and record them in .twinledger/dev.json."""
    state = load_dev_state()
    if state and _all_running(state):
        click.echo(f"The dev stack is already up: chain {state['rpc_url']}, IPFS {state['ipfs_api']} "
                   f"(state in {STATE_FILE}). `twinledger dev down` stops it.")
        return
    if state:
        click.echo("Found a stale dev state (its processes are gone); starting afresh.", err=True)
        _stop_all(state)
    for p, what in ((port, "anvil"), (ipfs_port, "IPFS")):
        if not port_free(p):
            raise DevError(f"port {p} for {what} is in use: choose another with --{'port' if what == 'anvil' else 'ipfs-port'}")
    _start(port, ipfs_port).save()
    _print_summary(load_dev_state())


def _start(port: int, ipfs_port: int) -> DevState:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    root = STATE_DIR.resolve()
    # The chain lives in anvil's state file: written when `dev down` stops anvil, loaded by the next `dev up`.
    # anvil outlives this process: its spilled states go next to its state file, not to a temporary directory
    anvil = Anvil(port=port, log_file=root / "anvil.log", state_file=root / CHAIN_STATE, cache_dir=root / "anvil-states")
    kept = (root / CHAIN_STATE).exists()
    click.echo(f"Starting anvil on 127.0.0.1:{port}{' with the chain kept by the last dev down' if kept else ''}…",
               err=True)
    anvil.start()
    try:
        deployment = _kept_deployment(root / "deployment.json", anvil.url) if kept else None
        if deployment is None:
            click.echo("Deploying Authorization, Specification and SensorFeed…", err=True)
            deployment = deploy_system(connect(anvil.url), test_account(0), rpc_url=anvil.url)
        deployment.save(root / "deployment.json")
        click.echo(f"Starting the IPFS RPC server on 127.0.0.1:{ipfs_port}…", err=True)
        ipfs = start_ipfs(root / "ipfs", ipfs_port, root / "ipfs.log")
    except BaseException:
        anvil.stop()
        raise
    assert anvil.proc is not None
    return DevState(rpc_url=anvil.url, deployment=str(root / "deployment.json"), ipfs=f"embedded:{root / 'ipfs'}",
                    ipfs_api=f"http://127.0.0.1:{ipfs_port}", anvil_pid=anvil.proc.pid, ipfs_pid=ipfs.pid,
                    started_at=int(time.time()))


def _kept_deployment(path: Path, rpc_url: str) -> Deployment | None:
    """The deployment of a kept chain, if its contracts are still there (else None: deploy afresh)."""
    try:
        deployment = Deployment.load(path)
    except TwinLedgerError:
        return None
    w3 = connect(rpc_url)
    if any(not w3.eth.get_code(w3.to_checksum_address(c.address)) for c in deployment.contracts.values()):
        return None
    click.echo("Reusing the contracts deployed on the kept chain.", err=True)
    return replace(deployment, rpc_url=rpc_url)


def _all_running(state: dict) -> bool:
    return is_running(state.get("anvil_pid"), "anvil") and is_running(state.get("ipfs_pid"), "twinledger.cli.ipfs")


def _stop_all(state: dict) -> list[str]:
    stopped = []
    if stop_process(state.get("anvil_pid"), "anvil"):
        stopped.append(f"anvil (pid {state['anvil_pid']})")
    if stop_process(state.get("ipfs_pid"), "twinledger.cli.ipfs"):
        stopped.append(f"IPFS server (pid {state['ipfs_pid']})")
    return stopped


def _print_summary(state: dict) -> None:
    from .commands.base import cell, console

    out = console()
    out.print(cell(f"Dev stack up. Chain: {state['rpc_url']} (anvil, chain id 31337, pid {state['anvil_pid']})"))
    out.print(cell(f"Deployment: {state['deployment']}"))
    out.print(cell(f"IPFS store: {state['ipfs']}; RPC API {state['ipfs_api']} (pid {state['ipfs_pid']})"))
    out.print(cell(f"State: {STATE_FILE.resolve()} — commands run from {Path.cwd()} use it."))
    accounts = Table(title="Test accounts (pass --account TEST::N or set TWINLEDGER_ACCOUNT)", title_justify="left")
    for column in ("account", "address", "suggested use"):
        accounts.add_column(column)
    for index, use in enumerate(ACCOUNT_USES):
        accounts.add_row(f"TEST::{index}", test_account(index).address, use)
    out.print(accounts)
    out.print("Stop with `twinledger dev down`.")


@dev_group.command("down")
@click.option("--reset", is_flag=True, help="Also forget the chain: the next `dev up` starts a new one.")
def dev_down(reset: bool) -> None:
    """Stop the processes `dev up` started. The chain (anvil's state), its deployment, IPFS data and logs
    stay, so the next `dev up` continues the same chain; `--reset` forgets the chain and its deployment."""
    state = load_dev_state()
    if not state and not reset:
        click.echo(f"No dev stack recorded in {STATE_FILE}: nothing to stop.")
        return
    stopped = _stop_all(state) if state else []
    STATE_FILE.unlink(missing_ok=True)
    shutil.rmtree(STATE_DIR / "anvil-states", ignore_errors=True)  # the state file holds the chain, not these
    kept = "the chain is kept for the next `dev up` (`dev down --reset` forgets it)"
    if reset:
        (STATE_DIR / CHAIN_STATE).unlink(missing_ok=True)
        Path((state or {}).get("deployment", STATE_DIR / "deployment.json")).unlink(missing_ok=True)
        kept = "the chain and its deployment are forgotten"
    click.echo(f"Stopped {' and '.join(stopped) if stopped else 'nothing (already gone)'}; removed {STATE_FILE}; "
               f"{kept}.")


@dev_group.command("status")
def dev_status() -> None:
    """Whether the recorded dev stack is running."""
    state = load_dev_state()
    if not state:
        click.echo("No dev stack recorded here. Start one with `twinledger dev up`.")
        return
    anvil = is_running(state.get("anvil_pid"), "anvil")
    ipfs = is_running(state.get("ipfs_pid"), "twinledger.cli.ipfs")
    click.echo(f"anvil {state['rpc_url']}: {'running' if anvil else 'stopped'}; "
               f"IPFS {state['ipfs_api']}: {'running' if ipfs else 'stopped'}")
    if not (anvil and ipfs):
        raise click.exceptions.Exit(1)
