"""The parties page in a real browser: an OWNER (who holds ROLE_ADMIN) revokes a role, edits a
component scope and a row of the permission matrix, each change read back from the chain through the
typed ledger views; an account without ROLE_ADMIN and a read-only server are refused in one line;
ownership moves in two steps, offered on one server and accepted on a second one acting for the
other account. After `test_web_pages.py` (file order): it changes parties, and hands ownership back."""
from __future__ import annotations

import re
import time
import urllib.error
import urllib.request

import pytest

from twinledger.ledger.contracts import permissions_of, roles_of, scope_of
from twinledger.ledger.names import PERMISSIONS, role_id
from twinledger.ledger.twinview import load_twin

from web_support import AUDITOR, MANUFACTURER, OWNER, World, addr

pytestmark = pytest.mark.timeout(600)
NEWCOMER = 8  # an account the tests give roles to and take them from


def bit(name: str) -> int:
    return 1 << PERMISSIONS.index(name)


def parties_page(tab, url: str, twin: int, until: str | None = None):
    """The parties page once the live channel is up and (after a CLI change) `until` is in it."""
    deadline = time.monotonic() + 30
    tab.page.goto(f"{url}/twins/{twin}/parties")
    tab.page.wait_for_selector("#live.on")
    while until and not tab.page.locator(until).count():
        assert time.monotonic() < deadline, f"{until} never appeared on the parties page"
        time.sleep(0.5)
        tab.page.reload()
        tab.page.wait_for_selector("#live.on")
    return tab.page


def done(page) -> str:
    line = page.locator("#parties-result p, .result p").first
    line.wait_for()
    assert "ok" in (line.get_attribute("class") or ""), line.inner_text()
    return line.inner_text()


def test_owner_revokes_a_role(world: World, owner_url: str, tab) -> None:
    who = addr(NEWCOMER)
    world.tl(OWNER, f"role grant {world.twin} DISTRIBUTOR {who}")
    world.tl(OWNER, f"role grant {world.twin} AUDITOR {who}")
    row = f'tr[data-account="{who}"]'
    page = parties_page(tab, owner_url, world.twin, f'{row} form.revoke input[value="DISTRIBUTOR"]')
    page.locator(row).locator("form.revoke", has=page.locator('input[value="DISTRIBUTOR"]')).locator("button").click()
    assert "revoked DISTRIBUTOR" in done(page)
    chain = world.stack.chain()
    held = roles_of(chain, world.twin, who)
    assert role_id("DISTRIBUTOR") not in held and role_id("AUDITOR") in held
    assert tab.errors == []


def test_owner_edits_a_component_scope(world: World, owner_url: str, tab) -> None:
    who = addr(NEWCOMER)
    if role_id("AUDITOR") not in roles_of(world.stack.chain(), world.twin, who):
        world.tl(OWNER, f"role grant {world.twin} AUDITOR {who}")
    page = parties_page(tab, owner_url, world.twin, f'#scope-edit option[value="{who}"]')
    form = page.locator("#scope-edit form")
    form.locator("select[name=account]").select_option(who)
    for name in ("tank_level_a", "fill_valve"):
        form.locator("label.check", has_text=re.compile(rf"^\s*{name}\s*$")).locator("input").check()
    form.locator("button", has_text="Set the scope").click()
    assert "is scoped to" in done(page)
    chain = world.stack.chain()
    assert scope_of(chain, world.twin, who).scoped
    view = load_twin(chain, world.stack.store(), world.twin)
    member = next(m for m in view.members if m.account == who)
    assert sorted(view.component_label(c) for c in member.scope) == ["fill_valve", "tank_level_a"]

    page = parties_page(tab, owner_url, world.twin, f'tr[data-account="{who}"] td.scope span')
    assert "tank_level_a" in page.locator(f'tr[data-account="{who}"] td.scope').inner_text()
    form = page.locator("#scope-edit form")
    form.locator("select[name=account]").select_option(who)
    form.locator("button", has_text="Lift the scope").click()
    page.locator("#scope-edit .result p.ok").wait_for()
    assert not scope_of(chain, world.twin, who).scoped
    assert tab.errors == []


