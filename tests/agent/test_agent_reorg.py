"""A reorganisation that removes an anchor, and a transaction dropped from the pool: both end with
the same batch anchored again, byte for byte, and nothing anchored twice."""
from __future__ import annotations

import time

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
    assert anchorer.run_once() == 1  # notices the anchor is gone and, in the same round, anchors the same bytes again
    assert outbox.get_batch(feed, 0).state is BatchState.ANCHORED
    again = anchored_feed(plant, feed)
    assert again.seqs == [0] and again.head == first_head

    w3.provider.make_request("anvil_mine", [3])
    anchorer.run_once()
    assert outbox.get_batch(feed, 0).state is BatchState.CONFIRMED


def test_dropped_transaction_is_resubmitted(plant, tmp_path):
    """The pool forgets the anchor transaction: once `receipt_timeout` passes without a receipt, the
    anchorer sends the same anchors again at the same nonce with higher fees, and they land once."""
    feed = plant.feeds[SENSORS[1]]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    one_batch(outbox, feed)
    anchorer = anchorer_for(plant, outbox, confirmations=0, receipt_timeout=1)
    w3 = anchorer.chain.w3
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        assert anchorer.run_once() == 0  # sent, not mined
        first = outbox.get_batch(feed, 0)
        assert first.state is BatchState.SUBMITTED and anchorer.in_flight == 1
        assert w3.provider.make_request("anvil_dropTransaction", [first.txhash])["result"] == first.txhash
        assert not anchorer.chain.sender.is_pending(first.txhash)
        time.sleep(1.2)
        assert anchorer.run_once() == 0  # overdue and gone from the pool: resubmitted, same nonce
        again = outbox.get_batch(feed, 0)
        assert again.state is BatchState.SUBMITTED and again.txhash != first.txhash and again.nonce == first.nonce
        assert anchorer.stats.bumps == 1 and anchorer.chain.sender.is_pending(again.txhash)
        w3.provider.make_request("anvil_mine", [1])
        assert anchorer.run_once() == 1
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    assert anchored_feed(plant, feed).seqs == [0]
    assert outbox.get_batch(feed, 0).state is BatchState.CONFIRMED
    assert anchorer.in_flight == 0


def test_stuck_transaction_is_replaced_with_higher_fees(plant, tmp_path):
    """A transaction still in the pool past the timeout is replaced at its nonce with higher fees; only the
    replacement is mined, and the batch is anchored once."""
    feed = plant.feeds[SENSORS[2]]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    one_batch(outbox, feed)
    anchorer = anchorer_for(plant, outbox, confirmations=0, receipt_timeout=1)
    w3 = anchorer.chain.w3
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        assert anchorer.run_once() == 0
        first = outbox.get_batch(feed, 0)
        old_fee = w3.eth.get_transaction(first.txhash)["maxPriorityFeePerGas"]
        time.sleep(1.2)
        assert anchorer.run_once() == 0  # still in the pool but overdue: replaced
        bumped = outbox.get_batch(feed, 0)
        assert bumped.txhash != first.txhash and bumped.nonce == first.nonce
        assert w3.eth.get_transaction(bumped.txhash)["maxPriorityFeePerGas"] > old_fee
        w3.provider.make_request("anvil_mine", [1])
        assert anchorer.run_once() == 1
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    assert anchored_feed(plant, feed).seqs == [0]
    assert w3.eth.get_transaction_receipt(bumped.txhash)["status"] == 1
    assert anchorer.chain.sender.receipt(first.txhash) is None  # replaced: never mined
