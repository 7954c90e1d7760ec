"""Finding and proving gateway faults (`verify/challenges.py`, `twinledger gateway check|windows|grant`) on real
anvil + embedded IPFS: honest windows hold no fault; a forged device signature, a broken head chain, a seq
used twice and a leaf that contradicts the per-feed anchors are each found, proven on-chain by an outsider
with the challenge the contract accepts, and reported as challenged afterwards.

Each test anchors as a gateway account of its own and checks only that gateway's windows, so the tests of
this module do not see each other's faults."""
from __future__ import annotations

import pytest

from cli_harness import Twinledger
from twinledger.chain.devnet import test_account as account_of
from twinledger.ledger import gateway
from twinledger.ledger.reader import Ledger
from twinledger.verify.challenges import ChallengeFinder, ChallengeKind

from verify_support import FeedWriter, GatewayFeeds, World, make_world, synthetic_batch

pytestmark = pytest.mark.timeout(300)
ADMIN, OUTSIDER = 0, 8
FORGER = 9


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    w = make_world(tmp_path_factory.mktemp("verify-challenges"))
    yield w
    w.stack.stop()


@pytest.fixture(scope="module")
def tl(world: World) -> Twinledger:
    return Twinledger(world.stack, default_account=OUTSIDER)


_next_gateway = iter((2, 4, 5, 6, 7))  # the funded test accounts the module leaves free


@pytest.fixture
def gw(world: World, tl: Twinledger) -> int:
    """A fresh gateway account, granted through the CLI by GatewayAnchors' admin."""
    index = next(_next_gateway)
    out = tl("gateway", "grant", account_of(index).address, account=ADMIN).stdout
    assert f"{account_of(index).address} may now anchor windows" in out
    return index


def finder(world: World, index: int) -> ChallengeFinder:
    return ChallengeFinder(Ledger(world.chain()), world.store, account_of(index).address)


def check(tl: Twinledger, index: int, *more: str):
    return tl("gateway", "check", "--gateway", account_of(index).address, *more, ok=False)


def test_honest_windows_hold_no_fault(world: World, tl: Twinledger, gw: int) -> None:
    fs = GatewayFeeds(world, 2, gateway=gw)
    for _ in range(3):
        fs.window(*[fs.batch(f) for f in fs.feeds])
    assert finder(world, gw).faults() == []
    result = check(tl, gw)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "no window holds a provable fault" in result.stderr
    listed = tl("gateway", "windows", "--gateway", account_of(gw).address).stdout
    assert "3 window(s)" in listed and "yes" not in listed


def test_forged_signature_is_found_and_challenged_from_the_cli(world: World, tl: Twinledger, gw: int) -> None:
    fs = GatewayFeeds(world, 2, gateway=gw)
    good, victim = fs.feeds
    honest_id, _ = fs.window(fs.batch(good), fs.batch(victim))
    window_id, _ = fs.window(fs.batch(good), fs.batch(victim, key=account_of(FORGER).key))

    found = check(tl, gw)
    assert found.exit_code == 1
    assert found.stdout.strip().splitlines() == [
        f"window {window_id} of gateway {account_of(gw).address}: feed {victim} seq 1: signature fault: signed by "
        f"{account_of(FORGER).address}, the feed's device key is {world.device.address} (provable: run with "
        "--challenge)"]
    assert not gateway.window(world.chain(), window_id).challenged  # listing sends nothing

    proven = check(tl, gw, "--challenge")
    assert proven.exit_code == 1 and "challenged in tx 0x" in proven.stdout
    assert gateway.window(world.chain(), window_id).challenged
    assert gateway.gateway_faults(world.chain(), account_of(gw).address) == 1
    record = gateway.challenge_records(world.chain(), Ledger(world.chain()).reader, 0, world.chain().w3.eth.block_number)
    assert any(r.window_id == window_id and r.challenger == account_of(OUTSIDER).address
               and r.fault == "forged signature" for r in record)

    again = check(tl, gw, "--challenge")
    assert again.exit_code == 1
    assert f"window {window_id} of gateway {account_of(gw).address}: already challenged by " \
           f"{account_of(OUTSIDER).address} (forged signature)" in again.stdout
    assert "challenged in tx" not in again.stdout  # nothing is sent twice
    assert "yes" in tl("gateway", "windows", "--gateway", account_of(gw).address).stdout

    # the listing reads every window in one JSON-RPC batch: the views `window` reads one by one, the same error
    chain = world.chain()
    both = gateway.windows(chain, [honest_id, window_id])
    assert both == [gateway.window(chain, honest_id), gateway.window(chain, window_id)]
    assert [v.challenged for v in both] == [False, True] and both[0].gateway == account_of(gw).address
    unknown = gateway.window_count(chain) + 1
    with pytest.raises(Exception) as alone:
        gateway.window(chain, unknown)
    with pytest.raises(type(alone.value), match=str(unknown)):
        gateway.windows(chain, [window_id, unknown])


