"""secp256k1 key utilities: the public key a party registers on-chain, and the address it belongs to.

The Authorization contract's `registerKey(bytes)` takes the 64-byte uncompressed public key without
the `0x04` prefix, and accepts it only from `address = keccak256(pubkey)[12:]`. Inside this package
addresses are always lowercase `0x` hex strings, so that they compare and encode the same everywhere.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import coincurve
from eth_utils import keccak

from .errors import InvalidKey

PRIVATE_KEY_SIZE = 32
PUBLIC_KEY_SIZE = 64


def generate_private_key() -> bytes:
    """A fresh random secp256k1 private key (32 bytes)."""
    while True:
        candidate = secrets.token_bytes(PRIVATE_KEY_SIZE)
        try:
            coincurve.PrivateKey(candidate)
        except ValueError:  # zero or >= the curve order: astronomically rare
            continue
        return candidate


def _private_key(private_key: bytes | str) -> coincurve.PrivateKey:
    raw = bytes.fromhex(private_key.removeprefix("0x")) if isinstance(private_key, str) else private_key
    if len(raw) != PRIVATE_KEY_SIZE:
        raise InvalidKey(f"a private key is {PRIVATE_KEY_SIZE} bytes, got {len(raw)}")
    try:
        return coincurve.PrivateKey(raw)
    except ValueError as exc:
        raise InvalidKey(f"not a valid secp256k1 private key: {exc}") from exc


def public_key_from_private(private_key: bytes | str) -> bytes:
    """The 64-byte uncompressed public key (no `0x04` prefix) that `registerKey(bytes)` expects."""
    return _private_key(private_key).public_key.format(compressed=False)[1:]


def check_public_key(public_key: bytes) -> bytes:
    """Return `public_key` if it is a 64-byte point on secp256k1, else raise `InvalidKey`."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise InvalidKey(f"a public key is {PUBLIC_KEY_SIZE} bytes (no 0x04 prefix), got {len(public_key)}")
    try:
        coincurve.PublicKey(b"\x04" + public_key)
    except ValueError as exc:
        raise InvalidKey("public key is not a point on secp256k1") from exc
    return public_key


def address_from_public_key(public_key: bytes) -> str:
    """`keccak256(pubkey)[12:]` as a lowercase `0x` address."""
    return "0x" + keccak(check_public_key(public_key))[12:].hex()


def address_from_private_key(private_key: bytes | str) -> str:
    return address_from_public_key(public_key_from_private(private_key))


def normalize_address(address: str) -> str:
    """Lowercase `0x` form of a 20-byte hex address (checksummed or not)."""
    body = address.removeprefix("0x").removeprefix("0X")
    if len(body) != 40:
        raise InvalidKey(f"not a 20-byte address: {address!r}")
    try:
        bytes.fromhex(body)
    except ValueError as exc:
        raise InvalidKey(f"not a hex address: {address!r}") from exc
    return "0x" + body.lower()


@dataclass(frozen=True)
class Recipient:
    """A reader as the chain knows it: an address and the public key it registered.

    Construction checks that the key belongs to the address, so a wrong key from a buggy chain
    adapter cannot silently hand a data key to someone else.
    """

    address: str
    public_key: bytes

    def __post_init__(self) -> None:
        address = normalize_address(self.address)
        derived = address_from_public_key(self.public_key)
        if derived != address:
            raise InvalidKey(f"public key belongs to {derived}, not {address}")
        object.__setattr__(self, "address", address)

    @classmethod
    def from_public_key(cls, public_key: bytes) -> Recipient:
        return cls(address_from_public_key(public_key), public_key)
