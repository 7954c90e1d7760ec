"""The agent in the gateway-aggregated mode (`anchoring: {mode: aggregated}`) on a real anvil chain and the
embedded IPFS node: every round's batches of all feeds go into one GatewayAnchors window, every accepted reading
is anchored exactly once (also through SIGKILLs at random points), and `verify` passes every feed."""
from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass, field

import pytest

from plant_support import AGENT, SENSORS, outbox_rids, provision_plant
from test_agent_crash import start_agent
from twinledger.agent.config import load_config
from twinledger.agent.daemon import AgentDaemon
from twinledger.agent.outbox import Outbox
from twinledger.agent.publish import merkle_tree
from twinledger.chain.devnet import test_account as account_of
from twinledger.formats.aggregate import decode_window
from twinledger.formats.batch import decode_batch
from twinledger.formats.cids import raw_cid_from_digest, unpack
from twinledger.formats.headchain import GENESIS_HEAD
from twinledger.ledger import gateway
from twinledger.ledger.reader import Ledger
from twinledger.verify import Status, Verifier

pytestmark = pytest.mark.timeout(600)
AGGREGATED = {"mode": "aggregated"}


@pytest.fixture
def plant(tmp_path):
    plant = provision_plant(tmp_path / "plant")
    admin = plant.stack.chain(0)  # the deployer administers GatewayAnchors
    admin.sender.transact(gateway.grant_gateway(admin, account_of(AGENT).address))
    yield plant
    plant.stack.stop()


@dataclass
class Windowed:
    windows: int
    seqs: dict[int, list[int]]
    rids: dict[int, list[int]]
    orphans: dict[int, list[int]] = field(default_factory=dict)  # per feed, seqs of leaves that extend no chain


def windowed_feeds(plant, *, chained_only: bool = False) -> Windowed:
    """An independent oracle: every window from its event and IPFS, its root recomputed, each leaf's batch
    fetched by CID with its Merkle root recomputed, and each feed's head chain followed leaf by leaf. A leaf that
    does not extend its feed's chain fails the oracle, or with `chained_only` is set aside as an orphan."""
    chain, store = plant.stack.chain(), plant.stack.store()
    contract = gateway.gateways(chain)
    events = sorted(contract.events.WindowAnchored.get_logs(from_block=0),
                    key=lambda e: (e["blockNumber"], e["logIndex"]))
    heads: dict[int, bytes] = {}
    seqs: dict[int, list[int]] = {}
    rids: dict[int, list[int]] = {}
    orphans: dict[int, list[int]] = {}
    for e in events:
        a = e["args"]
        window = decode_window(store.cat(unpack(a["cid"], a["codec"])))
        assert window.root == bytes(a["root"]) and len(window.leaves) == a["feedCount"]
        assert window.reading_count == a["readingCount"]
        for leaf in window.leaves:
            extends = leaf.prev_head == heads.get(leaf.feed_id, GENESIS_HEAD)
            if chained_only and not extends:
                orphans.setdefault(leaf.feed_id, []).append(leaf.seq)
                continue
            assert extends, f"feed {leaf.feed_id}: head chain broken"
            heads[leaf.feed_id] = leaf.head()
            batch = decode_batch(store.block_get(raw_cid_from_digest(leaf.cid)))
            assert (batch.feed, batch.seq) == (leaf.feed_id, leaf.seq)
            assert merkle_tree(batch).root == leaf.root
            seqs.setdefault(leaf.feed_id, []).append(leaf.seq)
            rids.setdefault(leaf.feed_id, []).extend(r.rid for r in batch.readings)
    return Windowed(len(events), seqs, rids, orphans)


def assert_exactly_once(plant, outbox, *, all_anchored: bool) -> int:
    accepted = outbox_rids(outbox)
    w = windowed_feeds(plant)
    for feed, seqs in w.seqs.items():
        assert seqs == list(range(len(seqs))), f"feed {feed}: seqs {seqs}"
        assert len(w.rids[feed]) == len(set(w.rids[feed])), f"feed {feed}: a reading anchored twice"
        assert set(w.rids[feed]) <= set(accepted.get(feed, [])), f"feed {feed}: anchored a reading never accepted"
    if all_anchored:
        for feed, rids in accepted.items():
            assert set(rids) == set(w.rids.get(feed, [])), f"feed {feed}: accepted readings never anchored"
    return sum(len(r) for r in w.rids.values())


