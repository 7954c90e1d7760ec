"""End to end: `role grant|revoke|list`, a refused outsider, `scope set|clear`, `key register|show`."""
from __future__ import annotations

import pytest
from cli_harness import AUDITOR, MAINTAINER, OUTSIDER, Twinledger, address

from cli_harness import AML_V1

from twinledger.chain.devnet import test_account as account_of
from twinledger.formats.aml import load_aml
from twinledger.ledger.names import ROLE_IDS
from twinledger.crypto import public_key_from_private


@pytest.fixture(scope="module")
def twin(tl: Twinledger) -> int:
    return tl.create_twin()


def test_grant_list_revoke(tl: Twinledger, twin: int) -> None:
    auth = tl.stack.chain().auth
    assert "Granted MAINTAINER" in tl("role", "grant", twin, "maintainer", address(MAINTAINER)).stdout
    tl("role", "grant", twin, "0x" + ROLE_IDS["AUDITOR"].hex(), address(AUDITOR))  # a role as bytes32
    assert auth.functions.hasTwinRole(twin, ROLE_IDS["AUDITOR"], address(AUDITOR)).call()
    listing = tl("role", "list", twin, account=None).stdout
    assert address(MAINTAINER) in listing and "MAINTAINER" in listing and "PROGRAM_CALL" in listing
    assert address(AUDITOR) in listing and "AUDITOR" in listing
    tl("role", "revoke", twin, "AUDITOR", address(AUDITOR))
    assert not auth.functions.hasTwinRole(twin, ROLE_IDS["AUDITOR"], address(AUDITOR)).call()
    assert address(AUDITOR) not in tl("role", "list", twin).stdout
    assert "RoleNotHeld" in tl.fails("role", "revoke", twin, "AUDITOR", address(AUDITOR))
    assert "OwnerRoleNotGrantable" in tl.fails("role", "grant", twin, "OWNER", address(AUDITOR))


def test_outsider_is_refused_with_the_custom_error(tl: Twinledger, twin: int) -> None:
    before = tl.block_number()
    line = tl.fails("role", "grant", twin, "AUDITOR", address(OUTSIDER), account=OUTSIDER)
    assert line.startswith("Error: reverted: Unauthorized(")
    assert address(OUTSIDER).lower() in line.lower() and "ROLE_ADMIN" in line
    assert "Unauthorized" in tl.fails("source", "add", twin, "https://x.example", account=OUTSIDER)
    assert tl.block_number() == before  # refused at estimation: nothing mined


def test_bad_role_and_address(tl: Twinledger, twin: int) -> None:
    assert "UnknownRole" in tl.fails("role", "grant", twin, "JANITOR", address(AUDITOR))
    assert "not an Ethereum address" in tl.fails("role", "grant", twin, "AUDITOR", "0x1234")


def test_scope_set_by_name_and_aml_id_then_clear(tl: Twinledger, twin: int) -> None:
    auth = tl.stack.chain().auth
    spec = load_aml(AML_V1)
    tl("role", "grant", twin, "MAINTAINER", address(MAINTAINER), ok=False)  # may already hold it
    level_id = "1eceda4b-1d8e-483f-9488-272e6ed05463"  # bottle_level by AML ID
    out = tl("scope", "set", twin, address(MAINTAINER), "fill_valve", level_id).stdout
    assert "fill_valve, bottle_level" in out
    for name in ("fill_valve", "bottle_level"):
        assert auth.functions.inScope(twin, address(MAINTAINER), spec.component(name).component_id).call()
    assert not auth.functions.inScope(twin, address(MAINTAINER), spec.component("filler").component_id).call()
    assert "fill_valve, bottle_level" in tl("role", "list", twin).stdout
    # scoped: a twin-level write is refused, a write on its component works
    assert "Unauthorized" in tl.fails("source", "add", twin, "https://x.example", account=MAINTAINER)
    tl("program", "call", twin, "fill_valve", "CloseValve", account=MAINTAINER)
    assert "no component 'nozzle'" in tl.fails("scope", "set", twin, address(MAINTAINER), "nozzle")
    tl("scope", "clear", twin, address(MAINTAINER))
    assert auth.functions.inScope(twin, address(MAINTAINER), spec.component("filler").component_id).call()


def test_key_register_publishes_the_accounts_key(tl: Twinledger) -> None:
    out = tl("key", "register", account=AUDITOR).stdout
    expected = public_key_from_private(bytes(account_of(AUDITOR).key))
    assert f"0x{expected.hex()}" in out
    assert tl.stack.chain().auth.functions.publicKeyOf(address(AUDITOR)).call() == expected
    assert tl("key", "show", address(AUDITOR), account=None).stdout.strip() == f"0x{expected.hex()}"
    assert "has no registered key" in tl.fails("key", "show", address(OUTSIDER))
