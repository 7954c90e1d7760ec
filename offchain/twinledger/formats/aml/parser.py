"""AutomationML (IEC 62714, CAEX 3.0 and 2.15) import: a twin's specification from an AML file.

`load_aml(path)` / `parse_aml(data)` turn one AML file into a `TwinSpec`: the component tree, the
sensors with their measurement ranges and safety limits, and the programs with their parameter
bounds (the twin's safety & security rules). `diff_specs(old, new)` lists what a specification
update changes. The full convention is in `docs/aml.md`; in short:

- The file has one `InstanceHierarchy` with one top-level `InternalElement`: the twin's root. Every
  `InternalElement` below it (root included) is a component. Its parent is the element it is
  nested in, and `component_id = keccak256(utf8(ID))`.
- `kind` comes from an `Attribute Name="Kind"`, else the last segment of the first
  `RoleRequirements/@RefBaseRoleClassPath`, else of `@RefBaseSystemUnitPath`.
- A component is a sensor when its kind ends with `Sensor` or its role class path has a `Sensor`
  segment. A sensor needs `MeasurementRange` (Min/Max); `SafetyLimits` (Min/Max),
  `RedundancyGroup` and `SampleRate` (Hz) are optional. Sensor names must be unique in the twin:
  readings identify their sensor by name.
- `Attribute Name="Programs"` on a component holds one `Attribute` per program; each of those
  holds one `Attribute` per parameter, in call order, with `Min`, `Max`, optional `Decimals` and a
  unit (the CAEX `Unit` or a nested `Unit` attribute). A parameter goes on-chain as an int256
  scaled by `10**Decimals`. A CAEX `Constraint/OrdinalScaledType` may give Min/Max instead.

The XML goes through defusedxml's SAX parser with DTDs forbidden, so no entity expansion and no
external entities. Every refusal is an `AmlError` naming the file and, where known, the line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from eth_utils import keccak

from .model import (
    AmlError, Bounds, Component, INT256_MAX, INT256_MIN, MAX_DECIMALS, MAX_FILE_BYTES, MAX_NAME_BYTES,
    MAX_PARAM_NAME_BYTES, MAX_PROGRAMS_PER_COMPONENT, MAX_PROGRAM_PARAMS, PROGRAMS_ATTRIBUTE, Program,
    ProgramParam, SUPPORTED_SCHEMA_VERSIONS, SensorSpec, TwinSpec, component_id_of,
)
from .xmltree import _Node, _parse_xml


# ---------------------------------------------------------------------------------------------
# CAEX → model


@dataclass
class _Ctx:
    source: str

    def error(self, message: str, node: _Node | None = None) -> AmlError:
        return AmlError(message, line=node.line if node else None, source=self.source)


def load_aml(path: str | Path) -> TwinSpec:
    """Read and parse an AML file; the size limit is checked before reading it."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise AmlError(f"cannot read file: {exc.strerror}", source=str(p)) from exc
    if size > MAX_FILE_BYTES:
        raise AmlError(f"file is {size} bytes, more than the {MAX_FILE_BYTES} byte limit", source=str(p))
    return parse_aml(p.read_bytes(), source=str(p))


def parse_aml(data: bytes, source: str = "<aml>") -> TwinSpec:
    """Parse AML bytes into a `TwinSpec`, or raise a specific `AmlError`."""
    if len(data) > MAX_FILE_BYTES:
        raise AmlError(f"file is {len(data)} bytes, more than the {MAX_FILE_BYTES} byte limit", source=source)
    ctx = _Ctx(source)
    root = _parse_xml(data, source)
    version = _check_caex(ctx, root)
    top = _twin_root(ctx, root)

    components: list[Component] = []
    programs: list[Program] = []
    elements: list[tuple[_Node, bytes | None]] = [(top, None)]
    while elements:  # iterative: depth is already capped, but the tree can be wide
        node, parent_id = elements.pop()
        component, own_programs = _component(ctx, node, parent_id)
        components.append(component)
        programs.extend(own_programs)
        children = list(node.kids("InternalElement"))
        elements.extend((child, component.component_id) for child in reversed(children))

    _check_unique_ids(ctx, components)
    _check_sensors(ctx, components)
    spec = TwinSpec(
        name=top.attrs.get("Name", ""),
        device_id=_device_id(components[0]),
        components=components,
        programs=programs,
        raw_digest=keccak(data),
        schema_version=version,
    )
    validate_spec(spec)
    return spec


CAEX_NAMESPACE = "http://www.dke.de/CAEX"


