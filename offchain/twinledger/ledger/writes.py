"""Sending a transaction built by `transactions` and reading what it logged; a refusal is its decoded
custom error, with the names of the permissions an `Unauthorized` account lacks. The CLI adds its
spinner around `send`; the web client calls it as it is. The party writes below (roles, scopes, the
permission matrix, ownership) send exactly the transactions the CLI's `role` and `scope` commands build."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from ..chain.connection import TwinLedgerChain
from ..chain.errors import ContractRevert
from . import transactions
from .names import permission_names
from .twinview import LookupFailed, TwinView


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


# ---- parties ---------------------------------------------------------------------------------


def grant_role(chain: TwinLedgerChain, twin: int, role: bytes, account: str) -> TxReceipt:
    return send(chain, transactions.grant_role(chain, twin, role, account))


def revoke_role(chain: TwinLedgerChain, twin: int, role: bytes, account: str) -> TxReceipt:
    return send(chain, transactions.revoke_role(chain, twin, role, account))


def scope_components(view: TwinView, texts: Sequence[str]) -> list[bytes]:
    """Component ids for a scope (names, AML IDs or 0x ids), as `scope set` resolves them: each one
    still in place, at least one (lifting a scope is `clear_scope`)."""
    if not texts:
        raise LookupFailed(f"a scope names at least one component of twin {view.twin_id}; to lift it, clear it")
    resolved = [view.resolve_component(t) for t in texts]
    inactive = [c.name for c in resolved if not c.active]
    if inactive:
        raise LookupFailed(f"ComponentNotActive: {', '.join(inactive)} no longer in place on twin {view.twin_id}")
    return list(dict.fromkeys(c.id for c in resolved))


def set_scope(chain: TwinLedgerChain, twin: int, account: str, components: Sequence[bytes]) -> TxReceipt:
    return send(chain, transactions.set_scope(chain, twin, account, components))


def clear_scope(chain: TwinLedgerChain, twin: int, account: str) -> TxReceipt:
    return send(chain, transactions.clear_scope(chain, twin, account))


def set_permissions(chain: TwinLedgerChain, twin: int, role: bytes, permissions: int) -> TxReceipt:
    return send(chain, transactions.set_permissions(chain, twin, role, permissions))


def reset_permissions(chain: TwinLedgerChain, twin: int, role: bytes) -> TxReceipt:
    return send(chain, transactions.reset_permissions(chain, twin, role))


def offer_ownership(chain: TwinLedgerChain, twin: int, account: str, *, keep: bool) -> TxReceipt:
    return send(chain, transactions.offer_ownership(chain, twin, account, keep=keep))


def accept_ownership(chain: TwinLedgerChain, twin: int) -> TxReceipt:
    return send(chain, transactions.accept_ownership(chain, twin))
