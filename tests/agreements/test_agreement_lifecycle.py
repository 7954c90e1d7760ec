"""AgreementRegistry: proposing, accepting, cancelling, settling and withdrawing, each with its events, and
every refusal with its exact custom error. Proofs are in test_agreement_proofs.py."""

from __future__ import annotations

from typing import Any, Callable

import ape
import pytest

from agreement_support import (
    GATEWAY_FEED,
    CHALLENGE_MS,
    D_CONFIRMATION,
    HOUR_MS,
    O_BREACHED,
    O_CANCELLED,
    O_COMPLETED,
    O_EXPIRED,
    S_ACTIVE,
    S_CANCELLED,
    S_PROPOSED,
    S_SETTLED,
    UNITS,
    Trailer,
    advance_to,
    condition,
    delivery,
    now_ms,
    party,
    terms,
)
from contract_constants import one_log, reverts

ZERO_ADDRESS = "0x" + "00" * 20


def test_constructor_refuses_zero_addresses(project: Any, deployer: Any, sensor_feed: Any, spec: Any) -> None:
    with reverts(project.AgreementRegistry.ZeroAddress):
        deployer.deploy(project.AgreementRegistry, ZERO_ADDRESS, spec)
    with reverts(project.AgreementRegistry.ZeroAddress):
        deployer.deploy(project.AgreementRegistry, sensor_feed, ZERO_ADDRESS)


def test_dev_token_mints_only_for_its_deployer(token: Any, deployer: Any, buyer: Any) -> None:
    token.mint(buyer, 5, sender=deployer)
    assert token.balanceOf(buyer) == 1000 * UNITS + 5
    with reverts(token.NotMinter, account=buyer):
        token.mint(buyer, 5, sender=buyer)


# --- create ------------------------------------------------------------------------------------------------


def test_create_stores_the_terms_and_emits(
    registry: Any, token: Any, lorry: int, trailer: Trailer, period: tuple[int, int], cold_chain_parties: list,
    owner: Any, buyer: Any,
) -> None:
    start, end = period
    t = terms(lorry, token, start, end, delivery(D_CONFIRMATION, deadline=end, confirmer=2))
    receipt = registry.create(t, cold_chain_parties, [condition(trailer.feed_id)], sender=owner)
    one_log(receipt, "AgreementCreated", id=1, twin=lorry, creator=owner, token=token, escrow=120 * UNITS)
    view = registry.agreement(1)
    assert (view.status, view.outcome, view.partyCount, view.conditionCount, view.acceptedCount) == (S_PROPOSED, 0, 3, 1, 0)
    assert (view.terms.start, view.terms.end, view.terms.delivery.confirmer) == (start, end, 2)
    p, accepted, withdrawn = registry.partyAt(1, 2)
    assert (p[0], p[2], p[4], accepted, withdrawn) == (buyer.address, 100 * UNITS, 110 * UNITS, False, False)
    c, covered_at = registry.conditionAt(1, 0)
    assert tuple(c) == condition(trailer.feed_id) and covered_at == 0
    assert registry.agreementCount() == 1