def _check_caex(ctx: _Ctx, root: _Node) -> str:
    if root.tag != "CAEXFile":
        raise ctx.error(f"not a CAEX file: the root element is <{root.tag}>, expected <CAEXFile>", root)
    if root.namespace not in (None, CAEX_NAMESPACE):
        raise ctx.error(f"<CAEXFile> is in the XML namespace {root.namespace!r}, not CAEX's: set "
                        f'xmlns="{CAEX_NAMESPACE}" (or no namespace, as CAEX 2.15 files do)', root)
    version = root.attrs.get("SchemaVersion")
    if version is None:
        raise ctx.error("CAEXFile has no SchemaVersion", root)
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ctx.error(
            f"unsupported CAEX SchemaVersion {version!r} (supported: {', '.join(SUPPORTED_SCHEMA_VERSIONS)})", root
        )
    return version


def _twin_root(ctx: _Ctx, root: _Node) -> _Node:
    hierarchies = list(root.kids("InstanceHierarchy"))
    if not hierarchies:
        raise ctx.error("no InstanceHierarchy: the file describes no instances", root)
    if len(hierarchies) > 1:
        lines = ", ".join(str(h.line) for h in hierarchies)
        raise ctx.error(f"{len(hierarchies)} InstanceHierarchy elements (lines {lines}); a twin file has exactly one")
    tops = list(hierarchies[0].kids("InternalElement"))
    if len(tops) != 1:
        raise ctx.error(
            f"the InstanceHierarchy has {len(tops)} top-level InternalElements; the twin needs exactly one root",
            hierarchies[0],
        )
    return tops[0]


def _component(ctx: _Ctx, node: _Node, parent_id: bytes | None) -> tuple[Component, list[Program]]:
    name = node.attrs.get("Name", "").strip()
    if not name:
        raise ctx.error("InternalElement has no Name", node)
    _check_name(ctx, name, "component", node)
    aml_id = node.attrs.get("ID")
    if aml_id is None or not aml_id.strip():
        raise ctx.error(f"InternalElement {name!r} has no ID", node)
    component_id = component_id_of(aml_id)

    attributes: dict[str, str] = {}
    programs: list[Program] = []
    seen: dict[str, _Node] = {}
    for attr in node.kids("Attribute"):
        attr_name = _attr_name(ctx, attr, seen, f"component {name!r}")
        if attr_name == PROGRAMS_ATTRIBUTE:
            programs = _programs(ctx, attr, component_id, name)
        else:
            _flatten(ctx, attr, attr_name, attributes)

    kind = _kind(node, attributes)
    sensor = _sensor(ctx, node, name, seen) if _is_sensor(node, kind) else None
    component = Component(aml_id, component_id, name, kind, parent_id, attributes, sensor, node.line)
    return component, programs


def _attr_name(ctx: _Ctx, attr: _Node, seen: dict[str, _Node], owner: str) -> str:
    attr_name = attr.attrs.get("Name", "").strip()
    if not attr_name:
        raise ctx.error(f"Attribute without a Name in {owner}", attr)
    if attr_name in seen:
        raise ctx.error(f"duplicate Attribute {attr_name!r} in {owner} (first at line {seen[attr_name].line})", attr)
    seen[attr_name] = attr
    return attr_name


def _value(attr: _Node) -> str:
    for tag in ("Value", "DefaultValue"):
        node = attr.kid(tag)
        if node is not None:
            return node.text
    return ""


def _flatten(ctx: _Ctx, attr: _Node, path: str, out: dict[str, str]) -> None:
    """Nested attributes become dotted keys: MeasurementRange.Min = "0" (a group without a value of
    its own adds no key)."""
    value = _value(attr)
    children = list(attr.kids("Attribute"))
    if value or not children:
        out[path] = value
    seen: dict[str, _Node] = {}
    for child in children:
        _flatten(ctx, child, f"{path}.{_attr_name(ctx, child, seen, f'attribute {path!r}')}", out)


def _last_segment(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1].strip("[]")


def _kind(node: _Node, attributes: Mapping[str, str]) -> str:
    if attributes.get("Kind"):
        return attributes["Kind"]
    for role in node.kids("RoleRequirements"):
        if role.attrs.get("RefBaseRoleClassPath"):
            return _last_segment(role.attrs["RefBaseRoleClassPath"])
    if node.attrs.get("RefBaseSystemUnitPath"):
        return _last_segment(node.attrs["RefBaseSystemUnitPath"])
    return ""


def _is_sensor(node: _Node, kind: str) -> bool:
    if kind.lower().endswith("sensor"):
        return True
    paths = [r.attrs.get("RefBaseRoleClassPath", "") for r in node.kids("RoleRequirements")]
    return any("Sensor" in p.split("/") for p in paths)


def _device_id(root: Component) -> str:
    return root.attributes.get("DeviceId") or root.aml_id


