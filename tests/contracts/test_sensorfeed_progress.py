"""SensorFeed keeps no per-anchor counter: the heads are the record of progress (batch `seq` is anchored iff
`headAt(seq) != 0`), and the component-active check (review finding L-3) is cached on the twin's count of removed
components. These tests pin both: the views find the next seq and the head by search, a gap or a replay names
the expected seq, and a removal of the feed's own component stops its anchors at once, in `anchor` and inside
`anchorMany`, while a removal elsewhere in the twin does not."""

from __future__ import annotations

from typing import Any

import ape
from eth_account.signers.local import LocalAccount

from sensorfeed_support import FeedDriver, register_feed_tx


def test_views_find_the_next_seq_and_head(sensor_feed: Any, feed_id: int, driver: FeedDriver, outsider: Any) -> None:
    assert (sensor_feed.nextSeqOf(feed_id), bytes(sensor_feed.headOf(feed_id))) == (0, b"\x00" * 32)
    for seq in range(7):
        driver.anchor(driver.batch(feed_id, seq), sender=outsider)
        view = sensor_feed.feed(feed_id)
        assert sensor_feed.nextSeqOf(feed_id) == view.nextSeq == seq + 1
        assert bytes(sensor_feed.headOf(feed_id)) == bytes(view.head) == driver.heads[feed_id]
        assert bytes(sensor_feed.headAt(feed_id, seq)) == driver.heads[feed_id]
    gap = driver.batch(feed_id, 9)
    with ape.reverts(sensor_feed.SeqMismatch, feedId=feed_id, expected=7, given=9):
        sensor_feed.anchor(*gap.fields(), driver.sign(gap), sender=outsider)
    replay = driver.batch(feed_id, 3)
    with ape.reverts(sensor_feed.SeqMismatch, feedId=feed_id, expected=7, given=3):
        sensor_feed.anchor(*replay.fields(), driver.sign(replay), sender=outsider)


def test_twin_of(sensor_feed: Any, feed_id: int, twin: int) -> None:
    assert sensor_feed.twinOf(feed_id) == twin
    with ape.reverts(sensor_feed.UnknownFeed, feedId=feed_id + 1):
        sensor_feed.twinOf(feed_id + 1)


def test_removals_stop_the_feeds_of_the_removed_component_only(
    spec: Any, sensor_feed: Any, twin: int, owner: Any, add_sensor: Any, device_key: LocalAccount,
    driver: FeedDriver, outsider: Any,
) -> None:
    a_sensor, b_sensor, other = add_sensor("SA"), add_sensor("SB"), add_sensor("SC")
    a, b = (register_feed_tx(sensor_feed, twin, c, device_key.address, owner) for c in (a_sensor, b_sensor))

    def anchor_many(seq: int) -> Any:
        batches = [driver.batch(f, seq) for f in (a, b)]
        receipt = sensor_feed.anchorMany([driver.item(x, signed=True) for x in batches], sender=outsider)
        for x in batches:
            driver.expect(x)
        return receipt

    anchor_many(0)
    assert spec.removedComponents(twin) == 0
    spec.removeComponent(twin, other, sender=owner)  # elsewhere in the twin: both feeds check again and pass
    assert spec.removedComponents(twin) == 1
    anchor_many(1)
    anchor_many(2)  # cached: no component read
    spec.removeComponent(twin, b_sensor, sender=owner)
    with ape.reverts(sensor_feed.ComponentNotActive, twin=twin, component=b_sensor):
        anchor_many(3)
    driver.anchor(driver.batch(a, 3), sender=outsider)  # the other feed goes on
    b3 = driver.batch(b, 3)
    with ape.reverts(sensor_feed.ComponentNotActive, twin=twin, component=b_sensor):
        sensor_feed.anchor(*b3.fields(), driver.sign(b3), sender=outsider)
    assert sensor_feed.nextSeqOf(a) == 4 and sensor_feed.nextSeqOf(b) == 3
