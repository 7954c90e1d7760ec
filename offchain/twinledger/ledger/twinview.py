"""A twin as the chain holds it, read into plain dataclasses for `twin show`, the resolvers and history.

The contracts keep ids, not lists, so the lists come from events (`ComponentAdded`, `ProgramSet`,
`DocumentAdded`, `SourceAdded`, `FeedRegistered`, `TwinRoleGranted`) and the current state of each item
from the contracts' views. Names the chain does not keep (AML IDs, tags, program names, parameter
decimals) come from the twin's latest specification file, fetched from IPFS and checked against its
CID; without it the view still works and shows ids instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from eth_utils import keccak

from ..chain.connection import TwinLedgerChain
from ..chain.errors import ChainError
from ..formats.cids import unpack
from ..formats.aml import AmlError, Program, TwinSpec, parse_aml
from ..crypto import CryptoError
from .events import ChainEvent, EventReader
from . import contracts
from .names import parse_bytes32, role_name
from .sharing import account_key, spec_plaintext

ZERO32 = bytes(32)
ZERO_ADDRESS = "0x" + "0" * 40


class LookupFailed(ChainError):
    """An unknown twin, component, program or document: one readable line."""


def require_twin(chain: TwinLedgerChain, twin: int) -> None:
    if not contracts.twin_exists(chain, twin):
        raise LookupFailed(f"TwinNotFound: there is no twin {twin} (twins are 1..{contracts.twin_count(chain)})")


def bytes32_text(value: bytes) -> str:
    """A bytes32 that holds short UTF-8 (a kind, a parameter name) as text, else as hex."""
    raw = bytes(value).rstrip(b"\0")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    return text if text and text.isprintable() else "0x" + bytes(value).hex()


@dataclass(frozen=True)
class VersionInfo:
    index: int
    cid: str
    digest: bytes
    author: str
    time: int


@dataclass(frozen=True)
class ComponentInfo:
    id: bytes
    name: str
    kind: str
    kind_raw: bytes
    parent: bytes
    active: bool
    replaced_by: bytes
    added_at: int
    aml_id: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class ParamInfo:
    name: str
    raw_name: bytes
    min: int  # scaled, as on chain
    max: int
    decimals: int | None  # None: unknown (no specification file)
    unit: str = ""

    def human(self, scaled: int) -> str:
        if self.decimals is None:
            return str(scaled)
        return f"{Decimal(scaled).scaleb(-self.decimals):f}"

    @property
    def range_text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"[{self.human(self.min)}, {self.human(self.max)}]{unit}"

    @property
    def bounds_text(self) -> str:
        return f"{self.name} ∈ {self.range_text}"


@dataclass(frozen=True)
class ProgramInfo:
    component: bytes
    program_id: bytes
    name: str | None
    enabled: bool
    revision: int
    params: tuple[ParamInfo, ...]


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: int
    component: bytes
    name: str
    archived: bool
    created_at: int
    versions: tuple[VersionInfo, ...]


@dataclass(frozen=True)
class SourceInfo:
    source_id: int
    owner: str
    removed: bool
    uri: str
    description: str


@dataclass(frozen=True)
class FeedInfo:
    feed_id: int
    component: bytes
    device_key: str
    next_seq: int
    status: int


@dataclass(frozen=True)
class MemberInfo:
    account: str
    roles: tuple[bytes, ...]
    scoped: bool
    scope: tuple[bytes, ...]
    has_key: bool


@dataclass
class TwinView:
    twin_id: int
    name: str
    device_id: bytes
    phase: int
    parent: int
    created_at: int
    spec_versions: list[VersionInfo]
    components: list[ComponentInfo] = field(default_factory=list)  # every component ever added, in order
    programs: list[ProgramInfo] = field(default_factory=list)
    documents: list[DocumentInfo] = field(default_factory=list)
    sources: list[SourceInfo] = field(default_factory=list)
    feeds: list[FeedInfo] = field(default_factory=list)
    members: list[MemberInfo] = field(default_factory=list)
    events: list[ChainEvent] = field(default_factory=list)
    aml: TwinSpec | None = None
    aml_problem: str | None = None  # why the specification file could not be read

    @property
    def active_components(self) -> list[ComponentInfo]:
        return [c for c in self.components if c.active]

    def component_by_id(self, cid: bytes) -> ComponentInfo | None:
        return next((c for c in self.components if c.id == bytes(cid)), None)

    def component_label(self, cid: bytes) -> str:
        if bytes(cid) == ZERO32:
            return "(twin)"
        c = self.component_by_id(cid)
        return c.name if c else "0x" + bytes(cid).hex()[:8] + "…"

    def party_label(self, address: str) -> str:
        """An account by its roles on this twin ("OWNER 0x7099…79C8"), or by its short address."""
        member = next((m for m in self.members if m.account.lower() == str(address).lower()), None)
        roles = "+".join(role_name(r) for r in member.roles) if member else ""
        return f"{roles} {address[:6]}…{address[-4:]}".strip()

    def program_label(self, component: bytes, pid: bytes) -> str:
        """component.program by name, or the program id's first bytes when the specification is not readable."""
        program = self.program(bytes(component), bytes(pid))
        name = program.name if program and program.name else "0x" + bytes(pid).hex()[:8] + "…"
        return f"{self.component_label(component)}.{name}"

    def current(self, cid: bytes) -> bytes:
        """Follow `replacedBy` to the part that is in place now."""
        seen: set[bytes] = set()
        c = self.component_by_id(cid)
        while c is not None and not c.active and c.replaced_by != ZERO32 and c.id not in seen:
            seen.add(c.id)
            c = self.component_by_id(c.replaced_by)
        return c.id if c else bytes(cid)

    def lineage(self, cid: bytes) -> list[bytes]:
        """`cid` and every component it replaced, newest first."""
        chain, cur = [bytes(cid)], bytes(cid)
        while (prev := next((c.id for c in self.components if c.replaced_by == cur and c.id not in chain), None)):
            chain.append(prev)
            cur = prev
        return chain

    def resolve_component(self, text: str) -> ComponentInfo:
        """A component by 0x id, AML ID or name (an active one first)."""
        raw = parse_bytes32(text)
        for candidate in ([raw] if raw else []) + [keccak(text=text)]:
            found = self.component_by_id(candidate)
            if found:
                return found
        active = [c for c in self.active_components if c.name == text]
        if len(active) == 1:
            return active[0]
        if len(active) > 1:
            ids = ", ".join(c.aml_id or "0x" + c.id.hex() for c in active)
            raise LookupFailed(f"component name {text!r} is ambiguous on twin {self.twin_id}: use an AML ID ({ids})")
        gone = [c for c in self.components if c.name == text]
        if gone:
            return gone[-1]
        raise LookupFailed(f"no component {text!r} on twin {self.twin_id} (give a name, an AML ID or a 0x id)")

    def aml_programs_for(self, component: bytes) -> list[Program]:
        """The specification's programs of `component` or of a part it replaced (newest first)."""
        if self.aml is None:
            return []
        lineage = self.lineage(component)
        return sorted((p for p in self.aml.programs if p.component_id in lineage),
                      key=lambda p: lineage.index(p.component_id))

    def aml_program(self, component: bytes, name: str) -> Program | None:
        return next((p for p in self.aml_programs_for(component) if p.name == name), None)

    def program(self, component: bytes, program_id: bytes) -> ProgramInfo | None:
        return next((p for p in self.programs if p.component == component and p.program_id == program_id), None)


