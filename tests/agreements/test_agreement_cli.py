"""`twinledger agreement ...` on a real DevStack (anvil + embedded IPFS): every command's happy path and its
refusals as one line with a non-zero exit, and the watchtower proving a breach from batches it fetches from
IPFS. Batches are built, stored and device-signed by the cold-chain demo's trailer device."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from cli_harness import Twinledger
from twinledger.agent.watchtower import Watchtower
from twinledger.chain.devnet import test_account as dev_account
from twinledger.chain.stack import DevStack
from twinledger.demo_cold_chain import LORRY_AML, SENSOR, ReeferTrailer
from twinledger.formats.batch import Reading
from twinledger.ledger.agreements.model import Outcome, Status
from twinledger.ledger.agreements.registry import AgreementClient

pytestmark = pytest.mark.timeout(240)

CARRIER, SELLER, BUYER, AGENT, OUTSIDER, DEVICE = 4, 2, 5, 6, 7, 9


@pytest.fixture(scope="module")
def tl(cli_stack: DevStack) -> Twinledger:
    return Twinledger(cli_stack, default_account=SELLER)


@pytest.fixture(scope="module")
def stack(cli_stack: DevStack) -> DevStack:
    return cli_stack


@pytest.fixture(scope="module")
def lorry(tl: Twinledger, stack: DevStack) -> tuple[int, int]:
    """(twin, feed): the lorry twin and its trailer feed; the buyer and the carrier hold DevToken."""
    twin = int(re.search(r"Created twin (\d+)", tl("twin", "create", "--aml", LORRY_AML, account=CARRIER).stdout)[1])
    tl("role", "grant", twin, "DEVICE_AGENT", dev_account(AGENT).address, account=CARRIER)
    out = tl("feed", "register", twin, SENSOR, "--device", dev_account(DEVICE).address, account=CARRIER).stdout
    feed = int(re.search(r"Registered feed (\d+)", out)[1])
    faucet = AgreementClient(stack.chain(0))
    token = faucet.token(faucet.dev_token)
    for who in (BUYER, CARRIER):
        faucet.chain.sender.transact(token.functions.mint(dev_account(who).address, 10_000 * 10**18))
    return twin, feed


def terms(twin: int, feed: int, start: int, end: int, **extra: Any) -> dict[str, Any]:
    doc = {
        "twin": twin, "token": "dev", "start": start, "end": end, "challenge": "30s",
        "parties": [
            {"account": f"TEST::{SELLER}", "role": "seller", "on_completed": 100},
            {"account": f"TEST::{CARRIER}", "role": "carrier", "deposit": 20, "on_completed": 20,
             "on_breached": 10, "on_expired": 20},
            {"account": f"TEST::{BUYER}", "role": "buyer", "deposit": 100, "on_breached": 110, "on_expired": 100},
        ],
        "conditions": [{"feed": feed, "sensor": SENSOR, "max": 3, "max_gap": "60s"}],
        "delivery": {"kind": "confirmation", "confirmer": "buyer", "deadline": end},
    }
    doc.update(extra)
    return doc


def write(tmp_path: Path, doc: dict[str, Any], name: str = "terms.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def now_ms(stack: DevStack) -> int:
    return AgreementClient(stack.chain()).now_ms()


def warp_to(stack: DevStack, t_ms: int) -> None:
    """Sets anvil's next block time (the agreement compares with block times, the readings carry their own)."""
    w3 = stack.chain().w3
    w3.provider.make_request("evm_setNextBlockTimestamp", [-(-t_ms // 1000)])
    w3.provider.make_request("evm_mine", [])


def trailer(stack: DevStack, feed: int) -> ReeferTrailer:
    chain = stack.chain(AGENT)
    device = ReeferTrailer(chain, stack.store(), feed, dev_account(DEVICE).key)
    device.seq = chain.feeds.functions.nextSeqOf(feed).call()
    return device


def anchor(device: ReeferTrailer, points: list[tuple[int, float]]) -> None:
    readings = []
    for t, v in points:
        readings.append(Reading(rid=device.rid, sensor=SENSOR, t_ms=t, value=v))
        device.rid += 1
    device.anchor(readings)


def created_id(result: Result) -> int:
    return int(re.search(r"Created agreement (\d+)", result.stdout)[1])


def test_create_accept_show_list_and_refusals(tl: Twinledger, stack: DevStack, lorry: tuple[int, int], tmp_path: Path) -> None:
    twin, feed = lorry
    start = now_ms(stack) + 600_000
    agreement_id = created_id(tl("agreement", "create", write(tmp_path, terms(twin, feed, "+10m", "+8h"))))
    assert "NotAParty" in tl.fails("agreement", "accept", agreement_id, account=OUTSIDER)
    for who in (SELLER, CARRIER):
        tl("agreement", "accept", agreement_id, account=who)
    out = tl("agreement", "accept", agreement_id, account=BUYER).stdout
    assert "every party accepted: the agreement is active" in out
    assert "WrongStatus" in tl.fails("agreement", "accept", agreement_id, account=BUYER)
    shown = tl("agreement", "show", agreement_id).stdout
    assert "Active" in shown and "trailer_temp" in shown and "AgreementActivated" in shown
    listed = tl("agreement", "list", "--twin", twin).stdout
    assert re.search(rf"│ {agreement_id}\s+│ {twin}\s+│ Active", listed)
    state = AgreementClient(stack.chain()).state(agreement_id)
    assert abs(state.start_ms - start) < 60_000 and state.end_ms == state.start_ms + 8 * 3_600_000
    assert "ChallengeWindowOpen" in tl.fails("agreement", "settle", agreement_id)
    assert "nothing was sent" in tl.fails("agreement", "prove-breach", agreement_id)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start": "+0s"}, "must start in the future"),
        ({"token": "nope"}, "is not an address"),
        ({"challenge": "soon"}, "is not a duration"),
        ({"conditions": [{"feed": 1, "sensor": SENSOR, "min": 5, "max": 3}]}, "min 5.0 is above max 3.0"),
        ({"delivery": {"kind": "telepathy", "deadline": "+1h"}}, "delivery kind must be one of"),
        ({"parties": [{"account": f"TEST::{SELLER}", "on_completed": 1}], "delivery": None},
         "payouts on_completed sum to 1"),
    ],
)
def test_bad_terms_are_refused_before_sending(tl: Twinledger, lorry: tuple[int, int], tmp_path: Path,
                                              change: dict[str, Any], message: str) -> None:
    twin, feed = lorry
    doc = terms(twin, feed, "+10m", "+1h")
    doc.update(change)
    assert message in tl.fails("agreement", "create", write(tmp_path, doc))


def test_a_feed_of_another_twin_is_refused_by_the_contract(tl: Twinledger, lorry: tuple[int, int], tmp_path: Path) -> None:
    twin, _ = lorry
    doc = terms(twin, 999, "+10m", "+1h")
    assert "InvalidCondition" in tl.fails("agreement", "create", write(tmp_path, doc))


def test_prove_breach_then_settle_and_withdraw(tl: Twinledger, stack: DevStack, lorry: tuple[int, int],
                                               tmp_path: Path) -> None:
    twin, feed = lorry
    agreement_id = created_id(tl("agreement", "create", write(tmp_path, terms(twin, feed, "+5m", "+1h"))))
    for who in (SELLER, CARRIER, BUYER):
        tl("agreement", "accept", agreement_id, account=who)
    state = AgreementClient(stack.chain()).state(agreement_id)
    device = trailer(stack, feed)
    anchor(device, [(state.start_ms + i * 10_000, 2.0) for i in range(3)])
    assert "nothing was sent" in tl.fails("agreement", "prove-breach", agreement_id, account=OUTSIDER)
    anchor(device, [(state.start_ms + 30_000, 2.5), (state.start_ms + 40_000, 6.5)])
    out = tl("agreement", "prove-breach", agreement_id, account=OUTSIDER).stdout
    assert "trailer_temp=6.5" in out and "outside the bounds" in out
    assert "only an active agreement" in tl.fails("agreement", "prove-breach", agreement_id, account=OUTSIDER)
    assert "Settled agreement" in tl("agreement", "settle", agreement_id, account=OUTSIDER).stdout
    assert "AlreadySettled" in tl.fails("agreement", "settle", agreement_id, account=OUTSIDER)
    assert "Withdrew 110 TLD" in tl("agreement", "withdraw", agreement_id, account=BUYER).stdout
    assert "NothingToWithdraw" in tl.fails("agreement", "withdraw", agreement_id, account=BUYER)
    shown = tl("agreement", "show", agreement_id).stdout
    assert "RangeBreachProven" in shown and "value=6.5" in shown and "Breached" in shown


def test_watchtower_shows_coverage_and_settles(
    tl: Twinledger, stack: DevStack, lorry: tuple[int, int], tmp_path: Path
) -> None:
    """Two agreements over the same cold, covered trip: the delivered one settles Completed, the other Expired.
    (Each test uses its own stretch of the feed's time, as the feed is shared.)"""
    twin, feed = lorry
    cold = created_id(tl("agreement", "create", write(tmp_path, terms(twin, feed, "+3h", "+10m"), "a.json")))
    gappy = created_id(tl("agreement", "create", write(tmp_path, terms(twin, feed, "+3h", "+10m"), "b.json")))
    for agreement_id in (cold, gappy):
        for who in (SELLER, CARRIER, BUYER):
            tl("agreement", "accept", agreement_id, account=who)
    client = AgreementClient(stack.chain(BUYER))
    state = client.state(cold)
    device = trailer(stack, feed)
    start, end = state.start_ms, state.end_ms
    # every 20 s through the whole trip: no gap over 60 s for the first agreement ...
    anchor(device, [(t, 1.5) for t in range(start, start + 60_000, 20_000)])
    anchor(device, [(t, 1.5) for t in range(start + 60_000, end + 1, 20_000)])
    tl("agreement", "confirm", cold, account=BUYER)
    assert "NotAParty" in tl.fails("agreement", "confirm", gappy, account=SELLER)
    tower = Watchtower(client, stack.store(), [cold, gappy], settle=True)
    tower.poll()
    kinds = {(a.agreement_id, a.kind) for a in tower.actions if not a.refused}
    assert (cold, "coverage") in kinds and (gappy, "coverage") in kinds
    warp_to(stack, end + 31_000)
    tower.poll()
    assert client.state(cold).outcome == Outcome.COMPLETED
    # the second agreement had no delivery confirmed: expired, not completed
    assert client.state(gappy).outcome == Outcome.EXPIRED


def test_watch_command_proves_a_gap(tl: Twinledger, stack: DevStack, lorry: tuple[int, int], tmp_path: Path) -> None:
    twin, feed = lorry
    agreement_id = created_id(tl("agreement", "create", write(tmp_path, terms(twin, feed, "+6h", "+20m"))))
    for who in (SELLER, CARRIER, BUYER):
        tl("agreement", "accept", agreement_id, account=who)
    state = AgreementClient(stack.chain()).state(agreement_id)
    device = trailer(stack, feed)
    anchor(device, [(state.start_ms + 1_000, 1.0)])
    anchor(device, [(state.start_ms + 1_000 + 61_000, 1.0)])  # 61 s without a batch
    result = tl("agreement", "watch", agreement_id, "--once", account=OUTSIDER)
    assert f"agreement {agreement_id}: gap:" in result.stdout
    assert AgreementClient(stack.chain()).state(agreement_id).status == Status.BREACHED