def test_create_refuses_bad_party_lists(
    registry: Any, token: Any, lorry: int, trailer: Trailer, period: tuple[int, int], cold_chain_parties: list,
    owner: Any, accounts: Any, buyer: Any,
) -> None:
    t = terms(lorry, token, *period)
    cond = [condition(trailer.feed_id)]
    with reverts(registry.InvalidPartyCount, count=0, max=8):
        registry.create(t, [], cond, sender=owner)
    nine = [party(accounts[i % 10], f"p{i}", 0, 0, 0, 0) for i in range(9)]
    with reverts(registry.InvalidPartyCount, count=9, max=8):
        registry.create(t, nine, cond, sender=owner)
    with reverts(registry.DuplicateParty, account=buyer):
        registry.create(t, cold_chain_parties + [party(buyer, "again", 0, 0, 0, 0)], cond, sender=owner)
    zero = (ZERO_ADDRESS, b"\x00" * 32, 0, 0, 0, 0)
    with reverts(registry.ZeroAddress):
        registry.create(t, [zero], cond, sender=owner)
    unbalanced = list(cold_chain_parties)
    unbalanced[0] = party(accounts[2], "seller", 0, 99 * UNITS, 0, 0)
    with reverts(registry.PayoutMismatch, outcome=O_COMPLETED, payouts=119 * UNITS, deposits=120 * UNITS):
        registry.create(t, unbalanced, cond, sender=owner)
    unbalanced[0] = party(accounts[2], "seller", 0, 100 * UNITS, 1, 0)
    with reverts(registry.PayoutMismatch, outcome=O_BREACHED):
        registry.create(t, unbalanced, cond, sender=owner)
    unbalanced[0] = party(accounts[2], "seller", 0, 100 * UNITS, 0, 1)
    with reverts(registry.PayoutMismatch, outcome=O_EXPIRED):
        registry.create(t, unbalanced, cond, sender=owner)


def test_create_refuses_bad_conditions_and_periods(
    registry: Any, sensor_feed: Any, spec: Any, token: Any, lorry: int, trailer: Trailer, period: tuple[int, int],
    cold_chain_parties: list, owner: Any, device_agent: Any,
) -> None:
    start, end = period
    t = terms(lorry, token, start, end)
    with reverts(registry.InvalidConditionCount, count=0, max=8):
        registry.create(t, cold_chain_parties, [], sender=owner)
    with reverts(registry.InvalidConditionCount, count=9, max=8):
        registry.create(t, cold_chain_parties, [condition(trailer.feed_id)] * 9, sender=owner)
    with reverts(registry.InvalidCondition, index=1):
        registry.create(t, cold_chain_parties, [condition(trailer.feed_id), condition(trailer.feed_id, 5.0, 3.0)],
                        sender=owner)
    with reverts(registry.InvalidCondition, index=0):  # no such feed
        registry.create(t, cold_chain_parties, [condition(999)], sender=owner)
    # a feed of another twin
    receipt = spec.createTwin("Other lorry", b"\x01" * 32, b"\x02" * 32, 0x55, b"\x03" * 32, sender=owner)
    other = int(receipt.events.filter(spec.TwinCreated)[-1].twin)
    spec.addComponent(other, b"T2".ljust(32, b"\x00"), b"\x00" * 32, "T2", b"sensor".ljust(32, b"\x00"), sender=owner)
    rx = sensor_feed.registerFeed(other, b"T2".ljust(32, b"\x00"), GATEWAY_FEED, b"\x5c" * 32, sender=owner)
    other_feed = int(rx.events.filter(sensor_feed.FeedRegistered)[-1].feedId)
    with reverts(registry.InvalidCondition, index=0):
        registry.create(t, cold_chain_parties, [condition(other_feed)], sender=owner)
    cond = [condition(trailer.feed_id)]
    past = now_ms() - 1000
    with reverts(registry.InvalidPeriod, start=past, end=end):
        registry.create(terms(lorry, token, past, end), cold_chain_parties, cond, sender=owner)
    with reverts(registry.InvalidPeriod, start=start, end=start):
        registry.create(terms(lorry, token, start, start), cold_chain_parties, cond, sender=owner)
    with reverts(registry.InvalidPeriod):
        registry.create(terms(lorry, token, start, end, challenge_ms=2**64 - 1), cold_chain_parties, cond, sender=owner)


def test_create_refuses_bad_delivery_events(
    registry: Any, token: Any, lorry: int, trailer: Trailer, period: tuple[int, int], cold_chain_parties: list, owner: Any
) -> None:
    start, end = period
    cond = [condition(trailer.feed_id)]
    for bad in (
        delivery(D_CONFIRMATION, deadline=end + 1, confirmer=2),  # after the period
        delivery(D_CONFIRMATION, deadline=start, confirmer=2),  # at its start
        delivery(D_CONFIRMATION, deadline=end, confirmer=3),  # no party 3
        delivery(3, deadline=end, feed_id=999),  # Reading of an unknown feed
        delivery(3, deadline=end, feed_id=trailer.feed_id, lo=5.0, hi=1.0),  # empty range
    ):
        with reverts(registry.InvalidDelivery):
            registry.create(terms(lorry, token, start, end, bad), cold_chain_parties, cond, sender=owner)
    # a delivery alone is a valid agreement
    registry.create(terms(lorry, token, start, end, delivery(D_CONFIRMATION, deadline=end, confirmer=2)),
                    cold_chain_parties, [], sender=owner)


