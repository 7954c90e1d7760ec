"""A local anvil dev chain as a real subprocess, and the well-known test accounts of its mnemonic."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from .artifacts import project_root
from .errors import ChainUnavailable

TEST_MNEMONIC = "test test test test test test test test test test test junk"
DEV_CHAIN_ID = 31337

Account.enable_unaudited_hdwallet_features()


def test_account(index: int) -> LocalAccount:
    """Account `index` of the test mnemonic (the same accounts as anvil's and ape's TEST::index)."""
    account: LocalAccount = Account.from_mnemonic(TEST_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def anvil_binary() -> str:
    local = project_root() / "node_modules" / ".bin" / "anvil"
    found = str(local) if local.exists() else shutil.which("anvil")
    if not found:
        raise ChainUnavailable("anvil not found: run `make setup` (it installs @foundry-rs/anvil-linux-amd64)")
    return found


def wait_for_rpc(url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 2}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ChainUnavailable(f"anvil exited with status {proc.returncode} before answering at {url}")
        try:
            w3.eth.block_number  # noqa: B018 - the probe: any answer means the node is up
            return
        except Exception:  # noqa: BLE001 - not up yet, whatever the transport raises
            time.sleep(0.1)
    raise ChainUnavailable(f"no JSON-RPC node answered at {url} within {timeout:.0f}s")


@dataclass
class Anvil:
    """An anvil process on 127.0.0.1. Use as a context manager, or call start()/stop()."""

    port: int = 0
    block_time: float | None = None  # None: a block per transaction (automine)
    chain_id: int = DEV_CHAIN_ID
    state_file: Path | None = None
    log_file: Path | None = None
    cache_dir: Path | None = None  # where anvil spills old states; None: a directory of its own, removed on stop
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    # anvil spills old states to disk; in its default (~/.foundry/anvil/tmp) they are never removed, and a
    # session's test and bench chains left 80 GB there. Each process gets its own directory, removed on stop.
    _states: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Anvil":
        self.port = self.port or free_port()
        args = [anvil_binary(), "--host", "127.0.0.1", "--port", str(self.port), "--chain-id", str(self.chain_id),
                "--mnemonic", TEST_MNEMONIC, "--accounts", "10", "--silent"]
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        if self.state_file:
            args += ["--state", str(self.state_file)]
        if self.cache_dir is None:
            self._states = tempfile.TemporaryDirectory(prefix="anvil-states-")
        args += ["--cache-path", str(self.cache_dir or self._states.name)]  # type: ignore[union-attr]
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_rpc(self.url, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if self._states is not None:
            self._states.cleanup()
            self._states = None

    def __enter__(self) -> "Anvil":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