def test_broken_head_chain_and_seq_used_twice_are_sequence_faults(world: World, gw: int) -> None:
    fs = GatewayFeeds(world, 2, gateway=gw)
    broken, twice = fs.feeds
    first_twice = fs.batch(twice)
    fs.window(fs.batch(broken), first_twice)
    fs.window(fs.batch(broken))
    bad_id, _ = fs.window(fs.batch(broken, prev_head=b"\x42" * 32))  # seq 2 not on seq 1's head
    dup_id, _ = fs.window(fs.batch(twice, seq=0, readings=21))  # another seq 0 of the same feed

    faults = {f.window_id: f.challenge for f in finder(world, gw).faults()}
    assert set(faults) == {bad_id, dup_id}
    assert (faults[bad_id].kind, faults[bad_id].feed_id, faults[bad_id].seq) == (ChallengeKind.SEQUENCE, broken, 2)
    assert (faults[dup_id].kind, faults[dup_id].feed_id, faults[dup_id].seq) == (ChallengeKind.SEQUENCE, twice, 0)
    assert "again with another head" in faults[dup_id].reason

    outsider = world.chain(OUTSIDER)
    f = finder(world, gw)
    for fault in f.faults():
        outsider.sender.transact(f.transaction(fault.challenge))
    chain = world.chain()
    assert gateway.window(chain, bad_id).challenged and gateway.window(chain, dup_id).challenged
    faults_seen = {r.window_id: r.fault for r in gateway.challenge_records(chain, Ledger(chain).reader, 0,
                                                                            chain.w3.eth.block_number)}
    assert faults_seen[bad_id] == "broken head chain" and faults_seen[dup_id] == "duplicate seq"
    assert all(f.challenge is None for f in finder(world, gw).faults())  # both are reported as challenged now


def test_leaf_that_contradicts_the_per_feed_anchors_is_proven(world: World, gw: int) -> None:
    fs = GatewayFeeds(world, 1, gateway=gw)
    feed = fs.feeds[0]
    FeedWriter(world.owner, world.store, feed, world.device).anchor(synthetic_batch(feed, 0, 20))
    window_id, _ = fs.window(fs.batch(feed, readings=21))  # a device-signed seq 0, but not the one on SensorFeed

    (fault,) = finder(world, gw).faults()
    assert fault.window_id == window_id
    assert fault.challenge.kind is ChallengeKind.AGAINST_FEED
    assert fault.challenge.reason == "SensorFeed anchored another batch as seq 0"
    world.chain(OUTSIDER).sender.transact(finder(world, gw).transaction(fault.challenge))
    assert gateway.window(world.chain(), window_id).challenged


def test_grant_by_a_non_admin_is_one_clear_line(tl: Twinledger) -> None:
    line = tl.fails("gateway", "grant", account_of(3).address)
    assert "AccessControlUnauthorizedAccount" in line and "Traceback" not in line


def test_honest_window_from_before_a_key_rotation_is_not_offered_as_forged(world: World, gw: int) -> None:
    fs = GatewayFeeds(world, 1, gateway=gw)
    feed = fs.feeds[0]
    window_id, window = fs.window(fs.batch(feed))
    world.owner.sender.transact(world.owner.feeds.functions.rotateDeviceKey(feed, account_of(FORGER).address))
    # the contract does not judge an old window by today's key (KeyRotatedSinceWindow) ...
    from twinledger.verify.challenges import Challenge
    honest = Challenge(ChallengeKind.SIGNATURE, window_id, 0, feed, 0, "key rotated since")
    assert not finder(world, gw)._provable(honest)
    # ... and the finder, asking the key history, offers nothing
    assert finder(world, gw).faults() == []
    ledger = Ledger(world.chain())  # the finder's one query for every feed's keys says what each feed's own says
    every = ledger.key_histories()
    assert [c.key for c in every[feed]] == [world.device.address, account_of(FORGER).address]
    assert all(every[f] == ledger.key_history(f) for f in every) and len(every) > 1
    world.owner.sender.transact(world.owner.feeds.functions.rotateDeviceKey(feed, world.device.address))
