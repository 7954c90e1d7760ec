"""Property: any valid twin written as AML parses back to the same components and programs."""

from dataclasses import dataclass, replace
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinledger.formats.aml import component_id_of, diff_specs, parse_aml


@dataclass
class Param:
    name: str
    low: int  # scaled
    high: int
    decimals: int
    unit: str


@dataclass
class Node:
    aml_id: str
    name: str
    parent: int | None
    kind: str
    attributes: dict[str, str]
    sensor_range: Param | None  # for sensors: MeasurementRange
    programs: dict[str, list[Param]]


# XML 1.0 text without control characters; the importer strips surrounding whitespace
text = st.text(st.characters(exclude_categories=("Cc", "Cs", "Cn", "Co")), min_size=1, max_size=16).filter(
    lambda s: s == s.strip()
)
identifier = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", min_size=1, max_size=16)
kinds = st.sampled_from(["Tank", "Pipe", "Valve", "Filler", "Conveyor", "LevelSensor", "FlowSensor"])


@st.composite
def params(draw):
    decimals = draw(st.integers(0, 6))
    a, b = sorted(draw(st.lists(st.integers(-(10**12), 10**12), min_size=2, max_size=2)))
    return Param(draw(identifier), a, b, decimals, draw(st.sampled_from(["", "%", "l/min", "°C"])))


def unique_params(max_size: int):
    return st.lists(params(), max_size=max_size, unique_by=lambda p: p.name)


@st.composite
def twins(draw) -> list[Node]:
    n = draw(st.integers(1, 12))
    ids = draw(st.lists(st.uuids().map(str), min_size=n, max_size=n, unique=True))
    names = draw(st.lists(text, min_size=n, max_size=n, unique=True))
    nodes = []
    for i in range(n):
        kind = draw(kinds)
        attributes = draw(st.dictionaries(identifier.map(lambda k: "x_" + k), text, max_size=3))
        programs = draw(st.dictionaries(identifier, unique_params(4), max_size=3))
        sensor = draw(params()) if kind.endswith("Sensor") else None
        parent = draw(st.integers(0, i - 1)) if i else None
        nodes.append(Node(ids[i], names[i], parent, kind, attributes, sensor, programs))
    return nodes


def value(v: str) -> str:
    return f"<Value>{escape(v)}</Value>"


def bounds_xml(p: Param) -> str:
    low, high = (Decimal(x).scaleb(-p.decimals) for x in (p.low, p.high))
    return (f'<Attribute Name="Min">{value(str(low))}</Attribute><Attribute Name="Max">{value(str(high))}</Attribute>'
            f'<Attribute Name="Decimals">{value(str(p.decimals))}</Attribute>')


def unit_attr(p: Param) -> str:
    return f" Unit={quoteattr(p.unit)}" if p.unit else ""


def node_xml(nodes: list[Node], i: int) -> str:
    node = nodes[i]
    parts = [f'<InternalElement Name={quoteattr(node.name)} ID={quoteattr(node.aml_id)}>']
    parts += [f"<Attribute Name={quoteattr(k)}>{value(v)}</Attribute>" for k, v in node.attributes.items()]
    if node.sensor_range:
        parts.append(f'<Attribute Name="MeasurementRange"{unit_attr(node.sensor_range)}>{bounds_xml(node.sensor_range)}</Attribute>')
    if node.programs:
        parts.append('<Attribute Name="Programs">')
        for name, ps in node.programs.items():
            inner = "".join(f"<Attribute Name={quoteattr(p.name)}{unit_attr(p)}>{bounds_xml(p)}</Attribute>" for p in ps)
            parts.append(f"<Attribute Name={quoteattr(name)}>{inner}</Attribute>")
        parts.append("</Attribute>")
    parts += [node_xml(nodes, j) for j, other in enumerate(nodes) if other.parent == i]
    parts.append(f'<RoleRequirements RefBaseRoleClassPath="Lib/{node.kind}"/></InternalElement>')
    return "\n".join(parts)


def to_aml(nodes: list[Node]) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<CAEXFile SchemaVersion="3.0" xmlns="http://www.dke.de/CAEX">'
        f'<InstanceHierarchy Name="H">{node_xml(nodes, 0)}</InstanceHierarchy></CAEXFile>'
    ).encode("utf-8")


def expected_attributes(node: Node) -> dict[str, str]:
    out = dict(node.attributes)
    if node.sensor_range:
        r = node.sensor_range
        for key, scaled in (("Min", r.low), ("Max", r.high)):
            out[f"MeasurementRange.{key}"] = str(Decimal(scaled).scaleb(-r.decimals))
        out["MeasurementRange.Decimals"] = str(r.decimals)
    return out


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(twins())
def test_generated_twin_round_trips(nodes):
    spec = parse_aml(to_aml(nodes))
    by_id = {c.aml_id: c for c in spec.components}
    assert set(by_id) == {n.aml_id for n in nodes}
    for node in nodes:
        c = by_id[node.aml_id]
        assert c.component_id == component_id_of(node.aml_id)
        assert c.name == node.name and c.kind == node.kind
        assert c.parent_id == (component_id_of(nodes[node.parent].aml_id) if node.parent is not None else None)
        assert dict(c.attributes) == expected_attributes(node)
        if node.sensor_range:
            r = c.sensor.measurement_range
            assert (r.scaled_min, r.scaled_max, r.decimals, r.unit) == (
                node.sensor_range.low, node.sensor_range.high, node.sensor_range.decimals, node.sensor_range.unit)
        else:
            assert c.sensor is None
        got = {p.name: [(q.name, q.bounds.scaled_min, q.bounds.scaled_max, q.bounds.decimals, q.bounds.unit)
                        for q in p.params] for p in spec.programs_of(c.component_id)}
        assert got == {name: [(q.name, q.low, q.high, q.decimals, q.unit) for q in ps]
                       for name, ps in node.programs.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(twins(), st.uuids().map(str))
def test_diff_finds_replaced_leaf_and_changed_root(nodes, new_id):
    old = parse_aml(to_aml(nodes))
    leaf = nodes[-1]  # parents always come earlier, so the last node is a leaf
    replaced = Node(new_id, leaf.name, leaf.parent, leaf.kind, leaf.attributes, leaf.sensor_range, leaf.programs)
    edited = [replace(n, attributes={**n.attributes, "x_changed": "yes"}) if i == 0 else n
              for i, n in enumerate(nodes[:-1] + [replaced])]
    diff = diff_specs(old, parse_aml(to_aml(edited)))
    assert [c.aml_id for c in diff.removed] == [leaf.aml_id]
    assert [c.aml_id for c in diff.added] == [new_id]
    changed = {ch.new.aml_id: ch.fields for ch in diff.changed}
    if len(nodes) > 1:
        assert changed == {nodes[0].aml_id: ("attribute:x_changed",)}
        assert [(a.aml_id, b.aml_id) for a, b in diff.replacements] == [(leaf.aml_id, new_id)]
    assert {p.name for p in diff.programs_removed} == set(leaf.programs)
    assert {p.name for p in diff.programs_added} == set(leaf.programs)
