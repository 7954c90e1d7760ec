"""EIP-712 signatures of batch anchors (docs/formats.md, section 4, version 1).

Domain: ``name = "TwinLedger SensorFeed"``, ``version = "1"``, the chain id and the ``SensorFeed``
address. Type::

    Anchor(uint256 feedId,uint64 seq,bytes32 prevHead,bytes32 root,bytes32 cid,uint32 count,uint64 tFirst,uint64 tLast)

The feed's device key signs the typed-data digest; signatures are 65 bytes ``r || s || v``
(``v`` in {27, 28}), which OpenZeppelin's ``ECDSA.recover`` accepts. Encoding, hashing, signing and
recovery go through eth-account's typed-data support.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import coincurve
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import to_checksum_address

from .fields import check_b32, check_uint
from .merkle import keccak256

__all__ = [
    "FORMAT_VERSION",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "ANCHOR_TYPE",
    "ANCHOR_TYPEHASH",
    "AnchorMessage",
    "domain",
    "domain_separator",
    "typed_data",
    "anchor_digest",
    "sign_anchor",
    "recover_anchor_signer",
]

FORMAT_VERSION = 1
DOMAIN_NAME = "TwinLedger SensorFeed"
DOMAIN_VERSION = "1"
ANCHOR_TYPE = (
    "Anchor(uint256 feedId,uint64 seq,bytes32 prevHead,bytes32 root,bytes32 cid,"
    "uint32 count,uint64 tFirst,uint64 tLast)"
)
ANCHOR_TYPEHASH = keccak256(ANCHOR_TYPE.encode())

_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Anchor": [
        {"name": "feedId", "type": "uint256"},
        {"name": "seq", "type": "uint64"},
        {"name": "prevHead", "type": "bytes32"},
        {"name": "root", "type": "bytes32"},
        {"name": "cid", "type": "bytes32"},
        {"name": "count", "type": "uint32"},
        {"name": "tFirst", "type": "uint64"},
        {"name": "tLast", "type": "uint64"},
    ],
}


@dataclass(frozen=True, slots=True)
class AnchorMessage:
    """The signed fields of one anchor. ``cid`` is the batch CID's sha2-256 digest."""

    feed_id: int
    seq: int
    prev_head: bytes
    root: bytes
    cid: bytes
    count: int
    t_first: int
    t_last: int

    def __post_init__(self) -> None:
        check_uint(self.feed_id, 256, "feed_id")
        check_uint(self.seq, 64, "seq")
        check_b32(self.prev_head, "prev_head")
        check_b32(self.root, "root")
        check_b32(self.cid, "cid")
        check_uint(self.count, 32, "count")
        check_uint(self.t_first, 64, "t_first")
        check_uint(self.t_last, 64, "t_last")

    def as_message(self) -> dict[str, Any]:
        """The EIP-712 ``message`` object."""
        return {
            "feedId": self.feed_id,
            "seq": self.seq,
            "prevHead": bytes(self.prev_head),
            "root": bytes(self.root),
            "cid": bytes(self.cid),
            "count": self.count,
            "tFirst": self.t_first,
            "tLast": self.t_last,
        }

    def struct_hash(self) -> bytes:
        """``hashStruct(Anchor)``: every field is a static type, so one word each."""
        return keccak256(
            ANCHOR_TYPEHASH
            + self.feed_id.to_bytes(32, "big")
            + self.seq.to_bytes(32, "big")
            + self.prev_head
            + self.root
            + self.cid
            + self.count.to_bytes(32, "big")
            + self.t_first.to_bytes(32, "big")
            + self.t_last.to_bytes(32, "big")
        )


def domain(chain_id: int, verifying_contract: str) -> dict[str, Any]:
    """The EIP-712 domain of the ``SensorFeed`` at ``verifying_contract`` on chain ``chain_id``."""
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": check_uint(chain_id, 256, "chain_id"),
        "verifyingContract": to_checksum_address(str(verifying_contract)),
    }


