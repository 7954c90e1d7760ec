"""Durability: the agent is killed with SIGKILL at random points and restarted, and storage and chain
outages hit it in the middle of a run. Each time: no accepted reading lost, no batch anchored twice,
and every feed's seq continuous.

Each test runs on anvil's automine (a block per transaction) and with a block every 2 s, where the
anchorer has several transactions in flight when the kill or the outage hits; those tests check that
it did."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from netfault import CuttableProxy, serve_kubo_like
from plant_support import (MINING, SENSORS, agent_txs_in_pool, anchored_feed, assert_nothing_lost, outbox_rids,
                           provision_plant, set_mining, settled_block)
from twinledger.agent.config import load_config
from twinledger.agent.daemon import AgentDaemon
from twinledger.agent.outbox import BatchState, Outbox
from twinledger.chain.devnet import free_port

pytestmark = [pytest.mark.timeout(600),
              # a daemon thread that dies (e.g. the program-call watcher during an outage) fails the test
              pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")]
CRASH_ROUNDS = int(os.environ.get("TWINLEDGER_CRASH_ROUNDS", "6"))


@pytest.fixture(params=MINING)
def plant(request, tmp_path):
    plant = provision_plant(tmp_path / "plant")
    set_mining(plant, request.param)
    yield plant
    plant.stack.stop()


def realtime(hz: float) -> dict:
    return {"kind": "simulator", "seed": 7, "realtime": True, "rates_hz": {s: hz for s in SENSORS}}


def start_agent(config: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "twinledger.cli.main", "agent", "run", "--config",
                                 str(config)], stdout=out, stderr=out, start_new_session=True)


def assert_consistent_at_any_moment(plant, outbox_path: Path) -> None:
    """What must hold even right after a SIGKILL: the chain holds no duplicate and no gap, every
    anchored reading is one the outbox accepted, and the outbox's own invariants hold."""
    accepted = outbox_rids(outbox_path)
    block = settled_block(plant)
    for feed in plant.feeds.values():
        anchored = anchored_feed(plant, feed, block)  # checks CIDs, roots and the head chain
        assert anchored.seqs == list(range(len(anchored.seqs))), f"feed {feed}: seqs {anchored.seqs}"
        assert len(anchored.rids) == len(set(anchored.rids)), f"feed {feed}: a reading anchored twice"
        assert set(anchored.rids) <= set(accepted.get(feed, [])), f"feed {feed}: anchored a reading never accepted"
    with Outbox(outbox_path) as outbox:
        outbox.check_integrity()


