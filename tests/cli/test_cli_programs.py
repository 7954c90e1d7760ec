"""End to end: `program call|status|list`: bounds checked before sending, then by the contract."""
from __future__ import annotations

import re

import pytest
from cli_harness import AML_V1, MAINTAINER, OUTSIDER, OWNER, Twinledger, address

from twinledger.chain.devnet import test_account as account_of
from twinledger.chain.errors import ContractRevert
from twinledger.formats.aml import load_aml
from twinledger.ledger.twinview import program_id
from twinledger.formats.cids import pack

DEVICE_AGENT = 6


@pytest.fixture(scope="module")
def twin(tl: Twinledger) -> int:
    return tl.create_twin()


def _nonce(tl: Twinledger, index: int = OWNER) -> int:
    return tl.stack.chain().w3.eth.get_transaction_count(account_of(index).address)


@pytest.mark.parametrize("args, expected", [
    (("position=100.1",), "ParameterOutOfBounds: position=100.1 is outside [0.0, 100.0] %"),
    (("position=-1",), "ParameterOutOfBounds: position=-1"),
    (("position=12.25",), "more than 1 decimal"),
    (("position=abc",), "not a number"),
    ((), "missing parameter(s) position"),
    (("position=5", "speed=2"), "unknown parameter(s) speed"),
])
def test_bad_values_are_refused_before_sending(tl: Twinledger, twin: int, args: tuple, expected: str) -> None:
    nonce, block = _nonce(tl), tl.block_number()
    line = tl.fails("program", "call", twin, "fill_valve", "SetValvePosition", *args)
    assert expected in line
    assert (_nonce(tl), tl.block_number()) == (nonce, block)  # no transaction


def test_raw_values_are_checked_too(tl: Twinledger, twin: int) -> None:
    line = tl.fails("program", "call", twin, "fill_valve", "SetFillRate", "rate=4001", "--raw")
    assert "ParameterOutOfBounds: rate=4001 is outside [50, 4000] (on-chain integers)" in line


def test_the_contract_checks_again(tl: Twinledger, twin: int) -> None:
    chain = tl.stack.chain(OWNER)
    valve = load_aml(AML_V1).component("fill_valve").component_id
    with pytest.raises(ContractRevert, match="ParameterOutOfBounds"):
        chain.sender.transact(chain.spec.functions.callProgram(twin, valve, program_id(valve, "SetValvePosition"), [1001]))


def test_in_bounds_call_is_queued_and_has_a_status(tl: Twinledger, twin: int) -> None:
    out = tl("program", "call", twin, "fill_valve", "SetFillRate", "rate=12.5").stdout
    assert "rate ∈ [0.50, 40.00] l/min" in out and "1250" in out  # bounds and the scaled value shown
    call = int(re.search(r"Queued call (\d+)", out).group(1))
    status = tl("program", "status", call, account=None).stdout
    assert "Queued" in status and "SetFillRate" in status and "rate=12.50" in status
    assert address(OWNER) in status and "result" in status

    # the device agent completes it with a result on IPFS: status shows Done and the result CID
    tl("role", "grant", twin, "DEVICE_AGENT", address(DEVICE_AGENT))
    cid = tl.stack.store().add_bytes(b'{"rate": 12.5, "ok": true}', cid_version=1, raw_leaves=True).cid
    digest, codec = pack(cid)
    agent = tl.stack.chain(DEVICE_AGENT)
    agent.sender.transact(agent.spec.functions.completeCall(call, True, digest, codec))
    done = tl("program", "status", call).stdout
    assert "Done" in done and cid in done
    assert "Done" in tl("program", "list", twin).stdout


def test_unknown_program_component_and_call(tl: Twinledger, twin: int) -> None:
    assert "UnknownProgram" in tl.fails("program", "call", twin, "fill_valve", "OpenWide")
    assert "no component 'nozzle'" in tl.fails("program", "call", twin, "nozzle", "CloseValve")
    assert "UnknownCall" in tl.fails("program", "status", "999")


def test_a_maintainer_may_call_an_outsider_may_not(tl: Twinledger, twin: int) -> None:
    tl("role", "grant", twin, "MAINTAINER", address(MAINTAINER))
    assert "Queued call" in tl("program", "call", twin, "fill_valve", "CloseValve", account=MAINTAINER).stdout
    assert "Unauthorized" in tl.fails("program", "call", twin, "fill_valve", "CloseValve", account=OUTSIDER)
