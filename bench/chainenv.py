"""The system under measurement: one anvil chain with TwinLedger deployed, the embedded IPFS node, and the
bench's own baseline contracts (bench/contracts/*.sol, compiled with py-solc-x)."""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from twinledger.chain.connection import TwinLedgerChain
from twinledger.chain.devnet import test_account
from twinledger.chain.stack import DevStack

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
SOLC_VERSION = "0.8.28"

OWNER_INDEX = 0
AGENT_INDEX = 1
NAIVE_INDEX = 2
ETHERTWIN_INDEX = 3
DEVICE_AGENT = keccak(text="DEVICE_AGENT")
MAINTAINER = keccak(text="MAINTAINER")
RAW_CODEC = 0x55
T0_MS = 1_700_000_000_000


def events(event: Any, receipt: TxReceipt) -> list[Any]:
    """The args of every `event` log in `receipt` (other contracts' logs are skipped silently)."""
    return [e["args"] for e in event.process_receipt(receipt, errors=DISCARD)]


def h(text: str) -> bytes:
    """A 32-byte stand-in digest for `text`."""
    return keccak(text=text)


@functools.lru_cache(maxsize=1)
def compile_bench_contracts() -> dict[str, dict[str, Any]]:
    """Compile every bench/contracts/*.sol with solc 0.8.28, optimizer 200 runs, cancun (as ape-config.yaml)."""
    import solcx

    sources = {p.name: {"content": p.read_text(encoding="utf-8")} for p in sorted(CONTRACTS_DIR.glob("*.sol"))}
    settings = {
        "optimizer": {"enabled": True, "runs": 200},
        "evmVersion": "cancun",
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
    }
    out = solcx.compile_standard({"language": "Solidity", "sources": sources, "settings": settings},
                                 solc_version=SOLC_VERSION)
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise RuntimeError("bench contracts do not compile: " + json.dumps(errors)[:2000])
    return {name: {"abi": c["abi"], "bytecode": "0x" + c["evm"]["bytecode"]["object"]}
            for unit in out["contracts"].values() for name, c in unit.items()}


@dataclass
class BenchEnv:
    """A started DevStack plus helpers that create twins, components and feeds through real transactions."""

    workdir: Path
    stack: DevStack = field(init=False)
    owner: TwinLedgerChain = field(init=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.stack = DevStack(self.workdir / "stack")
        self._names = 0
        self._chains: dict[int, TwinLedgerChain] = {}

    def start(self) -> "BenchEnv":
        os.environ.setdefault("SOLCX_BINARY_PATH", str(Path(__file__).resolve().parents[1] / ".venv" / "solcx"))
        self.stack.start()
        self.owner = self.stack.chain(OWNER_INDEX)
        return self

    def stop(self) -> None:
        self.stack.stop()

    def __enter__(self) -> "BenchEnv":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def chain(self, index: int) -> TwinLedgerChain:
        """The system as test account `index`; one object (and so one nonce counter) per account."""
        if index not in self._chains:
            self._chains[index] = self.owner if index == OWNER_INDEX else self.stack.chain(index)
        return self._chains[index]

    def unique(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    # -- TwinLedger objects ----------------------------------------------------------------

    def create_twin(self, name: str = "Bottling plant") -> tuple[int, TxReceipt]:
        spec = self.owner.spec
        receipt = self.owner.sender.transact(
            spec.functions.createTwin(name, h("device"), h(self.unique("spec")), RAW_CODEC, h("spec-digest")))
        twin = events(spec.events.TwinCreated(), receipt)[0]["twin"]
        return int(twin), receipt

    def add_component(self, twin: int, name: str | None = None) -> tuple[bytes, TxReceipt]:
        name = name or self.unique("Sensor")
        cid = h(f"{twin}/{name}")
        receipt = self.owner.sender.transact(
            self.owner.spec.functions.addComponent(twin, cid, b"\x00" * 32, name, h("Sensor")))
        return cid, receipt

    def register_feed(self, twin: int, component: bytes, device: str) -> tuple[int, TxReceipt]:
        feeds = self.owner.feeds
        receipt = self.owner.sender.transact(feeds.functions.registerFeed(twin, component, device, h("schema")))
        feed = events(feeds.events.FeedRegistered(), receipt)[0]["feedId"]
        return int(feed), receipt

    def grant(self, twin: int, role: bytes, index: int) -> TxReceipt:
        return self.owner.sender.transact(self.owner.auth.functions.grantTwinRole(twin, role, test_account(index).address))

    def new_feeds(self, twin: int, n: int, device: str) -> list[int]:
        """Register `n` feeds (one new component each) on `twin`, signing with `device`."""
        return [self.register_feed(twin, self.add_component(twin)[0], device)[0] for _ in range(n)]

    # -- bench contracts -----------------------------------------------------------------------

    def deploy(self, name: str, *args: Any, index: int = OWNER_INDEX) -> tuple[Contract, TxReceipt]:
        """Deploy bench contract `name` from account `index`; returns it and the deployment receipt."""
        art = compile_bench_contracts()[name]
        chain = self.chain(index)
        w3 = chain.w3
        receipt = chain.sender.transact(w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(*args))
        return w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"]), receipt
