"""AutomationML (IEC 62714) twin specifications: the model (`model`), the XML reader (`xmltree`), the
CAEX import (`parser`) and spec updates (`diff`). docs/aml.md has the convention."""
from .diff import ComponentChange, ProgramChange, SpecDiff, diff_specs
from .model import (
    INT256_MAX,
    INT256_MIN,
    MAX_COMPONENTS,
    MAX_DECIMALS,
    MAX_FILE_BYTES,
    MAX_NAME_BYTES,
    MAX_PARAM_NAME_BYTES,
    MAX_PROGRAM_PARAMS,
    MAX_PROGRAMS_PER_COMPONENT,
    MAX_VALUE_CHARS,
    MAX_XML_DEPTH,
    MAX_XML_ELEMENTS,
    PROGRAMS_ATTRIBUTE,
    SUPPORTED_SCHEMA_VERSIONS,
    AmlError,
    Bounds,
    Component,
    Program,
    ProgramParam,
    SensorSpec,
    TwinSpec,
    component_id_of,
    to_bytes32,
)
from .parser import load_aml, parse_aml, validate_spec

__all__ = [
    "INT256_MAX", "INT256_MIN", "MAX_COMPONENTS", "MAX_DECIMALS", "MAX_FILE_BYTES", "MAX_NAME_BYTES",
    "MAX_PARAM_NAME_BYTES", "MAX_PROGRAM_PARAMS", "MAX_PROGRAMS_PER_COMPONENT", "MAX_VALUE_CHARS",
    "MAX_XML_DEPTH", "MAX_XML_ELEMENTS", "PROGRAMS_ATTRIBUTE", "SUPPORTED_SCHEMA_VERSIONS", "AmlError", "Bounds",
    "Component", "ComponentChange", "Program", "ProgramChange", "ProgramParam", "SensorSpec", "SpecDiff",
    "TwinSpec", "component_id_of", "diff_specs", "load_aml", "parse_aml", "to_bytes32", "validate_spec",
]
