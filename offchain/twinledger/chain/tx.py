"""Sending transactions: one local nonce counter, EIP-1559 fees, receipts with confirmations, and
custom errors decoded before anything is broadcast.

Several transactions may be in flight at once: nonces are taken from the local counter, the gas
estimate runs against the pending state (so a call that builds on a not-yet-mined one of ours
estimates right), and a stuck transaction is replaced at the same nonce with higher fees (`bump`)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from eth_abi.exceptions import EncodingError
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from eth_utils import function_abi_to_4byte_selector, get_abi_input_types
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, TransactionNotFound, Web3RPCError
from web3.types import BlockIdentifier, TxReceipt

from .errors import ChainError, ContractRevert, ErrorDecoder

Sendable = ContractFunction | ContractConstructor  # a call, or a deployment

GAS_MARGIN = 1.2
# A replacement must raise both fee fields by at least 10% (geth, anvil, besu); 25% leaves room.
BUMP_FACTOR = 1.25


@dataclass(frozen=True)
class SentTx:
    tx_hash: str
    nonce: int
    raw: bytes  # kept so a dropped transaction can be rebroadcast unchanged
    tx: Any = None  # the unsigned transaction, kept so a stuck one can be replaced at the same nonce (bump)


class TxFailed(ChainError):
    """The transaction was mined but reverted."""


class TxRejected(ChainError, ValueError):
    """The node refused a raw transaction ("nonce too low", "replacement transaction underpriced", ...); a
    ValueError, as web3 raised before version 7."""


def encoded_call(fn: Sendable) -> HexStr | None:
    """The calldata of a contract call, encoded by the web3 codec straight from the arguments web3 matched to the
    ABI when the call was made (strict sizes, as web3 checks them); the same bytes as web3's own encoding, about ten
    times faster for an `anchorMany` of many items, which web3 maps through its normalisers item by item. None
    where only web3's own path can encode it (a deployment, keyword arguments, an argument the codec refuses)."""
    if not isinstance(fn, ContractFunction) or fn.kwargs or fn.abi is None or fn.abi.get("type") != "function":
        return None
    try:
        types = get_abi_input_types(fn.abi)
        return HexStr(Web3.to_hex(function_abi_to_4byte_selector(fn.abi) + fn.w3.codec.encode(types, fn.args)))
    except (EncodingError, TypeError, ValueError):
        return None


