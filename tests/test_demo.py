"""The main job (`make demo`) as a test: the bottling-plant scenario on anvil and the embedded IPFS
node, checked by its outcomes on the chain and at the plant's OPC UA server, not by its output."""
from __future__ import annotations

import json
import re

import pytest

from twinledger.demo import Demo, SENSORS
from twinledger.formats import cids
from twinledger.ledger import contracts

pytestmark = pytest.mark.timeout(300)


def test_bottling_plant_scenario(tmp_path):
    demo = Demo(tmp_path)
    try:
        ok, report = demo.run()
        chain = demo.stack.chain()
        feeds = chain.feeds.functions
        assert ok, "the auditor's verdict is PASS"
        html = report.read_text()
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
        assert "Overall verdict: pass" in text and "data:image/png;base64" in html
        # Five sensors plus the replacement bottle-level sensor; the old one retired with its successor.
        assert feeds.feedCount().call() == len(SENSORS) + 1
        old = feeds.feed(5).call()
        assert old[5] == 3 and old[7] == 6  # FeedStatus.Retired, successor feed 6
        assert all(feeds.nextSeqOf(f).call() > 0 for f in range(1, 7))
        # The valve program call was executed and acknowledged; the refused one never reached the chain.
        spec = chain.spec.functions
        assert spec.callCount().call() == 1
        assert spec.programCall(1).call()[4] == 3  # CallStatus.Done
        assert spec.documentCount().call() == 1
        # The agent drove the plant over OPC UA: CloseValve arrived at the plant's server as a method
        # call (the refused SetValvePosition never did), and the server's answer is the result on-chain.
        server = demo.plant_server.server
        assert server.calls == [("CloseValve", ())]
        call = contracts.program_call(chain, 1)
        result = json.loads(demo.stack.store().cat(cids.unpack(call.result, call.codec)))
        assert result["ok"] and result["program"] == "CloseValve" and server.answers[0] in result["message"]
        # The sensor swap came over the server too: the new transmitter's node fed the new feed.
        assert [s["new"] for s in server.swaps] == ["bottle_level_2"]
        assert feeds.nextSeqOf(6).call() > 0
    finally:
        if demo.stack is not None:
            demo.stack.stop()
