"""Property: after any sequence of accepted anchors (signed or by an ANCHOR holder, one at a time or through
anchorMany, over several feeds), the head chain recomputed in Python equals the contract's."""

from __future__ import annotations

from typing import Any

import ape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensorfeed_support import FeedDriver, allow_gateway

# one step: (feed index, how: 0 signed anchor, 1 holder anchor, 2 anchorMany of 1-3 batches, readings)
STEP = st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(1, 3), st.integers(1, 40))


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=1, max_size=5))
def test_head_chain_matches_python(
    steps: list[tuple[int, int, int, int]],
    sensor_feed: Any,
    feed_id: int,
    register_feed: Any,
    add_sensor: Any,
    device_key: Any,
    anchorer: Any,
    owner: Any,
    outsider: Any,
) -> None:
    snapshot = ape.chain.snapshot()
    try:
        feeds = [feed_id] + [register_feed(add_sensor(f"P{i}")) for i in range(2)]
        allow_gateway(sensor_feed, feeds, owner)
        d = FeedDriver(sensor_feed, ape.chain.provider.chain_id, device_key)
        seqs = {f: 0 for f in feeds}
        for which, how, many, n in steps:
            f = feeds[which]
            if how == 2:
                items = []
                for k in range(many):
                    b = d.batch(f, seqs[f], n=n + k)
                    items.append(d.item(b, signed=bool(k % 2)))
                    d.expect(b)
                    seqs[f] += 1
                r = sensor_feed.anchorMany(items, sender=anchorer)
            else:
                b = d.batch(f, seqs[f], n=n)
                r = d.anchor(b, sender=outsider if how == 0 else anchorer, signed=how == 0)
                seqs[f] += 1
            assert bytes(r.events.filter(sensor_feed.Anchored)[-1].head) == d.heads[f]
        for f in feeds:
            assert bytes(sensor_feed.headOf(f)) == d.heads.get(f, bytes(32))
            assert sensor_feed.nextSeqOf(f) == seqs[f]
    finally:
        ape.chain.restore(snapshot)