def test_sigkill_at_random_points_loses_nothing(plant):
    """With a block time, each kill lands while several anchoring transactions are sent and unmined, and
    the node then loses a random number of the latest of them: the restarted agent finds the mined ones'
    batches on-chain and sends the lost ones again."""
    seed = int(os.environ.get("TWINLEDGER_CRASH_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    print(f"crash seed {seed}")
    config = plant.config("crash", source=realtime(100), window_s=0.3)
    outbox_path = load_config(config).outbox_path
    log = config.parent / "agent.log"
    unmined_at_kill: list[int] = []
    forgotten = 0
    for round_no in range(CRASH_ROUNDS):
        first_nonce = agent_nonce(plant)  # what this run sends from here on: an earlier run's are below
        proc = start_agent(config, log)
        if plant.mining == "interval":
            wait_for_agent_txs_in_pool(plant, proc, 2, first_nonce)
            time.sleep(rng.uniform(0, 0.1))  # a block every 2 s: most kills leave two or more unmined
        else:
            time.sleep(rng.uniform(1.5, 7.0))  # start-up takes ~3 s: some kills land in it, most mid-stream
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        if plant.mining == "interval":
            unmined, dropped = lose_latest_agent_txs(plant, rng, first_nonce)
            unmined_at_kill.append(unmined)
            forgotten += dropped
        if outbox_path.exists():
            assert_consistent_at_any_moment(plant, outbox_path)
    print(f"transactions unmined at each kill: {unmined_at_kill}, {forgotten} of them forgotten by the node")
    if plant.mining == "interval":  # still in the pool after the kill: sent and unmined when it hit
        assert max(unmined_at_kill) >= 2, f"transactions unmined at each kill: {unmined_at_kill} (seed {seed})"
        assert forgotten > 0, f"no transaction was lost, so none had to be sent again (seed {seed})"
    accepted_before_final = sum(len(r) for r in outbox_rids(outbox_path).values())
    assert accepted_before_final > 0, f"no reading was accepted in {CRASH_ROUNDS} rounds (seed {seed})"

    readies = log.read_text().count('"agent ready"')
    proc = start_agent(config, log)  # a last run that ends cleanly and drains everything
    deadline = time.monotonic() + 60
    while log.read_text().count('"agent ready"') == readies and time.monotonic() < deadline:
        time.sleep(0.2)  # a SIGTERM while Python is still importing is just another crash
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGTERM)
    status = proc.wait(timeout=90)
    assert status == 0, f"exit {status}: " + "\n".join(
        line for line in log.read_text().splitlines()[-400:] if '"batch state"' not in line)[-3000:]
    total = assert_nothing_lost(plant, outbox_path)
    assert total >= accepted_before_final
    with Outbox(outbox_path) as outbox:  # confirmations: 0, so what is on-chain is final, found there or not
        assert {r.state for r in outbox.batches()} == {BatchState.CONFIRMED}


def agent_nonce(plant) -> int:
    from plant_support import AGENT
    from twinledger.chain.devnet import test_account

    return plant.stack.chain(None).w3.eth.get_transaction_count(test_account(AGENT).address, "pending")


def txs_sent_since(plant, first_nonce: int) -> dict[int, str]:
    return {n: h for n, h in agent_txs_in_pool(plant).items() if n >= first_nonce}


def wait_for_agent_txs_in_pool(plant, proc: subprocess.Popen, at_least: int, first_nonce: int,
                               deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while len(txs_sent_since(plant, first_nonce)) < at_least:
        assert proc.poll() is None, f"the agent exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"never {at_least} anchoring transactions unmined at once"
        time.sleep(0.05)


def lose_latest_agent_txs(plant, rng: random.Random, first_nonce: int) -> tuple[int, int]:
    """The node forgets a random number (at least one) of the agent's latest unmined transactions, as a
    node restart or pool eviction would; the earlier ones stay and are mined. Returns how many of those
    the killed run sent were unmined, and how many of those the node forgot."""
    pool = txs_sent_since(plant, first_nonce)
    provider = plant.stack.chain(None).w3.provider
    dropped = 0
    for nonce in sorted(pool)[-rng.randint(1, len(pool)):] if pool else []:
        dropped += provider.make_request("anvil_dropTransaction", [pool[nonce]])["result"] == pool[nonce]
    return len(pool), dropped


def run_in_thread(daemon: AgentDaemon) -> tuple[threading.Thread, dict]:
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(daemon.run(status_every_s=60, install_signals=False)))
    thread.start()
    return thread, result


def test_chain_outage_mid_run_then_recovery(plant):
    proxy = CuttableProxy(plant.stack.anvil.port)
    try:
        config = plant.config("chain-outage", source={**realtime(50), "duration_s": 20}, rpc_url=proxy.url,
                              window_s=0.3)
        daemon = AgentDaemon(load_config(config))
        thread, summary = run_in_thread(daemon)
        time.sleep(1.5)
        wait_for_in_flight(plant, daemon)
        proxy.cut()
        wait_for_failure(daemon)
        assert daemon.pipeline.stats.accepted > 0, "readings keep being accepted while the chain is down"
        proxy.restore()
        # the source still runs, so the daemon cannot drain and stop before the watcher polls the call
        assert not daemon.source_done.is_set(), "the outage outlasted the source: lengthen duration_s"
        call_id = queue_close_valve(plant)  # the program-call watcher must have survived the outage
        thread.join(timeout=120)
        assert not thread.is_alive()
        assert summary["accepted"] == summary["readings_anchored"]
        assert_nothing_lost(plant, load_config(config).outbox_path)
        assert plant.stack.chain().spec.functions.programCall(call_id).call()[4] == 3  # CallStatus.Done
    finally:
        proxy.close()


def wait_for_in_flight(plant, daemon: AgentDaemon, at_least: int = 2, deadline_s: float = 30.0) -> None:
    """With a block time: hold the outage back until the anchorer has several transactions in flight."""
    if plant.mining != "interval":
        return
    deadline = time.monotonic() + deadline_s
    while daemon.anchorer.in_flight < at_least:
        assert time.monotonic() < deadline, f"never {at_least} anchoring transactions in flight at once"
        time.sleep(0.01)


def wait_for_failure(daemon: AgentDaemon, at_least_s: float = 2.5, deadline_s: float = 30.0) -> None:
    """Keep the outage on for at least `at_least_s`, and until the agent has counted a failed round.

    web3's HTTP provider retries idempotent calls for a few seconds, so a short cut can pass without
    a round failing; the outage has to last until one does, or the test proves nothing."""
    errors_before = daemon.status.errors
    start = time.monotonic()
    while time.monotonic() - start < at_least_s or daemon.status.errors == errors_before:
        assert time.monotonic() - start < deadline_s, "the outage was noticed and retried"
        time.sleep(0.1)


def queue_close_valve(plant) -> int:
    from web3.logs import DISCARD

    from plant_support import OWNER, PLANT_AML
    from twinledger.formats.aml import load_aml

    program = next(p for p in load_aml(PLANT_AML).programs if p.name == "CloseValve")
    owner = plant.stack.chain(OWNER)
    receipt = owner.sender.transact(owner.spec.functions.callProgram(plant.twin, program.component_id,
                                                                     program.program_id, []))
    return owner.spec.events.ProgramCalled().process_receipt(receipt, errors=DISCARD)[0]["args"]["callId"]


def test_ipfs_outage_mid_run_then_recovery(plant, tmp_path):
    port = free_port()
    repo = tmp_path / "kubo-like"
    server = serve_kubo_like(repo, port)
    from twinledger.ipfs import open_store
    from plant_support import PLANT_AML
    kubo = f"kubo:http://127.0.0.1:{port}"
    open_store(kubo).add_bytes(PLANT_AML.read_bytes())  # the agent reads the twin's spec from its IPFS
    try:
        config = plant.config("ipfs-outage", source={**realtime(50), "duration_s": 6},
                              ipfs=kubo, window_s=0.3)
        daemon = AgentDaemon(load_config(config))
        thread, summary = run_in_thread(daemon)
        time.sleep(1.5)
        wait_for_in_flight(plant, daemon)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        wait_for_failure(daemon)
        server = serve_kubo_like(repo, port)
        thread.join(timeout=120)
        assert not thread.is_alive()
        assert summary["accepted"] == summary["readings_anchored"]
        # The oracle reads the batches back through the (restarted) daemon's store.
        plant.stack.store = lambda: open_store(kubo)
        assert_nothing_lost(plant, load_config(config).outbox_path)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
