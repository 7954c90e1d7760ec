"""Several anchoring transactions in flight on a chain with a real block time (anvil `--block-time`): the
anchorer sends the next batches before the earlier ones are mined, and every batch lands exactly once,
in order, with an unbroken head chain."""
from __future__ import annotations

import time

import pytest

from plant_support import AGENT, SENSORS, anchored_feed, provision_plant
from twinledger.agent.anchorer import Anchorer
from twinledger.agent.outbox import BatchState, Outbox
from twinledger.formats.batch import Reading

pytestmark = pytest.mark.timeout(180)
BLOCK_TIME_S = 2


@pytest.fixture
def plant(tmp_path):
    plant = provision_plant(tmp_path / "plant")  # provisioned on automine, then blocks every 2 s
    w3 = plant.stack.chain(None).w3
    w3.provider.make_request("evm_setAutomine", [False])
    w3.provider.make_request("evm_setIntervalMining", [BLOCK_TIME_S])
    yield plant
    plant.stack.stop()


def test_several_transactions_in_flight_all_batches_anchored_exactly_once(plant, tmp_path):
    feeds = [plant.feeds[s] for s in SENSORS[:3]]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    chain = plant.stack.chain(AGENT)
    key = bytes.fromhex((plant.workdir / "device.key").read_text().removeprefix("0x"))
    anchorer = Anchorer(outbox, plant.stack.store(), chain, {f: key for f in feeds}, max_items=2,
                        block_time=BLOCK_TIME_S, max_in_flight=8)
    rid_t = 1_700_000_000_000
    per_feed = 4
    for seq in range(per_feed):  # 4 batches per feed, 2 batches per transaction: 6 transactions
        for feed_index, feed in enumerate(feeds):
            outbox.append_many((feed, Reading(0, SENSORS[feed_index], rid_t + 10 * (seq * 10 + i), 1.0 + i, 0))
                               for i in range(3))
            assert outbox.claim_batch(feed) is not None
    block0 = chain.w3.eth.block_number
    seen_in_flight = 0
    anchored = 0
    deadline = time.monotonic() + 60
    while anchored < per_feed * len(feeds):
        assert time.monotonic() < deadline, f"only {anchored} batches anchored"
        anchored += anchorer.run_once()
        seen_in_flight = max(seen_in_flight, anchorer.in_flight)
        time.sleep(0.02)
    assert seen_in_flight > 1 and anchorer.stats.max_in_flight > 1
    assert anchorer.stats.transactions == per_feed * len(feeds) // 2
    for feed in feeds:
        on_chain = anchored_feed(plant, feed)
        assert on_chain.seqs == list(range(per_feed))  # each batch once, in order, head chain checked
        assert len(on_chain.rids) == len(set(on_chain.rids)) == 3 * per_feed
        assert all(outbox.get_batch(feed, s).state is BatchState.CONFIRMED for s in range(per_feed))
    blocks = {outbox.get_batch(f, s).block for f in feeds for s in range(per_feed)}
    assert len(blocks) < anchorer.stats.transactions  # several transactions shared a block
    assert min(blocks) > block0


def test_a_measured_block_time_follows_the_chain(plant):
    """Measured on automine the block time is 0; once the chain has blocks 3 s apart, the next measurement
    (`REMEASURE_S` later) sees 3 s. A configured block time is never measured."""
    from twinledger.agent.inflight import REMEASURE_S, BlockClock

    w3 = plant.stack.chain(None).w3
    w3.provider.make_request("evm_setIntervalMining", [0])
    w3.provider.make_request("evm_setAutomine", [True])
    w3.provider.make_request("anvil_mine", [12, 0])  # twelve blocks in the same second: automine-like
    now = [0.0]
    block_clock = BlockClock(plant.stack.chain(AGENT).sender, clock=lambda: now[0])
    assert block_clock.seconds() == 0.0
    w3.provider.make_request("anvil_mine", [12, 3])  # twelve blocks, 3 s apart
    now[0] = REMEASURE_S - 1
    assert block_clock.seconds() == 0.0  # not measured again yet
    now[0] = REMEASURE_S
    assert block_clock.seconds() == 3.0
    assert BlockClock(plant.stack.chain(AGENT).sender, configured=12.0).seconds() == 12.0
