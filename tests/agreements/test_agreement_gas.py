"""Gas of the agreement operations, read from receipts on the real contracts (never timings). The bounds
are regression guards a little above what was measured; docs/gas.md lists the figures.

Measured on EthTester, for the cold-chain agreement (three parties, one condition, a confirmation):
create 695,650 (it writes ~31 new slots: the terms, 3 parties of 6 words, their index, 1 condition); accept
with a token deposit 100,407 (the registry's first token balance slot), the activating one 92,428;
proveBreach (a 5-reading batch, proof of 3 hashes) 62,777; proveGap 56,065; proveCoverage 88,512 (two new
slots); confirmDelivery 37,018; settle 29,181; withdraw 56,687.
"""

from __future__ import annotations

from typing import Any, Callable

from agreement_support import CHALLENGE_MS, UNITS, Trailer, advance_to, condition

BOUNDS = {"create": 710_000, "accept": 105_000, "accept (activates)": 100_000, "proveBreach": 66_000,
          "proveGap": 60_000, "proveCoverage": 92_000, "confirmDelivery": 40_000, "settle": 32_000,
          "withdraw": 60_000}


def test_gas_of_every_agreement_operation(
    registry: Any, token: Any, propose: Callable[..., int], trailer: Trailer, period: tuple[int, int],
    seller: Any, carrier: Any, buyer: Any, outsider: Any,
) -> None:
    gas: dict[str, int] = {}
    receipts: list[Any] = []
    agreement_id = propose(receipts=receipts)
    gas["create"] = receipts[0].gas_used
    registry.accept(agreement_id, sender=seller)
    token.approve(registry, 1000 * UNITS, sender=carrier)
    gas["accept"] = registry.accept(agreement_id, sender=carrier).gas_used
    token.approve(registry, 1000 * UNITS, sender=buyer)
    gas["accept (activates)"] = registry.accept(agreement_id, sender=buyer).gas_used
    start, end = period
    trailer.anchor([(start + i * 10_000, 1.0 + i) for i in range(5)])
    gas["proveBreach"] = registry.proveBreach(agreement_id, 0, *trailer.batches[0].breach_args(4), sender=outsider).gas_used
    gas["settle"] = registry.settle(agreement_id, sender=outsider).gas_used
    gas["withdraw"] = registry.withdraw(agreement_id, sender=buyer).gas_used

    covered = propose(conditions=[condition(trailer.feed_id)])
    for who in (seller, carrier, buyer):
        registry.accept(covered, sender=who)
    late = trailer.anchor([(end - 1_000, 1.0)])
    gas["proveCoverage"] = registry.proveCoverage(covered, 0, late.seq, late.header, sender=outsider).gas_used
    gas["confirmDelivery"] = registry.confirmDelivery(covered, sender=buyer).gas_used
    gapped = propose()
    for who in (seller, carrier, buyer):
        registry.accept(gapped, sender=who)
    prev = trailer.batches[-2]
    gas["proveGap"] = registry.proveGap(gapped, 0, late.seq, prev.header, late.header, sender=outsider).gas_used
    advance_to(end + CHALLENGE_MS)
    print("\nGAS agreements: " + ", ".join(f"{k}={v}" for k, v in gas.items()))
    for name, used in gas.items():
        assert used <= BOUNDS[name], f"{name}: {used} gas > {BOUNDS[name]}"

