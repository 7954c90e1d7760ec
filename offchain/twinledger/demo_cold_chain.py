"""The cold-chain delivery of the nChain patent, end to end on anvil and the embedded IPFS node
(`twinledger demo cold-chain`, `make demo-cold-chain`).

A farmer (seller) sells vegetables to a supermarket (buyer); a carrier drives them in a refrigerated
lorry whose twin records the trailer temperature. The goods must stay at or below 3 °C, and the buyer
confirms the delivery before the deadline. Nobody trusts the others, so the buyer's price and the
carrier's bond are escrowed in an agreement that the chain settles from proven readings.

Time is compressed: a trip of eight hours runs in `TRIP_S` seconds. Two trips run one after the other on
the same lorry. The first stays cold and is settled as Completed: the farmer is paid. On the second the
door is left open at a stop; the buyer's watchtower, running in-process, proves the excursion on-chain
from the anchored batch as soon as it is anchored, and the agreement pays out as Breached.

Every step a person takes is a real `twinledger` command, run in-process and shown as typed. The trailer
is simulated by `ReeferTrailer`: it measures, builds version-1 batches, stores them on IPFS, signs each
anchor with the device key and relays it through the device agent's account, exactly as the agent does.
"""
from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from .agent.watchtower import Action, Watchtower
from .ledger.agreements.model import Outcome, units
from .ledger import contracts
from .ledger.agreements.registry import AgreementClient
from .ledger.provision import anchor_batch
from .chain.devnet import test_account
from .chain.stack import DevStack
from .cli.scripted import run_shown
from .errors import TwinLedgerError
from .formats.batch import Batch, Reading, encode_batch
from .formats.cids import pack
from .formats.eip712 import AnchorMessage, sign_anchor
from .formats.merkle import MerkleTree, leaf_hash

ROOT = Path(__file__).resolve().parents[2]
LORRY_AML = ROOT / "examples" / "refrigerated-lorry.aml"
SENSOR = "trailer_temp"

DEPLOYER, SELLER, CARRIER, BUYER, AGENT, DEVICE = 0, 2, 4, 5, 6, 9
NAMES = {SELLER: "farmer", CARRIER: "carrier", BUYER: "supermarket", DEPLOYER: "faucet"}

TRIP_S = 14.0          # one eight-hour trip, compressed
LEAD_S = 10.0          # from proposing to the first trip's start: time for the three acceptances
CHALLENGE_S = 4.0      # challenge window after a trip's end
MAX_GAP_S = 3.0        # coverage: no stretch without an anchored batch longer than this
SAMPLE_S = 0.25        # the trailer measures four times a second
BATCH_S = 1.0          # and anchors a batch every second
DOOR_OPEN_AT = 0.35    # on the second trip, the door is left open at 35 % of the way ...
DOOR_OPEN_FOR = 0.2    # ... for a fifth of the trip
LIMIT_C = 3.0
PRICE, BOND = 100, 20  # DevToken units

console = Console(highlight=False, soft_wrap=True)


class DemoFailed(TwinLedgerError, RuntimeError):
    pass


# ---- the simulated trailer --------------------------------------------------------------------------


@dataclass
class ReeferTrailer:
    """A refrigerated trailer's temperature device: measures, batches, stores, signs and anchors."""

    chain: Any  # TwinLedgerChain of the device agent's account
    store: Any
    feed_id: int
    device_key: bytes
    door_open: list[tuple[float, float]] = field(default_factory=list)  # wall-clock intervals (s)
    setpoint_c: float = 1.5
    temp_c: float = 1.5
    seq: int = 0
    rid: int = 0
    anchored: int = 0
    peak_c: float = -math.inf
    stop: threading.Event = field(default_factory=threading.Event)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def measure(self, now_s: float) -> float:
        """First-order thermal model: warm air rushes in while the door is open, the unit cools it back."""
        outside = any(a <= now_s < b for a, b in self.door_open)
        target = 14.0 if outside else self.setpoint_c
        rate = 0.35 if outside else 0.25
        self.temp_c += (target - self.temp_c) * rate + self.rng.gauss(0, 0.05)
        self.peak_c = max(self.peak_c, self.temp_c)
        return round(self.temp_c, 3)

    def run(self, until_s: float) -> None:
        pending: list[Reading] = []
        next_batch = time.time() + BATCH_S
        while not self.stop.is_set() and time.time() < until_s:
            now = time.time()
            pending.append(Reading(rid=self.rid, sensor=SENSOR, t_ms=int(now * 1000), value=self.measure(now)))
            self.rid += 1
            if now >= next_batch:
                self.anchor(pending)
                pending = []
                next_batch = now + BATCH_S
            self.stop.wait(SAMPLE_S)
        if pending:
            self.anchor(pending)

    def anchor(self, readings: list[Reading]) -> None:
        batch = Batch(feed=self.feed_id, seq=self.seq, readings=tuple(readings))
        data = encode_batch(batch)
        stat = self.store.block_put(data, codec="raw", pin=True)
        cid, _ = pack(stat.cid)
        root = MerkleTree([leaf_hash(b) for b in _encoded(readings)]).root
        prev = contracts.feed(self.chain, self.feed_id).head
        t_first, t_last = readings[0].t_ms, readings[-1].t_ms
        message = AnchorMessage(self.feed_id, self.seq, bytes(prev), root, cid, len(readings), t_first, t_last)
        signature = sign_anchor(self.device_key, message, self.chain.w3.eth.chain_id, self.chain.feeds.address)
        anchor_batch(self.chain, self.feed_id, self.seq, root, cid, len(readings), t_first, t_last, signature)
        self.seq += 1
        self.anchored += 1