# --- accept ------------------------------------------------------------------------------------------------


def test_accept_escrows_tokens_and_the_last_acceptance_activates(
    registry: Any, token: Any, propose: Callable[..., int], spec: Any, seller: Any, carrier: Any, buyer: Any
) -> None:
    agreement_id = propose()
    receipt = registry.accept(agreement_id, sender=seller)  # deposit 0: nothing to approve
    one_log(receipt, "AgreementAccepted", id=agreement_id, party=0, account=seller, deposit=0)
    assert not [log for log in receipt.events if log.event_name == "AgreementActivated"]
    token.approve(registry, 20 * UNITS, sender=carrier)
    registry.accept(agreement_id, sender=carrier)
    token.approve(registry, 100 * UNITS, sender=buyer)
    receipt = registry.accept(agreement_id, sender=buyer)
    one_log(receipt, "AgreementAccepted", id=agreement_id, party=2, account=buyer, deposit=100 * UNITS)
    one_log(receipt, "AgreementActivated", id=agreement_id, callFloor=spec.callCount())
    assert token.balanceOf(registry) == 120 * UNITS
    assert token.balanceOf(buyer) == 900 * UNITS
    view = registry.agreement(agreement_id)
    assert (view.status, view.acceptedCount) == (S_ACTIVE, 3)


def test_accept_refusals(
    registry: Any, token: Any, propose: Callable[..., int], period: tuple[int, int], seller: Any, carrier: Any,
    buyer: Any, outsider: Any,
) -> None:
    with reverts(registry.UnknownAgreement, id=77):
        registry.accept(77, sender=buyer)
    agreement_id = propose()
    with reverts(registry.NotAParty, id=agreement_id, account=outsider):
        registry.accept(agreement_id, sender=outsider)
    with reverts(registry.WrongDeposit, expected=0, given=1):  # a token agreement takes no ether
        registry.accept(agreement_id, sender=seller, value=1)
    registry.accept(agreement_id, sender=seller)
    with reverts(registry.AlreadyAccepted, id=agreement_id, account=seller):
        registry.accept(agreement_id, sender=seller)
    with ape.reverts():  # no allowance: the token refuses the transferFrom
        registry.accept(agreement_id, sender=buyer)
    advance_to(period[0])
    with reverts(registry.AcceptanceClosed, id=agreement_id, start=period[0]):
        registry.accept(agreement_id, sender=carrier)


def test_accept_after_activation_is_refused(registry: Any, active: int, buyer: Any) -> None:
    with reverts(registry.WrongStatus, id=active, status=S_ACTIVE):
        registry.accept(active, sender=buyer)


def test_ether_escrow_needs_the_exact_deposit_and_pays_out_in_ether(
    registry: Any, propose: Callable[..., int], period: tuple[int, int], seller: Any, carrier: Any, buyer: Any
) -> None:
    # an ether agreement with only a delivery event (the buyer confirms)
    agreement_id = propose(escrow=ZERO_ADDRESS, conditions=[])
    registry.accept(agreement_id, sender=seller)
    with reverts(registry.WrongDeposit, expected=20 * UNITS, given=19 * UNITS):
        registry.accept(agreement_id, sender=carrier, value=19 * UNITS)
    registry.accept(agreement_id, sender=carrier, value=20 * UNITS)
    registry.accept(agreement_id, sender=buyer, value=100 * UNITS)
    assert registry.balance == 120 * UNITS
    registry.confirmDelivery(agreement_id, sender=buyer)
    advance_to(period[1] + CHALLENGE_MS)
    registry.settle(agreement_id, sender=buyer)
    before = seller.balance
    receipt = registry.withdraw(agreement_id, sender=seller)
    one_log(receipt, "PayoutWithdrawn", id=agreement_id, account=seller, amount=100 * UNITS)
    assert seller.balance == before + 100 * UNITS - receipt.total_fees_paid
    assert registry.balance == 20 * UNITS


