"""Byte-exact dag-pb and UnixFS protobuf encoding, written by hand.

Kubo (boxo/go-codec-dagpb) writes a PBNode's Links (field 2) before its Data (field 1), and
every PBLink carries Hash, Name (present even when empty: ``12 00``) and Tsize, in that order.
UnixFS ``Data`` fields go in field-number order; blocksizes are repeated, not packed.
A generic protobuf library would reorder fields or drop the empty Name and change CIDs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Iterator

from multiformats import varint

from .errors import IpfsError

_WT_VARINT = 0
_WT_LEN = 2


class DecodeError(IpfsError, ValueError):
    """Malformed protobuf bytes."""


class UnixFSType(IntEnum):
    RAW = 0
    DIRECTORY = 1
    FILE = 2
    METADATA = 3
    SYMLINK = 4
    HAMT_SHARD = 5


@dataclass(frozen=True)
class PBLink:
    hash: bytes  # binary CID
    name: str | None = ""
    tsize: int | None = None


@dataclass(frozen=True)
class PBNode:
    links: tuple[PBLink, ...] = ()
    data: bytes | None = None


@dataclass(frozen=True)
class UnixFSData:
    type: UnixFSType
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: tuple[int, ...] = field(default_factory=tuple)


def _key(field_no: int, wire_type: int) -> bytes:
    return varint.encode((field_no << 3) | wire_type)


def _len_field(field_no: int, payload: bytes) -> bytes:
    return _key(field_no, _WT_LEN) + varint.encode(len(payload)) + payload


def _varint_field(field_no: int, value: int) -> bytes:
    return _key(field_no, _WT_VARINT) + varint.encode(value)


def encode_link(link: PBLink) -> bytes:
    out = _len_field(1, link.hash)
    if link.name is not None:
        out += _len_field(2, link.name.encode("utf-8"))
    if link.tsize is not None:
        out += _varint_field(3, link.tsize)
    return out


def encode_node(node: PBNode) -> bytes:
    parts = [_len_field(2, encode_link(link)) for link in node.links]
    if node.data is not None:
        parts.append(_len_field(1, node.data))
    return b"".join(parts)


def encode_unixfs(d: UnixFSData) -> bytes:
    parts = [_varint_field(1, int(d.type))]
    if d.data is not None:
        parts.append(_len_field(2, d.data))
    if d.filesize is not None:
        parts.append(_varint_field(3, d.filesize))
    parts.extend(_varint_field(4, size) for size in d.blocksizes)
    return b"".join(parts)


def _fields(buf: bytes | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield (field number, wire type, value) for varint and length-delimited fields."""
    view = memoryview(buf)
    pos = 0
    end = len(view)
    while pos < end:
        key, n, _ = _read_varint(view, pos)
        pos += n
        field_no, wire_type = key >> 3, key & 7
        if wire_type == _WT_VARINT:
            value, n, _ = _read_varint(view, pos)
            pos += n
            yield field_no, wire_type, value
        elif wire_type == _WT_LEN:
            length, n, _ = _read_varint(view, pos)
            pos += n
            if pos + length > end:
                raise DecodeError("truncated length-delimited field")
            yield field_no, wire_type, view[pos:pos + length]
            pos += length
        else:
            raise DecodeError(f"unsupported protobuf wire type {wire_type}")


def _read_varint(view: memoryview, pos: int) -> tuple[int, int, None]:
    result = shift = 0
    start = pos
    while True:
        if pos >= len(view) or pos - start > 9:
            raise DecodeError("truncated or overlong varint")
        byte = view[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return result, pos - start, None
        shift += 7


def decode_link(buf: memoryview) -> PBLink:
    hash_: bytes | None = None
    name: str | None = None
    tsize: int | None = None
    for no, wt, value in _fields(buf):
        if no == 1 and wt == _WT_LEN:
            hash_ = bytes(value)
        elif no == 2 and wt == _WT_LEN:
            name = bytes(value).decode("utf-8")
        elif no == 3 and wt == _WT_VARINT:
            tsize = int(value)
        else:
            raise DecodeError(f"unexpected PBLink field {no}")
    if hash_ is None:
        raise DecodeError("PBLink without Hash")
    return PBLink(hash_, name, tsize)


def decode_node(buf: bytes | memoryview) -> PBNode:
    links: list[PBLink] = []
    data: bytes | None = None
    for no, wt, value in _fields(buf):
        if no == 2 and isinstance(value, memoryview):  # length-delimited
            links.append(decode_link(value))
        elif no == 1 and wt == _WT_LEN:
            data = bytes(value)
        else:
            raise DecodeError(f"unexpected PBNode field {no}")
    return PBNode(tuple(links), data)


def decode_unixfs(buf: bytes | memoryview) -> UnixFSData:
    type_: int | None = None
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: list[int] = []
    for no, wt, value in _fields(buf):
        if no == 1 and wt == _WT_VARINT:
            type_ = int(value)
        elif no == 2 and wt == _WT_LEN:
            data = bytes(value)
        elif no == 3 and wt == _WT_VARINT:
            filesize = int(value)
        elif no == 4 and wt == _WT_VARINT:
            blocksizes.append(int(value))
        # hashType, fanout, mode, mtime: not needed to read file content
    if type_ is None:
        raise DecodeError("UnixFS Data without Type")
    try:
        kind = UnixFSType(type_)
    except ValueError:
        raise DecodeError(f"unknown UnixFS type {type_}") from None
    return UnixFSData(kind, data, filesize, tuple(blocksizes))
