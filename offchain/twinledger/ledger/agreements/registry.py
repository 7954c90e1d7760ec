"""The typed client of the `AgreementRegistry` contract: read an agreement's state and history, and send
each of its transactions (approving the escrow token first where a deposit is due).

Reads go through `eth_call`; writes through the chain's `TxSender`, so a refusal arrives as one
`ContractRevert` line naming the contract's custom error.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from ...chain.connection import TwinLedgerChain
from ...chain.errors import ChainUnavailable
from .model import AgreementState, AgreementTerms, Outcome, sensor_id, state_from_chain
from .proofs import CoverageProof, GapProof, ReadingProof

CONTRACT = "AgreementRegistry"
TOKEN_CONTRACT = "DevToken"
EVENTS = ("AgreementCreated", "AgreementAccepted", "AgreementActivated", "AgreementCancelled", "RangeBreachProven",
          "GapProven", "CoverageProven", "DeliveryRecorded", "AgreementSettled", "PayoutWithdrawn")


@dataclass(frozen=True)
class AgreementEvent:
    name: str
    args: dict[str, Any]
    block: int
    tx_hash: str


class AgreementClient:
    """Agreements on one deployed chain, acting as the chain's account (None: read-only)."""

    def __init__(self, chain: TwinLedgerChain) -> None:
        self.chain = chain

    @cached_property
    def contract(self) -> Contract:
        if CONTRACT not in self.chain.deployment.contracts:
            raise ChainUnavailable(f"the deployment has no {CONTRACT}: deploy again (`twinledger dev up` deploys it)")
        return self.chain.contract(CONTRACT)

    def token(self, address: str) -> Contract:
        """An ERC-20 at `address`, through the dev token's ABI (the ERC-20 functions are the same)."""
        abi = self.chain.deployment.contract(TOKEN_CONTRACT).abi
        return self.chain.w3.eth.contract(address=self.chain.w3.to_checksum_address(address), abi=abi)

    @property
    def dev_token(self) -> str:
        return self.chain.deployment.contract(TOKEN_CONTRACT).address

    def token_balance(self, token: str, account: str) -> int:
        return int(self.token(token).functions.balanceOf(account).call())

    def mint_dev_token(self, to: str, amount: int) -> TxReceipt:
        """Mints DevToken (only the deployer of the dev stack may)."""
        return self._send(self.token(self.dev_token).functions.mint(to, amount))

    # ---- reads ----------------------------------------------------------------------------------

    def token_symbol(self, state: AgreementState) -> str:
        """`ETH`, the ERC-20's symbol, or its address if it has none."""
        if state.ether:
            return "ETH"
        try:
            return str(self.token(state.token).functions.symbol().call())
        except Exception:  # noqa: BLE001 - a token without a symbol is shown by its address
            return state.token

    def sensor_name(self, twin: int, feed_id: int, sensor: bytes) -> str | None:
        """The name of the feed's component if the condition's sensor hash is that name's (the usual case)."""
        try:
            component = self.chain.feeds.functions.feed(feed_id).call()[1]
            name = str(self.chain.spec.functions.component(twin, component).call()[6])
        except Exception:  # noqa: BLE001 - without a name the hash is still a correct answer
            return None
        return name if name and sensor_id(name) == sensor else None

    def now_ms(self) -> int:
        """The latest block's time, in ms (what the contract compares with)."""
        return int(self.chain.w3.eth.get_block("latest")["timestamp"]) * 1000

    def count(self) -> int:
        return int(self.contract.functions.agreementCount().call())

    def state(self, agreement_id: int) -> AgreementState:
        f = self.contract.functions
        view = f.agreement(agreement_id).call()
        parties = [f.partyAt(agreement_id, i).call() for i in range(view[4])]
        conditions = [f.conditionAt(agreement_id, i).call() for i in range(view[5])]
        return state_from_chain(agreement_id, view, parties, conditions)

    def states(self, twin: int | None = None) -> list[AgreementState]:
        found = [self.state(i) for i in range(1, self.count() + 1)]
        return [s for s in found if twin is None or s.twin == twin]

    def history(self, agreement_id: int) -> list[AgreementEvent]:
        """Every event of the agreement, in chain order."""
        out = []
        for name in EVENTS:
            event = getattr(self.contract.events, name)
            for log in event.get_logs(from_block=self.chain.deployment.block, argument_filters={"id": agreement_id}):
                out.append(AgreementEvent(name, dict(log["args"]), int(log["blockNumber"]),
                                          "0x" + bytes(log["transactionHash"]).hex()))
        out.sort(key=lambda e: e.block)
        return out

    # ---- writes ---------------------------------------------------------------------------------

    def _send(self, fn: Any, value: int = 0) -> TxReceipt:
        if value:
            return self.chain.sender.transact(_Payable(fn, value))  # type: ignore[arg-type]
        return self.chain.sender.transact(fn)

    def events_in(self, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
        event = getattr(self.contract.events, name)()
        return [dict(e["args"]) for e in event.process_receipt(receipt, errors=DISCARD)]

    def create(self, terms: AgreementTerms) -> tuple[int, TxReceipt]:
        terms.check(self.now_ms())
        receipt = self._send(self.contract.functions.create(*terms.create_args()))
        return int(self.events_in(receipt, "AgreementCreated")[0]["id"]), receipt

    def accept(self, agreement_id: int) -> TxReceipt:
        """Accepts as the chain's account, paying its deposit (approving the token first if needed)."""
        state = self.state(agreement_id)
        me = self.chain.sender.address
        party = state.party_of(me)
        deposit = party.deposit if party else 0
        if state.ether:
            return self._send(self.contract.functions.accept(agreement_id), value=deposit)
        if deposit:
            token = self.token(state.token)
            if token.functions.allowance(me, self.contract.address).call() < deposit:
                self._send(token.functions.approve(self.contract.address, deposit))
        return self._send(self.contract.functions.accept(agreement_id))

    def cancel(self, agreement_id: int) -> TxReceipt:
        return self._send(self.contract.functions.cancel(agreement_id))

    def prove_breach(self, proof: ReadingProof) -> TxReceipt:
        return self._send(self.contract.functions.proveBreach(
            proof.agreement_id, proof.condition, proof.seq, proof.header, proof.reading, proof.proof))

    def prove_gap(self, proof: GapProof) -> TxReceipt:
        return self._send(self.contract.functions.proveGap(
            proof.agreement_id, proof.condition, proof.seq, proof.prev, proof.next))

    def prove_coverage(self, proof: CoverageProof) -> TxReceipt:
        return self._send(self.contract.functions.proveCoverage(
            proof.agreement_id, proof.condition, proof.seq, proof.header))

    def confirm_delivery(self, agreement_id: int) -> TxReceipt:
        return self._send(self.contract.functions.confirmDelivery(agreement_id))

    def record_delivery_call(self, agreement_id: int, call_id: int) -> TxReceipt:
        return self._send(self.contract.functions.recordDeliveryCall(agreement_id, call_id))

    def record_delivery_reading(self, proof: ReadingProof) -> TxReceipt:
        return self._send(self.contract.functions.recordDeliveryReading(
            proof.agreement_id, proof.seq, proof.header, proof.reading, proof.proof))

    def settle(self, agreement_id: int) -> tuple[Outcome, TxReceipt]:
        receipt = self._send(self.contract.functions.settle(agreement_id))
        return Outcome(self.events_in(receipt, "AgreementSettled")[0]["outcome"]), receipt

    def withdraw(self, agreement_id: int) -> tuple[int, TxReceipt]:
        receipt = self._send(self.contract.functions.withdraw(agreement_id))
        return int(self.events_in(receipt, "PayoutWithdrawn")[0]["amount"]), receipt


class _Payable:
    """A contract function call carrying ether: what `TxSender` needs of a ContractFunction, plus `value`."""

    def __init__(self, fn: Any, value: int) -> None:
        self._fn = fn
        self._value = value

    def build_transaction(self, tx: dict[str, Any] | None = None) -> Any:
        return self._fn.build_transaction({**(tx or {}), "value": self._value})

    def estimate_gas(self, tx: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> Any:
        return self._fn.estimate_gas({**(tx or {}), "value": self._value}, *args, **kwargs)

    def call(self, tx: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> Any:
        return self._fn.call({**(tx or {}), "value": self._value}, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fn, name)