# --- cancel ------------------------------------------------------------------------------------------------


def test_cancel_after_the_start_refunds_who_accepted(
    registry: Any, token: Any, propose: Callable[..., int], period: tuple[int, int], carrier: Any, buyer: Any,
    outsider: Any,
) -> None:
    agreement_id = propose()
    token.approve(registry, 20 * UNITS, sender=carrier)
    registry.accept(agreement_id, sender=carrier)
    with reverts(registry.NotStarted, id=agreement_id, start=period[0]):
        registry.cancel(agreement_id, sender=outsider)
    advance_to(period[0])
    receipt = registry.cancel(agreement_id, sender=outsider)
    one_log(receipt, "AgreementCancelled", id=agreement_id, account=outsider)
    view = registry.agreement(agreement_id)
    assert (view.status, view.outcome) == (S_CANCELLED, O_CANCELLED)
    with reverts(registry.WrongStatus, id=agreement_id, status=S_CANCELLED):
        registry.cancel(agreement_id, sender=outsider)
    with reverts(registry.NothingToWithdraw, id=agreement_id, account=buyer):  # never paid
        registry.withdraw(agreement_id, sender=buyer)
    registry.withdraw(agreement_id, sender=carrier)
    assert token.balanceOf(carrier) == 1000 * UNITS
    with reverts(registry.WrongStatus, id=agreement_id, status=S_CANCELLED):
        registry.settle(agreement_id, sender=outsider)


def test_an_active_agreement_cannot_be_cancelled(registry: Any, active: int, period: tuple[int, int], outsider: Any) -> None:
    advance_to(period[0])
    with reverts(registry.WrongStatus, id=active, status=S_ACTIVE):
        registry.cancel(active, sender=outsider)


# --- settle and withdraw -------------------------------------------------------------------------------------


def cover_whole_trip(trailer: Trailer, period: tuple[int, int], temp: float = 1.5) -> None:
    """Anchors a cold trip: a reading every 30 s, one batch per 10 minutes, through the end."""
    start, end = period
    t = start
    while t <= end:
        trailer.anchor([(t + i * 30_000, temp) for i in range(20)])
        t += 600_000


def test_settle_completed_after_coverage_delivery_and_window(
    registry: Any, token: Any, active: int, trailer: Trailer, period: tuple[int, int], seller: Any, carrier: Any,
    buyer: Any, outsider: Any,
) -> None:
    start, end = period
    with reverts(registry.ChallengeWindowOpen, id=active, until=end + CHALLENGE_MS):
        registry.settle(active, sender=outsider)
    cover_whole_trip(trailer, period)
    last = trailer.batches[-1]
    registry.proveCoverage(active, 0, last.seq, last.header, sender=outsider)
    advance_to(start + HOUR_MS)
    registry.confirmDelivery(active, sender=buyer)
    advance_to(end + CHALLENGE_MS - 2000)
    with reverts(registry.ChallengeWindowOpen, id=active):
        registry.settle(active, sender=outsider)
    advance_to(end + CHALLENGE_MS)
    receipt = registry.settle(active, sender=outsider)
    one_log(receipt, "AgreementSettled", id=active, outcome=O_COMPLETED, settler=outsider)
    assert registry.agreement(active).status == S_SETTLED
    with reverts(registry.AlreadySettled, id=active):
        registry.settle(active, sender=outsider)
    with reverts(registry.NotAParty, id=active, account=outsider):
        registry.withdraw(active, sender=outsider)
    with reverts(registry.NothingToWithdraw, id=active, account=buyer):  # the buyer gets nothing on completion
        registry.withdraw(active, sender=buyer)
    receipt = registry.withdraw(active, sender=seller)
    one_log(receipt, "PayoutWithdrawn", id=active, account=seller, amount=100 * UNITS)
    registry.withdraw(active, sender=carrier)
    with reverts(registry.NothingToWithdraw, id=active, account=seller):
        registry.withdraw(active, sender=seller)
    assert token.balanceOf(seller) == 1100 * UNITS
    assert token.balanceOf(carrier) == 1000 * UNITS
    assert token.balanceOf(registry) == 0
    assert registry.partyAt(active, 0)[2]  # withdrawn


