"""A reorganisation that removes an anchor, and a transaction dropped from the pool: both end with
the same batch anchored again, byte for byte, and nothing anchored twice. Each also with several
anchoring transactions in flight: a reorganisation that removes some while later ones, chained on
their heads, are still unmined; one dropped from among several; several stuck at once."""
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


def one_batch(outbox: Outbox, feed: int, n: int = 5, t0: int = 1_700_000_000_000, sensor: str = SENSORS[0]) -> None:
    outbox.append_many((feed, Reading(0, sensor, t0 + i, 1.5 + i, 0)) for i in range(n))
    assert outbox.claim_batch(feed) is not None


def anchorer_for(plant, outbox: Outbox, confirmations: int, **kwargs) -> Anchorer:
    chain = plant.stack.chain(AGENT, confirmations=confirmations)
    key = bytes.fromhex((plant.workdir / "device.key").read_text().removeprefix("0x"))
    return Anchorer(outbox, plant.stack.store(), chain, {f: key for f in plant.feeds.values()}, **kwargs)


@pytest.fixture
def manual_mining(plant):
    w3 = plant.stack.chain(None).w3
    w3.provider.make_request("evm_setAutomine", [False])
    yield w3
    w3.provider.make_request("evm_setAutomine", [True])


def one_batch_unmined(plant, tmp_path, sensor: str) -> tuple[int, Outbox, Anchorer]:
    """One batch of `sensor`'s feed in a fresh outbox, and an anchorer that sends it again after 1 s without a
    receipt (the chain mines only when told: `manual_mining`)."""
    feed = plant.feeds[sensor]
    outbox = Outbox(tmp_path / "outbox.sqlite")
    one_batch(outbox, feed)
    return feed, outbox, anchorer_for(plant, outbox, confirmations=0, receipt_timeout=1)


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
    assert anchorer.stats.batches == 1  # anchored twice, counted once


def test_dropped_transaction_is_resubmitted(plant, tmp_path, manual_mining):
    """The pool forgets the anchor transaction: once `receipt_timeout` passes without a receipt, the
    anchorer sends the same anchors again at the same nonce with higher fees, and they land once."""
    feed, outbox, anchorer = one_batch_unmined(plant, tmp_path, SENSORS[1])
    w3 = anchorer.chain.w3
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
    assert anchored_feed(plant, feed).seqs == [0]
    assert outbox.get_batch(feed, 0).state is BatchState.CONFIRMED
    assert anchorer.in_flight == 0


def test_stuck_transaction_is_replaced_with_higher_fees(plant, tmp_path, manual_mining):
    """A transaction still in the pool past the timeout is replaced at its nonce with higher fees; only the
    replacement is mined, and the batch is anchored once."""
    feed, outbox, anchorer = one_batch_unmined(plant, tmp_path, SENSORS[2])
    w3 = anchorer.chain.w3
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
    assert anchored_feed(plant, feed).seqs == [0]
    assert w3.eth.get_transaction_receipt(bumped.txhash)["status"] == 1
    assert anchorer.chain.sender.receipt(first.txhash) is None  # replaced: never mined


# -- several transactions in flight -----------------------------------------------------------

def batches_of(plant, outbox: Outbox, sensors: tuple[str, ...], per_feed: int) -> list[int]:
    for k in range(per_feed):
        for sensor in sensors:
            one_batch(outbox, plant.feeds[sensor], t0=1_700_000_000_000 + 100 * k, sensor=sensor)
    return [plant.feeds[s] for s in sensors]


def send_rounds(anchorer: Anchorer, n: int) -> int:
    """`n` rounds on a chain that mines nothing meanwhile: each sends one transaction (max_items=1)."""
    return sum(anchorer.run_once() for _ in range(n))


def mine_until_confirmed(anchorer: Anchorer, outbox: Outbox, feeds: list[int], per_feed: int,
                         deadline_s: float = 30.0) -> None:
    w3 = anchorer.chain.w3
    deadline = time.monotonic() + deadline_s
    while not all(outbox.get_batch(f, s).state is BatchState.CONFIRMED for f in feeds for s in range(per_feed)):
        assert time.monotonic() < deadline, {(f, s): outbox.get_batch(f, s).state.value
                                             for f in feeds for s in range(per_feed)}
        anchorer.run_once()
        w3.provider.make_request("anvil_mine", [1])
        time.sleep(0.05)


def assert_each_once(plant, feeds: list[int], per_feed: int, n: int = 5) -> None:
    for feed in feeds:
        on_chain = anchored_feed(plant, feed)  # checks CIDs, roots and the head chain
        assert on_chain.seqs == list(range(per_feed))
        assert len(on_chain.rids) == len(set(on_chain.rids)) == n * per_feed


