"""Independent verification speed for a feed of >= 100k readings (re-fetch every batch by CID, recompute the
roots and the head chain, check the device signatures), next to the limit: raw keccak over the same leaves."""
from __future__ import annotations

import time
from dataclasses import dataclass

from twinledger.formats.batch import encode_reading

from .batches import DEVICE_ADDRESS, FeedWriter, make_batch
from .chainenv import AGENT_INDEX, DEVICE_AGENT, BenchEnv
from .common import NotAvailable, Results
from .limits import keccak_seconds

ANCHORS_PER_TX = 25


@dataclass(frozen=True)
class AnchoredFeed:
    feed: int
    batches: int
    batch_size: int

    @property
    def readings(self) -> int:
        return self.batches * self.batch_size


def build_feed(env: BenchEnv, batches: int, batch_size: int) -> AnchoredFeed:
    """Anchor `batches` consecutive batches of one feed (stored on IPFS, device-signed) with anchorMany."""
    twin, _ = env.create_twin("Verify bench")
    env.grant(twin, DEVICE_AGENT, AGENT_INDEX)
    feed = env.new_feeds(twin, 1, DEVICE_ADDRESS)[0]
    relay = env.chain(AGENT_INDEX)
    store = env.stack.store()
    writer = FeedWriter(store, relay.sender.chain_id, relay.feeds.address)
    for start in range(0, batches, ANCHORS_PER_TX):
        items = [writer.next(feed, batch_size).as_input() for _ in range(min(ANCHORS_PER_TX, batches - start))]
        relay.sender.transact(relay.feeds.functions.anchorMany(items))
    store.close()
    return AnchoredFeed(feed, batches, batch_size)


def encoded_readings(feed: AnchoredFeed) -> list[bytes]:
    """The same readings as anchored, encoded as the leaves hash them."""
    return [encode_reading(r) for seq in range(feed.batches)
            for r in make_batch(feed.feed, seq, feed.batch_size).readings]


def run_verifier(env: BenchEnv, feed: AnchoredFeed) -> float:
    """Seconds the project's verifier (`Verifier.verify_feed`, from a fresh read-only view of the chain) takes to
    check the whole feed; NotAvailable until it exists."""
    try:
        from twinledger.ledger.reader import Ledger
        from twinledger.verify import Verifier
    except ImportError as exc:
        raise NotAvailable(f"verifier not available yet (twinledger.verify: {exc})") from exc
    store = env.stack.store()
    try:
        t0 = time.perf_counter()
        result = Verifier(Ledger(env.stack.chain(None)), store).verify_feed(feed.feed)
        seconds = time.perf_counter() - t0
    finally:
        store.close()
    if not result.ok or result.readings_checked != feed.readings:
        raise RuntimeError(f"the verifier did not accept the bench feed: {result.status}, "
                           f"{result.readings_checked} of {feed.readings} readings, {result.findings[:3]}")
    return seconds


def measure(env: BenchEnv, runs: int = 3, batches: int = 100, batch_size: int = 1000) -> Results:
    """verify_readings_per_s and keccak_leaves_per_s over the same >= 100k readings, alternating run by run."""
    res = Results()
    feed = build_feed(env, batches, batch_size)
    leaves = encoded_readings(feed)
    keccak, verify = [], []
    missing: str | None = None
    for _ in range(runs):
        keccak.append(feed.readings / keccak_seconds(leaves, feed.batch_size))
        if missing is None:
            try:
                verify.append(feed.readings / run_verifier(env, feed))
            except NotAvailable as exc:
                missing = str(exc)
    res.put("keccak_leaves_per_s", keccak)
    if verify:
        res.put("verify_readings_per_s", verify)
        # each run's verifier rate over the keccak limit measured just before it
        res.put("verify_share_of_limit", [v / k for v, k in zip(verify, keccak)])
    else:
        res.missing(["verify_readings_per_s", "verify_share_of_limit"], missing or "not measured")
    res.extra["verify_feed_readings"] = feed.readings
    res.extra["verify_feed_batches"] = feed.batches
    return res
