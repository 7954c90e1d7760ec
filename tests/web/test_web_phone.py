"""At phone width (390 px) every main page fits: the page itself never scrolls sideways (wide tables
scroll inside their own box), and nothing logs a console error."""
from __future__ import annotations

import pytest

from web_support import World

pytestmark = pytest.mark.timeout(600)
PHONE = {"width": 390, "height": 844}
PAGES = ("/", "/twins/{twin}", "/twins/{twin}/history", "/twins/{twin}/feeds", "/twins/{twin}/feeds/1",
         "/twins/{twin}/calls", "/twins/{twin}/documents", "/twins/{twin}/parties", "/twins/{twin}/verify")
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll("body *")].filter((el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.right > width + 1 && !el.closest(".scroll, pre.diff, #notices");
  }).map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className ? "." + el.className : ""));
  return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5)};
}"""


@pytest.mark.parametrize("path", PAGES)
def test_main_pages_have_no_horizontal_overflow_at_phone_width(world: World, owner_url: str, browser,
                                                               path: str) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(owner_url + path.format(twin=world.twin))
        page.wait_for_selector("#live.on")
        measured = page.evaluate(OVERFLOW)
        assert measured["width"] <= PHONE["width"]
        assert measured["scroll"] <= measured["width"], f"{path} scrolls sideways: {measured}"
        assert measured["wide"] == [], f"{path}: wider than the phone: {measured['wide']}"
        assert errors == []
    finally:
        context.close()