def program_id(component: bytes, name: str) -> bytes:
    """Ids this CLI registers programs under (docs/aml.md `Program.program_id`)."""
    return keccak(bytes(component) + name.encode("utf-8"))


# ------------------------------------------------------------------------------------------ loading


def load_twin(chain: TwinLedgerChain, store: Any, twin: int, reader: EventReader | None = None,
              with_aml: bool = True, private_key: bytes | None = None) -> TwinView:
    """The twin as the chain holds it. An encrypted specification is opened with `private_key`
    (default: the key of the account `chain` acts as)."""
    require_twin(chain, twin)
    info = contracts.twin_info(chain, twin)
    view = TwinView(twin, info.name, info.device_id, info.phase, info.parent, info.created_at,
                    [spec_version(chain, twin, i) for i in range(info.spec_versions)])
    reader = reader or EventReader(chain)
    view.events = reader.twin_events(twin, anchors=False)
    if with_aml:
        view.aml, view.aml_problem = _latest_aml(chain, store, view,
                                                 account_key(chain) if private_key is None else private_key)
    view.components = [_component(chain, view, e.args["component"]) for e in _named(view.events, "ComponentAdded")]
    view.programs = _programs(chain, view)
    view.documents = [_document(chain, e.args["docId"]) for e in _named(view.events, "DocumentAdded")]
    view.sources = [_source(chain, e.args["sourceId"]) for e in _named(view.events, "SourceAdded")]
    view.feeds = [_feed(chain, e.args["feedId"]) for e in _named(view.events, "FeedRegistered")]
    view.members = _members(chain, view)
    return view


def _named(events: list[ChainEvent], name: str) -> list[ChainEvent]:
    return [e for e in events if e.name == name]


