"""The gateway's window anchorer with several windows in flight, on anvil mining by interval (as `--block-time`) or
by hand: the next window goes before the earlier ones are mined, each feed's leaves chain across them, and a stuck,
dropped or reorganised window, windows a crashed run left in the pool, a SIGKILL and chain and IPFS outages all
end with every batch in exactly one window, in order, with an unbroken head chain."""
from __future__ import annotations

import os
import random
import signal
import time

import pytest

from plant_support import AGENT, SENSORS, provision_plant
from test_agent_aggregated import AGGREGATED, assert_exactly_once, crash_then_drain, window_anchorer, windowed_feeds
from test_agent_crash import queue_close_valve, realtime, run_in_thread, wait_for_failure
from netfault import CuttableProxy, serve_kubo_like
from twinledger.agent.config import load_config
from twinledger.agent.daemon import AgentDaemon
from twinledger.agent.outbox import BatchState, Outbox
from twinledger.chain.devnet import free_port
from twinledger.chain.devnet import test_account as account_of
from twinledger.formats.batch import Reading
from twinledger.ledger import gateway
from twinledger.ledger.reader import Ledger
from twinledger.verify import Kind, Verifier
from twinledger.verify.challenges import ChallengeFinder

pytestmark = [pytest.mark.timeout(600),
              pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")]
BLOCK_TIME_S = 2


def mining(plant, interval: int) -> None:
    """Automine off; a block every `interval` seconds, or only by hand (`anvil_mine`) with 0."""
    w3 = plant.stack.chain(None).w3
    w3.provider.make_request("evm_setAutomine", [False])
    w3.provider.make_request("evm_setIntervalMining", [interval])


@pytest.fixture
def plant(tmp_path):
    plant = provision_plant(tmp_path / "plant")  # provisioned on automine
    admin = plant.stack.chain(0)
    admin.sender.transact(gateway.grant_gateway(admin, account_of(AGENT).address))
    yield plant
    plant.stack.stop()


def add_batches(outbox: Outbox, feeds: list[int], seq: int, n: int = 3) -> None:
    """One more batch (`seq`) for each feed."""
    for k, feed in enumerate(feeds):
        t0 = 1_700_000_000_000 + 1_000 * seq
        outbox.append_many((feed, Reading(0, SENSORS[k], t0 + 10 * i, 1.5 + i, 0)) for i in range(n))
        assert outbox.claim_batch(feed).seq == seq


def drive(anchorer, outbox: Outbox, feeds: list[int], per_feed: int, deadline_s: float = 90) -> None:
    """Rounds until every batch of `feeds` is confirmed."""
    deadline = time.monotonic() + deadline_s
    while not all(outbox.get_batch(f, s).state is BatchState.CONFIRMED for f in feeds for s in range(per_feed)):
        assert time.monotonic() < deadline, [outbox.get_batch(f, s).state.name for f in feeds
                                             for s in range(per_feed)]
        anchorer.run_once()
        time.sleep(0.05)


def assert_windows_hold(plant, feeds: list[int], per_feed: int) -> int:
    """Every batch in exactly one window, in order, head chain unbroken (the oracle checks it); the window count."""
    w = windowed_feeds(plant)
    for feed in feeds:
        assert w.seqs[feed] == list(range(per_feed)), f"feed {feed}: {w.seqs[feed]}"
        assert len(w.rids[feed]) == len(set(w.rids[feed])) == 3 * per_feed
    return w.windows


def test_several_windows_in_flight_every_batch_once_in_order(plant, tmp_path):
    mining(plant, BLOCK_TIME_S)
    feeds = [plant.feeds[s] for s in SENSORS[:3]]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    anchorer = window_anchorer(plant, outbox, confirmations=0, block_time=BLOCK_TIME_S, max_in_flight=8)
    per_feed = 16
    seen_in_flight = 0
    for seq in range(per_feed):  # a batch per feed every 0.3 s: several windows per 2 s block
        add_batches(outbox, feeds, seq)
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            anchorer.run_once()
            seen_in_flight = max(seen_in_flight, anchorer.in_flight)
            time.sleep(0.02)
    drive(anchorer, outbox, feeds, per_feed)
    assert seen_in_flight > 1 and anchorer.stats.max_in_flight > 1
    windows = assert_windows_hold(plant, feeds, per_feed)
    assert windows == anchorer.stats.transactions and anchorer.stats.bumps == 0
    blocks = {outbox.get_batch(f, s).block for f in feeds for s in range(per_feed)}
    assert len(blocks) < windows  # several windows shared a block


def two_windows_in_flight(plant, outbox: Outbox, feeds: list[int], **kwargs):
    """Mining by hand: window 1 (seq 0 of each feed) and window 2 (seq 1, chained on window 1) in the pool."""
    mining(plant, 0)
    anchorer = window_anchorer(plant, outbox, confirmations=0, block_time=0, **kwargs)
    add_batches(outbox, feeds, 0)
    assert anchorer.run_once() == 0
    add_batches(outbox, feeds, 1)
    assert anchorer.run_once() == 0
    assert anchorer.in_flight == 2
    first, second = outbox.get_batch(feeds[0], 0), outbox.get_batch(feeds[0], 1)
    assert first.state is second.state is BatchState.SUBMITTED and second.nonce == first.nonce + 1
    return anchorer


def test_stuck_windows_are_replaced_in_nonce_order_and_nothing_new_goes_meanwhile(plant, tmp_path):
    feeds = [plant.feeds[s] for s in SENSORS[:2]]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    anchorer = two_windows_in_flight(plant, outbox, feeds, receipt_timeout=1)
    w3 = anchorer.chain.w3
    old = [outbox.get_batch(feeds[0], s) for s in (0, 1)]
    fees = [w3.eth.get_transaction(r.txhash)["maxPriorityFeePerGas"] for r in old]
    time.sleep(1.2)
    add_batches(outbox, feeds, 2)
    assert anchorer.run_once() == 0  # both overdue: replaced at their nonces, and seq 2 waits
    assert anchorer.stats.bumps == 2 and anchorer.in_flight == 2
    new = [outbox.get_batch(feeds[0], s) for s in (0, 1)]
    for o, n, fee in zip(old, new, fees):
        assert n.txhash != o.txhash and n.nonce == o.nonce
        assert w3.eth.get_transaction(n.txhash)["maxPriorityFeePerGas"] > fee
    assert outbox.get_batch(feeds[0], 2).state is BatchState.PENDING
    w3.provider.make_request("anvil_mine", [1])
    assert anchorer.run_once() == 4
    assert all(anchorer.chain.sender.receipt(o.txhash) is None for o in old)  # replaced: never mined
    w3.provider.make_request("evm_setIntervalMining", [1])
    drive(anchorer, outbox, feeds, 3)
    assert assert_windows_hold(plant, feeds, 3) == 3


def test_window_mined_after_its_timeout_is_not_sent_again(plant, tmp_path):
    feeds = [plant.feeds[s] for s in SENSORS[2:4]]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    anchorer = two_windows_in_flight(plant, outbox, feeds, receipt_timeout=1)
    time.sleep(1.2)
    anchorer.chain.w3.provider.make_request("anvil_mine", [1])  # mined late, before the anchorer looks again
    assert anchorer.run_once() == 4
    assert anchorer.stats.bumps == 0 and anchorer.in_flight == 0
    assert assert_windows_hold(plant, feeds, 2) == 2


def test_dropped_window_is_sent_again_at_its_nonce_before_the_one_behind_it(plant, tmp_path):
    feeds = [plant.feeds[s] for s in SENSORS[3:5]]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    anchorer = two_windows_in_flight(plant, outbox, feeds, receipt_timeout=1)
    w3 = anchorer.chain.w3
    dropped = outbox.get_batch(feeds[0], 0)
    assert w3.provider.make_request("anvil_dropTransaction", [dropped.txhash])["result"] == dropped.txhash
    time.sleep(1.2)
    assert anchorer.run_once() == 0  # the dropped one resubmitted (same window, same nonce)
    again = outbox.get_batch(feeds[0], 0)
    assert again.txhash != dropped.txhash and again.nonce == dropped.nonce
    w3.provider.make_request("anvil_mine", [1])
    assert anchorer.run_once() == 4
    assert w3.eth.get_transaction(again.txhash)["nonce"] == dropped.nonce
    assert assert_windows_hold(plant, feeds, 2) == 2


def test_windows_a_dead_run_left_in_the_pool_are_cancelled_and_their_batches_sent_once(plant, tmp_path):
    feeds = [plant.feeds[s] for s in SENSORS[:2]]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    dead = two_windows_in_flight(plant, outbox, feeds)
    w3 = dead.chain.w3
    left = [outbox.get_batch(feeds[0], s).txhash for s in (0, 1)]
    restarted = window_anchorer(plant, outbox, confirmations=0, block_time=0)  # the same outbox, a new process
    restarted.reconcile_all(feeds)
    assert restarted.run_once() == 0  # both cancelled (replaced at their nonces), nothing new sent yet
    assert restarted.in_flight == 2 and restarted.stats.transactions == 0
    w3.provider.make_request("anvil_mine", [1])
    assert restarted.run_once() == 0  # the cancels are mined: recovered, the batches go in a new window
    assert all(dead.chain.sender.receipt(h) is None for h in left)
    w3.provider.make_request("anvil_mine", [1])
    drive(restarted, outbox, feeds, 2)
    assert assert_windows_hold(plant, feeds, 2) == 1


def test_a_window_mined_before_its_cancel_leaves_an_orphan_leaf_and_every_batch_in_the_chain_once(plant, tmp_path):
    """Window 1's nonce is taken by another transaction of the gateway's key (another process sharing it), and
    window 2, whose leaves chain on window 1's, is mined in the same block, before the anchorer can cancel it.
    Its leaves extend no chain: the anchorer re-derives the tips from the chain, sends both batches again in one
    window, and verification passes on the chain as it is, the orphan leaf reported but no batch missing or
    doubled."""
    earlier = Outbox(tmp_path / "earlier.sqlite")  # a window before: window 2's gas, estimated behind window 1,
    add_batches(earlier, [plant.feeds[SENSORS[2]]], 0)  # then fits without it (the window count is not new)
    drive(window_anchorer(plant, earlier, confirmations=0), earlier, [plant.feeds[SENSORS[2]]], 1)
    feeds = [plant.feeds[s] for s in SENSORS[:2]]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    anchorer = two_windows_in_flight(plant, outbox, feeds, receipt_timeout=1)
    w3 = anchorer.chain.w3
    first, second = outbox.get_batch(feeds[0], 0), outbox.get_batch(feeds[0], 1)
    intruder = plant.stack.chain(AGENT).sender  # the same key in another process
    intruder.cancel(first.nonce, factor=10.0)  # priced well above window 1: it replaces it in the pool
    w3.provider.make_request("anvil_mine", [1])  # the intruder's transfer and window 2 are mined
    assert anchorer.chain.sender.receipt(first.txhash) is None
    assert anchorer.chain.sender.receipt(second.txhash)["status"] == 1
    time.sleep(1.2)
    anchorer.run_once()  # window 1 lost, window 2 mined: too late to cancel it; the anchorer recovers
    w3.provider.make_request("evm_setIntervalMining", [1])
    drive(anchorer, outbox, feeds, 2)

    w = windowed_feeds(plant, chained_only=True)
    assert w.windows == 3  # the earlier one, window 2 (the orphan) and the one that carried both batches again
    for feed in feeds:
        assert w.seqs[feed] == [0, 1] and len(w.rids[feed]) == len(set(w.rids[feed])) == 6
        assert w.orphans[feed] == [1]
    verifier = Verifier(Ledger(anchorer.chain), plant.stack.store())
    for feed in feeds:
        result = verifier.verify_feed(feed)
        assert [b.anchor.seq for b in result.batches] == [0, 1]  # the repeated batch counted once
        assert all(b.verified and b.signature.status == "signed" for b in result.batches)
        findings = [f for f in result.findings if f.kind is not Kind.DATA_GAP]  # 3 readings a second, at 10 Hz
        assert [(f.kind, f.location.seq, f.location.tx, f.severity.name) for f in findings] == [
            (Kind.REPEATED, 1, second.txhash, "WARNING")], [str(f) for f in result.findings]
        assert result.batches[1].anchor.tx_hash != second.txhash  # the copy that extends the chain in block order
        reading = verifier.verify_reading(feed, 1, 2)
        assert reading.proof_ok and reading.onchain_ok and reading.batch.anchor == result.batches[1].anchor
    # and nothing to challenge: both copies carry the device's signature and one head
    assert ChallengeFinder(Ledger(anchorer.chain), plant.stack.store(), account_of(AGENT).address).faults() == []


def test_windows_removed_by_a_reorganisation_are_broadcast_again(plant, tmp_path):
    mining(plant, 1)
    feeds = [plant.feeds[s] for s in SENSORS[:3]]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    anchorer = window_anchorer(plant, outbox, confirmations=4, block_time=1, max_in_flight=8)
    w3 = anchorer.chain.w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    for seq in range(6):
        add_batches(outbox, feeds, seq)
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            anchorer.run_once()
            time.sleep(0.02)
    while anchorer.stats.transactions == 0:
        anchorer.run_once()
        time.sleep(0.05)
    assert windowed_feeds(plant).windows > 0
    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True  # the mined windows are gone
    assert windowed_feeds(plant).windows == 0
    drive(anchorer, outbox, feeds, 6)
    assert assert_windows_hold(plant, feeds, 6) >= 1
    assert anchorer.stats.max_in_flight > 1


def test_aggregated_agent_survives_sigkill_with_windows_in_flight(plant):
    mining(plant, BLOCK_TIME_S)
    seed = int(os.environ.get("TWINLEDGER_CRASH_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    print(f"crash seed {seed}")
    config = plant.config("aggregated-crash", source=realtime(100), window_s=0.3, anchoring=AGGREGATED)
    log = crash_then_drain(plant, config, rng, alive_s=(3.0, 8.0), settle_s=4.0, drain_timeout_s=120)
    assert '"in_flight": 1' in log or '"in_flight": 2' in log, "never a window behind another"
    with Outbox(load_config(config).outbox_path) as o:  # confirmations: 0, so what is in a window on-chain is final, found there or not
        assert {r.state for r in o.batches()} == {BatchState.CONFIRMED}


def test_aggregated_chain_outage_mid_run_then_recovery(plant):
    mining(plant, BLOCK_TIME_S)
    proxy = CuttableProxy(plant.stack.anvil.port)
    try:
        config = plant.config("aggregated-chain-outage", source={**realtime(50), "duration_s": 20},
                              rpc_url=proxy.url, window_s=0.3, anchoring=AGGREGATED)
        daemon = AgentDaemon(load_config(config))
        thread, summary = run_in_thread(daemon)
        time.sleep(3)
        proxy.cut()
        wait_for_failure(daemon)
        assert daemon.pipeline.stats.accepted > 0, "readings keep being accepted while the chain is down"
        proxy.restore()
        # the source still runs, so the daemon cannot drain and stop before the watcher polls the call
        assert not daemon.source_done.is_set(), "the outage outlasted the source: lengthen duration_s"
        call_id = queue_close_valve(plant)  # the program-call watcher must have survived the outage
        thread.join(timeout=180)
        assert not thread.is_alive()
        assert summary["accepted"] == summary["readings_anchored"]
        assert daemon.anchorer.stats.max_in_flight > 1
        assert assert_exactly_once(plant, load_config(config).outbox_path, all_anchored=True) == summary["accepted"]
        assert plant.stack.chain().spec.functions.programCall(call_id).call()[4] == 3  # CallStatus.Done
    finally:
        proxy.close()


def test_aggregated_ipfs_outage_mid_run_then_recovery(plant, tmp_path):
    mining(plant, BLOCK_TIME_S)
    port = free_port()
    repo = tmp_path / "kubo-like"
    server = serve_kubo_like(repo, port)
    from plant_support import PLANT_AML
    from twinledger.ipfs import open_store
    kubo = f"kubo:http://127.0.0.1:{port}"
    open_store(kubo).add_bytes(PLANT_AML.read_bytes())  # the agent reads the twin's spec from its IPFS
    try:
        config = plant.config("aggregated-ipfs-outage", source={**realtime(50), "duration_s": 8}, ipfs=kubo,
                              window_s=0.3, anchoring=AGGREGATED)
        daemon = AgentDaemon(load_config(config))
        thread, summary = run_in_thread(daemon)
        time.sleep(3)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        wait_for_failure(daemon)
        server = serve_kubo_like(repo, port)
        thread.join(timeout=180)
        assert not thread.is_alive()
        assert summary["accepted"] == summary["readings_anchored"]
        assert daemon.anchorer.stats.max_in_flight > 1
        plant.stack.store = lambda: open_store(kubo)  # the oracle reads windows and batches from that node
        assert assert_exactly_once(plant, load_config(config).outbox_path, all_anchored=True) == summary["accepted"]
    finally:
        os.killpg(server.pid, signal.SIGKILL)
