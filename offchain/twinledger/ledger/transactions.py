"""Every state-changing contract function the package sends, built here and sent by `chain.sender`
(or the CLI's `send`): a change of a contract's function is mended here, once."""
from __future__ import annotations

from collections.abc import Sequence

from web3.contract.contract import ContractFunction

from ..chain.connection import TwinLedgerChain

# ---- Specification -------------------------------------------------------------------------


def create_twin(chain: TwinLedgerChain, name: str, device_id: bytes, cid_digest: bytes, codec: int,
                digest: bytes) -> ContractFunction:
    return chain.spec.functions.createTwin(name, device_id, cid_digest, codec, digest)


def create_twin_at(chain: TwinLedgerChain, expected_id: int, name: str, device_id: bytes, cid_digest: bytes,
                   codec: int, digest: bytes) -> ContractFunction:
    """`createTwin` that creates twin `expected_id` or reverts `IdTaken` (for content sealed for that id)."""
    return chain.spec.functions.createTwinAt(expected_id, name, device_id, cid_digest, codec, digest)


def update_spec(chain: TwinLedgerChain, twin: int, cid_digest: bytes, codec: int, digest: bytes) -> ContractFunction:
    return chain.spec.functions.updateSpec(twin, cid_digest, codec, digest)


def add_components(chain: TwinLedgerChain, twin: int, ids: Sequence[bytes], parents: Sequence[bytes],
                   names: Sequence[str], kinds: Sequence[bytes]) -> ContractFunction:
    return chain.spec.functions.addComponents(twin, list(ids), list(parents), list(names), list(kinds))


def replace_component(chain: TwinLedgerChain, twin: int, old: bytes, new: bytes, name: str,
                      kind: bytes) -> ContractFunction:
    return chain.spec.functions.replaceComponent(twin, old, new, name, kind)


def set_program(chain: TwinLedgerChain, twin: int, component: bytes, program: bytes, names: Sequence[bytes],
                mins: Sequence[int], maxs: Sequence[int]) -> ContractFunction:
    return chain.spec.functions.setProgram(twin, component, program, list(names), list(mins), list(maxs))


def set_phase(chain: TwinLedgerChain, twin: int, phase: int) -> ContractFunction:
    return chain.spec.functions.setPhase(twin, phase)


def add_document(chain: TwinLedgerChain, twin: int, component: bytes, name: str, cid_digest: bytes, codec: int,
                 digest: bytes) -> ContractFunction:
    return chain.spec.functions.addDocument(twin, component, name, cid_digest, codec, digest)


def add_document_at(chain: TwinLedgerChain, expected_id: int, twin: int, component: bytes, name: str,
                    cid_digest: bytes, codec: int, digest: bytes) -> ContractFunction:
    """`addDocument` that creates document `expected_id` or reverts `IdTaken` (for content sealed for that id)."""
    return chain.spec.functions.addDocumentAt(expected_id, twin, component, name, cid_digest, codec, digest)


def add_document_version(chain: TwinLedgerChain, twin: int, doc_id: int, cid_digest: bytes, codec: int,
                         digest: bytes) -> ContractFunction:
    return chain.spec.functions.addDocumentVersion(twin, doc_id, cid_digest, codec, digest)


def add_source(chain: TwinLedgerChain, twin: int, uri: str, description: str) -> ContractFunction:
    return chain.spec.functions.addSource(twin, uri, description)


def remove_source(chain: TwinLedgerChain, twin: int, source_id: int) -> ContractFunction:
    return chain.spec.functions.removeSource(twin, source_id)


def call_program(chain: TwinLedgerChain, twin: int, component: bytes, program: bytes,
                 params: Sequence[int]) -> ContractFunction:
    return chain.spec.functions.callProgram(twin, component, program, list(params))


def mark_delivered(chain: TwinLedgerChain, call_id: int) -> ContractFunction:
    return chain.spec.functions.markDelivered(call_id)


def complete_call(chain: TwinLedgerChain, call_id: int, ok: bool, result_cid: bytes, codec: int) -> ContractFunction:
    return chain.spec.functions.completeCall(call_id, ok, result_cid, codec)


# ---- SensorFeed ----------------------------------------------------------------------------


def register_feed(chain: TwinLedgerChain, twin: int, component: bytes, device: str,
                  schema_cid: bytes) -> ContractFunction:
    return chain.feeds.functions.registerFeed(twin, component, device, schema_cid)


def retire_feed(chain: TwinLedgerChain, feed_id: int, successor: int) -> ContractFunction:
    return chain.feeds.functions.retireFeed(feed_id, successor)


# ---- Authorization -------------------------------------------------------------------------


def grant_role(chain: TwinLedgerChain, twin: int, role: bytes, account: str) -> ContractFunction:
    return chain.auth.functions.grantTwinRole(twin, role, account)


def revoke_role(chain: TwinLedgerChain, twin: int, role: bytes, account: str) -> ContractFunction:
    return chain.auth.functions.revokeTwinRole(twin, role, account)


def offer_ownership(chain: TwinLedgerChain, twin: int, account: str, *, keep: bool) -> ContractFunction:
    """Offer ownership of `twin` to `account`; `keep`: as a co-owner, the offerer stays an owner."""
    offer = chain.auth.functions.offerCoOwnership if keep else chain.auth.functions.offerOwnership
    return offer(twin, account)


def accept_ownership(chain: TwinLedgerChain, twin: int) -> ContractFunction:
    return chain.auth.functions.acceptOwnership(twin)


def set_scope(chain: TwinLedgerChain, twin: int, account: str, components: Sequence[bytes]) -> ContractFunction:
    return chain.auth.functions.setScope(twin, account, list(components))


def clear_scope(chain: TwinLedgerChain, twin: int, account: str) -> ContractFunction:
    return chain.auth.functions.clearScope(twin, account)


def set_permissions(chain: TwinLedgerChain, twin: int, role: bytes, permissions: int) -> ContractFunction:
    """One row of the twin's permission matrix: `role`'s permission bits on `twin` (OWNER only)."""
    return chain.auth.functions.setPermissions(twin, role, permissions)


def reset_permissions(chain: TwinLedgerChain, twin: int, role: bytes) -> ContractFunction:
    """`role` on `twin` falls back to its global default permissions (OWNER only)."""
    return chain.auth.functions.resetPermissions(twin, role)


def register_key(chain: TwinLedgerChain, public_key: bytes) -> ContractFunction:
    return chain.auth.functions.registerKey(public_key)


def publish_key_envelope(chain: TwinLedgerChain, twin: int, component: bytes, subject: bytes, epoch: int,
                         cid_digest: bytes) -> ContractFunction:
    return chain.auth.functions.publishKeyEnvelope(twin, component, subject, epoch, cid_digest)
