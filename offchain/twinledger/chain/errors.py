"""Turning reverts into readable errors: custom errors are decoded by their ABI into name and arguments."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector, to_hex

from ..errors import TwinLedgerError


class ChainError(TwinLedgerError, RuntimeError):
    """Anything that went wrong talking to the chain, with one readable line as its message."""


class ChainUnavailable(ChainError):
    """No JSON-RPC node answers at the configured address."""


@dataclass(frozen=True)
class ErrorSpec:
    name: str
    types: tuple[str, ...]
    names: tuple[str, ...]


class ContractRevert(ChainError):
    """A call reverted with a custom error (or a plain reason)."""

    def __init__(self, name: str, args: dict[str, Any], raw: str = "") -> None:
        self.error_name = name
        self.error_args = args
        self.raw = raw
        shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
        super().__init__(f"reverted: {name}({shown})")


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return to_hex(value)
    return str(value)


def _canonical_type(entry: dict[str, Any]) -> str:
    if entry["type"].startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in entry["components"])
        return f"({inner}){entry['type'][5:]}"
    return str(entry["type"])


class ErrorDecoder:
    """Decodes revert data using every `error` entry of the given ABIs."""

    def __init__(self, abis: Iterable[dict[str, Any]]) -> None:
        self._by_selector: dict[bytes, ErrorSpec] = {}
        for entry in abis:
            if entry.get("type") != "error":
                continue
            types = tuple(_canonical_type(i) for i in entry.get("inputs", []))
            names = tuple(i.get("name") or f"arg{n}" for n, i in enumerate(entry.get("inputs", [])))
            selector = function_signature_to_4byte_selector(f"{entry['name']}({','.join(types)})")
            self._by_selector[selector] = ErrorSpec(entry["name"], types, names)

    def decode(self, data: bytes | str | None) -> ContractRevert:
        raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else (data or b"")
        selector, body = raw[:4], raw[4:]
        if selector == bytes.fromhex("08c379a0"):  # Error(string)
            (reason,) = abi_decode(["string"], body)
            return ContractRevert("Error", {"reason": reason}, to_hex(raw))
        if selector == bytes.fromhex("4e487b71"):  # Panic(uint256)
            (code,) = abi_decode(["uint256"], body)
            return ContractRevert("Panic", {"code": hex(code)}, to_hex(raw))
        spec = self._by_selector.get(selector)
        if spec is None:
            return ContractRevert("UnknownError", {"data": to_hex(raw)}, to_hex(raw))
        values = abi_decode(list(spec.types), body)
        return ContractRevert(spec.name, dict(zip(spec.names, values)), to_hex(raw))
