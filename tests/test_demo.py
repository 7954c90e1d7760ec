"""The main job (`make demo`) as a test: the bottling-plant scenario on anvil and the embedded IPFS
node, checked by its outcomes on the chain, not by its output."""
from __future__ import annotations

import re

import pytest

from twinledger.demo import Demo, SENSORS

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
    finally:
        if demo.stack is not None:
            demo.stack.stop()
