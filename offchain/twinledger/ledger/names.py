"""Human names for the chain's numbers: roles, permission bits, lifecycle phases, call and feed statuses.

Roles are `bytes32` ids (`keccak256("OWNER")` ...); the CLI takes a role by name (any case) or as a
`0x` bytes32, and shows the built-in ones by name. This module is the one definition of these numbers:
tests/ledger/test_names.py checks it against the ABI and the Solidity sources.
"""
from __future__ import annotations

from enum import Enum, IntEnum, IntFlag

from eth_utils import keccak

from ..errors import TwinLedgerError

class Permission(IntFlag):
    """Permission bits of contracts/interfaces/IAuthorization.sol `library Permissions`."""

    TWIN_UPDATE = 1 << 0
    SPEC_UPDATE = 1 << 1
    DOC_CREATE = 1 << 2
    DOC_UPDATE = 1 << 3
    DOC_READ = 1 << 4
    SENSOR_CREATE = 1 << 5
    SENSOR_UPDATE = 1 << 6
    SENSOR_READ = 1 << 7
    ANCHOR = 1 << 8
    PROGRAM_CALL = 1 << 9
    ROLE_ADMIN = 1 << 10
    SOURCE_MANAGE = 1 << 11
    PROGRAM_EXECUTE = 1 << 12
    KEY_PUBLISH = 1 << 13
    TWIN_DISMISS = 1 << 14


# Twin ids are uint256 in every contract function and event and stored as uint48 by every contract: the
# registry issues ids 1, 2, ... and can never issue one above this.
MAX_TWIN_ID = 2**48 - 1


class Phase(IntEnum):
    """`ISpecification.Phase`: a twin's lifecycle."""

    Design = 0
    Production = 1
    Operation = 2
    Maintenance = 3
    Dismissed = 4


class CallStatus(IntEnum):
    """`ISpecification.CallStatus`: where a program call is."""

    None_ = 0
    Queued = 1
    Delivered = 2
    Done = 3
    Failed = 4
    Cancelled = 5


class FeedStatus(IntEnum):
    """`ISensorFeed.FeedStatus`."""

    None_ = 0
    Active = 1
    Paused = 2
    Retired = 3


class GatewayFault(IntEnum):
    """`IGatewayAnchors.Fault`: what a successful challenge of a gateway window proved."""

    None_ = 0
    ForgedSignature = 1
    UnknownFeed = 2
    DuplicateSeq = 3
    BrokenHeadChain = 4
    ConflictsWithFeed = 5


# `GatewayAnchors.GATEWAY_ROLE`: may anchor windows (granted by the GatewayAnchors admin, the deployer).
GATEWAY_ROLE = keccak(text="GATEWAY_ROLE")


class Role(Enum):
    """The built-in roles (`Authorization.OWNER` ...): `bytes32` ids, `keccak256` of the name."""

    OWNER = "OWNER"
    MANUFACTURER = "MANUFACTURER"
    MAINTAINER = "MAINTAINER"
    DISTRIBUTOR = "DISTRIBUTOR"
    AUDITOR = "AUDITOR"
    DEVICE_AGENT = "DEVICE_AGENT"

    @property
    def id(self) -> bytes:
        return keccak(text=self.value)


def label(member: Enum) -> str:
    """The Solidity spelling of an enum member (`None_` is Python's spelling of `None`)."""
    return member.name.rstrip("_")


BUILTIN_ROLES = tuple(r.value for r in Role)
ROLE_IDS: dict[str, bytes] = {r.value: r.id for r in Role}
_ROLE_NAMES: dict[bytes, str] = {rid: name for name, rid in ROLE_IDS.items()}

# Names in number order, as the CLI shows them.
PERMISSIONS = tuple(p.name or "" for p in Permission)
PHASES = tuple(label(p) for p in Phase)
CALL_STATUSES = tuple(label(s) for s in CallStatus)
FEED_STATUSES = tuple(label(s) for s in FeedStatus)


class UnknownName(TwinLedgerError, ValueError):
    """A name the CLI does not know (shown as one line)."""


def parse_bytes32(text: str) -> bytes | None:
    """`0x` + 64 hex digits as bytes, else None."""
    if text.lower().startswith("0x") and len(text) == 66:
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            return None
    return None


def checksum_address(text: str) -> str:
    """An Ethereum address in its checksum form, or one line saying it is not one."""
    from web3 import Web3

    if not Web3.is_address(text):
        raise UnknownName(f"not an Ethereum address: {text!r}")
    return Web3.to_checksum_address(text)


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
