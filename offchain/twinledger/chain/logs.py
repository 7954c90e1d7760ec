"""Event logs: the one reader that pages long block ranges, and the one decoder from an ABI entry.

`LogReader.logs` asks `eth_getLogs` for chunks of the range; a chunk the node refuses as too large
is halved and asked again, down to `MIN_LOG_CHUNK` blocks (then `LogRangeTooLarge`). A node that does
not answer is asked again a few times with a growing pause (then `ChainUnavailable`, "node down").
Any other error is not a size problem and propagates as it is.

`decode_log` decodes a log by the ABI entry whose topic0 it carries (not by event name:
Authorization has two `RoleGranted` events), with eth-abi only.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import requests
from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import Web3RPCError

from .errors import ChainError, ChainUnavailable

DEFAULT_LOG_CHUNK = 10_000
MIN_LOG_CHUNK = 16
RETRY_PAUSES_S = (0.2, 0.5, 1.0, 2.0)
# What nodes say when a range or its result is too big (geth, erigon, Infura, Alchemy, QuickNode, anvil).
TOO_LARGE_HINTS = ("too large", "too many", "more than", "exceed", "limit", "range is", "block range",
                   "response size", "query timeout", "10000 results")


class LogRangeTooLarge(ChainError):
    """The node refuses even the smallest block range for these logs."""


def _too_large(exc: Exception) -> bool:
    return isinstance(exc, (Web3RPCError, ValueError)) and any(h in str(exc).lower() for h in TOO_LARGE_HINTS)


def _node_down(exc: Exception) -> bool:
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError))


class LogReader:
    """`eth_getLogs` over a block range in chunks; a refused chunk is halved, a silent node retried."""

    def __init__(self, w3: Web3, chunk: int = DEFAULT_LOG_CHUNK,
                 retry_pauses_s: Sequence[float] = RETRY_PAUSES_S) -> None:
        self.w3 = w3
        self.chunk = max(chunk, MIN_LOG_CHUNK)
        self.retry_pauses_s = tuple(retry_pauses_s)

    def logs(self, address: str | Sequence[str], topics: Sequence[Any], from_block: int,
             to_block: int) -> Iterator[Any]:
        start = from_block
        chunk = self.chunk
        while start <= to_block:
            end = min(start + chunk - 1, to_block)
            try:
                found = self._get_logs(address, topics, start, end)
            except (Web3RPCError, ValueError) as exc:
                if not _too_large(exc):
                    raise
                if chunk <= MIN_LOG_CHUNK:
                    raise LogRangeTooLarge(f"the node refuses logs of blocks {start}..{end} even in "
                                           f"{MIN_LOG_CHUNK}-block ranges: {exc}") from None
                chunk = max(chunk // 2, MIN_LOG_CHUNK)  # the node limits results or range size: ask less
                continue
            yield from found
            start = end + 1

    def _get_logs(self, address: str | Sequence[str], topics: Sequence[Any], start: int, end: int) -> Any:
        query: Any = {"address": address, "topics": list(topics), "fromBlock": start, "toBlock": end}
        for pause in self.retry_pauses_s:
            try:
                return self.w3.eth.get_logs(query)
            except Exception as exc:  # noqa: BLE001 - only a silent node is retried; the rest re-raised
                if not _node_down(exc):
                    raise
            time.sleep(pause)
        try:
            return self.w3.eth.get_logs(query)
        except Exception as exc:  # noqa: BLE001 - as above
            if _node_down(exc):
                raise ChainUnavailable(f"the node stopped answering while reading logs of blocks {start}..{end}") \
                    from None
            raise


@dataclass(frozen=True)
class DecodedLog:
    name: str
    args: dict[str, Any]


def decode_log(entry: Mapping[str, Any], log: Mapping[str, Any], *, checksum: bool = True) -> DecodedLog:
    """`log` decoded by the event ABI `entry`: indexed arguments from the topics (a dynamic one stays as its
    keccak256), the rest from the data, in the ABI's order. `checksum`: addresses EIP-55 (else as eth-abi
    gives them, lower case)."""
    inputs = list(entry.get("inputs", []))
    topics = [bytes(HexBytes(t)) for t in log["topics"]][1:]
    plain = [i for i in inputs if not i.get("indexed")]
    values = iter(abi_decode([abi_type(i) for i in plain], bytes(HexBytes(log["data"]))) if plain else ())
    args: dict[str, Any] = {}
    for arg in inputs:
        kind = abi_type(arg)
        if arg.get("indexed"):
            raw = topics.pop(0)
            dynamic = kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")
            value = raw if dynamic else abi_decode([kind], raw)[0]
        else:
            value = next(values)
        args[arg["name"]] = to_checksum_address(value) if checksum and kind == "address" else value
    return DecodedLog(str(entry["name"]), args)


def abi_type(arg: Mapping[str, Any]) -> str:
    """The canonical ABI type of an argument (tuples spelled out), as in event signatures."""
    kind = str(arg["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in arg["components"]) + ")" + kind[len("tuple"):]
    return kind


def event_entries(abi: Sequence[Mapping[str, Any]]) -> dict[bytes, Mapping[str, Any]]:
    """topic0 -> event ABI entry."""
    return {bytes(event_abi_to_log_topic(cast(Any, e))): e for e in abi if e.get("type") == "event"}
