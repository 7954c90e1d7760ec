"""The twins list shows each twin's latest verification verdict even when nobody ran it from the page:
a fresh server computes it in the background, pushes it to the open list, and says at which block
and when; the verdict is the one `verify twin` gives on the ledger pinned to that block."""
from __future__ import annotations

import pytest

from twinledger.ledger.reader import Ledger
from twinledger.verify import Verifier

from web_support import MAINTAINER, World

pytestmark = pytest.mark.timeout(900)


def test_the_twins_list_shows_a_background_verdict_with_its_block(world: World, tab) -> None:
    server = world.serve(MAINTAINER)  # a server of its own: no verdict from any page yet
    page = tab.page
    page.goto(server.url + "/")
    page.wait_for_selector("#live.on")
    cell = page.locator(f"#verdict-{world.twin}")
    head_at_page = int(page.locator("#verdict-note").get_attribute("data-head"))
    assert "verifying" in cell.inner_text() or cell.get_attribute("data-status")
    page.wait_for_selector(f"#verdict-{world.twin}[data-status]:not([data-status=''])", timeout=600_000)
    status, block = cell.get_attribute("data-status"), int(cell.get_attribute("data-block"))
    detail = cell.locator(".verdict-when").inner_text()
    assert status in ("pass", "warn", "fail"), cell.inner_text()
    assert block >= head_at_page and f"at block {block}, computed " in detail and "in the background" in detail

    chain = world.stack.chain()
    assert block <= chain.w3.eth.block_number
    again = Verifier(Ledger(chain, to_block=block), world.stack.store()).verify_twin(world.twin)
    assert again.status.value == status  # the same verdict at the same block

    page.reload()  # cached: the server renders it with its block, and does not start over
    page.wait_for_selector("#live.on")
    assert cell.get_attribute("data-status") == status and int(cell.get_attribute("data-block")) == block
    assert f"at block {block}" in cell.inner_text()
    assert tab.errors == []
