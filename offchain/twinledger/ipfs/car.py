"""CAR v1 (Content Addressable aRchive) writing and verified reading.

Layout: varint(len(header)) + DAG-CBOR {"roots": [CID...], "version": 1}, then sections of
varint(len(cid) + len(block)) + binary CID + block. CARv2 files are read through their inner
CARv1 payload.
"""

from __future__ import annotations

from typing import BinaryIO, Iterable, Iterator, Sequence

import dag_cbor
from multiformats import CID, varint

from .cids import cid_str, verify_block
from .errors import IpfsError

CARV2_PRAGMA = bytes.fromhex("0aa16776657273696f6e02")
_MAX_SECTION = 8 * 1024 * 1024  # far above any sane block; stops a corrupt length from eating RAM


class CarError(IpfsError, ValueError):
    """Malformed CAR data."""


def encode_header(roots: Sequence[CID]) -> bytes:
    header = dag_cbor.encode({"roots": list(roots), "version": 1})
    return varint.encode(len(header)) + header


def encode_section(cid: CID, block: bytes) -> bytes:
    cid_bytes = bytes(cid)
    return b"".join((varint.encode(len(cid_bytes) + len(block)), cid_bytes, block))


def iter_car(roots: Sequence[CID], blocks: Iterable[tuple[CID, bytes]]) -> Iterator[bytes]:
    """CAR v1 bytes, piece by piece (one piece per block)."""
    yield encode_header(roots)
    for cid, block in blocks:
        yield encode_section(cid, block)


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    buf = stream.read(n)
    while len(buf) < n:
        more = stream.read(n - len(buf))
        if not more:
            raise CarError("CAR file is truncated")
        buf += more
    return buf


def _read_varint(stream: BinaryIO) -> int | None:
    """Next unsigned varint, or None at a clean end of stream."""
    result = shift = 0
    for i in range(10):
        byte = stream.read(1)
        if not byte:
            if i == 0:
                return None
            raise CarError("CAR file is truncated inside a varint")
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7
    raise CarError("overlong varint in CAR file")


def _split_cid(section: bytes) -> tuple[CID, bytes]:
    """Split a section into its CID and block: the CID's length comes from its own varints."""
    try:
        if section[:2] == b"\x12\x20":  # CIDv0 is a bare sha2-256 multihash
            end = 34
        else:
            pos = 0
            for _ in range(3):  # version, codec, multihash code
                _, n, _ = varint.decode_raw(section[pos:pos + 10])
                pos += n
            digest_len, n, _ = varint.decode_raw(section[pos:pos + 10])
            end = pos + n + digest_len
        return CID.decode(section[:end]), section[end:]
    except Exception as exc:  # noqa: BLE001 - multiformats raises several unrelated error types
        raise CarError(f"bad CID in CAR section: {exc}") from None


def read_car(stream: BinaryIO) -> tuple[list[CID], Iterator[tuple[CID, bytes]]]:
    """Parse the header and return (roots, verified blocks). Blocks are read lazily;
    a block that does not match its CID raises IntegrityError."""
    header_len = _read_varint(stream)
    if header_len is None or header_len > _MAX_SECTION:
        raise CarError("not a CAR file: missing header")
    raw = _read_exact(stream, header_len)
    if varint.encode(header_len) + raw == CARV2_PRAGMA:
        return _read_carv2(stream)
    try:
        header = dag_cbor.decode(raw)
    except Exception as exc:  # noqa: BLE001 - dag-cbor raises several unrelated error classes
        raise CarError(f"not a CAR file: bad header ({exc})") from None
    if not isinstance(header, dict) or header.get("version") != 1:
        raise CarError(f"unsupported CAR version {header.get('version') if isinstance(header, dict) else '?'!r}")
    roots = header.get("roots")
    if not isinstance(roots, list) or not all(isinstance(r, CID) for r in roots):
        raise CarError("CAR header has no valid roots list")
    return [r for r in roots if isinstance(r, CID)], _iter_sections(stream)


def _read_carv2(stream: BinaryIO) -> tuple[list[CID], Iterator[tuple[CID, bytes]]]:
    fixed = _read_exact(stream, 40)  # characteristics(16) data_offset(8) data_size(8) index_offset(8)
    data_offset = int.from_bytes(fixed[16:24], "little")
    data_size = int.from_bytes(fixed[24:32], "little")
    consumed = len(CARV2_PRAGMA) + 40
    if data_offset < consumed:
        raise CarError("bad CARv2 data offset")
    _read_exact(stream, data_offset - consumed) if data_offset > consumed else None
    inner = _LimitedReader(stream, data_size)
    return read_car(inner)  # type: ignore[arg-type]


class _LimitedReader:
    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self._s = stream
        self._left = limit

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n < 0 else min(n, self._left)
        data = self._s.read(n)
        self._left -= len(data)
        return data


def _iter_sections(stream: BinaryIO) -> Iterator[tuple[CID, bytes]]:
    while True:
        length = _read_varint(stream)
        if length is None:
            return
        if length == 0 or length > _MAX_SECTION:
            raise CarError(f"bad CAR section length {length}")
        cid, block = _split_cid(_read_exact(stream, length))
        verify_block(cid, block)
        yield cid, block


def car_roots_str(roots: Sequence[CID]) -> list[str]:
    return [cid_str(r) for r in roots]
