"""Property from the issue: for random temperature series anchored as real batches on the real SensorFeed,
the agreement ends breached exactly when some anchored reading of the period lies outside the bounds or a
gap of the period exceeds G (between consecutive batches, from the start to the first batch, or from the
last batch to the end). The prediction is computed here in Python, independently of the contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ape
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agreement_support import D_NONE, O_BREACHED, O_COMPLETED, Trailer, advance_to, condition, delivery, now_ms, party, terms
from contract_constants import reverts

LO, HI = -1.0, 4.0
G = 15_000
SPAN = 60_000  # the period: one minute of readings
CHALLENGE = 1_000

# Mostly cold, sometimes a door left open or a frozen probe, sometimes exactly on a bound.
IN_RANGE = st.floats(-0.5, 3.5)
TEMPS = st.one_of(IN_RANGE, IN_RANGE, IN_RANGE, IN_RANGE, IN_RANGE, IN_RANGE, IN_RANGE, IN_RANGE,
                  st.floats(-3.0, 6.0), st.sampled_from([LO, HI]))
SHORT_GAP = st.integers(0, G - 2_000)
GAPS = st.one_of(SHORT_GAP, SHORT_GAP, SHORT_GAP, SHORT_GAP, st.integers(G - 1_000, G + 2_000))
BATCH = st.tuples(
    GAPS,  # gap from the previous batch's end (from 5 s before the period's start for the first)
    st.lists(st.tuples(st.integers(0, 3_000), TEMPS), min_size=1, max_size=4),  # (step, value) per reading
)


@dataclass
class Prediction:
    out_of_range: list[tuple[int, int]]  # (batch index, reading index)
    gaps: list[tuple[int, int]]  # (later batch index, clipped gap)
    end_gap: int


def layout(
    start: int, batches: list[tuple[int, list[tuple[int, float]]]], cold: bool, steady: bool
) -> list[list[tuple[int, float]]]:
    """Absolute (time, value) readings per batch, starting a little before the period. A `cold` trip has
    every value clamped into the bounds; a `steady` one has short gaps and batches through the end."""
    t = start - 5_000
    out = []
    for gap, readings in batches:
        t += min(gap, G // 2) if steady else gap
        points = []
        for step, value in readings:
            t += step
            points.append((t, min(max(value, LO), HI) if cold else value))
        out.append(points)
    while steady and t < start + SPAN:
        t += G // 2
        out.append([(t, 2.0)])
    return out


def predict(start: int, end: int, series: list[list[tuple[int, float]]]) -> Prediction:
    out = [(b, i) for b, points in enumerate(series) for i, (t, v) in enumerate(points)
           if start <= t <= end and not LO <= v <= HI]
    gaps = []
    previous_end = start
    for b, points in enumerate(series):
        gap_from, gap_to = max(previous_end, start), min(points[0][0], end)
        if gap_to - gap_from > G:
            gaps.append((b, gap_to - gap_from))
        previous_end = points[-1][0]
    last = max(points[-1][0] for points in series)
    return Prediction(out, gaps, end - last)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=st.lists(BATCH, min_size=2, max_size=8), cold=st.booleans(), steady=st.booleans())
def test_breached_exactly_when_a_reading_is_out_of_bounds_or_a_gap_exceeds_g(
    batches: list[tuple[int, list[tuple[int, float]]]],
    cold: bool,
    steady: bool,
    registry: Any,
    trailer: Trailer,
    lorry: int,
    buyer: Any,
    outsider: Any,
) -> None:
    snapshot = ape.chain.snapshot()
    try:
        feed = Trailer(trailer.sensor_feed, trailer.feed_id, trailer.sender)
        start = now_ms() + 30_000
        end = start + SPAN
        t = terms(lorry, "0x" + "00" * 20, start, end, delivery(D_NONE), challenge_ms=CHALLENGE)
        receipt = registry.create(t, [party(buyer, "buyer", 0, 0, 0, 0)], [condition(feed.feed_id, LO, HI, G)],
                                  sender=outsider)
        agreement_id = int(receipt.events.filter(registry.AgreementCreated)[-1].id)
        registry.accept(agreement_id, sender=buyer)
        series = layout(start, batches, cold, steady)
        anchored = [feed.anchor(points) for points in series]
        p = predict(start, end, series)
        event("range" if p.out_of_range else "gap" if p.gaps else "end gap" if p.end_gap > G else "clean")

        if p.out_of_range:
            b, i = p.out_of_range[0]
            registry.proveBreach(agreement_id, 0, *anchored[b].breach_args(i), sender=outsider)
        elif p.gaps:
            b, _ = p.gaps[0]
            prev = anchored[b - 1].header if b else anchored[b].header
            registry.proveGap(agreement_id, 0, b, prev, anchored[b].header, sender=outsider)
        else:
            _refute_every_candidate(registry, agreement_id, series, anchored, start, end, outsider)
            if p.end_gap <= G:
                last = max(range(len(series)), key=lambda k: series[k][-1][0])
                registry.proveCoverage(agreement_id, 0, last, anchored[last].header, sender=outsider)
        advance_to(max(end, now_ms()) + CHALLENGE + 1_000)
        registry.settle(agreement_id, sender=outsider)

        breached = bool(p.out_of_range or p.gaps or p.end_gap > G)
        assert registry.agreement(agreement_id).outcome == (O_BREACHED if breached else O_COMPLETED)
    finally:
        ape.chain.restore(snapshot)


def _refute_every_candidate(registry: Any, agreement_id: int, series: list, anchored: list, start: int, end: int,
                            outsider: Any) -> None:
    """With no predicted breach, the contract refuses the most extreme readings of the period and every gap."""
    in_period = [(v, b, i) for b, points in enumerate(series) for i, (t, v) in enumerate(points) if start <= t <= end]
    for v, b, i in ({min(in_period), max(in_period)} if in_period else set()):
        with reverts(registry.ValueWithinBounds):
            registry.proveBreach(agreement_id, 0, *anchored[b].breach_args(i), sender=outsider)
    for b in range(len(anchored)):
        prev = anchored[b - 1].header if b else anchored[b].header
        with reverts(registry.GapWithinLimit):
            registry.proveGap(agreement_id, 0, b, prev, anchored[b].header, sender=outsider)