def spec_version(chain: TwinLedgerChain, twin: int, index: int) -> VersionInfo:
    v = contracts.spec_version(chain, twin, index)
    return VersionInfo(index, unpack(v.cid_digest, v.codec), v.digest, v.author, v.time)


def fetch_spec(chain: TwinLedgerChain, store: Any, twin: int, version: VersionInfo, private_key: bytes | None,
               source: str = "specification") -> TwinSpec:
    """Fetch, check against its on-chain digest, decrypt if sealed (sharing.spec_plaintext) and parse one
    specification version; the store checks every block against the CID."""
    data = store.cat(version.cid)
    if keccak(data) != bytes(version.digest):
        raise LookupFailed(f"{source} v{version.index} ({version.cid}): content does not match its on-chain digest")
    data = spec_plaintext(chain, store, twin, version.index, data, private_key)
    return parse_aml(data, source=f"{source} v{version.index} ({version.cid})")


def _latest_aml(chain: TwinLedgerChain, store: Any, view: TwinView,
                private_key: bytes | None) -> tuple[TwinSpec | None, str | None]:
    from ..ipfs import IpfsError

    try:
        return fetch_spec(chain, store, view.twin_id, view.spec_versions[-1], private_key), None
    except CryptoError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    except (IpfsError, AmlError, LookupFailed, OSError, ValueError) as exc:
        return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _component(chain: TwinLedgerChain, view: TwinView, cid: bytes) -> ComponentInfo:
    c = contracts.component(chain, view.twin_id, cid)
    aml = next((a for a in view.aml.components if a.component_id == bytes(cid)), None) if view.aml else None
    return ComponentInfo(bytes(cid), c.name, bytes32_text(c.kind), c.kind, c.parent, c.active, c.replaced_by, c.added_at,
                         aml.aml_id if aml else None, aml.tag if aml else None)


def _programs(chain: TwinLedgerChain, view: TwinView) -> list[ProgramInfo]:
    keys = list(dict.fromkeys((bytes(e.args["component"]), bytes(e.args["program"]))
                              for e in _named(view.events, "ProgramSet")))
    programs = []
    for component, pid in keys:
        state = contracts.program_state(chain, view.twin_id, component, pid)
        bounds = contracts.program_bounds(chain, view.twin_id, component, pid)
        aml = next((p for p in view.aml_programs_for(component) if program_id(component, p.name) == pid), None)
        params = tuple(_param(n, lo, hi, aml) for n, lo, hi in zip(bounds.names, bounds.mins, bounds.maxs))
        programs.append(ProgramInfo(component, pid, aml.name if aml else None, state.enabled, state.revision, params))
    return programs


def _param(raw_name: bytes, lo: int, hi: int, aml: Program | None) -> ParamInfo:
    name = bytes32_text(raw_name)
    spec = next((p for p in aml.params if p.name == name), None) if aml else None
    return ParamInfo(name, raw_name, lo, hi, spec.bounds.decimals if spec else None, spec.bounds.unit if spec else "")


def document_versions(chain: TwinLedgerChain, doc_id: int, count: int) -> tuple[VersionInfo, ...]:
    out = []
    for i in range(count):
        v = contracts.document_version(chain, doc_id, i)
        out.append(VersionInfo(i, unpack(v.cid_digest, v.codec), v.digest, v.author, v.time))
    return tuple(out)


def _document(chain: TwinLedgerChain, doc_id: int) -> DocumentInfo:
    d = contracts.document(chain, doc_id)
    return DocumentInfo(doc_id, d.component, d.name, d.archived, d.created_at, document_versions(chain, doc_id, d.versions))


def _source(chain: TwinLedgerChain, source_id: int) -> SourceInfo:
    s = contracts.source(chain, source_id)
    return SourceInfo(source_id, s.owner, s.removed, s.uri, s.description)


def _feed(chain: TwinLedgerChain, feed_id: int) -> FeedInfo:
    f = contracts.feed(chain, feed_id)
    return FeedInfo(feed_id, f.component, f.device_key, f.next_seq, f.status)


def _members(chain: TwinLedgerChain, view: TwinView) -> list[MemberInfo]:
    accounts = list(dict.fromkeys(e.args["account"] for e in view.events if e.name in ("TwinRoleGranted", "TwinRoleRevoked")))
    scopes = {e.args["account"]: tuple(bytes(c) for c in e.args["components"]) for e in _named(view.events, "ScopeSet")}
    members = []
    for account in accounts:
        roles = contracts.roles_of(chain, view.twin_id, account)
        if not roles:
            continue
        scoped = contracts.scope_of(chain, view.twin_id, account).scoped
        has_key = bool(contracts.public_key_of(chain, account))
        members.append(MemberInfo(account, roles, scoped, scopes.get(account, ()) if scoped else (), has_key))
    return members