@pytest.mark.parametrize("kept", [True, False], ids=["node-keeps-removed-txs", "removed-txs-gone"])
def test_reorganisation_with_several_in_flight_reanchors_each_batch_once(plant, tmp_path, manual_mining, kept):
    """Three anchors are mined in a block that a reorganisation then removes, while three more, on the
    account's next nonces, are still unmined. The node puts the removed transactions back in its pool, as
    geth does, or has lost them: then nothing above them can be mined until their nonces are used up.
    Either way every batch ends on-chain once, in order, with an unbroken head chain."""
    w3 = manual_mining
    outbox = Outbox(tmp_path / "outbox.sqlite")
    feeds = batches_of(plant, outbox, SENSORS[:2], 3)
    anchorer = anchorer_for(plant, outbox, confirmations=3, max_items=1, receipt_timeout=1)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    send_rounds(anchorer, 3)
    assert anchorer.in_flight == 3
    w3.provider.make_request("anvil_mine", [1])
    removed = [w3.eth.get_raw_transaction(tx) for tx in w3.eth.get_block("latest")["transactions"]]
    assert len(removed) == 3
    assert send_rounds(anchorer, 3) == 3  # the first three seen anchored, three more sent
    assert anchorer.in_flight == 3
    assert all(outbox.get_batch(feeds[0], s).state is BatchState.ANCHORED for s in range(3))

    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    assert anchorer.chain.feeds.functions.nextSeqOf(feeds[0]).call() == 0
    if kept:
        for raw in removed:
            w3.eth.send_raw_transaction(raw)
    mine_until_confirmed(anchorer, outbox, feeds, 3)
    assert_each_once(plant, feeds, 3)
    assert anchorer.stats.max_in_flight >= 3
    assert (anchorer.stats.gap_fills > 0) is not kept


def test_dropped_transaction_among_several_in_flight_is_resubmitted(plant, tmp_path, manual_mining):
    """The pool forgets the first of three transactions in flight, so the other two cannot be mined either:
    the first is resubmitted at its nonce, and all three land once."""
    w3 = manual_mining
    outbox = Outbox(tmp_path / "outbox.sqlite")
    feeds = batches_of(plant, outbox, SENSORS[:3], 1)
    anchorer = anchorer_for(plant, outbox, confirmations=0, max_items=1, receipt_timeout=1)
    send_rounds(anchorer, 3)
    assert anchorer.in_flight == 3
    first = outbox.get_batch(feeds[0], 0)
    assert w3.provider.make_request("anvil_dropTransaction", [first.txhash])["result"] == first.txhash
    time.sleep(1.2)
    assert anchorer.run_once() == 0
    again = outbox.get_batch(feeds[0], 0)
    assert again.txhash != first.txhash and again.nonce == first.nonce
    mine_until_confirmed(anchorer, outbox, feeds, 1)
    assert_each_once(plant, feeds, 1)
    assert anchorer.chain.sender.receipt(first.txhash) is None
    assert anchorer.in_flight == 0


def test_several_stuck_transactions_are_each_replaced_with_higher_fees(plant, tmp_path, manual_mining):
    """Three transactions in flight, all still in the pool past the timeout: each is replaced at its nonce
    with higher fees, only the replacements are mined, and each batch lands once."""
    w3 = manual_mining
    outbox = Outbox(tmp_path / "outbox.sqlite")
    feeds = batches_of(plant, outbox, SENSORS[:3], 1)
    anchorer = anchorer_for(plant, outbox, confirmations=0, max_items=1, receipt_timeout=1)
    send_rounds(anchorer, 3)
    assert anchorer.in_flight == 3
    first = {f: outbox.get_batch(f, 0) for f in feeds}
    old_fee = {f: w3.eth.get_transaction(first[f].txhash)["maxPriorityFeePerGas"] for f in feeds}
    time.sleep(1.2)
    assert anchorer.run_once() == 0  # all three overdue and still in the pool: each replaced
    assert anchorer.stats.bumps == 3
    for feed in feeds:
        bumped = outbox.get_batch(feed, 0)
        assert bumped.txhash != first[feed].txhash and bumped.nonce == first[feed].nonce
        assert w3.eth.get_transaction(bumped.txhash)["maxPriorityFeePerGas"] > old_fee[feed]
    mine_until_confirmed(anchorer, outbox, feeds, 1)
    assert_each_once(plant, feeds, 1)
    assert all(anchorer.chain.sender.receipt(first[f].txhash) is None for f in feeds)  # replaced: never mined


def test_nonce_below_those_in_flight_held_by_an_earlier_run_is_left_alone(plant, tmp_path, manual_mining):
    """An earlier run's transaction, still unmined, holds the nonce below ours in flight: the agent must not
    take that for a gap it has to fill, nor stop its rounds over the node's refusal; both are mined."""
    w3 = manual_mining
    outbox = Outbox(tmp_path / "outbox.sqlite")
    feeds = batches_of(plant, outbox, SENSORS[:1], 1)
    anchorer = anchorer_for(plant, outbox, confirmations=0, max_items=1, receipt_timeout=1)
    earlier = plant.stack.chain(AGENT).sender  # another process's sender for the same account
    held = earlier.cancel(earlier.mined_nonce())
    send_rounds(anchorer, 1)
    assert outbox.get_batch(feeds[0], 0).nonce == held.nonce + 1
    time.sleep(1.2)
    assert anchorer.run_once() == 0  # overdue above a held nonce: the node refuses a fill there, the round goes on
    assert anchorer.stats.gap_fills == 0
    mine_until_confirmed(anchorer, outbox, feeds, 1)
    assert w3.eth.get_transaction_receipt(held.tx_hash)["status"] == 1
    assert_each_once(plant, feeds, 1)