def _encoded(readings: list[Reading]) -> list[bytes]:
    from .formats.batch import encode_reading

    return [encode_reading(r) for r in readings]


# ---- the scenario -----------------------------------------------------------------------------------


@dataclass
class ColdChainDemo:
    workdir: Path
    stack: DevStack | None = None
    actions: list[Action] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        assert self.stack is not None
        return {"TWINLEDGER_RPC": self.stack.rpc_url, "TWINLEDGER_DEPLOYMENT": str(self.stack.deployment_path),
                "TWINLEDGER_IPFS": self.stack.ipfs_spec, "COLUMNS": "120"}

    def tl(self, who: int, command: str, expect_ok: bool = True) -> str:
        """Run `twinledger --account TEST::who COMMAND` and show it as typed, with its output."""
        result = run_shown(command, account=who, label=str(NAMES.get(who, who)), env=self.env(), console=console)
        if (result.exit_code == 0) != expect_ok:
            raise DemoFailed(f"`twinledger {command}` exited {result.exit_code}, expected "
                             f"{'success' if expect_ok else 'a refusal'}")
        return result.output

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        step(0, "Start a local chain (anvil) and the embedded IPFS node, and deploy the contracts")
        self.stack = DevStack(self.workdir / "stack").start()
        console.print(f"  chain {self.stack.rpc_url}, IPFS store {self.stack.ipfs_path}")

        step(1, "The carrier creates the lorry's twin and registers the trailer's temperature feed")
        out = self.tl(CARRIER, f"twin create --aml {LORRY_AML}")
        twin = int(_find(r"Created twin (\d+)", out))
        self.tl(CARRIER, f"role grant {twin} DEVICE_AGENT {addr(AGENT)}")
        out = self.tl(CARRIER, f"feed register {twin} {SENSOR} --device {addr(DEVICE)}")
        feed = int(_find(r"Registered feed (\d+)", out))

        step(2, f"The dev chain's faucet gives the supermarket and the carrier {2 * (PRICE + BOND)} DevToken each")
        client = AgreementClient(self.stack.chain(DEPLOYER))
        for who in (BUYER, CARRIER):
            client.mint_dev_token(addr(who), 2 * (PRICE + BOND) * 10**18)
            console.print(f"  minted {2 * (PRICE + BOND)} TLD to the {NAMES[who]} {addr(who)}")

        step(3, "The farmer proposes one agreement per trip: at most 3 °C, no gap over 3 s, delivery confirmed")
        now_ms = client.now_ms()
        trips = []
        for n in range(2):
            start = now_ms + int((LEAD_S + n * TRIP_S) * 1000)
            trips.append((start, start + int(TRIP_S * 1000)))
        ids = []
        for n, (start, end) in enumerate(trips):
            path = self.workdir / f"trip-{n + 1}.json"
            path.write_text(json.dumps(terms_file(twin, feed, start, end), indent=1))
            out = self.tl(SELLER, f"agreement create {path}")
            ids.append(int(_find(r"Created agreement (\d+)", out)))
        cold, door = ids

        step(4, "Each party accepts on-chain before the start; the buyer and the carrier pay their deposits")
        for agreement_id in ids:
            for who in (SELLER, CARRIER, BUYER):
                self.tl(who, f"agreement accept {agreement_id}")
        self.tl(BUYER, f"agreement accept {cold}", expect_ok=False)  # accepting twice is refused
        self.tl(SELLER, "agreement list")

        step(5, f"Two trips ({TRIP_S:.0f} s each for eight hours); the supermarket's watchtower follows every batch")
        trailer = ReeferTrailer(self.stack.chain(AGENT), self.stack.store(), feed, test_account(DEVICE).key)
        door_from = trips[1][0] / 1000 + DOOR_OPEN_AT * TRIP_S
        trailer.door_open.append((door_from, door_from + DOOR_OPEN_FOR * TRIP_S))
        device = threading.Thread(target=trailer.run, args=(trips[1][1] / 1000 + MAX_GAP_S / 2,), daemon=True)
        tower = Watchtower(AgreementClient(self.stack.chain(BUYER)), self.stack.store(), ids, settle=True,
                           on_action=self._show_action)
        stop = threading.Event()
        watcher = threading.Thread(target=tower.run, args=(0.5, stop), kwargs={"until_settled": True}, daemon=True)
        wait_until_ms(client, trips[0][0] - 1500)
        device.start()
        watcher.start()
        wait_until_ms(client, trips[0][0] + int(TRIP_S * 600))
        console.print(f"  the lorry arrives at the supermarket (trip 1): {trailer.anchored} batches anchored, "
                      f"peak {trailer.peak_c:.1f} °C")
        self.tl(BUYER, f"agreement confirm {cold}")
        wait_until_ms(client, trips[1][0] + int(TRIP_S * 800))
        console.print(f"  trip 2: the door was open at a stop; peak {trailer.peak_c:.1f} °C")
        self.tl(BUYER, f"agreement confirm {door}", expect_ok=False)  # already breached: no delivery to record
        device.join(timeout=TRIP_S * 3)
        watcher.join(timeout=TRIP_S * 3 + 30)
        stop.set()
        if watcher.is_alive():
            raise DemoFailed("the watchtower did not see both agreements settled in time")

        step(6, "The payouts: each party withdraws what the outcome gives it")
        self.tl(SELLER, f"agreement withdraw {cold}")
        self.tl(CARRIER, f"agreement withdraw {cold}")
        self.tl(BUYER, f"agreement withdraw {cold}", expect_ok=False)  # nothing for the buyer on completion
        self.tl(BUYER, f"agreement withdraw {door}")
        self.tl(CARRIER, f"agreement withdraw {door}")
        self.tl(SELLER, f"agreement settle {door}", expect_ok=False)  # no double settlement
        self.tl(BUYER, f"agreement show {door}")

        step(7, "The auditor's view of the lorry twin: its verification and its report")
        self.tl(BUYER, f"verify twin {twin}")
        report = self.workdir / "lorry-audit-report.html"
        self.tl(BUYER, f"audit report --twin {twin} -o {report}")

        outcomes = {i: client.state(i).outcome for i in ids}
        balances = {NAMES[w]: units(client.token_balance(client.dev_token, addr(w))) for w in (SELLER, CARRIER, BUYER)}
        console.rule()
        console.print(f"[bold]trip 1 (stayed cold): {outcomes[cold].name.title()}; trip 2 (door open): "
                      f"{outcomes[door].name.title()}[/]. Balances: {balances}. Report: {report} "
                      f"({time.monotonic() - started:.0f} s)")
        return {"twin": twin, "feed": feed, "agreements": ids, "outcomes": outcomes, "balances": balances,
                "report": report, "actions": list(self.actions)}

    def _show_action(self, action: Action) -> None:
        self.actions.append(action)
        console.print(f"  [bold magenta]watchtower[/] {action}", markup=True, highlight=False)


