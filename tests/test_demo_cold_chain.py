"""`twinledger demo cold-chain` as a test: the patent's delivery on anvil and the embedded IPFS node, checked
by its outcomes on the chain (agreements, the proven reading, the payouts), not by its output."""
from __future__ import annotations

import re

import pytest

from twinledger.demo_cold_chain import BOND, LIMIT_C, PRICE, ColdChainDemo
from twinledger.formats.valuekey import from_order_key
from twinledger.ledger.agreements.model import Outcome, Status
from twinledger.ledger.agreements.registry import AgreementClient

pytestmark = pytest.mark.timeout(300)


def test_cold_chain_scenario(tmp_path):
    demo = ColdChainDemo(tmp_path)
    try:
        result = demo.run()
        client = AgreementClient(demo.stack.chain())
        cold, door = result["agreements"]
        assert client.state(cold).status == Status.SETTLED and client.state(cold).outcome == Outcome.COMPLETED
        assert client.state(door).outcome == Outcome.BREACHED
        # The breach was proven on-chain from a reading above the limit, by the buyer's watchtower.
        [proven] = [e for e in client.history(door) if e.name == "RangeBreachProven"]
        assert from_order_key(proven.args["valueKey"]) > LIMIT_C
        assert not [e for e in client.history(cold) if e.name in ("RangeBreachProven", "GapProven")]
        assert [e.name for e in client.history(cold)].count("CoverageProven") == 1
        # Payouts as the terms say: the farmer is paid for the cold trip, the buyer refunded with half the bond.
        assert result["balances"] == {"farmer": str(PRICE), "carrier": str(2 * (PRICE + BOND) - 2 * BOND + BOND + BOND // 2),
                                      "supermarket": str(2 * (PRICE + BOND) - 2 * PRICE + PRICE + BOND // 2)}
        # The lorry twin's audit report shows both agreements, the proven reading and the settlements.
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", result["report"].read_text()))
        assert "Agreements" in text and "Settled: Completed" in text and "Settled: Breached" in text
        assert "proven out of bounds" in text and "withdrew 110" in text
    finally:
        if demo.stack is not None:
            demo.stack.stop()
