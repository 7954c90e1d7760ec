"""The one typed read API over the three contracts: every view function, its result as a frozen dataclass.

Callers never index a result tuple: a change of a contract's outputs is mended here, once. `block`
reads at that block (None: the latest). A revert comes back as the contract's decoded custom error.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_utils import to_checksum_address
from eth_utils.abi import get_abi_output_types
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import BlockIdentifier

from ..chain.connection import TwinLedgerChain


def read(chain: TwinLedgerChain, fn: ContractFunction, block: BlockIdentifier | None = None) -> Any:
    """`fn.call()` (at `block`) with a revert turned into its decoded custom error."""
    try:
        return fn.call() if block is None else fn.call(block_identifier=block)
    except (ContractCustomError, ContractLogicError) as exc:
        data = getattr(exc, "data", None)
        data = data.get("data") if isinstance(data, dict) else data
        if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
            raise chain.decoder.decode(data) from None
        raise


# ---- Specification -------------------------------------------------------------------------


@dataclass(frozen=True)
class TwinInfo:
    name: str
    device_id: bytes
    phase: int
    parent: int
    created_at: int
    spec_versions: int


@dataclass(frozen=True)
class VersionRecord:
    """One specification or document version as stored: where its bytes are and who added them when."""

    cid_digest: bytes
    codec: int
    digest: bytes
    author: str
    time: int


@dataclass(frozen=True)
class ComponentRecord:
    exists: bool
    active: bool
    parent: bytes
    kind: bytes
    replaced_by: bytes
    added_at: int
    name: str


@dataclass(frozen=True)
class ProgramState:
    enabled: bool
    param_count: int
    revision: int


@dataclass(frozen=True)
class ProgramBounds:
    """Parameter names (bytes32) and their inclusive bounds, in call order."""

    names: tuple[bytes, ...]
    mins: tuple[int, ...]
    maxs: tuple[int, ...]


@dataclass(frozen=True)
class DocumentRecord:
    twin: int
    component: bytes
    name: str
    versions: int
    archived: bool
    created_at: int


@dataclass(frozen=True)
class SourceRecord:
    twin: int
    owner: str
    removed: bool
    uri: str
    description: str


@dataclass(frozen=True)
class CallView:
    """A program call as `Specification.programCall` returns it; `status` is a `CallStatus` number."""

    twin: int
    component: bytes
    program: bytes
    caller: str
    status: int
    result: bytes
    codec: int


def twin_exists(chain: TwinLedgerChain, twin: int, block: BlockIdentifier | None = None) -> bool:
    return bool(read(chain, chain.spec.functions.twinExists(twin), block))


def twin_count(chain: TwinLedgerChain, block: BlockIdentifier | None = None) -> int:
    return int(read(chain, chain.spec.functions.twinCount(), block))


def twin_info(chain: TwinLedgerChain, twin: int, block: BlockIdentifier | None = None) -> TwinInfo:
    name, device_id, phase, parent, created_at, count = read(chain, chain.spec.functions.twinInfo(twin), block)
    return TwinInfo(str(name), bytes(device_id), int(phase), int(parent), int(created_at), int(count))


def _version(value: Any) -> VersionRecord:
    cid, codec, digest, author, time = value
    return VersionRecord(bytes(cid), int(codec), bytes(digest), to_checksum_address(author), int(time))


def spec_version_count(chain: TwinLedgerChain, twin: int, block: BlockIdentifier | None = None) -> int:
    return int(read(chain, chain.spec.functions.specVersionCount(twin), block))


def spec_version(chain: TwinLedgerChain, twin: int, index: int, block: BlockIdentifier | None = None) -> VersionRecord:
    return _version(read(chain, chain.spec.functions.specVersion(twin, index), block))


def component(chain: TwinLedgerChain, twin: int, component_id: bytes,
              block: BlockIdentifier | None = None) -> ComponentRecord:
    exists, active, parent, kind, replaced_by, added_at, name = read(
        chain, chain.spec.functions.component(twin, component_id), block)
    return ComponentRecord(bool(exists), bool(active), bytes(parent), bytes(kind), bytes(replaced_by), int(added_at),
                           str(name))


def program_state(chain: TwinLedgerChain, twin: int, component_id: bytes, program: bytes,
                  block: BlockIdentifier | None = None) -> ProgramState:
    enabled, param_count, revision = read(chain, chain.spec.functions.programInfo(twin, component_id, program), block)
    return ProgramState(bool(enabled), int(param_count), int(revision))


def program_bounds(chain: TwinLedgerChain, twin: int, component_id: bytes, program: bytes,
                   block: BlockIdentifier | None = None) -> ProgramBounds:
    names, mins, maxs = read(chain, chain.spec.functions.programBounds(twin, component_id, program), block)
    return ProgramBounds(tuple(bytes(n) for n in names), tuple(int(m) for m in mins), tuple(int(m) for m in maxs))


def program_call(chain: TwinLedgerChain, call_id: int, block: BlockIdentifier | None = None) -> CallView:
    twin, component_id, program, caller, status, result, codec = read(
        chain, chain.spec.functions.programCall(call_id), block)
    return CallView(int(twin), bytes(component_id), bytes(program), to_checksum_address(caller), int(status),
                    bytes(result), int(codec))


def call_revision(chain: TwinLedgerChain, call_id: int, block: BlockIdentifier | None = None) -> int:
    """The program revision the call was checked against: it may move only while that revision is in force."""
    return int(read(chain, chain.spec.functions.callRevision(call_id), block))


def document_count(chain: TwinLedgerChain, block: BlockIdentifier | None = None) -> int:
    return int(read(chain, chain.spec.functions.documentCount(), block))


def document(chain: TwinLedgerChain, doc_id: int, block: BlockIdentifier | None = None) -> DocumentRecord:
    twin, component_id, name, count, archived, created_at = read(chain, chain.spec.functions.document(doc_id), block)
    return DocumentRecord(int(twin), bytes(component_id), str(name), int(count), bool(archived), int(created_at))


def document_version(chain: TwinLedgerChain, doc_id: int, index: int,
                     block: BlockIdentifier | None = None) -> VersionRecord:
    return _version(read(chain, chain.spec.functions.documentVersion(doc_id, index), block))


def source(chain: TwinLedgerChain, source_id: int, block: BlockIdentifier | None = None) -> SourceRecord:
    twin, owner, removed, uri, description = read(chain, chain.spec.functions.source(source_id), block)
    return SourceRecord(int(twin), to_checksum_address(owner), bool(removed), str(uri), str(description))


# ---- SensorFeed ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedView:
    """A feed as `SensorFeed.feed` returns it; `status` is a `FeedStatus` number."""

    twin: int
    component: bytes
    device_key: str
    next_seq: int
    head: bytes
    status: int
    schema_cid: bytes
    successor: int


def feed(chain: TwinLedgerChain, feed_id: int, block: BlockIdentifier | None = None) -> FeedView:
    v = read(chain, chain.feeds.functions.feed(feed_id), block)
    return FeedView(int(v[0]), bytes(v[1]), to_checksum_address(v[2]), int(v[3]), bytes(v[4]), int(v[5]), bytes(v[6]),
                    int(v[7]))


def feed_count(chain: TwinLedgerChain, block: BlockIdentifier | None = None) -> int:
    return int(read(chain, chain.feeds.functions.feedCount(), block))


def next_seq_of(chain: TwinLedgerChain, feed_id: int, block: BlockIdentifier | None = None) -> int:
    return int(read(chain, chain.feeds.functions.nextSeqOf(feed_id), block))


def tips_of(chain: TwinLedgerChain, feed_ids: list[int]) -> dict[int, tuple[int, bytes]]:
    """Each feed's `(nextSeqOf, headOf)` on SensorFeed, all in one JSON-RPC batch of `eth_call`s (one round
    trip, no per-call web3 formatting). A feed whose calls fail, or a provider without batches, is read call
    by call as `Anchorer._chain_tip` reads one, so any error is the one a single call raises."""
    feeds = chain.feeds
    make_batch = getattr(chain.w3.provider, "make_batch_request", None)
    responses: Any = None
    if make_batch is not None and feed_ids:
        responses = make_batch([("eth_call", [{"to": feeds.address, "data": feeds.encode_abi(name, args=[feed])},
                                              "latest"]) for feed in feed_ids for name in ("nextSeqOf", "headOf")])
    out: dict[int, tuple[int, bytes]] = {}
    for i, feed in enumerate(feed_ids):
        pair = responses[2 * i:2 * i + 2] if isinstance(responses, list) else []
        if len(pair) == 2 and all(isinstance(r.get("result"), str) and len(r["result"]) == 66 for r in pair):
            out[feed] = (int(pair[0]["result"], 16), bytes.fromhex(pair[1]["result"][2:]))
        else:
            functions = feeds.functions
            out[feed] = (int(functions.nextSeqOf(feed).call()), bytes(functions.headOf(feed).call()))
    return out


def read_many(chain: TwinLedgerChain, contract: Contract, name: str, args_list: Sequence[Sequence[Any]],
              block: BlockIdentifier | None = None) -> list[Any]:
    """`read(chain, contract.functions.<name>(*args), block)` for each of `args_list`, in one JSON-RPC batch of
    `eth_call`s. An answer that is not a result (a revert, a provider without batches) is read again alone, so
    any error is the one `read` raises."""
    make_batch = getattr(chain.w3.provider, "make_batch_request", None)
    responses: Any = None
    if make_batch is not None and args_list:
        tag = "latest" if block is None else hex(block) if isinstance(block, int) else block
        responses = make_batch([("eth_call", [{"to": contract.address, "data": contract.encode_abi(name, args=list(a))},
                                              tag]) for a in args_list])
    types = get_abi_output_types(contract.get_function_by_name(name).abi)
    out = []
    for i, args in enumerate(args_list):
        answer = responses[i] if isinstance(responses, list) and i < len(responses) else None
        result = answer.get("result") if isinstance(answer, dict) else None
        if isinstance(result, str) and len(result) > 2:
            decoded = decode(types, bytes.fromhex(result[2:]))
            out.append(decoded[0] if len(decoded) == 1 else decoded)  # as `call()` gives a single output
        else:
            out.append(read(chain, getattr(contract.functions, name)(*args), block))
    return out


BatchHeader = tuple[bytes, bytes, bytes, int, int, int]
"""`ISensorFeedProofs.BatchHeader`: (prevHead, root, cid, count, tFirst, tLast), as in the `Anchored` event."""


def head_at(chain: TwinLedgerChain, feed_id: int, seq: int, block: BlockIdentifier | None = None) -> bytes:
    """The head stored after batch `seq` (zero if not anchored)."""
    return bytes(read(chain, chain.feeds.functions.headAt(feed_id, seq), block))


def verify_batch(chain: TwinLedgerChain, feed_id: int, seq: int, header: BatchHeader,
                 block: BlockIdentifier | None = None) -> bool:
    """True iff `header` is the anchored batch `seq` (the head stored for it commits to it)."""
    return bool(read(chain, chain.feeds.functions.verifyBatch(feed_id, seq, header), block))


def verify_reading(chain: TwinLedgerChain, feed_id: int, seq: int, header: BatchHeader, reading_hash: bytes,
                   proof: list[bytes], block: BlockIdentifier | None = None) -> bool:
    """True iff the reading whose keccak256 is `reading_hash` is in anchored batch `seq` (header + proof)."""
    return bool(read(chain, chain.feeds.functions.verifyReading(feed_id, seq, header, reading_hash, proof), block))


# ---- Authorization -------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    scoped: bool
    epoch: int


def roles_of(chain: TwinLedgerChain, twin: int, account: str, block: BlockIdentifier | None = None) -> tuple[bytes, ...]:
    return tuple(bytes(r) for r in read(chain, chain.auth.functions.rolesOf(twin, account), block))


def scope_of(chain: TwinLedgerChain, twin: int, account: str, block: BlockIdentifier | None = None) -> Scope:
    scoped, epoch = read(chain, chain.auth.functions.scopeOf(twin, account), block)
    return Scope(bool(scoped), int(epoch))


def public_key_of(chain: TwinLedgerChain, account: str, block: BlockIdentifier | None = None) -> bytes:
    return bytes(read(chain, chain.auth.functions.publicKeyOf(account), block))


def effective_permissions(chain: TwinLedgerChain, twin: int, account: str,
                          block: BlockIdentifier | None = None) -> int:
    return int(read(chain, chain.auth.functions.effectivePermissions(twin, account), block))


def permissions_of(chain: TwinLedgerChain, twin: int, role: bytes, block: BlockIdentifier | None = None) -> int:
    """One row of the permission matrix: `role`'s permissions on `twin` (its own entry, else the default)."""
    return int(read(chain, chain.auth.functions.permissionsOf(twin, role), block))


