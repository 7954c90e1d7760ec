"""CID helpers: fast sha2-256 CIDs, parsing, block verification and the on-chain pair.

Strings follow Kubo: CIDv0 in base58btc, CIDv1 in base32 (``b...``). The on-chain
(digest, codec) pair of docs/formats.md §5 lives in ``twinledger.formats.cids``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Union

from multiformats import CID, multihash, varint

from .errors import IntegrityError, InvalidCid

RAW = 0x55
DAG_PB = 0x70
DAG_CBOR = 0x71
SHA2_256 = 0x12
IDENTITY = 0x00

CODEC_NAMES = {"raw": RAW, "dag-pb": DAG_PB, "protobuf": DAG_PB, "dag-cbor": DAG_CBOR, "cbor": DAG_CBOR}
_SHA256_PREFIX = bytes([SHA2_256, 32])

CidLike = Union[str, bytes, CID]


def sha256_multihash(data: bytes | memoryview) -> bytes:
    """Multihash bytes (0x12 0x20 + digest) of ``data``."""
    return _SHA256_PREFIX + hashlib.sha256(data).digest()


def cid_from_multihash(mh: bytes, codec: int, version: int = 1) -> CID:
    if version == 0:
        if codec != DAG_PB or not mh.startswith(_SHA256_PREFIX):
            raise InvalidCid("CIDv0 is only defined for dag-pb with sha2-256")
        return CID("base58btc", 0, DAG_PB, mh)
    return CID("base32", 1, codec, mh)


def make_cid(data: bytes | memoryview, codec: int, version: int = 1) -> CID:
    """sha2-256 CID of a block."""
    return cid_from_multihash(sha256_multihash(data), codec, version)


def parse_cid(value: CidLike) -> CID:
    """Parse a CID from its string form, binary form or a CID object."""
    if isinstance(value, CID):
        return value
    try:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("/ipfs/"):
                value = value[len("/ipfs/"):].split("/", 1)[0]
        return CID.decode(value)
    except Exception as exc:  # noqa: BLE001 - multiformats raises several unrelated error types
        shown = value if isinstance(value, str) else bytes(value).hex()
        raise InvalidCid(f"invalid CID {shown!r}: {exc}") from None


def cid_str(cid: CidLike) -> str:
    """Canonical string: base58btc for v0, base32 for v1."""
    c = parse_cid(cid)
    return str(c) if c.version == 0 else cid_v1_str(c.codec.code, bytes(c.digest))


def cid_v1_str(codec: int, mh: bytes) -> str:
    """The base32 string of the CIDv1 (codec, multihash), built without a ``CID`` object: ``multiformats``
    spends about 0.2 ms making one and 0.4 ms encoding it, per block (tests/ipfs/test_ipfs_embedded.py compares)."""
    return "b" + base64.b32encode(_v1_prefix(codec) + mh).decode("ascii").lower().rstrip("=")


@functools.lru_cache(maxsize=64)
def _v1_prefix(codec: int) -> bytes:
    return varint.encode(1) + varint.encode(codec)


def multihash_bytes(cid: CID) -> bytes:
    return bytes(cid.digest)


def block_key(cid: CID) -> str:
    """Storage key shared by every CID with the same multihash (as Kubo's flatfs does)."""
    return multihash_key(multihash_bytes(cid))


def multihash_key(mh: bytes) -> str:
    """`block_key` from the multihash bytes."""
    return base64.b32encode(mh).decode("ascii").rstrip("=")


def hash_block(data: bytes | memoryview, mh_code: int) -> bytes:
    """Multihash of ``data`` with the multihash function ``mh_code``."""
    if mh_code == SHA2_256:
        return sha256_multihash(data)
    return bytes(multihash.digest(bytes(data), mh_code))


def verify_block(cid: CID, data: bytes | memoryview) -> None:
    """Raise IntegrityError unless ``data`` hashes to ``cid``."""
    expected = multihash_bytes(cid)
    code = cid.hashfun.code
    if code == SHA2_256:
        ok = len(expected) == 34 and hashlib.sha256(data).digest() == expected[2:]
    else:
        try:
            ok = bytes(multihash.digest(bytes(data), code, size=len(cid.raw_digest))) == expected
        except Exception as exc:  # noqa: BLE001 - multiformats raises several unrelated error types
            raise IntegrityError(cid_str(cid), f"cannot verify hash {cid.hashfun.name}: {exc}") from None
    if not ok:
        raise IntegrityError(cid_str(cid), "content does not match its hash")


def identity_data(cid: CID) -> bytes | None:
    """The inline content of an identity-hashed CID, else None."""
    return bytes(cid.raw_digest) if cid.hashfun.code == IDENTITY else None