def typed_data(message: AnchorMessage, chain_id: int, verifying_contract: str) -> dict[str, Any]:
    """The full EIP-712 typed-data object (what ``eth_signTypedData_v4`` takes)."""
    return {
        "types": _TYPES,
        "primaryType": "Anchor",
        "domain": domain(chain_id, verifying_contract),
        "message": message.as_message(),
    }


def _signable(message: AnchorMessage, chain_id: int, verifying_contract: str) -> SignableMessage:
    return encode_typed_data(full_message=typed_data(message, chain_id, verifying_contract))


def domain_separator(chain_id: int, verifying_contract: str) -> bytes:
    """``SensorFeed.domainSeparator()`` for that chain and address."""
    return bytes(_signable(_ZERO_MESSAGE, chain_id, verifying_contract).header)


def anchor_digest(message: AnchorMessage, chain_id: int, verifying_contract: str) -> bytes:
    """The 32-byte digest the device key signs: ``keccak256(0x1901 || domainSeparator || structHash)``."""
    s = _signable(message, chain_id, verifying_contract)
    return keccak256(b"\x19" + bytes(s.version) + bytes(s.header) + bytes(s.body))


def sign_anchor(private_key: bytes | str, message: AnchorMessage, chain_id: int, verifying_contract: str) -> bytes:
    """The device key's 65-byte signature ``r || s || v`` of ``message``."""
    signed = Account.sign_message(_signable(message, chain_id, verifying_contract), private_key)
    return bytes(signed.signature)


def recover_anchor_signer(message: AnchorMessage, signature: bytes, chain_id: int, verifying_contract: str) -> str:
    """The checksummed address that signed ``message`` (raises ``ValueError`` on a malformed signature)."""
    if len(signature) != 65:
        raise ValueError(f"an anchor signature is 65 bytes (r, s, v), got {len(signature)}")
    try:
        return str(Account.recover_message(_signable(message, chain_id, verifying_contract), signature=signature))
    except Exception as exc:  # eth-keys raises BadSignature and friends
        raise ValueError(f"invalid anchor signature: {exc}") from exc


class AnchorRecoverer:
    """Recovers anchor signers fast: the domain separator once, then keccak + secp256k1 recovery
    (eth-account's typed-data path costs ~1 ms per signature, too slow for long feeds)."""

    def __init__(self, chain_id: int, contract: str) -> None:
        self.separator = domain_separator(chain_id, contract)

    def recover(self, message: AnchorMessage, signature: bytes) -> str:
        if len(signature) != 65:
            raise ValueError(f"an anchor signature is 65 bytes, got {len(signature)}")
        v = signature[64]
        v = v - 27 if v in (27, 28) else v
        if v not in (0, 1):
            raise ValueError(f"signature v must be 27 or 28, got {signature[64]}")
        digest = keccak256(b"\x19\x01" + self.separator + message.struct_hash())
        try:
            pub = coincurve.PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest, hasher=None)
        except Exception as exc:  # noqa: BLE001 - coincurve raises plain Exception
            raise ValueError(f"no signer recoverable: {exc}") from None
        return to_checksum_address(keccak256(pub.format(compressed=False)[1:])[12:])


class AnchorSigner:
    """Signs anchors fast for one device key and one ``SensorFeed``: the domain separator once, then keccak
    and a secp256k1 recoverable signature (the same bytes as ``sign_anchor``, without the typed-data path)."""

    def __init__(self, private_key: bytes | str, chain_id: int, contract: str) -> None:
        key = bytes.fromhex(private_key.removeprefix("0x")) if isinstance(private_key, str) else bytes(private_key)
        self._key = coincurve.PrivateKey(key)
        self.separator = domain_separator(chain_id, contract)

    def sign(self, message: AnchorMessage) -> bytes:
        digest = keccak256(b"\x19\x01" + self.separator + message.struct_hash())
        sig = self._key.sign_recoverable(digest, hasher=None)
        return sig[:64] + bytes([sig[64] + 27])


_ZERO_MESSAGE = AnchorMessage(0, 0, bytes(32), bytes(32), bytes(32), 0, 0, 0)
