"""Sending a transaction built by `transactions` and reading what it logged; a refusal is its decoded
custom error, with the names of the permissions an `Unauthorized` account lacks. The CLI adds its
spinner around `send`; the web client calls it as it is."""
from __future__ import annotations

from typing import Any

from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from ..chain.connection import TwinLedgerChain
from ..chain.errors import ContractRevert
from . import transactions
from .names import permission_names


def explain(revert: ContractRevert) -> ContractRevert:
    """Add permission names to an `Unauthorized` revert line."""
    if revert.error_name != "Unauthorized" or "permissions" not in revert.error_args and "permission" not in revert.error_args:
        return revert
    mask = revert.error_args.get("permissions", revert.error_args.get("permission", 0))
    out = ContractRevert(revert.error_name, revert.error_args, revert.raw)
    out.args = (f"{revert} — missing {'|'.join(permission_names(int(mask)))}",)
    return out


def send(chain: TwinLedgerChain, fn: ContractFunction) -> TxReceipt:
    """Send one transaction as the chain's account; a revert raises its decoded, explained custom error."""
    try:
        return chain.sender.transact(fn)
    except ContractRevert as exc:
        raise explain(exc) from None


def events_in(contract: Any, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
    return [dict(e["args"]) for e in contract.events[name]().process_receipt(receipt, errors=DISCARD)]


def call_program(chain: TwinLedgerChain, twin: int, component: bytes, program: bytes, scaled: list[int]) -> int:
    """Queue a program call whose values were checked (`programs.check_arguments`); returns its id."""
    receipt = send(chain, transactions.call_program(chain, twin, component, program, scaled))
    return int(events_in(chain.spec, receipt, "ProgramCalled")[0]["callId"])
