"""Running the `twinledger` CLI in-process against a real DevStack (anvil + embedded IPFS).

Imported by the CLI tests of every folder (tests/ is on sys.path, as for contract_constants); the `tl`
fixture that starts one stack per test module is in tests/conftest.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from click.testing import CliRunner, Result

from twinledger.chain.devnet import test_account
from twinledger.chain.stack import DevStack
from twinledger.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
AML_V1 = ROOT / "examples" / "bottling-plant.aml"
AML_V2 = ROOT / "examples" / "bottling-plant-v2.aml"

OWNER, MANUFACTURER, MAINTAINER, AUDITOR, OUTSIDER = 1, 2, 3, 5, 7


def address(index: int) -> str:
    return test_account(index).address


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # click 8.1; 8.2 always keeps stderr apart
    except TypeError:
        return CliRunner()


@dataclass
class Twinledger:
    """`tl("twin", "show", "1")` runs the command as TEST::1 (or the module's `default_account`) and
    asserts success unless `ok=False`."""

    stack: DevStack
    default_account: int | None = OWNER

    def env(self, account: int | None) -> dict[str, str | None]:
        return {"TWINLEDGER_RPC": self.stack.rpc_url, "TWINLEDGER_DEPLOYMENT": str(self.stack.deployment_path),
                "TWINLEDGER_IPFS": self.stack.ipfs_spec,
                "TWINLEDGER_ACCOUNT": None if account is None else f"TEST::{account}"}

    def __call__(self, *args: object, account: int | None | Literal["default"] = "default", ok: bool = True,
                 input: str | None = None) -> Result:
        who = self.default_account if account == "default" else account
        result = _runner().invoke(cli, [str(a) for a in args], env=self.env(who), input=input,
                                  catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
        return result

    def fails(self, *args: object, account: int | None | Literal["default"] = "default") -> str:
        """Run a command that must fail with one clear line and exit 1; returns that line."""
        result = self(*args, account=account, ok=False)
        assert result.exit_code == 1, f"{args}: exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr + result.stdout
        lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(lines) == 1, result.stderr
        return lines[0]

    def create_twin(self, aml: Path = AML_V1, account: int = OWNER, name: str | None = None) -> int:
        args = ["twin", "create", "--aml", str(aml)] + (["--name", name] if name else [])
        out = self(*args, account=account).stdout
        match = re.search(r"Created twin (\d+)", out)
        assert match, out
        return int(match.group(1))

    def block_number(self) -> int:
        return self.stack.chain().w3.eth.block_number