def test_aggregated_agent_end_to_end(plant):
    source = {"kind": "simulator", "seed": 3, "realtime": False, "duration_s": 3,
              "rates_hz": {s: 50 for s in SENSORS}}
    config = plant.config("aggregated", source=source, anchoring={**AGGREGATED, "max_in_flight": 3})
    daemon = AgentDaemon(load_config(config))
    assert daemon.anchorer.max_in_flight == 3
    summary = daemon.run(status_every_s=60, install_signals=False)
    assert summary["accepted"] == summary["readings_anchored"] > 0
    outbox = load_config(config).outbox_path
    assert assert_exactly_once(plant, outbox, all_anchored=True) == summary["accepted"]

    chain = plant.stack.chain()
    w = windowed_feeds(plant)
    batches = sum(len(s) for s in w.seqs.values())
    assert w.windows < batches, "windows carry the batches of several feeds"
    assert daemon.anchorer.stats.transactions == w.windows
    assert 1 <= daemon.anchorer.stats.max_in_flight <= 3
    for feed in plant.feeds.values():  # nothing went through the per-feed anchors
        assert chain.feeds.functions.nextSeqOf(feed).call() == 0

    verifier = Verifier(Ledger(chain), plant.stack.store())
    result = verifier.verify_twin(plant.twin)
    bad = [str(f) for f in result.findings if f.severity.name == "ERROR"]
    assert not bad, bad
    for fr in result.feeds:
        assert fr.status in (Status.PASS, Status.WARN) and fr.batches
        assert all(b.signature.status == "signed" for b in fr.batches)
    feed = plant.feeds["pipe_flow"]
    r = verifier.verify_reading(feed, 0, 3)
    assert r.proof_ok and r.onchain_ok  # GatewayAnchors.verifyReading: reading -> batch root -> window root


def test_aggregated_agent_survives_sigkill(plant):
    seed = int(os.environ.get("TWINLEDGER_CRASH_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    print(f"crash seed {seed}")
    source = {"kind": "simulator", "seed": 7, "realtime": True, "rates_hz": {s: 100 for s in SENSORS}}
    config = plant.config("aggregated-crash", source=source, window_s=0.3, anchoring=AGGREGATED)
    crash_then_drain(plant, config, rng, alive_s=(2.0, 6.0), settle_s=2.0, drain_timeout_s=90)


def crash_then_drain(plant, config, rng: random.Random, *, alive_s: tuple[float, float], settle_s: float,
                     drain_timeout_s: float, kills: int = 3) -> str:
    """SIGKILL a real agent `kills` times, each after a random time alive in `alive_s`, checking after each that
    what is on-chain is there exactly once and the outbox is intact; then a last run that gets ready, runs
    `settle_s` more and is stopped by SIGTERM, which drains everything (exit 0, every reading anchored once).
    Returns the agent's log."""
    outbox = load_config(config).outbox_path
    log = config.parent / "agent.log"
    for _ in range(kills):
        proc = start_agent(config, log)
        time.sleep(rng.uniform(*alive_s))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        if outbox.exists():
            assert_exactly_once(plant, outbox, all_anchored=False)
            with Outbox(outbox) as o:
                o.check_integrity()
    readies = log.read_text().count('"agent ready"')
    proc = start_agent(config, log)  # a last run that ends cleanly and drains everything
    deadline = time.monotonic() + 60
    while log.read_text().count('"agent ready"') == readies and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(settle_s)
    os.killpg(proc.pid, signal.SIGTERM)
    status = proc.wait(timeout=drain_timeout_s)
    assert status == 0, log.read_text()[-3000:]
    assert assert_exactly_once(plant, outbox, all_anchored=True) > 0
    return log.read_text()


# -- a reorganisation on automine (the window anchorer alone; with windows in flight: test_agent_aggregated_faults.py)


def one_batch_each(outbox: Outbox, feeds: list[int], n: int = 5) -> None:
    from twinledger.formats.batch import Reading

    for k, feed in enumerate(feeds):
        outbox.append_many((feed, Reading(0, SENSORS[k], 1_700_000_000_000 + i, 1.5 + i, 0)) for i in range(n))
        assert outbox.claim_batch(feed) is not None


def window_anchorer(plant, outbox: Outbox, confirmations: int, **kwargs):
    from twinledger.agent.gateway import WindowAnchorer

    chain = plant.stack.chain(AGENT, confirmations=confirmations)
    key = bytes.fromhex((plant.workdir / "device.key").read_text().removeprefix("0x"))
    return WindowAnchorer(outbox, plant.stack.store(), chain, {f: key for f in plant.feeds.values()}, **kwargs)


def states(outbox: Outbox, feeds: list[int]) -> set[str]:
    return {outbox.get_batch(f, 0).state.name for f in feeds}


def test_window_removed_by_a_reorganisation_is_resubmitted(plant, tmp_path):
    feeds = [plant.feeds[s] for s in SENSORS[:2]]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    one_batch_each(outbox, feeds)
    anchorer = window_anchorer(plant, outbox, confirmations=3)
    w3 = anchorer.chain.w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    assert anchorer.run_once() == 2  # one window, both feeds
    assert states(outbox, feeds) == {"ANCHORED"}
    first = windowed_feeds(plant)
    assert first.windows == 1

    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True  # the window's block is gone
    assert windowed_feeds(plant).windows == 0
    assert anchorer.run_once() == 2  # notices the window is gone and broadcasts the same transaction again
    again = windowed_feeds(plant)
    assert again.windows == 1 and again.seqs == first.seqs and again.rids == first.rids
    w3.provider.make_request("anvil_mine", [3])
    anchorer.run_once()
    assert states(outbox, feeds) == {"CONFIRMED"}
    assert (anchorer.stats.batches, anchorer.stats.transactions) == (2, 1)  # anchored twice, counted once