class TxSender:
    """Signs and sends transactions for one account; safe to share between threads."""

    def __init__(self, w3: Web3, account: LocalAccount, decoder: ErrorDecoder, confirmations: int = 0) -> None:
        self.w3 = w3
        self.account = account
        self.decoder = decoder
        self.confirmations = confirmations
        self._lock = threading.Lock()
        self._next_nonce: int | None = None
        self.chain_id = w3.eth.chain_id
        self.gas_spent = 0

    @property
    def address(self) -> str:
        return self.account.address

    def resync_nonce(self) -> None:
        with self._lock:
            self._next_nonce = None

    def _take_nonce(self) -> int:
        if self._next_nonce is None:
            self._next_nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
        nonce = self._next_nonce
        self._next_nonce += 1
        return nonce

    def _fees(self) -> dict[str, int]:
        block = self.w3.eth.get_block("latest")
        base = block.get("baseFeePerGas")
        if base is None:
            return {"gasPrice": self.w3.eth.gas_price}
        tip = self.w3.to_wei(1, "gwei")
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def estimate(self, fn: Sendable, block: BlockIdentifier | None = None) -> int:
        """Gas for `fn`; `block="pending"` estimates on top of our transactions not mined yet."""
        try:
            if block is None:
                return fn.estimate_gas({"from": self.account.address})
            return fn.estimate_gas({"from": self.account.address}, block_identifier=block)
        except (ContractCustomError, ContractLogicError) as exc:
            raise self._decode(exc) from None

    def call(self, fn: ContractFunction) -> Any:
        try:
            return fn.call({"from": self.account.address})
        except (ContractCustomError, ContractLogicError) as exc:
            raise self._decode(exc) from None

    def _decode(self, exc: Exception) -> ContractRevert:
        data = getattr(exc, "data", None)
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            return self.decoder.decode(data)
        return ContractRevert("Error", {"reason": str(exc)})

    def submit(self, fn: Sendable, gas: int | None = None, nonce: int | None = None,
               estimate_on: BlockIdentifier | None = None) -> SentTx:
        """Sign and broadcast; the gas estimate surfaces a custom error before anything is sent.
        `estimate_on="pending"` when the call builds on transactions of ours still in flight."""
        tx = self._build(fn)
        gas = gas or int(self._estimate_built(tx, estimate_on) * GAS_MARGIN)
        with self._lock:
            tx["nonce"] = self._take_nonce() if nonce is None else nonce
            tx["gas"] = gas
            return self._send(tx)

    def sign(self, fn: Sendable, gas: int | None = None, estimate_on: BlockIdentifier | None = None) -> SentTx:
        """`submit` without the broadcast: the caller records the transaction first, then `broadcast`s it, so a
        failure or crash in between leaves a record of everything that may have reached the node."""
        tx = self._build(fn)
        gas = gas or int(self._estimate_built(tx, estimate_on) * GAS_MARGIN)
        with self._lock:
            tx["nonce"] = self._take_nonce()
            tx["gas"] = gas
            return self._sign(tx)

    def _build(self, fn: Sendable) -> Any:
        """The transaction for `fn` with today's fees, its call encoded once (web3's encoding of a big call, such
        as an `anchorMany` of many batches, costs more than the rest of sending it); the nonce and the gas are
        placeholders that `submit` and `sign` fill in."""
        params: Any = {"from": self.account.address, "nonce": 0, "gas": 0, "chainId": self.chain_id,
                       **self._fees()}
        data = encoded_call(fn)
        if data is None or not isinstance(fn, ContractFunction):
            return dict(fn.build_transaction(params))
        return {**params, "to": fn.address, "data": data, "value": 0}

    def _estimate_built(self, tx: Any, block: BlockIdentifier | None) -> int:
        """`estimate` for a transaction `_build` made, without encoding its call again."""
        call: Any = {key: tx[key] for key in ("from", "to", "data", "value") if key in tx}
        try:
            if block is None:
                return int(self.w3.eth.estimate_gas(call))
            return int(self.w3.eth.estimate_gas(call, block))
        except (ContractCustomError, ContractLogicError) as exc:
            raise self._decode(exc) from None

    def broadcast(self, sent: SentTx) -> None:
        try:
            self.w3.eth.send_raw_transaction(sent.raw)
        except Web3RPCError as exc:
            raise TxRejected(str(exc)) from exc

    def cancel(self, nonce: int, above: SentTx | None = None, factor: float = BUMP_FACTOR) -> SentTx:
        """Take `nonce` with a zero-value transfer to ourselves, priced to replace `above` (raised by `factor`),
        or whatever else of ours waits at that nonce (at `factor` times today's fees)."""
        now = self._fees()
        base = above.tx if above is not None and above.tx is not None else now
        tx: Any = {"from": self.account.address, "to": self.account.address, "value": 0, "gas": 21_000,
                   "nonce": nonce, "chainId": self.chain_id}
        for key in now:
            tx[key] = max(int(int(base.get(key, 0)) * factor) + 1, now[key])
        with self._lock:
            return self._send(tx)

    def _sign(self, tx: Any) -> SentTx:
        signed = self.account.sign_transaction(tx)
        return SentTx(tx_hash=HexBytes(signed.hash).to_0x_hex(), nonce=int(tx["nonce"]),
                      raw=bytes(signed.raw_transaction), tx=dict(tx))

    def _send(self, tx: Any) -> SentTx:
        sent = self._sign(tx)
        self.broadcast(sent)
        return sent

    def bump(self, sent: SentTx, factor: float = BUMP_FACTOR) -> SentTx:
        """Replace a stuck (or dropped) transaction: the same call at the same nonce, fees raised by
        `factor` and at least today's. Raises ValueError from the node if the nonce is already used."""
        if sent.tx is None:
            raise ChainError(f"transaction {sent.tx_hash} cannot be replaced: its parameters were not kept")
        tx = dict(sent.tx)
        now = self._fees()
        for key in ("maxFeePerGas", "maxPriorityFeePerGas", "gasPrice"):
            if key in tx:
                tx[key] = max(int(tx[key] * factor) + 1, now.get(key, 0))
        with self._lock:
            return self._send(tx)

    def is_pending(self, tx_hash: str) -> bool:
        """True while the node still knows the transaction (in its pool or mined)."""
        try:
            self.w3.eth.get_transaction(HexStr(tx_hash))
        except TransactionNotFound:
            return False
        return True

    def mined_nonce(self) -> int:
        """How many transactions of this account are mined (the next nonce the chain will accept)."""
        return int(self.w3.eth.get_transaction_count(self.account.address, "latest"))

    def rebroadcast(self, sent: SentTx) -> None:
        try:
            self.broadcast(sent)
        except ValueError as exc:  # "already known" / "nonce too low" mean it is or was in the pool
            if "already" not in str(exc) and "nonce too low" not in str(exc):
                raise

    def receipt(self, tx_hash: str) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            return None

    def wait(self, sent: SentTx, timeout: float = 60.0, confirmations: int | None = None) -> TxReceipt:
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(HexStr(sent.tx_hash), timeout=timeout,
                                                               poll_latency=0.05)
        except TimeExhausted:
            raise ChainError(f"transaction {sent.tx_hash} was not mined within {timeout:.0f}s") from None
        self.gas_spent += receipt["gasUsed"]
        if receipt["status"] != 1:
            raise TxFailed(f"transaction {sent.tx_hash} reverted in block {receipt['blockNumber']}")
        self._await_confirmations(receipt, self.confirmations if confirmations is None else confirmations, timeout)
        return receipt

    def _await_confirmations(self, receipt: TxReceipt, confirmations: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.w3.eth.block_number - receipt["blockNumber"] + 1 < confirmations:
            if time.monotonic() > deadline:
                raise ChainError(f"no {confirmations} confirmations for block {receipt['blockNumber']} within {timeout:.0f}s")
            time.sleep(0.1)

    def transact(self, fn: Sendable, gas: int | None = None, timeout: float = 60.0) -> TxReceipt:
        return self.wait(self.submit(fn, gas=gas), timeout=timeout)

    def is_canonical(self, receipt: TxReceipt) -> bool:
        """False once a reorganisation has dropped the block that held the receipt."""
        block = self.w3.eth.get_block(receipt["blockNumber"])
        return block is not None and block["hash"] == receipt["blockHash"]
