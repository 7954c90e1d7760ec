"""`twin create|show|list|history`, `spec update`, `component replace` and `phase set`."""
from __future__ import annotations

import uuid
from pathlib import Path

import click
from eth_utils import keccak
from rich.tree import Tree

from ...crypto import CryptoError, Subject
from ...formats.cids import pack
from ...ledger.provision import device_id_bytes
from ...formats.aml import TwinSpec, diff_specs, load_aml, to_bytes32
from ...ledger.sharing import account_key, describe_recipients, publish_pending, seal_first_spec, seal_version, sealed_header, \
    spec_plaintext
from ..context import CliContext
from ...ledger.events import EventReader
from ...ledger.history import describe
from ...ledger.names import FEED_STATUSES, PHASES, enum_name, phase_index, role_name
from ...ledger.specsync import Step, plan_sync, run_steps
from ...ledger.twinview import ZERO32, TwinView, bytes32_text, load_twin, program_id, spec_version
from .base import (TWIN, Stored, cell, confirm, console, content_digest, events_in, note, pass_cli, progress,
                   require_account, send, store_file, table, when)
from .documents import store_sealed
from ...ledger import contracts, transactions

AML_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
ENCRYPT_AML = click.option("--encrypt/--plain", "encrypt", default=None,
                           help="Store the specification encrypted for the parties with DOC_READ on the twin now "
                                "(default: --plain for a new twin, like the latest version for `spec update`).")


# ------------------------------------------------------------------------------------------ helpers


def execute(cli: CliContext, steps: list[Step], title: str) -> None:
    if not steps:
        return
    with progress(title, len(steps)) as advance:
        run_steps(steps, lambda fn, label: send(cli, fn, label), advance)


def tx_note(receipt) -> str:
    return f"tx {receipt['transactionHash'].to_0x_hex()[:12]}… in block {receipt['blockNumber']}"


# ------------------------------------------------------------------------------------------ twin


@click.group("twin")
def twin_group() -> None:
    """Create, inspect and list twins."""


@twin_group.command("create")
@click.option("--aml", "aml_path", type=AML_FILE, required=True, help="AutomationML specification (docs/aml.md).")
@click.option("--name", help="Twin name (default: the AML root's Name).")
@ENCRYPT_AML
@pass_cli
def twin_create(cli: CliContext, aml_path: Path, name: str | None, encrypt: bool | None) -> None:
    """Register a twin from its AML file: specification, component tree and programs with bounds.

    With --encrypt the specification is sealed for the creator alone (the only party of a new twin);
    the envelope is recorded right after the twin exists, before anyone else can join."""
    spec = load_aml(aml_path)
    require_account(cli)
    pending = None
    if encrypt:
        expected = contracts.twin_count(cli.chain) + 1
        try:
            pending = seal_first_spec(cli.chain, cli.store, expected, aml_path.read_bytes())
        except CryptoError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
        cid = cli.store.add_bytes(pending.payload, cid_version=1, raw_leaves=True).cid
        digest, codec = pack(cid)
        file = Stored(cid, digest, codec, content_digest(pending.payload))
    else:
        file = store_file(cli, aml_path)
    cid = file.cid
    args = (name or spec.name, device_id_bytes(spec.device_id), file.cid_digest, file.codec, file.content_digest)
    # A sealed specification names its twin id: createTwinAt creates that twin or nothing (IdTaken).
    create = (transactions.create_twin(cli.chain, *args) if pending is None
              else transactions.create_twin_at(cli.chain, expected, *args))
    receipt = send(cli, create, "creating the twin")
    twin = events_in(cli.chain.spec, receipt, "TwinCreated")[0]["twin"]
    if pending is not None:
        publish_pending(cli.chain, cli.store, pending)
        note(f"encrypted (epoch {pending.envelope.epoch}) for {describe_recipients(pending.readers.addresses)}")
    try:
        steps = plan_sync(cli.chain, load_twin(cli.chain, cli.store, twin, with_aml=False), spec)
        execute(cli, steps, "registering components and programs")
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: any failure here leaves a half-built twin to finish
        raise click.ClickException(f"twin {twin} was created but its tree is incomplete ({exc}); "
                                   f"finish with `twinledger spec update {twin} --aml {aml_path} --yes`") from None
    click.echo(f"Created twin {twin} {name or spec.name!r}: {len(spec.components)} components, "
               f"{len(spec.programs)} programs, specification {cid}" + (" (encrypted)" if encrypt else ""))