def can(chain: TwinLedgerChain, twin: int, account: str, permission: int, component_id: bytes,
        block: BlockIdentifier | None = None) -> bool:
    return bool(read(chain, chain.auth.functions.can(twin, account, permission, component_id), block))


def can_read(chain: TwinLedgerChain, twin: int, account: str, component_id: bytes,
             block: BlockIdentifier | None = None) -> bool:
    return bool(read(chain, chain.auth.functions.canRead(twin, account, component_id), block))


@dataclass(frozen=True)
class OwnershipOffer:
    """A pending two-step ownership offer; `keep`: a co-ownership offer (the offerer stays an owner)."""

    to: str
    offerer: str
    keep: bool


def pending_ownership_offer(chain: TwinLedgerChain, twin: int,
                            block: BlockIdentifier | None = None) -> OwnershipOffer | None:
    to, offerer, keep = read(chain, chain.auth.functions.pendingOwnershipOffer(twin), block)
    if int(to, 16) == 0:
        return None
    return OwnershipOffer(to_checksum_address(to), to_checksum_address(offerer), bool(keep))


def child_twins(chain: TwinLedgerChain, twin: int, block: BlockIdentifier | None = None) -> list[tuple[int, str]]:
    """(id, name) of the twins whose parent is `twin` (one `twinInfo` per twin: twins are few)."""
    infos = ((other, twin_info(chain, other, block)) for other in range(1, twin_count(chain, block) + 1))
    return [(other, info.name) for other, info in infos if info.parent == twin]
