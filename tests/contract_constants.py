"""Constants and small helpers shared by the contract tests (imported by tests/conftest.py too).

Named without a `test_` prefix so pytest does not collect it; unique so it cannot clash with
helpers in other test folders (the test folders have no __init__.py).
"""

from ast import literal_eval
from contextlib import contextmanager

import ape
from ape.exceptions import CustomError
from eth_utils import keccak


def role_id(name: str) -> bytes:
    return keccak(text=name)


OWNER = role_id("OWNER")
MANUFACTURER = role_id("MANUFACTURER")
MAINTAINER = role_id("MAINTAINER")
DISTRIBUTOR = role_id("DISTRIBUTOR")
AUDITOR = role_id("AUDITOR")
DEVICE_AGENT = role_id("DEVICE_AGENT")
DEFAULT_ADMIN_ROLE = b"\x00" * 32
BUILTIN_ROLES = [OWNER, MANUFACTURER, MAINTAINER, DISTRIBUTOR, AUDITOR, DEVICE_AGENT]

# Permission bits (contracts/interfaces/IAuthorization.sol, library Permissions).
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
ALL_BITS = [1 << i for i in range(15)]
ALL_PERMISSIONS = 2**256 - 1

READ_DEFAULT = DOC_READ | SENSOR_READ
MAINTAINER_DEFAULT = (
    SPEC_UPDATE | DOC_CREATE | DOC_UPDATE | DOC_READ | SENSOR_CREATE | SENSOR_UPDATE | SENSOR_READ
    | PROGRAM_CALL | SOURCE_MANAGE | KEY_PUBLISH
)
DEVICE_AGENT_DEFAULT = ANCHOR | PROGRAM_EXECUTE | SENSOR_READ | KEY_PUBLISH
DEFAULTS = {
    OWNER: ALL_PERMISSIONS,
    MANUFACTURER: READ_DEFAULT,
    MAINTAINER: MAINTAINER_DEFAULT,
    DISTRIBUTOR: READ_DEFAULT,
    AUDITOR: READ_DEFAULT,
    DEVICE_AGENT: DEVICE_AGENT_DEFAULT,
}

# Specification enums.
DESIGN, PRODUCTION, OPERATION, MAINTENANCE, DISMISSED = range(5)
NONE, QUEUED, DELIVERED, DONE, FAILED = range(5)

RAW, DAG_PB = 0x55, 0x70
ZERO32 = b"\x00" * 32
SPEC_CID = keccak(text="spec-cid-v0")
SPEC_DIGEST = keccak(text="spec-digest-v0")
DEVICE_ID = keccak(text="bottling-plant-42")


def h(text: str) -> bytes:
    """bytes32 id the off-chain code uses: keccak256 of a string (AML ID, program name...)."""
    return keccak(text=text)


def logs(tx, name: str) -> list:
    """Decoded logs of `tx` with this event name (works for overloaded event names)."""
    return [log for log in tx.events if log.event_name == name]


def one_log(tx, event_name: str, /, *, _contract=None, **expected):
    """The single `event_name` log of `tx` (emitted by `_contract` if given); asserts its
    arguments equal `expected`."""
    found = logs(tx, event_name)
    if _contract is not None:
        found = [log for log in found if log.contract_address == _contract.address]
    assert len(found) == 1, f"expected one {event_name} log, got {len(found)}: {found}"
    log = found[0]
    args = log.event_arguments
    for key, value in expected.items():
        assert key in args, f"{event_name} has no argument {key}: {args}"
        actual = args[key]
        if hasattr(value, "address"):
            value = value.address
        assert actual == value, f"{event_name}.{key}: expected {value!r}, got {actual!r}"
    return log


def _raw_revert_data(message):
    """Best-effort raw revert data from an undecoded ContractLogicError message."""
    if not isinstance(message, str):
        return None
    if message[:2] in ('b"', "b'") and message[-1:] == message[1]:
        return literal_eval(message)
    if message.startswith("custom error 0x") and message[23:25] == ": ":
        selector, rest = bytes.fromhex(message[15:23]), message[25:]
        try:
            return selector + bytes.fromhex(rest)
        except ValueError:
            return selector + rest.encode("utf-8")
    return message.encode("utf-8")


def _recover_custom_error(exc, error):
    """Decode a revert ape left undecoded against `error`'s ABI; (name, inputs) or None.

    Two ape 0.8 gaps: on EthTester, revert data containing a 0x27 byte (') stays `b"..."`; on
    anvil, reverts of view calls (eth_call) come back as "custom error 0x<selector>: <data>"."""
    data = _raw_revert_data(getattr(exc, "revert_message", None))
    if data is None:
        return None
    for abi in error.contract.contract_type.errors:
        if abi.name == error.__name__ and data[:4] == keccak(text=abi.selector)[:4]:
            return abi.name, ape.networks.ecosystem.decode_calldata(abi, data[4:])
    return None


@contextmanager
def reverts(error, **inputs):
    """`ape.reverts(error, **inputs)` that also fails when the revert is a different custom error
    or no custom error at all (plain `ape.reverts` lets those through)."""
    inputs = {k: (v.address if hasattr(v, "address") else v) for k, v in inputs.items()}
    with ape.reverts(error, **inputs) as info:
        yield info
    exc = info.value
    if isinstance(exc, CustomError):
        assert type(exc).__name__ == error.__name__, f"expected {error.__name__}, got {type(exc).__name__}: {exc}"
        return
    recovered = _recover_custom_error(exc, error)
    assert recovered is not None, f"expected custom error {error.__name__}, got {exc!r}"
    _, actual = recovered
    for key, value in inputs.items():
        assert actual[key] == value, f"{error.__name__}.{key}: expected {value!r}, got {actual[key]!r}"


def twin_of(tx) -> int:
    return one_log(tx, "TwinCreated").event_arguments["twin"]
