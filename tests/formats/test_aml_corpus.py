"""Every malformed AML input is refused with its own specific message (and line where known)."""

import os
from pathlib import Path

import pytest

from twinledger.formats import aml
from twinledger.formats.aml import AmlError, Component, TwinSpec, component_id_of, load_aml, parse_aml, validate_spec

CORPUS = Path(__file__).parent / "aml_corpus"

# file, expected message fragment, expected line (None: not checked)
CASES = [
    ("broken-xml.aml", "malformed XML: mismatched tag", 6),
    ("not-caex.aml", "not a CAEX file: the root element is <Plant>", 2),
    ("unsupported-schema-version.aml", "unsupported CAEX SchemaVersion '2.1'", 2),
    ("no-instance-hierarchy.aml", "no InstanceHierarchy", 2),
    ("two-roots.aml", "2 top-level InternalElements", 3),
    ("missing-id.aml", "InternalElement 'tank' has no ID", 5),
    ("duplicate-id.aml", "duplicate ID '5b1e9a52-0000-4000-8000-00000000000a': 'tank_b' and 'tank_a' (line 5)", 6),
    ("duplicate-attribute.aml", "duplicate Attribute 'Volume' in component 'tank' (first at line 5)", 6),
    ("duplicate-sensor-name.aml", "duplicate sensor name 'tank_level'", 9),
    ("sensor-without-range.aml", "sensor 'tank_level' has no MeasurementRange", 5),
    ("redundancy-unit-mismatch.aml", "redundancy group 'tank_level' mixes units", 10),
    ("redundancy-negative-tolerance.aml", "redundancy Tolerance of sensor 'tank_level_b' must not be negative", 13),
    ("billion-laughs.aml", "DOCTYPE declarations are not allowed", 2),
    ("external-entity.aml", "DOCTYPE declarations are not allowed", 2),
    ("bounds-min-greater-than-max.aml", "program 'SetValvePosition': Min 100 is greater than Max 0", 8),
    ("bounds-not-a-number.aml", "Max of parameter 'position' of program 'SetValvePosition' is not a number: 'one hundred'", 10),
    ("bounds-missing-max.aml", "parameter 'position' of program 'SetValvePosition' has no Max", 8),
    ("bounds-infinite.aml", "is not a finite number: 'Infinity'", 10),
    ("bounds-too-many-decimals.aml", "Min/Max need 2 decimals but Decimals is 1", 11),
    ("bounds-int256-overflow.aml", "does not fit in int256", 8),
    ("wrong-namespace.aml", "<CAEXFile> is in the XML namespace 'http://www.dke.de/CAEX/not-this-one', not CAEX's: "
                            'set xmlns="http://www.dke.de/CAEX"', 2),
    ("wrong-prefixed-namespace.aml", "<CAEXFile> is in the XML namespace 'urn:example:plant'", 2),
]


@pytest.mark.parametrize(("name", "message", "line"), CASES, ids=[c[0] for c in CASES])
def test_corpus_case_is_refused(name, message, line):
    with pytest.raises(AmlError) as info:
        load_aml(CORPUS / name)
    assert message in info.value.message
    assert info.value.line == line
    assert str(info.value).startswith(f"{CORPUS / name}:{line}: ")


def test_every_corpus_file_is_covered():
    files = {p.name for p in CORPUS.glob("*.aml")}
    tested = {c[0] for c in CASES} | {"valid-minimal.aml", "valid-caex-2.15.aml"}
    assert files == tested


# --- generated inputs: too big to commit, or parameterised by the limits -----------------------

HEAD = '<?xml version="1.0"?>\n<CAEXFile SchemaVersion="3.0" xmlns="http://www.dke.de/CAEX"><InstanceHierarchy Name="T">\n'
TAIL = "</InstanceHierarchy></CAEXFile>\n"


def ie(i: int, body: str = "") -> str:
    return f'<InternalElement Name="c{i}" ID="00000000-0000-4000-8000-{i:012d}">{body}</InternalElement>'


def program(n_params: int) -> str:
    params = "".join(
        f'<Attribute Name="p{i}"><Attribute Name="Min"><Value>0</Value></Attribute>'
        f'<Attribute Name="Max"><Value>1</Value></Attribute></Attribute>'
        for i in range(n_params)
    )
    return f'<Attribute Name="Programs"><Attribute Name="Many">{params}</Attribute></Attribute>'


def refused(text: str) -> AmlError:
    with pytest.raises(AmlError) as info:
        parse_aml(text.encode(), source="gen.aml")
    return info.value


def test_sixteen_params_are_fine_seventeen_are_not():
    spec = parse_aml((HEAD + ie(1, program(aml.MAX_PROGRAM_PARAMS)) + TAIL).encode())
    assert len(spec.programs[0].params) == 16
    assert "program 'Many' has 17 parameters (limit 16)" in refused(HEAD + ie(1, program(17)) + TAIL).message


