"""`diff_specs(old, new)`: what a specification update changes, component by component and program
by program."""

from __future__ import annotations

from dataclasses import dataclass


from .model import Component, Program, TwinSpec


# ---------------------------------------------------------------------------------------------
# Diff


@dataclass(frozen=True)
class ComponentChange:
    old: Component
    new: Component
    fields: tuple[str, ...]  # "name", "kind", "parent", "sensor", "attribute:<key>"


@dataclass(frozen=True)
class ProgramChange:
    old: Program
    new: Program


@dataclass(frozen=True)
class SpecDiff:
    added: list[Component]
    removed: list[Component]
    changed: list[ComponentChange]
    programs_added: list[Program]
    programs_removed: list[Program]
    programs_changed: list[ProgramChange]

    @property
    def empty(self) -> bool:
        return not (
            self.added or self.removed or self.changed
            or self.programs_added or self.programs_removed or self.programs_changed
        )

    @property
    def replacements(self) -> list[tuple[Component, Component]]:
        """(removed, added) pairs with the same name, kind and parent: a swapped part."""
        pairs = []
        for old in self.removed:
            for new in self.added:
                if (old.name, old.kind, old.parent_id) == (new.name, new.kind, new.parent_id):
                    pairs.append((old, new))
                    break
        return pairs

    def summary_lines(self) -> list[str]:
        """One human-readable line per change, for showing before sending an update."""
        lines = [f"+ component {_label(c)}" for c in self.added]
        lines += [f"- component {_label(c)}" for c in self.removed]
        lines += [f"~ component {_label(ch.new)}: {', '.join(ch.fields)}" for ch in self.changed]
        lines += [f"+ program {p.component_name}.{p.name}" for p in self.programs_added]
        lines += [f"- program {p.component_name}.{p.name}" for p in self.programs_removed]
        lines += [f"~ program {ch.new.component_name}.{ch.new.name}" for ch in self.programs_changed]
        return lines


def _label(c: Component) -> str:
    tag = f" {c.tag}" if c.tag else ""
    return f"{c.name}{tag} [{c.aml_id}]"


def _component_fields(old: Component, new: Component) -> tuple[str, ...]:
    fields = [f for f, a, b in (("name", old.name, new.name), ("kind", old.kind, new.kind),
                                ("parent", old.parent_id, new.parent_id), ("sensor", old.sensor, new.sensor)) if a != b]
    keys = sorted(set(old.attributes) | set(new.attributes))
    fields += [f"attribute:{k}" for k in keys if old.attributes.get(k) != new.attributes.get(k)]
    return tuple(fields)


def diff_specs(old: TwinSpec, new: TwinSpec) -> SpecDiff:
    """Components are matched by component_id, programs by (component_id, name)."""
    old_c = {c.component_id: c for c in old.components}
    new_c = {c.component_id: c for c in new.components}
    changed = []
    for cid in new_c.keys() & old_c.keys():
        fields = _component_fields(old_c[cid], new_c[cid])
        if fields:
            changed.append(ComponentChange(old_c[cid], new_c[cid], fields))
    order = {c.component_id: i for i, c in enumerate(new.components)}
    old_p = {p.key: p for p in old.programs}
    new_p = {p.key: p for p in new.programs}
    return SpecDiff(
        added=[c for c in new.components if c.component_id not in old_c],
        removed=[c for c in old.components if c.component_id not in new_c],
        changed=sorted(changed, key=lambda ch: order[ch.new.component_id]),
        programs_added=[p for p in new.programs if p.key not in old_p],
        programs_removed=[p for p in old.programs if p.key not in new_p],
        programs_changed=[
            ProgramChange(old_p[p.key], p)
            for p in new.programs
            if p.key in old_p and (old_p[p.key].params, old_p[p.key].description) != (p.params, p.description)
        ],
    )
