"""Gas targets of SensorFeed, read from receipts (never timings).

- one `anchor` with a device signature, relayed by anyone: <= 75k gas;
- `anchorMany` of 10 feeds of one twin by an ANCHOR holder (the gateway), empty signatures: <= 40k gas per feed;
- the same with device signatures: the 40k target of issue #16 is out of reach (docs/benchmarks.md gives the
  argument from opcode costs); the bound pins today's ~43.6k.

Both are measured in the steady state (seq >= 1). The first anchor of a feed is cheaper: it reads no previous
head slot.

Per feed an anchor reads the packed state slot (2.1k) and the previous head (2.1k), reads and then writes the
new head's slot (22.1k: the only write), emits `Anchored` (3.0k) and pays its share of the transaction base
(2.1k) and its calldata (~2.3k unsigned, ~3.6k signed); the per-twin questions (pause, frozen and permission,
the twin's count of removed components) are asked once per call. No counter is written per anchor (the heads
are the record of progress) and the component-active check (review finding L-3) is cached on the twin's count
of removed components, so it costs nothing until a component of the twin is removed. A signature adds
ecrecover (3.0k) and the EIP-712 hashing. The bounds asserted sit just above the measurements so that any
regression shows up.
"""

from __future__ import annotations

from typing import Any

SINGLE_SIGNED_MAX = 75_000  # measured 74.1k
MANY_PER_FEED_MAX = 39_500  # target 40k; measured 38.8k
MANY_SIGNED_PER_FEED_MAX = 44_000  # target 40k missed: see the module docstring; measured 43.6k
FEEDS = 10


def test_single_signed_anchor_gas(sensor_feed: Any, feed_id: int, driver: Any, outsider: Any) -> None:
    first = driver.anchor(driver.batch(feed_id, 0), sender=outsider).gas_used
    steady = [driver.anchor(driver.batch(feed_id, seq), sender=outsider).gas_used for seq in (1, 2)]
    print(f"\nGAS anchor signed: first={first} steady={steady}")
    assert max(steady) <= SINGLE_SIGNED_MAX


def test_anchor_many_gas(
    sensor_feed: Any, twin: int, sensor_component: bytes, driver: Any, anchorer: Any, add_sensor: Any, owner: Any
) -> None:
    key = driver.device.address
    components = [sensor_component] + [add_sensor(f"S{i}") for i in range(FEEDS - 1)]
    regs = [sensor_feed.registerFeed(twin, c, key, b"\x5c" * 32, sender=owner) for c in components]
    feeds = [int(r.events.filter(sensor_feed.FeedRegistered)[0].feedId) for r in regs]
    for f in feeds:  # the gateway's unsigned anchors
        sensor_feed.setSignatureRequired(f, False, sender=owner)
    first = sensor_feed.anchorMany([driver.item(driver.batch(f, 0)) for f in feeds], sender=anchorer).gas_used
    per_feed = []
    for seq in (1, 2):
        r = sensor_feed.anchorMany([driver.item(driver.batch(f, seq)) for f in feeds], sender=anchorer)
        assert len(r.events.filter(sensor_feed.Anchored)) == FEEDS
        per_feed.append(r.gas_used / FEEDS)
    for f in feeds:
        driver.heads[f] = bytes(sensor_feed.headOf(f))
    signed = sensor_feed.anchorMany([driver.item(driver.batch(f, 3), signed=True) for f in feeds], sender=anchorer)
    print(
        f"\nGAS registerFeed first={regs[0].gas_used} next={regs[1].gas_used}; anchorMany({FEEDS}) per feed: "
        f"first={first / FEEDS:.0f} steady={per_feed} signed={signed.gas_used / FEEDS:.0f}"
    )
    assert max(per_feed) <= MANY_PER_FEED_MAX
    assert signed.gas_used / FEEDS <= MANY_SIGNED_PER_FEED_MAX