def _check_name(ctx: _Ctx, name: str, what: str, node: _Node, limit: int = MAX_NAME_BYTES) -> None:
    size = len(name.encode("utf-8"))
    if size > limit:
        raise ctx.error(f"{what} name {name[:40]!r} is {size} UTF-8 bytes, more than {limit}", node)


# ---------------------------------------------------------------------------------------------
# Numbers and bounds


def _number(ctx: _Ctx, text: str, what: str, node: _Node) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ctx.error(f"{what} is not a number: {text!r}", node) from None
    if not value.is_finite():
        raise ctx.error(f"{what} is not a finite number: {text!r}", node)
    return value


def _fraction_digits(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only
    return max(0, -exponent)


def _bound_text(node: _Node, which: str) -> tuple[str, _Node] | None:
    """Min/Max from a nested Attribute, or from a CAEX Constraint/OrdinalScaledType."""
    for child in node.kids("Attribute"):
        if child.attrs.get("Name") == which:
            return _value(child), child
    for constraint in node.kids("Constraint"):
        ordinal = constraint.kid("OrdinalScaledType")
        required = ordinal.kid(f"Required{which}Value") if ordinal is not None else None
        if required is not None:
            return required.text, required
    return None


def _unit(node: _Node) -> str:
    for child in node.kids("Attribute"):
        if child.attrs.get("Name") == "Unit":
            return _value(child)
    return node.attrs.get("Unit", "")


def _bounds(ctx: _Ctx, node: _Node, what: str) -> Bounds:
    found: dict[str, Decimal] = {}
    for which in ("Min", "Max"):
        got = _bound_text(node, which)
        if got is None:
            raise ctx.error(f"{what} has no {which}", node)
        found[which] = _number(ctx, got[0], f"{which} of {what}", got[1])
    low, high = found["Min"], found["Max"]
    if low > high:
        raise ctx.error(f"{what}: Min {low} is greater than Max {high}", node)

    needed = max(_fraction_digits(low), _fraction_digits(high))
    decimals_node = next((c for c in node.kids("Attribute") if c.attrs.get("Name") == "Decimals"), None)
    if decimals_node is None:
        decimals = needed
    else:
        text = _value(decimals_node)
        if not (text.isascii() and text.isdigit()):
            raise ctx.error(f"Decimals of {what} must be a whole number 0..{MAX_DECIMALS}: {text!r}", decimals_node)
        decimals = int(text)
        if needed > decimals:
            raise ctx.error(f"{what}: Min/Max need {needed} decimals but Decimals is {decimals}", decimals_node)
    if decimals > MAX_DECIMALS:
        raise ctx.error(f"{what}: {decimals} decimals, more than {MAX_DECIMALS}", node)
    for value in (low, high):
        # adjusted() first, so a value like 1e999999 is refused without building a huge integer
        if value.adjusted() + decimals > 78 or not INT256_MIN <= int(value.scaleb(decimals)) <= INT256_MAX:
            raise ctx.error(f"{what}: {value} scaled by 10**{decimals} does not fit in int256", node)
    return Bounds(low, high, decimals, _unit(node))


# ---------------------------------------------------------------------------------------------
# Sensors and programs


def _sensor(ctx: _Ctx, node: _Node, name: str, attrs: Mapping[str, _Node]) -> SensorSpec:
    range_node = attrs.get("MeasurementRange")
    if range_node is None:
        raise ctx.error(f"sensor {name!r} has no MeasurementRange attribute", node)
    measurement_range = _bounds(ctx, range_node, f"MeasurementRange of sensor {name!r}")
    limits_node = attrs.get("SafetyLimits")
    limits = _bounds(ctx, limits_node, f"SafetyLimits of sensor {name!r}") if limits_node is not None else None

    group_node = attrs.get("RedundancyGroup")
    group = (_value(group_node) or None) if group_node is not None else None
    tolerance = _tolerance(ctx, group_node, name) if group is not None and group_node is not None else None

    rate: Decimal | None = None
    rate_node = attrs.get("SampleRate")
    if rate_node is not None:
        rate = _number(ctx, _value(rate_node), f"SampleRate of sensor {name!r}", rate_node)
        unit = rate_node.attrs.get("Unit", "Hz")
        if unit != "Hz":
            raise ctx.error(f"SampleRate of sensor {name!r} must be in Hz, not {unit!r}", rate_node)
        if rate <= 0:
            raise ctx.error(f"SampleRate of sensor {name!r} must be positive: {rate}", rate_node)
    return SensorSpec(measurement_range, limits, group, rate, tolerance)


def _tolerance(ctx: _Ctx, group_node: _Node, name: str) -> Decimal | None:
    """The optional ``Tolerance`` inside ``RedundancyGroup``: how far the group's readings may differ."""
    node = next((c for c in group_node.kids("Attribute") if c.attrs.get("Name") == "Tolerance"), None)
    if node is None:
        return None
    tolerance = _number(ctx, _value(node), f"redundancy Tolerance of sensor {name!r}", node)
    if tolerance < 0:
        raise ctx.error(f"redundancy Tolerance of sensor {name!r} must not be negative: {tolerance}", node)
    return tolerance


def _description(node: _Node) -> str:
    description = node.kid("Description")
    return description.text if description is not None else ""


def _programs(ctx: _Ctx, group: _Node, component_id: bytes, component_name: str) -> list[Program]:
    nodes = list(group.kids("Attribute"))
    if len(nodes) > MAX_PROGRAMS_PER_COMPONENT:
        raise ctx.error(
            f"component {component_name!r} has {len(nodes)} programs (limit {MAX_PROGRAMS_PER_COMPONENT})", group
        )
    seen: dict[str, _Node] = {}
    programs = []
    for node in nodes:
        name = _attr_name(ctx, node, seen, f"Programs of component {component_name!r}")
        _check_name(ctx, name, "program", node)
        params = _params(ctx, node, name)
        programs.append(Program(component_id, component_name, name, params, _description(node), node.line))
    return programs


def _params(ctx: _Ctx, program: _Node, program_name: str) -> tuple[ProgramParam, ...]:
    nodes = list(program.kids("Attribute"))
    if len(nodes) > MAX_PROGRAM_PARAMS:
        raise ctx.error(
            f"program {program_name!r} has {len(nodes)} parameters (limit {MAX_PROGRAM_PARAMS})", program
        )
    seen: dict[str, _Node] = {}
    params = []
    for node in nodes:
        name = _attr_name(ctx, node, seen, f"program {program_name!r}")
        _check_name(ctx, name, "parameter", node, MAX_PARAM_NAME_BYTES)
        params.append(ProgramParam(name, _bounds(ctx, node, f"parameter {name!r} of program {program_name!r}")))
    return tuple(params)


# ---------------------------------------------------------------------------------------------
# Whole-spec checks


def _check_unique_ids(ctx: _Ctx, components: list[Component]) -> None:
    first: dict[str, Component] = {}
    for c in components:
        if c.aml_id in first:
            raise AmlError(
                f"duplicate ID {c.aml_id!r}: {c.name!r} and {first[c.aml_id].name!r} (line {first[c.aml_id].line})",
                line=c.line,
                source=ctx.source,
            )
        first[c.aml_id] = c


def _check_sensors(ctx: _Ctx, components: list[Component]) -> None:
    by_name: dict[str, Component] = {}
    group_units: dict[str, Component] = {}
    for c in components:
        if c.sensor is None:
            continue
        if c.name in by_name:
            raise AmlError(
                f"duplicate sensor name {c.name!r} (first at line {by_name[c.name].line}); "
                "readings identify their sensor by name",
                line=c.line,
                source=ctx.source,
            )
        by_name[c.name] = c
        group = c.sensor.redundancy_group
        if group is None:
            continue
        other = group_units.setdefault(group, c)
        if other.sensor is not None and other.sensor.unit != c.sensor.unit:
            raise AmlError(
                f"redundancy group {group!r} mixes units: {other.name!r} in {other.sensor.unit!r}, "
                f"{c.name!r} in {c.sensor.unit!r}",
                line=c.line,
                source=ctx.source,
            )


def validate_spec(spec: TwinSpec) -> None:
    """Structural checks for any `TwinSpec`, parsed or built in code: one root, unique component
    ids, every parent present (no dangling parent), ids matching their AML IDs, no cycles."""
    source = f"<spec {spec.name!r}>"
    by_id: dict[bytes, Component] = {}
    for c in spec.components:
        if c.component_id != component_id_of(c.aml_id):
            raise AmlError(f"component {c.name!r}: component_id is not keccak256 of {c.aml_id!r}", source=source)
        if c.component_id in by_id:
            raise AmlError(f"duplicate component {c.aml_id!r}", source=source)
        by_id[c.component_id] = c
    roots = [c for c in spec.components if c.parent_id is None]
    if len(roots) != 1:
        raise AmlError(f"{len(roots)} root components; a twin has exactly one", source=source)
    for c in spec.components:
        if c.parent_id is not None and c.parent_id not in by_id:
            raise AmlError(f"component {c.name!r} has a dangling parent 0x{c.parent_id.hex()}", source=source)
    for c in spec.components:  # every chain must end at the root within len(components) steps
        node, steps = c, 0
        while node.parent_id is not None:
            node, steps = by_id[node.parent_id], steps + 1
            if steps > len(by_id):
                raise AmlError(f"component {c.name!r} is in a parent cycle", source=source)
    for p in spec.programs:
        if p.component_id not in by_id:
            raise AmlError(f"program {p.name!r} belongs to an unknown component", source=source)
