"""Bring a twin's on-chain component tree and programs in line with a specification file.

The plan is computed against the chain, not against the previous file, so running it again after a
failure only sends what is still missing (`twin create` and `spec update` both use it):

1. a component of the file that the chain lacks, where an active on-chain component that the file
   no longer has shares its name, kind and parent, is a replacement (`replaceComponent`);
2. other components the chain lacks are added in file order, parents first (`addComponents`, up to
   `MAX_BATCH` per transaction);
3. active components the file no longer has are removed (`removeComponent`);
4. programs whose bounds differ from the chain's are (re)set, programs the file dropped are removed;
5. the file is recorded as a new specification version unless it is already the latest.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from web3.contract.contract import ContractFunction

from ..chain.connection import TwinLedgerChain
from ..formats.aml import Component, Program, TwinSpec
from .twinview import ZERO32, ComponentInfo, TwinView, program_id

MAX_BATCH = 64  # Specification.MAX_BATCH


@dataclass(frozen=True)
class Step:
    label: str
    fn: ContractFunction


def plan_sync(chain: TwinLedgerChain, view: TwinView, spec: TwinSpec) -> list[Step]:
    fns = chain.spec.functions
    twin = view.twin_id
    on_chain = {c.id: c for c in view.components}
    in_file = {c.component_id for c in spec.components}
    missing = [c for c in spec.components if c.component_id not in on_chain]
    replaced = _replacements(view, missing, in_file)
    steps = [Step(f"replace {old.name} by {new.name}", fns.replaceComponent(twin, old.id, new.component_id, new.name,
                                                                           new.kind_bytes32))
             for new, old in replaced]
    replacing = {new.component_id for new, _ in replaced}
    steps += _add_steps(chain, twin, [c for c in missing if c.component_id not in replacing])
    gone = {old.id for _, old in replaced}
    steps += [Step(f"remove {c.name}", fns.removeComponent(twin, c.id))
              for c in view.active_components if c.id not in in_file and c.id not in gone]
    steps += _program_steps(chain, view, spec)
    return steps


def _replacements(view: TwinView, missing: list[Component], in_file: set[bytes]) -> list[tuple[Component, ComponentInfo]]:
    candidates = [c for c in view.active_components if c.id not in in_file]
    pairs = []
    for new in missing:
        parent = new.parent_id or ZERO32
        old = next((c for c in candidates if (c.name, c.kind_raw, c.parent) == (new.name, new.kind_bytes32, parent)), None)
        if old is not None:
            candidates.remove(old)
            pairs.append((new, old))
    return pairs


def _add_steps(chain: TwinLedgerChain, twin: int, components: list[Component]) -> list[Step]:
    steps = []
    for start in range(0, len(components), MAX_BATCH):
        batch = components[start:start + MAX_BATCH]
        fn = chain.spec.functions.addComponents(twin, [c.component_id for c in batch],
                                                [c.parent_id or ZERO32 for c in batch],
                                                [c.name for c in batch], [c.kind_bytes32 for c in batch])
        names = ", ".join(c.name for c in batch[:3]) + (", …" if len(batch) > 3 else "")
        steps.append(Step(f"add {len(batch)} component(s): {names}", fn))
    return steps


def _bounds_of(program: Program) -> tuple[tuple[str, int, int], ...]:
    return tuple((p.name, p.bounds.scaled_min, p.bounds.scaled_max) for p in program.params)


def _program_steps(chain: TwinLedgerChain, view: TwinView, spec: TwinSpec) -> list[Step]:
    fns = chain.spec.functions
    twin = view.twin_id
    steps, wanted = [], set()
    for program in spec.programs:
        pid = program_id(program.component_id, program.name)
        wanted.add((program.component_id, pid))
        current = view.program(program.component_id, pid)
        if current and current.enabled and tuple((p.name, p.min, p.max) for p in current.params) == _bounds_of(program):
            continue
        steps.append(Step(f"set program {program.component_name}.{program.name}", fns.setProgram(
            twin, program.component_id, pid, [p.name_bytes32 for p in program.params],
            [p.bounds.scaled_min for p in program.params], [p.bounds.scaled_max for p in program.params])))
    kept = {c.component_id for c in spec.components}  # programs of dropped parts go with them
    for p in view.programs:
        if p.enabled and p.component in kept and (p.component, p.program_id) not in wanted:
            label = f"{view.component_label(p.component)}.{p.name or '0x' + p.program_id.hex()[:8]}"
            steps.append(Step(f"remove program {label}", fns.removeProgram(twin, p.component, p.program_id)))
    return steps


def run_steps(steps: list[Step], send: Callable[[ContractFunction, str], object],
              advance: Callable[[str], None]) -> None:
    for step in steps:
        advance(step.label)
        send(step.fn, step.label)
