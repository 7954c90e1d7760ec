"""A reorganisation that removes an anchor, and a transaction dropped from the pool: both end with
the same batch anchored again, byte for byte, and nothing anchored twice."""
from __future__ import annotations

import pytest

from plant_support import AGENT, SENSORS, anchored_feed, provision_plant
from twinledger.agent.anchorer import Anchorer
from twinledger.agent.outbox import BatchState, Outbox
from twinledger.formats.batch import Reading

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def plant(tmp_path):
    plant = provision_plant(tmp_path / "plant")
    yield plant
    plant.stack.stop()


def one_batch(outbox: Outbox, feed: int, n: int = 5) -> None:
    outbox.append_many((feed, Reading(0, SENSORS[0], 1_700_000_000_000 + i, 1.5 + i, 0)) for i in range(n))
    assert outbox.claim_batch(feed) is not None


def anchorer_for(plant, outbox: Outbox, confirmations: int, **kwargs) -> Anchorer:
    chain = plant.stack.chain(AGENT, confirmations=confirmations)
    key = bytes.fromhex((plant.workdir / "device.key").read_text().removeprefix("0x"))
    return Anchorer(outbox, plant.stack.store(), chain, {f: key for f in plant.feeds.values()}, **kwargs)


def test_anchor_removed_by_a_reorganisation_is_resubmitted(plant, tmp_path):
    feed = plant.feeds[SENSORS[0]]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    one_batch(outbox, feed)
    anchorer = anchorer_for(plant, outbox, confirmations=3)
    w3 = anchorer.chain.w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    assert anchorer.run_once() == 1
    assert outbox.get_batch(feed, 0).state is BatchState.ANCHORED  # not yet 3 blocks deep
    first_head = anchored_feed(plant, feed).head

    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True  # the block is gone
    assert anchorer.chain.feeds.functions.nextSeqOf(feed).call() == 0
    anchorer.chain.sender.resync_nonce()
    anchorer.run_once()  # notices the anchor is gone
    assert outbox.get_batch(feed, 0).state is BatchState.STORED
    assert anchorer.run_once() == 1  # and anchors the same bytes again
    again = anchored_feed(plant, feed)
    assert again.seqs == [0] and again.head == first_head

    w3.provider.make_request("anvil_mine", [3])
    anchorer.run_once()
    assert outbox.get_batch(feed, 0).state is BatchState.CONFIRMED


def test_dropped_transaction_is_resubmitted(plant, tmp_path):
    feed = plant.feeds[SENSORS[1]]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    one_batch(outbox, feed)
    anchorer = anchorer_for(plant, outbox, confirmations=0, receipt_timeout=2)
    w3 = anchorer.chain.w3
    w3.provider.make_request("evm_setAutomine", [False])
    dropped = []
    original_wait = anchorer.chain.sender.wait

    def drop_then_wait(sent, **kwargs):
        w3.provider.make_request("anvil_dropTransaction", [sent.tx_hash])
        dropped.append(sent.tx_hash)
        return original_wait(sent, **kwargs)

    anchorer.chain.sender.wait = drop_then_wait
    assert anchorer.run_once() == 0  # not mined within the timeout: marked dropped
    assert dropped and outbox.get_batch(feed, 0).state is BatchState.STORED
    anchorer.chain.sender.wait = original_wait
    w3.provider.make_request("evm_setAutomine", [True])
    assert anchorer.run_once() == 1
    assert anchored_feed(plant, feed).seqs == [0]
    assert outbox.get_batch(feed, 0).state is BatchState.CONFIRMED