@twin_group.command("show")
@click.argument("twin", type=TWIN)
@pass_cli
def twin_show(cli: CliContext, twin: int) -> None:
    """Everything the chain knows about TWIN."""
    view = load_twin(cli.chain, cli.store, twin)
    out = console()
    owners = [m.account for m in view.members if any(role_name(r) == "OWNER" for r in m.roles)]
    out.print(cell(f"Twin {view.twin_id}: {view.name}"), style="bold")
    out.print(cell(f"device id {_device_text(view.device_id)} · phase {enum_name(PHASES, view.phase)} · created "
                   f"{when(view.created_at)}" + (f" · parent twin {view.parent}" if view.parent else "")))
    out.print(cell(f"owner(s): {', '.join(owners) or '-'}"))
    if view.aml_problem:
        note(f"note: specification file not readable ({view.aml_problem}); showing on-chain ids only")
    out.print(_versions_table(view))
    out.print(_component_tree(view))
    for renderable in (_programs_table(view), _members_table(view), _documents_table(view), _sources_table(view),
                       _feeds_table(view)):
        if renderable.row_count:
            out.print(renderable)


def _device_text(device_id: bytes) -> str:
    return "-" if bytes(device_id) == ZERO32 else bytes32_text(device_id)


def _versions_table(view: TwinView):
    t = table("Specification versions", "v", "CID", "author", "time")
    for v in view.spec_versions:
        t.add_row(cell(v.index), cell(v.cid), cell(v.author), cell(when(v.time)))
    return t


def _component_tree(view: TwinView) -> Tree:
    tree = Tree(cell(f"Components ({len(view.active_components)} active)"))
    nodes = {ZERO32: tree}
    pending = list(view.active_components)
    while pending:  # parents first; a replaced parent's children hang under its successor
        progressed = False
        for c in list(pending):
            parent = view.current(c.parent) if c.parent != ZERO32 else ZERO32
            if parent in nodes:
                extra = " ".join(x for x in (c.tag or "", f"[{c.aml_id}]" if c.aml_id else f"0x{c.id.hex()[:8]}…") if x)
                nodes[c.id] = nodes[parent].add(cell(f"{c.name} ({c.kind}) {extra}"))
                pending.remove(c)
                progressed = True
        if not progressed:  # parent inactive without successor: show at the top
            c = pending.pop(0)
            nodes[c.id] = tree.add(cell(f"{c.name} ({c.kind}) [parent inactive]"))
    return tree


def _programs_table(view: TwinView):
    t = table("Programs", "component", "program", "parameters (bounds)", "enabled", "rev")
    active = {c.id for c in view.active_components}
    for p in view.programs:
        if p.component not in active:
            continue  # a replaced or removed part's programs cannot be called any more
        params = "; ".join(x.bounds_text for x in p.params) or "-"
        t.add_row(cell(view.component_label(p.component)), cell(p.name or f"0x{p.program_id.hex()[:10]}…"),
                  cell(params), cell("yes" if p.enabled else "no"), cell(p.revision))
    return t


def _members_table(view: TwinView):
    t = table("Parties", "account", "roles", "scope", "key")
    for m in view.members:
        scope = ", ".join(view.component_label(c) for c in m.scope) if m.scoped else "whole twin"
        t.add_row(cell(m.account), cell(", ".join(role_name(r) for r in m.roles)), cell(scope),
                  cell("yes" if m.has_key else "-"))
    return t


def _documents_table(view: TwinView):
    t = table("Documents", "id", "name", "component", "versions", "latest CID", "archived")
    for d in view.documents:
        t.add_row(cell(d.doc_id), cell(d.name), cell(view.component_label(d.component)), cell(len(d.versions)),
                  cell(d.versions[-1].cid if d.versions else "-"), cell("yes" if d.archived else ""))
    return t


def _sources_table(view: TwinView):
    t = table("External sources", "id", "URI", "description", "owner", "status")
    for s in view.sources:
        t.add_row(cell(s.source_id), cell(s.uri), cell(s.description), cell(s.owner),
                  cell("removed" if s.removed else "active"))
    return t


def _feeds_table(view: TwinView):
    t = table("Sensor feeds", "feed", "component", "device key", "batches", "status")
    for f in view.feeds:
        t.add_row(cell(f.feed_id), cell(view.component_label(f.component)), cell(f.device_key), cell(f.next_seq),
                  cell(enum_name(FEED_STATUSES, f.status)))
    return t


