"""Reading event logs over long block ranges: in chunks, halving a chunk the node refuses as too large."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from web3 import Web3

DEFAULT_LOG_CHUNK = 10_000
MIN_LOG_CHUNK = 16


class LogReader:
    """`eth_getLogs` over a block range in chunks; a refused chunk is halved and retried."""

    def __init__(self, w3: Web3, chunk: int = DEFAULT_LOG_CHUNK) -> None:
        self.w3 = w3
        self.chunk = max(chunk, MIN_LOG_CHUNK)

    def logs(self, address: str | Sequence[str], topics: Sequence[Any], from_block: int,
             to_block: int) -> Iterator[Any]:
        start = from_block
        chunk = self.chunk
        while start <= to_block:
            end = min(start + chunk - 1, to_block)
            try:
                found = self.w3.eth.get_logs({"address": address, "topics": list(topics),
                                              "fromBlock": start, "toBlock": end})
            except Exception:
                if chunk <= MIN_LOG_CHUNK:
                    raise
                chunk //= 2  # the node limits results or range size: ask for less
                continue
            yield from found
            start = end + 1
