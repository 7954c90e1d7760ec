"""The verifier on feeds anchored in gateway windows (GatewayAnchors) on real anvil + embedded IPFS: a clean feed
passes exactly as in the per-feed mode, each reading is proven on-chain with its two-level proof, and a forged
device signature, a broken head chain or an unsigned leaf is reported with the per-feed mode's finding kinds;
a window challenged on-chain is reported too."""
from __future__ import annotations

import pytest

from twinledger.chain.devnet import test_account as account_of
from twinledger.ledger import gateway
from twinledger.verify import Kind, Severity, Status

from verify_support import GATEWAY, GatewayFeeds as Feeds, World, make_world

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    w = make_world(tmp_path_factory.mktemp("verify-aggregated"))
    admin = w.stack.chain(0)  # the deployer administers GatewayAnchors
    admin.sender.transact(gateway.grant_gateway(admin, account_of(GATEWAY).address))
    yield w
    w.stack.stop()


def errors_of(findings) -> set[tuple[Kind, int | None]]:
    return {(f.kind, f.location.seq) for f in findings if f.severity >= Severity.ERROR}


def test_feeds_in_windows_verify_like_per_feed_feeds(world: World) -> None:
    fs = Feeds(world, 3)
    for _ in range(3):
        fs.window(*[fs.batch(f) for f in fs.feeds])
    verifier = world.verifier()
    for f in fs.feeds:
        result = verifier.verify_feed(f)
        assert result.status is Status.PASS, [str(x) for x in result.findings]
        assert len(result.batches) == 3 and result.readings_checked == 60
        assert all(b.verified and b.signature.status == "signed" for b in result.batches)
        assert result.batches[0].signature.signer == world.device.address
    # one reading, its proof checked here and by GatewayAnchors.verifyReading (batch root -> window root)
    r = verifier.verify_reading(fs.feeds[1], 2, 7)
    assert r.proof_ok and r.onchain_ok and not r.findings
    assert world.chain().feeds.functions.nextSeqOf(fs.feeds[1]).call() == 0  # nothing went through SensorFeed


def test_forged_signature_in_a_window_is_wrong_signer_and_provable(world: World) -> None:
    fs = Feeds(world, 2)
    good, victim = fs.feeds
    fs.window(fs.batch(good), fs.batch(victim))
    forged = fs.batch(victim, key=account_of(9).key)  # not the feed's device key
    window_id, window = fs.window(fs.batch(good), forged)
    result = world.verifier().verify_feed(victim)
    assert result.status is Status.FAIL
    assert errors_of(result.findings) == {(Kind.WRONG_SIGNER, 1)}
    assert world.verifier().verify_feed(good).status is Status.PASS

    # anyone proves it on-chain; the window is marked and the verifier reports the challenge as well
    challenger = world.chain(GATEWAY + 1)
    index = window.index_of(victim, 1)
    challenger.sender.transact(gateway.challenge_signature(challenger, window_id, window, index))
    assert gateway.window(challenger, window_id).challenged
    assert gateway.gateway_faults(challenger, account_of(GATEWAY).address) == 1
    after = world.verifier().verify_feed(victim)
    assert (Kind.CHAIN_MISMATCH, 1) in errors_of(after.findings)
    assert any("challenged on-chain" in f.message and "forged signature" in f.message for f in after.findings)


def test_broken_head_chain_and_unsigned_leaf_are_found(world: World) -> None:
    fs = Feeds(world, 2)
    broken, unsigned = fs.feeds
    fs.window(fs.batch(broken), fs.batch(unsigned))
    fs.window(fs.batch(broken, prev_head=b"\x42" * 32), fs.batch(unsigned, unsigned=True))
    b = world.verifier().verify_feed(broken)
    assert (Kind.HEAD_MISMATCH, 1) in errors_of(b.findings)
    u = world.verifier().verify_feed(unsigned)
    assert errors_of(u.findings) == {(Kind.BAD_SIGNATURE, 1)}
    assert not any(f.kind is Kind.UNSIGNED for f in u.findings)  # no ANCHOR holder stands in for a device here


def test_tampered_window_content_is_reported(world: World) -> None:
    fs = Feeds(world, 1)
    fs.window(fs.batch(fs.feeds[0]))
    twin_result = world.verifier().verify_twin(world.twin)
    assert not [f for f in twin_result.findings if f.kind is Kind.TAMPERED]
    # a window whose content is not what was anchored: its leaves cannot be trusted, and it is named
    gw = fs.gw
    p = fs.batch(fs.feeds[0])
    from twinledger.agent.gateway import store_window
    from twinledger.formats.aggregate import Window
    from twinledger.agent.gateway import leaf_of

    real = Window([leaf_of(p)])
    _, digest, codec = store_window(world.store, Window([leaf_of(fs.batch(fs.feeds[0]))]))  # other content
    gw.sender.transact(gateway.anchor_window(gw, real, digest, codec))
    result = world.verifier().verify_twin(world.twin)
    tampered = [f for f in result.findings if f.kind is Kind.TAMPERED]
    assert tampered and "the chain anchored" in tampered[0].message


def test_a_window_mined_before_the_feed_was_registered_is_not_its_history(world: World) -> None:
    """A leaf for a feed id that did not exist yet is nobody's batch, even signed by the key the feed gets later:
    the feed's verifier starts at its registration (and does not decode the windows before it)."""
    from twinledger.formats.headchain import GENESIS_HEAD

    fs = Feeds(world, 1)
    future = world.chain().feeds.functions.feedCount().call() + 1
    fs.heads[future], fs.seqs[future] = GENESIS_HEAD, 0
    early_id, _ = fs.window(fs.batch(future))  # seq 0 of the id the next registration takes
    registered = world.new_feed("pipe_flow").feed
    assert registered == future
    fs.heads[future], fs.seqs[future] = GENESIS_HEAD, 0
    fs.window(fs.batch(future))
    fs.window(fs.batch(future))

    verifier = world.verifier()
    result = verifier.verify_feed(future)
    assert result.status is Status.PASS, [str(x) for x in result.findings]
    assert [b.anchor.seq for b in result.batches] == [0, 1]
    assert early_id not in verifier.windows.windows  # never fetched for this feed
    assert early_id in verifier.windows.all_windows()  # the whole range is still there for a challenger
    assert verifier.verify_batch(future, 0).verified
