"""TwinAccessCall, pinned to the ABI-encoded `ITwinAccess.check`: the same answers for every kind of caller and
component (a dirty address never reaches the callee), the callee's revert bubbled up unchanged, and a target
that answers with less than two words (an account without code) refused."""

from __future__ import annotations

from typing import Any

import ape
import pytest

ZERO32 = b"\x00" * 32
COMPONENT = b"\x07" * 32
ANCHOR = 1 << 8
DOC_READ = 1 << 4


@pytest.fixture
def caller_lib(project: Any, deployer: Any) -> Any:
    return deployer.deploy(project.TestTwinAccessCall)


@pytest.mark.parametrize("permissions", [0, DOC_READ, ANCHOR, DOC_READ | ANCHOR, 2**256 - 1])
@pytest.mark.parametrize("component", [ZERO32, COMPONENT])
def test_same_answers_as_the_abi_call(
    caller_lib: Any, auth: Any, twin: int, owner: Any, outsider: Any, permissions: int, component: bytes
) -> None:
    for account in (owner, outsider):
        for t in (twin, twin + 1):
            hand = tuple(caller_lib.check(auth, t, account, permissions, component))
            assert hand == tuple(caller_lib.checkAbi(auth, t, account, permissions, component))
    assert tuple(caller_lib.check(auth, twin, owner, permissions, component)) == (True, False)


def test_a_reverting_callee_bubbles_its_error(caller_lib: Any, owner: Any) -> None:
    with ape.reverts(caller_lib.Refused, twin=5):  # the harness's own `check` refuses
        caller_lib.check(caller_lib.address, 5, owner, 0, ZERO32)


def test_an_account_without_code_is_refused(caller_lib: Any, outsider: Any, owner: Any) -> None:
    with ape.reverts():
        caller_lib.check(outsider.address, 1, owner, 0, ZERO32)
