"""Human names for the chain's numbers: roles, permission bits, lifecycle phases, call and feed statuses.

Roles are `bytes32` ids (`keccak256("OWNER")` ...); the CLI takes a role by name (any case) or as a
`0x` bytes32, and shows the built-in ones by name. Enum orders mirror the Solidity enums.
"""
from __future__ import annotations

from eth_utils import keccak

BUILTIN_ROLES = ("OWNER", "MANUFACTURER", "MAINTAINER", "DISTRIBUTOR", "AUDITOR", "DEVICE_AGENT")
ROLE_IDS: dict[str, bytes] = {name: keccak(text=name) for name in BUILTIN_ROLES}
_ROLE_NAMES: dict[bytes, str] = {rid: name for name, rid in ROLE_IDS.items()}

# Bit order of contracts/interfaces/IAuthorization.sol `Permissions`.
PERMISSIONS = ("TWIN_UPDATE", "SPEC_UPDATE", "DOC_CREATE", "DOC_UPDATE", "DOC_READ", "SENSOR_CREATE", "SENSOR_UPDATE",
               "SENSOR_READ", "ANCHOR", "PROGRAM_CALL", "ROLE_ADMIN", "SOURCE_MANAGE", "PROGRAM_EXECUTE", "KEY_PUBLISH")

PHASES = ("Design", "Production", "Operation", "Maintenance", "Dismissed")
CALL_STATUSES = ("None", "Queued", "Delivered", "Done", "Failed")
FEED_STATUSES = ("None", "Active", "Paused", "Retired")


class UnknownName(ValueError):
    """A name the CLI does not know (shown as one line)."""


def parse_bytes32(text: str) -> bytes | None:
    """`0x` + 64 hex digits as bytes, else None."""
    if text.lower().startswith("0x") and len(text) == 66:
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            return None
    return None


def role_id(text: str) -> bytes:
    """A role by built-in or custom name (keccak256 of the upper-case name), or as 0x bytes32."""
    raw = parse_bytes32(text)
    if raw is not None:
        return raw
    if not text or not text.replace("_", "").isalnum():
        raise UnknownName(f"bad role {text!r}: use a name like MAINTAINER or a 0x bytes32 id")
    return keccak(text=text.upper())


def role_name(rid: bytes) -> str:
    return _ROLE_NAMES.get(bytes(rid), "0x" + bytes(rid).hex())


def permission_names(mask: int) -> list[str]:
    if mask == (1 << 256) - 1:
        return ["ALL"]
    names = [name for bit, name in enumerate(PERMISSIONS) if mask >> bit & 1]
    unknown = mask >> len(PERMISSIONS)
    return names + ([f"bits>>{len(PERMISSIONS)}=0x{unknown:x}"] if unknown else [])


def phase_index(text: str) -> int:
    for index, name in enumerate(PHASES):
        if name.lower() == text.lower() or text == str(index):
            return index
    raise UnknownName(f"unknown phase {text!r}: one of {', '.join(PHASES)}")


def enum_name(names: tuple[str, ...], value: int) -> str:
    return names[value] if 0 <= value < len(names) else f"#{value}"


def short_hex(value: bytes, keep: int = 10) -> str:
    text = "0x" + bytes(value).hex()
    return text if len(text) <= keep + 4 else f"{text[:keep]}…"
