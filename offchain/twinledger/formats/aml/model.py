"""The AML twin model: `TwinSpec`, its components, sensors, programs and bounds, the import limits
and `AmlError` (docs/aml.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from eth_utils import keccak

from ...errors import TwinLedgerError



# Limits: an AML twin file is a specification, not a data dump; anything past these is refused.
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_XML_ELEMENTS = 400_000
MAX_XML_DEPTH = 64
MAX_COMPONENTS = 10_000
MAX_VALUE_CHARS = 4096  # any text content or XML attribute value
MAX_NAME_BYTES = 64  # component and program names, UTF-8 (Specification.MAX_NAME_LENGTH)
MAX_PARAM_NAME_BYTES = 32  # parameter names go on-chain as bytes32
MAX_PROGRAMS_PER_COMPONENT = 64
MAX_PROGRAM_PARAMS = 16
MAX_DECIMALS = 18

SUPPORTED_SCHEMA_VERSIONS = ("3.0", "2.15")
PROGRAMS_ATTRIBUTE = "Programs"

INT256_MIN = -(2**255)
INT256_MAX = 2**255 - 1


class AmlError(TwinLedgerError, ValueError):
    """An AML file that cannot be imported; `line` is the 1-based line where known."""

    def __init__(self, message: str, *, line: int | None = None, source: str = "<aml>") -> None:
        self.message = message
        self.line = line
        self.source = source
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}")


# ---------------------------------------------------------------------------------------------
# Model


@dataclass(frozen=True)
class Bounds:
    """A closed numeric range [min, max]; on-chain as int256 values scaled by 10**decimals."""

    min: Decimal
    max: Decimal
    decimals: int
    unit: str = ""

    @property
    def scaled_min(self) -> int:
        return int(self.min.scaleb(self.decimals))

    @property
    def scaled_max(self) -> int:
        return int(self.max.scaleb(self.decimals))

    def contains(self, value: Decimal | float | int) -> bool:
        return self.min <= Decimal(str(value)) <= self.max


@dataclass(frozen=True)
class SensorSpec:
    """What a sensor component promises: range, safety limits, redundancy and sample rate."""

    measurement_range: Bounds
    safety_limits: Bounds | None = None
    redundancy_group: str | None = None
    sample_rate_hz: Decimal | None = None
    # how far (in the sensor's unit) the group's readings may differ and still agree
    redundancy_tolerance: Decimal | None = None

    @property
    def unit(self) -> str:
        return self.measurement_range.unit


@dataclass(frozen=True)
class Component:
    aml_id: str
    component_id: bytes
    name: str
    kind: str
    parent_id: bytes | None
    attributes: Mapping[str, str]
    sensor: SensorSpec | None = None
    line: int | None = field(default=None, compare=False)

    @property
    def is_sensor(self) -> bool:
        return self.sensor is not None

    @property
    def tag(self) -> str | None:
        return self.attributes.get("Tag")

    @property
    def kind_bytes32(self) -> bytes:
        """The kind for the chain's `bytes32 kind`: its UTF-8 if it fits, else its keccak256."""
        raw = self.kind.encode("utf-8")
        return to_bytes32(self.kind) if len(raw) <= 32 else keccak(raw)


@dataclass(frozen=True)
class ProgramParam:
    name: str
    bounds: Bounds

    @property
    def name_bytes32(self) -> bytes:
        return to_bytes32(self.name)


@dataclass(frozen=True)
class Program:
    """A callable program of a component; its parameter bounds are safety & security rules."""

    component_id: bytes
    component_name: str
    name: str
    params: tuple[ProgramParam, ...]
    description: str = ""
    line: int | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[bytes, str]:
        return (self.component_id, self.name)

    @property
    def program_id(self) -> bytes:
        """keccak256(component_id ‖ utf8(name)): a stable id per (component, program name)."""
        return keccak(self.component_id + self.name.encode())


@dataclass(frozen=True)
class TwinSpec:
    name: str
    device_id: str
    components: list[Component]
    programs: list[Program]
    raw_digest: bytes  # keccak256 of the file's bytes
    schema_version: str = "3.0"

    def component(self, name_or_aml_id: str) -> Component:
        """The component with this AML ID, or else with this (unique) name."""
        for c in self.components:
            if c.aml_id == name_or_aml_id:
                return c
        matches = [c for c in self.components if c.name == name_or_aml_id]
        if len(matches) != 1:
            raise KeyError(name_or_aml_id)
        return matches[0]

    @property
    def sensors(self) -> list[Component]:
        return [c for c in self.components if c.sensor is not None]

    def programs_of(self, component_id: bytes) -> list[Program]:
        return [p for p in self.programs if p.component_id == component_id]


def component_id_of(aml_id: str) -> bytes:
    return keccak(aml_id.encode("utf-8"))


def to_bytes32(text: str) -> bytes:
    """UTF-8, left-aligned and zero-padded, like Solidity's `bytes32("...")`."""
    raw = text.encode("utf-8")
    if len(raw) > 32:
        raise ValueError(f"{text!r} is {len(raw)} UTF-8 bytes, more than 32")
    return raw.ljust(32, b"\0")
