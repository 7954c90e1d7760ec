"""`twinledger dev up|down` as real processes in a temp dir, driven through the installed console script."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_harness import AML_V1

from twinledger.chain.devnet import free_port
from twinledger.cli.dev import is_running


def _script() -> str:
    beside = Path(sys.executable).parent / "twinledger"
    return str(beside) if beside.exists() else (shutil.which("twinledger") or pytest.skip("no twinledger script"))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TWINLEDGER_")}


def run(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([_script(), *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, f"{args}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _kill_leftovers(state: dict) -> None:
    for key, marker in (("anvil_pid", "anvil"), ("ipfs_pid", "twinledger.cli.ipfs")):
        if is_running(state.get(key), marker):
            os.killpg(state[key], signal.SIGKILL)


def test_dev_up_use_and_down(tmp_path: Path) -> None:
    rpc_port, ipfs_port = free_port(), free_port()
    state_file = tmp_path / ".twinledger" / "dev.json"
    try:
        up = run(tmp_path, "dev", "up", "--port", str(rpc_port), "--ipfs-port", str(ipfs_port))
        state = json.loads(state_file.read_text())
        assert state["rpc_url"] == f"http://127.0.0.1:{rpc_port}"
        assert state["ipfs"] == f"embedded:{(tmp_path / '.twinledger' / 'ipfs').resolve()}"
        assert Path(state["deployment"]).exists()
        assert is_running(state["anvil_pid"], "anvil") and is_running(state["ipfs_pid"], "twinledger.cli.ipfs")
        assert "TEST::1" in up.stdout and "twinledger dev down" in up.stdout

        assert "already up" in run(tmp_path, "dev", "up", "--port", str(rpc_port)).stdout
        assert "running" in run(tmp_path, "dev", "status").stdout

        # every other command finds the stack through the state file
        created = run(tmp_path, "--account", "TEST::1", "twin", "create", "--aml", str(AML_V1))
        assert "Created twin 1" in created.stdout
        assert "bottling_plant" in run(tmp_path, "twin", "list").stdout
        # the served IPFS API holds the same store: the specification is read through it
        shown = run(tmp_path, "--ipfs", f"kubo:http://127.0.0.1:{ipfs_port}", "twin", "show", "1").stdout
        assert "LT-401 [1eceda4b-1d8e-483f-9488-272e6ed05463]" in shown

        missing = run(tmp_path, "twin", "show", "42", check=False)
        assert missing.returncode == 1 and "Traceback" not in missing.stderr
        assert missing.stderr.strip().splitlines() == ["Error: TwinNotFound: there is no twin 42 (twins are 1..1)"]

        down = run(tmp_path, "dev", "down")
        assert "Stopped anvil" in down.stdout and "IPFS server" in down.stdout and "chain is kept" in down.stdout
        assert not state_file.exists() and Path(state["deployment"]).exists()
        assert not is_running(state["anvil_pid"], "anvil") and not is_running(state["ipfs_pid"], "twinledger.cli.ipfs")

        # the next `dev up` continues the same chain: same contracts, the twin is still there
        again = run(tmp_path, "dev", "up", "--port", str(rpc_port), "--ipfs-port", str(ipfs_port))
        assert "Reusing the contracts deployed on the kept chain" in again.stderr
        assert "bottling_plant" in run(tmp_path, "twin", "list").stdout
        assert "forgotten" in run(tmp_path, "dev", "down", "--reset").stdout
        assert not Path(state["deployment"]).exists() and not (tmp_path / ".twinledger" / "anvil-state.json").exists()
        assert "nothing to stop" in run(tmp_path, "dev", "down").stdout
        assert run(tmp_path, "dev", "status", check=False).returncode == 0  # nothing recorded: not an error
        unreachable = run(tmp_path, "--network", f"http://127.0.0.1:{rpc_port}", "--deployment",
                          str(tmp_path / "none.json"), "twin", "list", check=False)
        assert unreachable.returncode == 1 and "Traceback" not in unreachable.stderr
    finally:
        if state_file.exists():
            state = json.loads(state_file.read_text())
            run(tmp_path, "dev", "down", check=False)
            _kill_leftovers(state)


def test_dev_up_refuses_a_busy_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run(tmp_path, "dev", "up", "--port", str(port), "--ipfs-port", str(free_port()), check=False)
    assert proc.returncode == 1 and f"port {port} for anvil is in use" in proc.stderr
    assert not (tmp_path / ".twinledger" / "dev.json").exists()