def test_file_too_big_in_memory():
    error = refused(" " * (aml.MAX_FILE_BYTES + 1))
    assert f"more than the {aml.MAX_FILE_BYTES} byte limit" in error.message


def test_file_too_big_on_disk_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.aml"
    with path.open("wb") as f:  # sparse: costs no disk space
        f.truncate(aml.MAX_FILE_BYTES + 1)
    with pytest.raises(AmlError, match="byte limit"):
        load_aml(path)


def test_too_many_components():
    children = "".join(ie(i) for i in range(1, aml.MAX_COMPONENTS + 1))
    error = refused(HEAD + ie(0, children) + TAIL)
    assert f"too many InternalElements (limit {aml.MAX_COMPONENTS})" in error.message


def test_too_deep_nesting():
    depth = aml.MAX_XML_DEPTH
    text = HEAD + "".join(f'<InternalElement Name="c{i}" ID="id-{i}">' for i in range(depth)) + "</InternalElement>" * depth + TAIL
    error = refused(text)
    assert f"XML nesting deeper than {aml.MAX_XML_DEPTH} levels" in error.message
    assert error.line == 3  # HEAD takes two lines


def test_value_too_long():
    body = f'<Attribute Name="Notes"><Value>{"x" * (aml.MAX_VALUE_CHARS + 1)}</Value></Attribute>'
    assert f"text of <Value> is longer than {aml.MAX_VALUE_CHARS}" in refused(HEAD + ie(1, body) + TAIL).message


def test_xml_attribute_too_long():
    text = HEAD + f'<InternalElement Name="{"n" * (aml.MAX_VALUE_CHARS + 1)}" ID="x"/>' + TAIL
    assert "XML attribute 'Name' of <InternalElement> is longer than" in refused(text).message


def test_names_too_long_for_the_chain():
    ok = "é" * 32  # 64 UTF-8 bytes
    assert parse_aml((HEAD + f'<InternalElement Name="{ok}" ID="x"/>' + TAIL).encode()).name == ok
    text = HEAD + f'<InternalElement Name="{ok}x" ID="x"/>' + TAIL
    assert "is 65 UTF-8 bytes, more than 64" in refused(text).message
    param = f'<Attribute Name="{"p" * 33}"><Attribute Name="Min"><Value>0</Value></Attribute>' \
            '<Attribute Name="Max"><Value>1</Value></Attribute></Attribute>'
    programs = f'<Attribute Name="Programs"><Attribute Name="Go">{param}</Attribute></Attribute>'
    assert "parameter name 'ppp" in refused(HEAD + ie(1, programs) + TAIL).message


def test_empty_document():
    assert "malformed XML: no element found" in refused("").message


def test_quadratic_blowup_without_dtd_is_just_an_undefined_entity():
    text = HEAD + ie(1, '<Attribute Name="a"><Value>&boom;</Value></Attribute>') + TAIL
    assert "malformed XML: undefined entity" in refused(text).message


# --- validate_spec: the checks that apply to a spec built in code ----------------------------


def comp(aml_id: str, parent: str | None) -> Component:
    return Component(aml_id, component_id_of(aml_id), aml_id, "", component_id_of(parent) if parent else None, {})


def spec_of(*components: Component) -> TwinSpec:
    return TwinSpec("t", "d", list(components), [], b"\0" * 32)


def test_validate_dangling_parent():
    with pytest.raises(AmlError, match="component 'b' has a dangling parent 0x"):
        validate_spec(spec_of(comp("a", None), comp("b", "nowhere")))


def test_validate_cycle():
    with pytest.raises(AmlError, match="parent cycle"):
        validate_spec(spec_of(comp("root", None), comp("a", "b"), comp("b", "a")))


def test_validate_two_roots_and_wrong_id():
    with pytest.raises(AmlError, match="2 root components"):
        validate_spec(spec_of(comp("a", None), comp("b", None)))
    wrong = Component("a", b"\1" * 32, "a", "", None, {})
    with pytest.raises(AmlError, match="component_id is not keccak256"):
        validate_spec(spec_of(wrong))


def test_unreadable_file(tmp_path):
    with pytest.raises(AmlError, match="cannot read file"):
        load_aml(tmp_path / os.sep.join(["missing", "x.aml"]))


def test_caex_namespace_by_prefix_is_accepted():
    data = (CORPUS / "valid-minimal.aml").read_bytes().replace(
        b'<CAEXFile SchemaVersion="3.0"', b'<caex:CAEXFile xmlns:caex="http://www.dke.de/CAEX" SchemaVersion="3.0"')
    data = data.replace(b"</CAEXFile>", b"</caex:CAEXFile>")
    assert parse_aml(data).components[0].name == "pump_station"