def test_owner_edits_the_permission_matrix(world: World, owner_url: str, tab) -> None:
    chain = world.stack.chain()
    role = role_id("DISTRIBUTOR")
    default = permissions_of(chain, world.twin, role)
    assert not default & bit("DOC_CREATE")
    page = parties_page(tab, owner_url, world.twin)
    row = page.locator('#role-matrix tr[data-role="DISTRIBUTOR"]')
    row.locator('input[value="DOC_CREATE"]').check()
    row.locator("button.save").click()
    assert "DISTRIBUTOR may now" in done(page)
    assert permissions_of(chain, world.twin, role) == default | bit("DOC_CREATE")
    assert permissions_of(chain, world.twin, role_id("AUDITOR")) == bit("DOC_READ") | bit("SENSOR_READ")  # untouched

    page = parties_page(tab, owner_url, world.twin)
    row = page.locator('#role-matrix tr[data-role="DISTRIBUTOR"]')
    assert row.locator('input[value="DOC_CREATE"]').is_checked()  # the page shows the chain's matrix
    row.locator("button.reset").click()
    assert "default permissions again" in done(page)
    assert permissions_of(chain, world.twin, role) == default
    assert tab.errors == []


def _post(url: str, token: str, body: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": token, "HX-Request": "true"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _token(url: str) -> str:
    html = urllib.request.urlopen(url, timeout=30).read().decode()
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def test_an_account_without_role_admin_and_a_read_only_server_are_refused(world: World, auditor_url: str,
                                                                          tab) -> None:
    auditor = world.serve(AUDITOR)  # may write, but holds no ROLE_ADMIN
    page = parties_page(tab, auditor.url, world.twin)
    assert page.locator("#parties-refused").inner_text() == (
        f"Changing parties is refused: {addr(AUDITOR)} lacks ROLE_ADMIN on this twin.")
    assert page.locator("form.revoke, #scope-edit, #grant, #role-matrix input").count() == 0
    chain = world.stack.chain()
    before = roles_of(chain, world.twin, addr(MANUFACTURER))
    status, text = _post(f"{auditor.url}/twins/{world.twin}/parties/revoke", _token(auditor.url + "/"),
                         f"role=MANUFACTURER&account={addr(MANUFACTURER)}")
    line = re.sub(r"<[^>]+>", "", text).strip()
    assert status == 200 and "Unauthorized" in line and "ROLE_ADMIN" in line and "\n" not in line
    assert roles_of(chain, world.twin, addr(MANUFACTURER)) == before

    page = parties_page(tab, auditor_url, world.twin)
    assert "read-only" in page.locator("#parties-refused").inner_text()
    assert page.locator("form.revoke, #scope-edit, #grant").count() == 0
    status, text = _post(f"{auditor_url}/twins/{world.twin}/parties/permissions", _token(auditor_url + "/"),
                         "role=AUDITOR&permission=DOC_CREATE")
    assert status == 403 and text.startswith("refused: this server is read-only")
    assert permissions_of(chain, world.twin, role_id("AUDITOR")) == bit("DOC_READ") | bit("SENSOR_READ")


def test_ownership_is_offered_then_accepted_by_the_other_account(world: World, owner_url: str, tab) -> None:
    chain, new_owner = world.stack.chain(), addr(MANUFACTURER)
    page = parties_page(tab, owner_url, world.twin)
    page.fill("#offer-owner input[name=account]", new_owner)
    page.click("#offer-owner button")
    assert "it becomes theirs when they accept" in done(page)
    assert role_id("OWNER") not in roles_of(chain, world.twin, new_owner)  # an offer alone moves nothing

    other = world.serve(MANUFACTURER)
    page = parties_page(tab, other.url, world.twin, "#accept-owner")
    assert new_owner in page.locator("#offer").inner_text()
    page.click("#accept-owner")
    assert "is now an OWNER" in done(page)
    assert role_id("OWNER") in roles_of(chain, world.twin, new_owner)
    assert role_id("OWNER") not in roles_of(chain, world.twin, addr(OWNER))  # handed over, not shared
    assert tab.errors == []
    # hand it back for the files after this one
    world.tl(MANUFACTURER, f"role offer-owner {world.twin} {addr(OWNER)}")
    world.tl(OWNER, f"role accept-owner {world.twin}")
    assert role_id("OWNER") in roles_of(chain, world.twin, addr(OWNER))
