"""The browser tests' world (web_support.py) and a headless Debian chromium driven by Playwright."""
from __future__ import annotations

import os
import shutil

import pytest

from web_support import AUDITOR, CHROMIUM, CHROMIUM_ARGS, OWNER, World, make_world, wait_for


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    w = make_world(tmp_path_factory.mktemp("web"))
    try:
        wait_for(lambda: w.daemon.anchorer.stats.batches >= 10, 90, "the agent to anchor its first batches")
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="session")
def owner_url(world: World) -> str:
    return world.serve(OWNER).url


@pytest.fixture(scope="session")
def auditor_url(world: World) -> str:
    return world.serve(AUDITOR, "--read-only").url


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Tab:
    """A browser page that records every console error and uncaught exception."""

    def __init__(self, page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


@pytest.fixture
def tab(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    context.set_default_timeout(60_000)
    yield Tab(context.new_page())
    context.close()
