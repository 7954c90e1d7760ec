"""AgreementRegistry's proofs against real anchored batches on the real SensorFeed: a range breach from a
reading and its Merkle proof, a coverage gap from two consecutive batch headers, coverage up to the end,
and the three delivery events. Every refusal has its exact custom error."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from eth_utils import keccak

from agreement_support import (
    GATEWAY_FEED,
    D_CONFIRMATION,
    D_PROGRAM_DONE,
    D_READING,
    HOUR_MS,
    MAX_GAP_MS,
    O_BREACHED,
    S_BREACHED,
    S_PROPOSED,
    SENSOR_COMPONENT,
    ZERO32,
    Trailer,
    advance_to,
    condition,
    delivery,
    sensor_id,
)
from contract_constants import DONE, one_log, reverts
from twinledger.formats.batch import Reading, encode_reading
from twinledger.formats.valuekey import order_key


@pytest.fixture
def trip(trailer: Trailer, period: tuple[int, int]) -> Trailer:
    """Two batches in the first minutes of the trip: cold, then a door-open excursion to 7.5 °C."""
    start = period[0]
    trailer.anchor([(start + i * 10_000, 1.5 + i / 10) for i in range(4)])
    trailer.anchor([(start + 40_000 + i * 10_000, v) for i, v in enumerate((2.0, 7.5, 2.5))])
    return trailer


# --- proveBreach ---------------------------------------------------------------------------------------------


def test_a_proven_out_of_range_reading_breaches(registry: Any, active: int, trip: Trailer, outsider: Any) -> None:
    batch = trip.batches[1]
    receipt = registry.proveBreach(active, 0, *batch.breach_args(1), sender=outsider)
    one_log(receipt, "RangeBreachProven", id=active, condition=0, seq=1, tMs=batch.t_first + 10_000,
            valueKey=order_key(7.5), readingHash=keccak(batch.readings[1]), prover=outsider)
    assert registry.agreement(active).status == S_BREACHED
    with reverts(registry.WrongStatus, id=active, status=S_BREACHED):
        registry.proveBreach(active, 0, *batch.breach_args(1), sender=outsider)
    receipt = registry.settle(active, sender=outsider)  # no window once breached
    one_log(receipt, "AgreementSettled", id=active, outcome=O_BREACHED)
    with reverts(registry.AlreadySettled, id=active):
        registry.proveBreach(active, 0, *batch.breach_args(1), sender=outsider)


def test_a_reading_within_bounds_is_no_breach(registry: Any, active: int, trip: Trailer, outsider: Any) -> None:
    with reverts(registry.ValueWithinBounds, valueKey=order_key(2.0), minKey=order_key(-25.0), maxKey=order_key(3.0)):
        registry.proveBreach(active, 0, *trip.batches[1].breach_args(0), sender=outsider)


def test_a_breach_before_acceptance_is_refused(
    registry: Any, propose: Callable[..., int], trip: Trailer, outsider: Any
) -> None:
    agreement_id = propose()
    with reverts(registry.WrongStatus, id=agreement_id, status=S_PROPOSED):
        registry.proveBreach(agreement_id, 0, *trip.batches[1].breach_args(1), sender=outsider)


def test_forged_proofs_are_refused(registry: Any, active: int, trip: Trailer, outsider: Any) -> None:
    batch = trip.batches[1]
    seq, header, reading, proof = batch.breach_args(1)
    with reverts(registry.ReadingNotProven, feedId=trip.feed_id, seq=1):  # a sibling swapped for junk
        registry.proveBreach(active, 0, seq, header, reading, [b"\x11" * 32] + proof[1:], sender=outsider)
    forged = encode_reading(Reading(rid=5, sensor="TempC", t_ms=batch.t_first + 10_000, value=9.0))
    with reverts(registry.ReadingNotProven, feedId=trip.feed_id, seq=1):  # a reading that was never anchored
        registry.proveBreach(active, 0, seq, header, forged, proof, sender=outsider)
    fake_root = (header[0], keccak(keccak(reading)), header[2], 1, header[4], header[5])
    with reverts(registry.ReadingNotProven, feedId=trip.feed_id, seq=1):  # a header made up around the reading
        registry.proveBreach(active, 0, seq, fake_root, reading, [], sender=outsider)
    with reverts(registry.ReadingNotProven, feedId=trip.feed_id, seq=0):  # the right proof for another batch
        registry.proveBreach(active, 0, 0, header, reading, proof, sender=outsider)
    with reverts(registry.MalformedReading, offset=0):
        registry.proveBreach(active, 0, seq, header, b"\x00" + reading[1:], proof, sender=outsider)


def test_a_reading_of_another_feed_is_refused(
    registry: Any, active: int, trip: Trailer, sensor_feed: Any, spec: Any, lorry: int, owner: Any,
    device_agent: Any, period: tuple[int, int], outsider: Any,
) -> None:
    component = b"Spare".ljust(32, b"\x00")
    spec.addComponent(lorry, component, b"\x00" * 32, "Spare", b"sensor".ljust(32, b"\x00"), sender=owner)
    rx = sensor_feed.registerFeed(lorry, component, GATEWAY_FEED, b"\x5c" * 32, sender=owner)
    spare = Trailer(sensor_feed, int(rx.events.filter(sensor_feed.FeedRegistered)[-1].feedId), device_agent)
    hot = spare.anchor([(period[0] + 5_000, 30.0)])  # same sensor name, out of range, but on the spare feed
    with reverts(registry.ReadingNotProven, feedId=trip.feed_id, seq=0):
        registry.proveBreach(active, 0, *hot.breach_args(0), sender=outsider)


def test_a_reading_of_another_sensor_is_refused(
    registry: Any, active: int, trailer: Trailer, period: tuple[int, int], outsider: Any
) -> None:
    batch = trailer.anchor([(period[0] + 1_000, 20.0)], sensor="DoorC")
    with reverts(registry.WrongSensor, expected=sensor_id(), given=sensor_id("DoorC")):
        registry.proveBreach(active, 0, *batch.breach_args(0), sender=outsider)


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_reading_outside_the_period_is_refused(
    registry: Any, active: int, trailer: Trailer, period: tuple[int, int], outsider: Any, where: str
) -> None:
    start, end = period
    t = start - 1 if where == "before" else end + 1
    batch = trailer.anchor([(t, 40.0)])
    with reverts(registry.OutsidePeriod, tMs=t, **{"from": start}, to=end):
        registry.proveBreach(active, 0, *batch.breach_args(0), sender=outsider)


def test_an_unknown_condition_is_refused(registry: Any, active: int, trip: Trailer, outsider: Any) -> None:
    with reverts(registry.UnknownCondition, id=active, index=1):
        registry.proveBreach(active, 1, *trip.batches[1].breach_args(1), sender=outsider)


def test_negative_bounds_compare_as_doubles(
    registry: Any, propose: Callable[..., int], accept_all: Callable[[int], None], trailer: Trailer,
    period: tuple[int, int], outsider: Any,
) -> None:
    """A freezer: -25 to -18 °C. -17.5 is too warm and -30 too cold; -20 and -18 are fine."""
    agreement_id = propose(conditions=[condition(trailer.feed_id, -25.0, -18.0)])
    accept_all(agreement_id)
    batch = trailer.anchor([(period[0] + i, v) for i, v in enumerate((-20.0, -18.0, -17.5, -30.0))])
    for fine in (0, 1):
        with reverts(registry.ValueWithinBounds):
            registry.proveBreach(agreement_id, 0, *batch.breach_args(fine), sender=outsider)
    registry.proveBreach(agreement_id, 0, *batch.breach_args(3), sender=outsider)


# --- proveGap and proveCoverage ------------------------------------------------------------------------------


def test_a_gap_between_batches_breaches(registry: Any, active: int, trailer: Trailer, period: tuple[int, int],
                                        outsider: Any) -> None:
    start = period[0]
    a = trailer.anchor([(start, 1.0), (start + 10_000, 1.0)])
    b = trailer.anchor([(start + 10_000 + MAX_GAP_MS, 1.0)])  # exactly the limit: no breach
    c = trailer.anchor([(b.t_last + MAX_GAP_MS + 1, 1.0)])
    with reverts(registry.GapWithinLimit, gapMs=MAX_GAP_MS, maxGapMs=MAX_GAP_MS):
        registry.proveGap(active, 0, 1, a.header, b.header, sender=outsider)
    with reverts(registry.BatchNotProven, feedId=trailer.feed_id, seq=1):  # b's header claimed for seq 1's prev
        registry.proveGap(active, 0, 2, a.header, c.header, sender=outsider)
    forged = (*c.header[:4], c.t_first + 999_999, c.t_last + 999_999)
    with reverts(registry.BatchNotProven, feedId=trailer.feed_id, seq=2):
        registry.proveGap(active, 0, 2, b.header, forged, sender=outsider)
    receipt = registry.proveGap(active, 0, 2, b.header, c.header, sender=outsider)
    one_log(receipt, "GapProven", id=active, condition=0, seq=2, gapFrom=b.t_last, gapTo=c.t_first, prover=outsider)
    assert registry.agreement(active).status == S_BREACHED


def test_a_late_first_batch_is_a_gap_from_the_start(
    registry: Any, active: int, trailer: Trailer, period: tuple[int, int], outsider: Any
) -> None:
    first = trailer.anchor([(period[0] + MAX_GAP_MS + 1, 1.0)])
    receipt = registry.proveGap(active, 0, 0, first.header, first.header, sender=outsider)
    one_log(receipt, "GapProven", seq=0, gapFrom=period[0], gapTo=first.t_first)


def test_gaps_are_clipped_to_the_period(
    registry: Any, active: int, trailer: Trailer, period: tuple[int, int], outsider: Any
) -> None:
    start, end = period
    before = trailer.anchor([(start - HOUR_MS, 1.0)])  # an hour before the trip
    inside = trailer.anchor([(start + MAX_GAP_MS - 1, 1.0)])  # within the limit of the start
    last = trailer.anchor([(end - 1_000, 1.0)])
    after = trailer.anchor([(end + HOUR_MS, 1.0)])  # an hour after: only 1 s of this gap is in the period
    with reverts(registry.GapWithinLimit, gapMs=MAX_GAP_MS - 1):
        registry.proveGap(active, 0, 1, before.header, inside.header, sender=outsider)
    with reverts(registry.GapWithinLimit, gapMs=1_000):
        registry.proveGap(active, 0, 3, last.header, after.header, sender=outsider)
    registry.proveGap(active, 0, 2, inside.header, last.header, sender=outsider)


def test_a_condition_without_coverage_has_no_gaps(
    registry: Any, propose: Callable[..., int], accept_all: Callable[[int], None], trailer: Trailer,
    period: tuple[int, int], outsider: Any,
) -> None:
    agreement_id = propose(conditions=[condition(trailer.feed_id, max_gap_ms=0)])
    accept_all(agreement_id)
    late = trailer.anchor([(period[0] + HOUR_MS, 1.0)])
    with reverts(registry.GapWithinLimit, maxGapMs=0):
        registry.proveGap(agreement_id, 0, 0, late.header, late.header, sender=outsider)
    with reverts(registry.NotCovering):
        registry.proveCoverage(agreement_id, 0, 0, late.header, sender=outsider)


def test_coverage_to_the_end(registry: Any, active: int, trailer: Trailer, period: tuple[int, int],
                             outsider: Any) -> None:
    end = period[1]
    short = trailer.anchor([(end - MAX_GAP_MS - 1, 1.0)])
    with reverts(registry.NotCovering, tLast=short.t_last, needed=end - MAX_GAP_MS):
        registry.proveCoverage(active, 0, 0, short.header, sender=outsider)
    enough = trailer.anchor([(end - MAX_GAP_MS, 1.0)])
    with reverts(registry.BatchNotProven, feedId=trailer.feed_id, seq=0):
        registry.proveCoverage(active, 0, 0, enough.header, sender=outsider)
    receipt = registry.proveCoverage(active, 0, 1, enough.header, sender=outsider)
    one_log(receipt, "CoverageProven", id=active, condition=0, seq=1, tLast=enough.t_last, prover=outsider)
    assert registry.conditionAt(active, 0)[1] > 0
    with reverts(registry.CoverageAlreadyProven, id=active, condition=0):
        registry.proveCoverage(active, 0, 1, enough.header, sender=outsider)


# --- delivery events -----------------------------------------------------------------------------------------


def test_confirmation_by_the_named_party_before_the_deadline(
    registry: Any, active: int, period: tuple[int, int], buyer: Any, seller: Any
) -> None:
    with reverts(registry.NotAParty, id=active, account=seller):
        registry.confirmDelivery(active, sender=seller)
    advance_to(period[0] + HOUR_MS)
    receipt = registry.confirmDelivery(active, sender=buyer)
    one_log(receipt, "DeliveryRecorded", id=active, kind=D_CONFIRMATION, recorder=buyer)
    assert 0 <= registry.agreement(active).deliveredAt - (period[0] + HOUR_MS) <= 2_000  # the next block's time
    with reverts(registry.DeliveryAlreadyRecorded, id=active):
        registry.confirmDelivery(active, sender=buyer)
    with reverts(registry.WrongDeliveryKind, expected=D_CONFIRMATION):
        registry.recordDeliveryCall(active, 1, sender=buyer)


def test_a_confirmation_after_the_deadline_is_refused(
    registry: Any, propose: Callable[..., int], accept_all: Callable[[int], None], trailer: Trailer,
    period: tuple[int, int], buyer: Any,
) -> None:
    deadline = period[0] + 8 * HOUR_MS - 1
    agreement_id = propose(deliver=delivery(D_CONFIRMATION, deadline=deadline, confirmer=2))
    accept_all(agreement_id)
    advance_to(deadline + 1)
    with reverts(registry.DeliveryTooLate, deadline=deadline):
        registry.confirmDelivery(agreement_id, sender=buyer)


UNLOAD = keccak(text="unload")


@pytest.fixture
def unload_program(spec: Any, auth: Any, lorry: int, owner: Any, device_agent: Any) -> Callable[[], int]:
    """An `unload` program on the lorry's sensor component; returns a function that calls it and has the
    device agent complete it Done."""
    spec.setProgram(lorry, SENSOR_COMPONENT, UNLOAD, [], [], [], sender=owner)

    def call_and_finish(ok: bool = True) -> int:
        receipt = spec.callProgram(lorry, SENSOR_COMPONENT, UNLOAD, [], sender=owner)
        call_id = int(receipt.events.filter(spec.ProgramCalled)[-1].callId)
        spec.completeCall(call_id, ok, ZERO32, 0, sender=device_agent)
        return call_id

    return call_and_finish


def test_a_done_program_call_is_the_delivery(
    registry: Any, spec: Any, propose: Callable[..., int], accept_all: Callable[[int], None], period: tuple[int, int],
    unload_program: Callable[..., int], lorry: int, owner: Any, outsider: Any,
) -> None:
    early = unload_program()  # before the agreement is active: does not count
    agreement_id = propose(deliver=delivery(D_PROGRAM_DONE, deadline=period[1], program=UNLOAD))
    accept_all(agreement_id)
    with reverts(registry.CallNotDelivery, callId=early):
        registry.recordDeliveryCall(agreement_id, early, sender=outsider)
    failed = unload_program(ok=False)
    with reverts(registry.CallNotDelivery, callId=failed):
        registry.recordDeliveryCall(agreement_id, failed, sender=outsider)
    queued = int(spec.callProgram(lorry, SENSOR_COMPONENT, UNLOAD, [], sender=owner)
                 .events.filter(spec.ProgramCalled)[-1].callId)
    with reverts(registry.CallNotDelivery, callId=queued):
        registry.recordDeliveryCall(agreement_id, queued, sender=outsider)
    done = unload_program()
    assert spec.programCall(done).status == DONE
    receipt = registry.recordDeliveryCall(agreement_id, done, sender=outsider)
    one_log(receipt, "DeliveryRecorded", id=agreement_id, kind=D_PROGRAM_DONE, ref=done.to_bytes(32, "big"))
    with reverts(registry.WrongDeliveryKind, expected=D_PROGRAM_DONE):
        registry.confirmDelivery(agreement_id, sender=outsider)


def test_a_call_of_another_program_is_no_delivery(
    registry: Any, spec: Any, propose: Callable[..., int], accept_all: Callable[[int], None], period: tuple[int, int],
    unload_program: Callable[..., int], outsider: Any,
) -> None:
    agreement_id = propose(deliver=delivery(D_PROGRAM_DONE, deadline=period[1], program=keccak(text="dock")))
    accept_all(agreement_id)
    call_id = unload_program()
    with reverts(registry.CallNotDelivery, callId=call_id):
        registry.recordDeliveryCall(agreement_id, call_id, sender=outsider)


def test_a_proven_door_reading_is_the_delivery(
    registry: Any, propose: Callable[..., int], accept_all: Callable[[int], None], trailer: Trailer,
    period: tuple[int, int], outsider: Any,
) -> None:
    """The trailer's door sensor reads 1.0 (opened at the dock) before the deadline."""
    start, end = period
    deadline = start + 4 * HOUR_MS
    agreement_id = propose(deliver=delivery(D_READING, deadline=deadline, feed_id=trailer.feed_id, sensor="Door",
                                            lo=1.0, hi=1.0))
    accept_all(agreement_id)
    batch = trailer.anchor([(start + 1_000, 0.0), (deadline, 1.0), (deadline + 1, 1.0)], sensor="Door")
    with reverts(registry.NotDeliveryValue, valueKey=order_key(0.0)):
        registry.recordDeliveryReading(agreement_id, *batch.breach_args(0), sender=outsider)
    with reverts(registry.OutsidePeriod, tMs=deadline + 1, to=deadline):
        registry.recordDeliveryReading(agreement_id, *batch.breach_args(2), sender=outsider)
    seq, header, reading, proof = batch.breach_args(1)
    with reverts(registry.ReadingNotProven, feedId=trailer.feed_id, seq=seq):
        registry.recordDeliveryReading(agreement_id, seq, header, reading, proof[::-1] + [ZERO32], sender=outsider)
    wrong = trailer.anchor([(start + 2_000, 1.0)])
    with reverts(registry.WrongSensor, expected=sensor_id("Door"), given=sensor_id()):
        registry.recordDeliveryReading(agreement_id, *wrong.breach_args(0), sender=outsider)
    advance_to(end)  # recorded late, but the signed reading time is before the deadline
    receipt = registry.recordDeliveryReading(agreement_id, seq, header, reading, proof, sender=outsider)
    one_log(receipt, "DeliveryRecorded", id=agreement_id, kind=D_READING, ref=keccak(reading))
