"""One object to reach the deployed system: web3, the deployment's contracts, and a sender for one account."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from .deployment import Deployment
from .errors import ChainUnavailable, ErrorDecoder
from .tx import TxSender

RPC_TIMEOUT_S = 30


def connect(rpc_url: str) -> Web3:
    """A Web3 for `rpc_url`; raises ChainUnavailable with one clear line if nothing answers there."""
    # The chain id is asked once, not before every call (web3's validation middleware fetches it for each
    # eth_call and transaction). Nothing else is cached: blocks, receipts and transactions change in a reorg.
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_S}, cache_allowed_requests=True,
                                cacheable_requests={RPCEndpoint("eth_chainId")}))
    try:
        w3.eth.chain_id  # noqa: B018 - the probe: any answer means a node is there
    except Exception:  # noqa: BLE001 - whatever the transport raises, nothing answers
        raise ChainUnavailable(f"no Ethereum node answers at {rpc_url}") from None
    return w3


@dataclass
class TwinLedgerChain:
    """The deployed contracts on one chain, acting as `account` (None: read-only)."""

    w3: Web3
    deployment: Deployment
    account: LocalAccount | None = None
    confirmations: int = 0
    # The one cache of block times and the one of transaction senders: both never change for a block
    # or transaction that is final, and a reorganised one has a different hash or number anyway.
    _block_times: dict[int, int] = field(default_factory=dict, repr=False, compare=False)
    _senders: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def open(cls, rpc_url: str, deployment: Deployment, account: LocalAccount | None = None,
             confirmations: int = 0) -> "TwinLedgerChain":
        w3 = connect(rpc_url)
        if w3.eth.chain_id != deployment.chain_id:
            raise ChainUnavailable(
                f"the node at {rpc_url} is chain {w3.eth.chain_id}, the deployment is for chain {deployment.chain_id}")
        missing = [name for name, c in deployment.contracts.items()
                   if not w3.eth.get_code(Web3.to_checksum_address(c.address))]
        if missing:  # e.g. a dev chain restarted since the deployment file was written
            raise ChainUnavailable(f"the deployment's {', '.join(missing)} has no code at its address on {rpc_url}: "
                                   f"deploy again or pass the right --deployment")
        return cls(w3=w3, deployment=deployment, account=account, confirmations=confirmations)

    def contract(self, name: str) -> Contract:
        ref = self.deployment.contract(name)
        return self.w3.eth.contract(address=Web3.to_checksum_address(ref.address), abi=ref.abi)

    @cached_property
    def auth(self) -> Contract:
        return self.contract("Authorization")

    @cached_property
    def spec(self) -> Contract:
        return self.contract("Specification")

    @cached_property
    def feeds(self) -> Contract:
        return self.contract("SensorFeed")

    def block_time(self, block: int) -> int:
        """Unix seconds of `block` (cached)."""
        if block not in self._block_times:
            self._block_times[block] = int(self.w3.eth.get_block(block)["timestamp"])
        return self._block_times[block]

    def sender_of(self, tx_hash: str) -> str:
        """The account that sent `tx_hash` (cached)."""
        if tx_hash not in self._senders:
            self._senders[tx_hash] = str(self.w3.eth.get_transaction(HexStr(tx_hash))["from"])
        return self._senders[tx_hash]

    @cached_property
    def decoder(self) -> ErrorDecoder:
        return ErrorDecoder(self.deployment.all_abis())

    @cached_property
    def sender(self) -> TxSender:
        if self.account is None:
            raise ChainUnavailable("this action sends a transaction: choose an account")
        return TxSender(self.w3, self.account, self.decoder, self.confirmations)
