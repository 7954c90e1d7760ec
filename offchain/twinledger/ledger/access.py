"""Typed reads of who may do what on a twin, the twins around it, and one program call's state, for
the pages of the web client (each one call of a contract view)."""
from __future__ import annotations

from dataclasses import dataclass

from ..chain.connection import TwinLedgerChain
from ..formats.cids import unpack
from .twinview import ZERO32, ZERO_ADDRESS


def twin_count(chain: TwinLedgerChain) -> int:
    return int(chain.spec.functions.twinCount().call())


def can_read(chain: TwinLedgerChain, twin: int, account: str, component: bytes = ZERO32) -> bool:
    return bool(chain.auth.functions.canRead(twin, account, component).call())


def can(chain: TwinLedgerChain, twin: int, account: str, permissions: int, component: bytes = ZERO32) -> bool:
    return bool(chain.auth.functions.can(twin, account, permissions, component).call())


def effective_permissions(chain: TwinLedgerChain, twin: int, account: str) -> int:
    return int(chain.auth.functions.effectivePermissions(twin, account).call())


@dataclass(frozen=True)
class OwnershipOffer:
    to: str
    offerer: str
    keep: bool  # a co-ownership offer: the offerer stays an owner


def pending_ownership_offer(chain: TwinLedgerChain, twin: int) -> OwnershipOffer | None:
    to, offerer, keep = chain.auth.functions.pendingOwnershipOffer(twin).call()
    return None if to == ZERO_ADDRESS else OwnershipOffer(to, offerer, bool(keep))


def child_twins(chain: TwinLedgerChain, twin: int) -> list[tuple[int, str]]:
    """(id, name) of the twins whose parent is `twin`."""
    out = []
    for other in range(1, twin_count(chain) + 1):
        name, _device, _phase, parent, _created, _count = chain.spec.functions.twinInfo(other).call()
        if int(parent) == twin:
            out.append((other, name))
    return out


@dataclass(frozen=True)
class CallState:
    status: int  # CALL_STATUSES index
    result_cid: str | None


def program_call_state(chain: TwinLedgerChain, call_id: int) -> CallState:
    _twin, _component, _program, _caller, status, result, codec = chain.spec.functions.programCall(call_id).call()
    return CallState(int(status), unpack(bytes(result), codec) if codec else None)