@twin_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Every twin, not only those the account holds a role on.")
@pass_cli
def twin_list(cli: CliContext, show_all: bool) -> None:
    """Twins the account holds a role on (or all twins, with --all or without an account)."""
    chain = cli.chain
    account = None if show_all or cli.account is None else cli.account.address
    t = table("Twins" if account is None else f"Twins of {account}", "id", "name", "phase", "spec versions",
              "roles" if account else "created")
    for twin in range(1, contracts.twin_count(chain) + 1):
        info = contracts.twin_info(chain, twin)
        name, phase, created, versions = info.name, info.phase, info.created_at, info.spec_versions
        last = cell(when(created))
        if account is not None:
            roles = contracts.roles_of(chain, twin, account)
            if not roles:
                continue
            last = cell(", ".join(role_name(r) for r in roles))
        t.add_row(cell(twin), cell(name), cell(enum_name(PHASES, phase)), cell(versions), last)
    console().print(t)


@twin_group.command("history")
@click.argument("twin", type=TWIN)
@click.option("--anchors/--no-anchors", default=True, show_default=True, help="Include every anchored sensor batch.")
@pass_cli
def twin_history(cli: CliContext, twin: int, anchors: bool) -> None:
    """Every on-chain change of TWIN in block order, with author (tx sender) and block time."""
    reader = EventReader(cli.chain)
    view = load_twin(cli.chain, cli.store, twin, reader=reader)
    events = reader.twin_events(twin, anchors=anchors)
    t = table(f"History of twin {twin}: {view.name}", "block", "time", "author", "event", "details")
    with progress("reading transactions", len(events)) as advance:
        for e in events:
            t.add_row(cell(e.block), cell(when(reader.time_of(e.block))), cell(reader.sender_of(e.tx_hash)),
                      cell(f"{e.contract}.{e.name}"), cell(describe(e, view)))
            advance()
    console().print(t)


# ------------------------------------------------------------------------------------------ spec


@click.group("spec")
def spec_group() -> None:
    """Specification versions (AML files on IPFS)."""


@spec_group.command("update")
@click.argument("twin", type=TWIN)
@click.option("--aml", "aml_path", type=AML_FILE, required=True, help="The new AutomationML specification.")
@click.option("--yes", "-y", is_flag=True, help="Send without asking (required without a terminal).")
@ENCRYPT_AML
@pass_cli
def spec_update(cli: CliContext, twin: int, aml_path: Path, yes: bool, encrypt: bool | None) -> None:
    """Show what changes, then record a new specification version and update components and programs.

    With --encrypt the version is sealed for the parties with DOC_READ on the twin now (new epoch)."""
    new = load_aml(aml_path)
    require_account(cli)
    view = load_twin(cli.chain, cli.store, twin)
    _show_diff(view, new)
    latest = view.spec_versions[-1]
    current = cli.store.cat(latest.cid)
    was_sealed = sealed_header(current) is not None
    encrypt = was_sealed if encrypt is None else encrypt
    data = aml_path.read_bytes()
    if encrypt or was_sealed:  # compare plaintexts: a sealed payload differs on every write
        try:
            same = was_sealed == encrypt and spec_plaintext(cli.chain, cli.store, twin, latest.index, current,
                                                            account_key(cli.chain)) == data
        except CryptoError:
            same = False
        file = None
    else:
        file = store_file(cli, aml_path)
        same = latest.cid == file.cid
    index = len(view.spec_versions)
    steps = plan_sync(cli.chain, view, new)
    if not same:
        label = f"record specification v{index}" + (" (encrypted)" if encrypt else "")
        steps.append(Step(label, None))
    if not steps:
        click.echo(f"Twin {twin} already matches {aml_path.name}: nothing to send")
        return
    for step in steps:
        click.echo(f"  tx: {step.label}")
    confirm(f"Send {len(steps)} transaction(s) to twin {twin}?", yes)
    if not same:
        if encrypt:  # the envelope goes on-chain before the version that needs it
            file = store_sealed(cli, seal_version(cli.chain, cli.store, twin, Subject.aml(twin), ZERO32, index, data))
        steps[-1] = Step(steps[-1].label, transactions.update_spec(cli.chain, twin, file.cid_digest, file.codec,
                                                                           file.content_digest))
    execute(cli, steps, "updating the specification")
    if encrypt and not same and bytes(spec_version(cli.chain, twin, index).digest) != file.content_digest:
        raise click.ClickException(f"another specification version was recorded meanwhile: the payload sealed as "
                                   f"v{index} is not v{index}; run `spec update` again")
    cid = file.cid if file is not None else latest.cid
    click.echo(f"Twin {twin} now follows {cid} ({len(steps)} transaction(s))" + (" (encrypted)" if encrypt else ""))


