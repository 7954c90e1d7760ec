"""CIDs on-chain (docs/formats.md, section 5, version 1).

Contracts store a CID as ``(bytes32 digest, uint16 codec)``: the sha2-256 digest of the CID's
multihash and the multicodec of its content, ``0x55`` (raw) or ``0x70`` (dag-pb). CIDv0 (``Qm...``)
is dag-pb with the same multihash, so it packs to the same pair as its CIDv1 and unpacks as the
equivalent base32 CIDv1. Sensor batches are single raw blocks: ``SensorFeed`` stores only the digest
and :func:`raw_cid_from_digest` rebuilds the CID.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from multiformats import CID, multihash

__all__ = [
    "FORMAT_VERSION",
    "RAW",
    "DAG_PB",
    "SHA2_256",
    "pack",
    "unpack",
    "raw_cid_from_digest",
    "raw_cid_of",
]

FORMAT_VERSION = 1
RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
_CODECS = {RAW: "raw", DAG_PB: "dag-pb"}


def _parse(cid: str | CID) -> CID:
    if isinstance(cid, CID):
        return cid
    if not isinstance(cid, str):
        raise ValueError(f"expected a CID string or multiformats.CID, got {type(cid).__name__}")
    try:
        return CID.decode(cid.strip())
    except Exception as exc:
        raise ValueError(f"not a valid CID: {cid!r}: {exc}") from exc


def _pack_base32_v1(cid: str) -> tuple[bytes, int] | None:
    """The common case without multiformats' generic parser (a third of the anchor thread's time at 1,000 feeds):
    a canonical lowercase base32 CIDv1 of a raw or dag-pb block with a 32-byte sha2-256 multihash. None for
    anything else, which the generic path then parses (and rejects, if it must)."""
    rest = cid[1:]
    if cid[:1] != "b" or len(rest) != 58 or rest != rest.lower():
        return None
    try:
        raw = base64.b32decode(rest.upper() + "======")
    except (binascii.Error, ValueError):
        return None
    if (len(raw) != 36 or raw[0] != 1 or raw[1] not in _CODECS or raw[2] != SHA2_256 or raw[3] != 32
            or base64.b32encode(raw).decode("ascii").rstrip("=").lower() != rest):
        return None
    return raw[4:], raw[1]


def pack(cid: str | CID) -> tuple[bytes, int]:
    """``(digest, codec)`` of a sha2-256 CID, v0 or v1, raw or dag-pb.

    Raises ``ValueError`` for anything else (another hash function or codec, a malformed CID).
    """
    if isinstance(cid, str):
        fast = _pack_base32_v1(cid.strip())
        if fast is not None:
            return fast
    c = _parse(cid)
    if c.hashfun.code != SHA2_256:
        raise ValueError(f"CID {c} uses hash {c.hashfun.name}; only sha2-256 CIDs fit on-chain")
    if c.codec.code not in _CODECS:
        raise ValueError(f"CID {c} has codec {c.codec.name} (0x{c.codec.code:x}); only raw (0x55) and dag-pb (0x70) fit on-chain")
    digest = bytes(c.raw_digest)
    if len(digest) != 32:
        raise ValueError(f"CID {c} has a truncated sha2-256 digest ({len(digest)} bytes)")
    return digest, c.codec.code


def unpack(digest: bytes, codec: int) -> str:
    """The base32 CIDv1 string of a stored ``(digest, codec)`` pair."""
    if not isinstance(digest, (bytes, bytearray)) or len(digest) != 32:
        raise ValueError(f"a sha2-256 digest is 32 bytes, got {digest!r:.80}")
    if codec not in _CODECS:
        raise ValueError(f"codec 0x{codec:x} is not raw (0x55) or dag-pb (0x70)")
    return str(CID("base32", 1, _CODECS[codec], multihash.wrap(bytes(digest), "sha2-256")))


def raw_cid_from_digest(digest: bytes) -> str:
    """The CID of a sensor batch from the digest ``SensorFeed`` stores: CIDv1, raw, sha2-256."""
    return unpack(digest, RAW)


def raw_cid_of(data: bytes) -> str:
    """The CIDv1 (raw, sha2-256) of a single-block object, as ``ipfs add --cid-version 1 --raw-leaves``."""
    return raw_cid_from_digest(hashlib.sha256(data).digest())