def test_withdraw_before_settlement_is_refused(registry: Any, active: int, seller: Any) -> None:
    with reverts(registry.WrongStatus, id=active, status=S_ACTIVE):
        registry.withdraw(active, sender=seller)


def test_a_late_coverage_proof_reopens_the_window(
    registry: Any, active: int, trailer: Trailer, period: tuple[int, int], buyer: Any, outsider: Any
) -> None:
    start, end = period
    cover_whole_trip(trailer, period)
    registry.confirmDelivery(active, sender=buyer)
    advance_to(end + CHALLENGE_MS)
    last = trailer.batches[-1]
    registry.proveCoverage(active, 0, last.seq, last.header, sender=outsider)
    with reverts(registry.ChallengeWindowOpen, id=active):
        registry.settle(active, sender=outsider)
    advance_to(ape.chain.pending_timestamp * 1000 + CHALLENGE_MS)
    receipt = registry.settle(active, sender=outsider)
    one_log(receipt, "AgreementSettled", id=active, outcome=O_COMPLETED)


def test_settle_without_coverage_is_breached_and_without_delivery_is_expired(
    registry: Any, token: Any, propose: Callable[..., int], accept_all: Callable[[int], None], trailer: Trailer,
    period: tuple[int, int], buyer: Any, carrier: Any, outsider: Any,
) -> None:
    uncovered = propose()
    accept_all(uncovered)
    undelivered = propose()
    accept_all(undelivered)
    cover_whole_trip(trailer, period)
    last = trailer.batches[-1]
    registry.proveCoverage(undelivered, 0, last.seq, last.header, sender=outsider)
    advance_to(period[1] + CHALLENGE_MS)
    one_log(registry.settle(uncovered, sender=outsider), "AgreementSettled", id=uncovered, outcome=O_BREACHED)
    one_log(registry.settle(undelivered, sender=outsider), "AgreementSettled", id=undelivered, outcome=O_EXPIRED)
    registry.withdraw(uncovered, sender=buyer)
    registry.withdraw(undelivered, sender=buyer)
    registry.withdraw(undelivered, sender=carrier)
    assert token.balanceOf(buyer) == 1000 * UNITS - 200 * UNITS + 110 * UNITS + 100 * UNITS
    assert token.balanceOf(carrier) == 1000 * UNITS - 40 * UNITS + 20 * UNITS


def test_a_proposed_agreement_cannot_be_settled(registry: Any, propose: Callable[..., int], outsider: Any) -> None:
    agreement_id = propose()
    with reverts(registry.WrongStatus, id=agreement_id, status=S_PROPOSED):
        registry.settle(agreement_id, sender=outsider)
    with reverts(registry.UnknownAgreement, id=99):
        registry.settle(99, sender=outsider)


@pytest.mark.parametrize("view", ["agreement", "partyAt", "conditionAt"])
def test_views_of_an_unknown_agreement_are_refused(registry: Any, view: str) -> None:
    args = (5,) if view == "agreement" else (5, 0)
    with reverts(registry.UnknownAgreement, id=5):
        getattr(registry, view)(*args)


def test_views_refuse_unknown_indexes(registry: Any, active: int) -> None:
    with reverts(registry.NotAParty, id=active):
        registry.partyAt(active, 3)
    with reverts(registry.UnknownCondition, id=active, index=1):
        registry.conditionAt(active, 1)