def _show_diff(view: TwinView, new: TwinSpec) -> None:
    if view.aml is None:
        note(f"note: the current specification is not readable ({view.aml_problem}); comparing with the chain only")
        return
    diff = diff_specs(view.aml, new)
    click.echo(f"Changes from specification v{len(view.spec_versions) - 1}:" if not diff.empty
               else "No component or program changes in the file.")
    for line in diff.summary_lines():
        click.echo(f"  {line}")
    for old, repl in diff.replacements:
        click.echo(f"  = {old.name}: {old.tag or old.aml_id} replaced by {repl.tag or repl.aml_id}")


# ------------------------------------------------------------------------------------------ component


@click.group("component")
def component_group() -> None:
    """Structural changes to a twin's components."""


@component_group.command("replace")
@click.argument("twin", type=TWIN)
@click.argument("old")
@click.argument("new_name")
@click.option("--aml-id", help="AML ID of the new part (default: a new GUID); its component id is keccak256(ID).")
@click.option("--kind", help="Kind of the new part (default: the old part's kind).")
@click.option("--copy-programs/--no-copy-programs", default=True, show_default=True,
              help="Give the new part the old part's programs and bounds.")
@pass_cli
def component_replace(cli: CliContext, twin: int, old: str, new_name: str, aml_id: str | None, kind: str | None,
                      copy_programs: bool) -> None:
    """Replace component OLD (name, AML ID or 0x id) by a new part NEW_NAME under the same parent."""
    require_account(cli)
    view = load_twin(cli.chain, cli.store, twin)
    current = view.resolve_component(old)
    if not current.active:
        raise click.ClickException(f"ComponentNotActive: {current.name} was already replaced or removed")
    aml_id = aml_id or str(uuid.uuid4())
    new_id = keccak(text=aml_id)
    kind_raw = to_bytes32(kind) if kind else current.kind_raw
    steps = [Step(f"replace {current.name}", transactions.replace_component(
        cli.chain, twin, current.id, new_id, new_name, kind_raw))]
    if copy_programs:
        steps += _copied_programs(cli, view, current.id, new_id)
    execute(cli, steps, "replacing")
    click.echo(f"Replaced {current.name} by {new_name} (AML ID {aml_id}, component 0x{new_id.hex()})")
    note("Record the new part in the AML file with this ID and run `twinledger spec update`.")


def _copied_programs(cli: CliContext, view: TwinView, old_id: bytes, new_id: bytes) -> list[Step]:
    steps = []
    for p in view.programs:
        if p.component != old_id or not p.enabled:
            continue
        if p.name is None:
            note(f"note: program 0x{p.program_id.hex()[:10]}… has no name in the specification; not copied")
            continue
        steps.append(Step(f"copy program {p.name}", transactions.set_program(
            cli.chain, view.twin_id, new_id, program_id(new_id, p.name), [x.raw_name for x in p.params],
            [x.min for x in p.params], [x.max for x in p.params])))
    return steps


# ------------------------------------------------------------------------------------------ phase


@click.group("phase")
def phase_group() -> None:
    """Lifecycle phase of a twin."""


@phase_group.command("set")
@click.argument("twin", type=TWIN)
@click.argument("phase")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before dismissing (required without a terminal).")
@pass_cli
def phase_set(cli: CliContext, twin: int, phase: str, yes: bool) -> None:
    """Move TWIN to PHASE (Design, Production, Operation, Maintenance, Dismissed).

    Dismissed is final: the twin becomes read-only."""
    index = phase_index(phase)
    require_account(cli)
    if PHASES[index] == "Dismissed":
        confirm(f"Dismissing twin {twin} is irreversible: every later write is refused. Go on?", yes)
    receipt = send(cli, transactions.set_phase(cli.chain, twin, index), f"setting phase {PHASES[index]}")
    click.echo(f"Twin {twin} is now in phase {PHASES[index]} ({tx_note(receipt)})")
