"""`LogReader` against a real JSON-RPC server on 127.0.0.1 that limits `eth_getLogs` ranges the way
hosted nodes do, and against a port where no node answers: "range too large" is halved and retried
(and past the minimum is `LogRangeTooLarge`), "node down" is retried and then `ChainUnavailable`."""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from web3 import Web3

from twinledger.chain.errors import ChainUnavailable
from twinledger.chain.logs import MIN_LOG_CHUNK, LogRangeTooLarge, LogReader, decode_log

ADDRESS = "0x" + "11" * 20


class LimitedNode(ThreadingHTTPServer):
    """Answers eth_getLogs with one log per block, refusing ranges wider than `max_range` blocks."""

    def __init__(self, max_range: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.max_range = max_range
        self.asked: list[tuple[int, int]] = []


class _Handler(BaseHTTPRequestHandler):
    server: LimitedNode

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        params = request["params"][0]
        start, end = int(params["fromBlock"], 16), int(params["toBlock"], 16)
        self.server.asked.append((start, end))
        if end - start + 1 > self.server.max_range:
            body = {"jsonrpc": "2.0", "id": request["id"],
                    "error": {"code": -32005, "message": f"block range is too large (max {self.server.max_range})"}}
        else:
            body = {"jsonrpc": "2.0", "id": request["id"], "result": [_log(b) for b in range(start, end + 1)]}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


def _log(block: int) -> dict[str, object]:
    return {"address": ADDRESS, "topics": ["0x" + "ab" * 32, "0x" + block.to_bytes(32, "big").hex()],
            "data": "0x" + (block * 2).to_bytes(32, "big").hex(), "blockNumber": hex(block),
            "transactionHash": "0x" + "cd" * 32, "transactionIndex": "0x0", "blockHash": "0x" + "ef" * 32,
            "logIndex": "0x0", "removed": False}


@pytest.fixture
def node(request: pytest.FixtureRequest) -> Iterator[LimitedNode]:
    server = LimitedNode(getattr(request, "param", 100))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _w3(port: int) -> Web3:
    return Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 5}))


def test_a_range_too_large_is_halved_until_the_node_accepts(node: LimitedNode) -> None:
    logs = list(LogReader(_w3(node.server_address[1]), chunk=1000).logs(ADDRESS, [], 1, 500))
    assert [log["blockNumber"] for log in logs] == list(range(1, 501))
    assert all(end - start + 1 <= 100 for start, end in node.asked[-5:])
    assert (1, 500) in node.asked  # it asked for the whole range first


@pytest.mark.parametrize("node", [MIN_LOG_CHUNK - 1], indirect=True)
def test_a_node_refusing_even_the_smallest_range_is_one_clear_error(node: LimitedNode) -> None:
    with pytest.raises(LogRangeTooLarge, match="even in 16-block ranges"):
        list(LogReader(_w3(node.server_address[1]), chunk=1000).logs(ADDRESS, [], 1, 500))


def test_a_node_that_does_not_answer_is_node_down() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reader = LogReader(_w3(port), retry_pauses_s=(0.01, 0.01))
    with pytest.raises(ChainUnavailable, match="stopped answering"):
        list(reader.logs(ADDRESS, [], 1, 10))


def test_decode_log_reads_indexed_and_data_arguments() -> None:
    entry = {"type": "event", "name": "Seen", "inputs": [
        {"name": "block", "type": "uint256", "indexed": True}, {"name": "twice", "type": "uint256", "indexed": False}]}
    raw = _log(7)
    log = {"topics": [bytes.fromhex(t[2:]) for t in raw["topics"]], "data": bytes.fromhex(str(raw["data"])[2:])}  # type: ignore[union-attr]
    decoded = decode_log(entry, log)
    assert (decoded.name, decoded.args) == ("Seen", {"block": 7, "twice": 14})