def terms_file(twin: int, feed: int, start_ms: int, end_ms: int) -> dict[str, Any]:
    """The agreement of one trip, as the farmer writes it."""
    return {
        "twin": twin, "token": "dev", "start": start_ms, "end": end_ms, "challenge": f"{CHALLENGE_S:g}s",
        "parties": [
            {"account": f"TEST::{SELLER}", "role": "seller", "deposit": 0,
             "on_completed": PRICE, "on_breached": 0, "on_expired": 0},
            {"account": f"TEST::{CARRIER}", "role": "carrier", "deposit": BOND,
             "on_completed": BOND, "on_breached": BOND // 2, "on_expired": BOND},
            {"account": f"TEST::{BUYER}", "role": "buyer", "deposit": PRICE,
             "on_completed": 0, "on_breached": PRICE + BOND // 2, "on_expired": PRICE},
        ],
        "conditions": [{"feed": feed, "sensor": SENSOR, "max": LIMIT_C, "max_gap": f"{MAX_GAP_S:g}s"}],
        "delivery": {"kind": "confirmation", "confirmer": "buyer", "deadline": end_ms},
    }


def addr(index: int) -> str:
    return test_account(index).address


def step(number: int, text: str) -> None:
    console.print(f"\n[bold]{number}. {text}[/]")


def _find(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise DemoFailed(f"expected {pattern!r} in the output")
    return match.group(1)


def wait_until_ms(client: AgreementClient, t_ms: int) -> None:
    """Sleeps until the wall clock (which anvil's block times follow) reaches `t_ms`."""
    delay = t_ms / 1000 - time.time()
    if delay > 0:
        time.sleep(delay)


@click.command("cold-chain")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path(".twinledger/cold-chain"),
              show_default=True, help="Where the demo's chain, IPFS store and report go (wiped first).")
def main(workdir: Path) -> None:
    """The patent's delivery: a lorry twin, a cold trip settled paid and a door-open trip proven breached.
    `twinledger demo cold-chain` runs this module as `python -m twinledger.demo_cold_chain`."""
    import shutil

    shutil.rmtree(workdir, ignore_errors=True)
    demo = ColdChainDemo(workdir.resolve())
    try:
        result = demo.run()
    except DemoFailed as exc:
        raise click.ClickException(f"demo failed: {exc}") from None
    finally:
        if demo.stack is not None:
            demo.stack.stop()
    cold, door = result["agreements"]
    if result["outcomes"][cold] != Outcome.COMPLETED or result["outcomes"][door] != Outcome.BREACHED:
        raise click.ClickException(f"unexpected outcomes {result['outcomes']}")


if __name__ == "__main__":
    main()
