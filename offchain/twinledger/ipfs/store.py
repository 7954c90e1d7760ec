"""The storage interface every backend implements, and the dataclasses at its edges.

CIDs cross this interface as strings (Kubo's canonical form: ``Qm...`` for v0, ``b...`` for v1);
methods also accept ``multiformats.CID`` objects and ``/ipfs/<cid>`` paths.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from typing import BinaryIO, Iterator, Optional, Protocol, Sequence, Union, runtime_checkable

from .cids import CidLike
from .importer import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_LINKS, ImportParams

PathOrFile = Union[str, "os.PathLike[str]", BinaryIO]


@dataclass(frozen=True)
class AddOptions:
    """UnixFS import options. Defaults are docs/formats.md §5: CIDv1, raw leaves, 256 KiB, 174."""

    cid_version: int = 1
    raw_leaves: Optional[bool] = None  # None: Kubo's rule, raw leaves iff CIDv1
    chunk_size: int = DEFAULT_CHUNK_SIZE
    max_links: int = DEFAULT_MAX_LINKS
    only_hash: bool = False
    pin: bool = True

    def import_params(self) -> ImportParams:
        return ImportParams(self.cid_version, self.raw_leaves, self.chunk_size, self.max_links)


@dataclass(frozen=True)
class AddResult:
    cid: str
    size: int  # file bytes
    cumulative_size: int  # all blocks of the DAG (Kubo's "Size")


@dataclass(frozen=True)
class BlockStat:
    cid: str
    size: int


class PinType(str, Enum):
    RECURSIVE = "recursive"
    DIRECT = "direct"
    INDIRECT = "indirect"


@dataclass(frozen=True)
class Pin:
    cid: str
    type: PinType


@dataclass(frozen=True)
class CarImportResult:
    roots: list[str]
    blocks: int
    bytes: int
    pin_errors: dict[str, str]  # root -> message, for roots that could not be pinned


@runtime_checkable
class ContentStore(Protocol):
    """Content-addressed storage: UnixFS files, raw blocks, pins and CAR files."""

    def add_bytes(self, data: bytes, *, cid_version: int = 1, raw_leaves: Optional[bool] = None,
                  chunk_size: int = DEFAULT_CHUNK_SIZE, max_links: int = DEFAULT_MAX_LINKS,
                  only_hash: bool = False, pin: bool = True) -> AddResult: ...

    def add_file(self, source: PathOrFile, *, cid_version: int = 1, raw_leaves: Optional[bool] = None,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, max_links: int = DEFAULT_MAX_LINKS,
                 only_hash: bool = False, pin: bool = True) -> AddResult: ...

    def cat_iter(self, cid: CidLike, *, offset: int = 0, length: Optional[int] = None) -> Iterator[bytes]:
        """Stream a file's bytes; nothing is returned from a block that fails verification."""
        ...

    def cat(self, cid: CidLike, *, offset: int = 0, length: Optional[int] = None) -> bytes: ...

    def block_get(self, cid: CidLike) -> bytes: ...

    def block_put(self, data: bytes, *, codec: str = "raw", mhtype: str = "sha2-256",
                  cid_version: int = 1, pin: bool = False) -> BlockStat: ...

    def block_put_many(self, blocks: Sequence[bytes], *, codec: str = "raw", mhtype: str = "sha2-256",
                       cid_version: int = 1, pin: bool = False) -> list[BlockStat]:
        """`block_put` of every block, in order; all of them are stored (and pinned) when it returns."""
        ...

    def block_has(self, cid: CidLike) -> bool: ...

    def block_stat(self, cid: CidLike) -> BlockStat: ...

    def pin_add(self, cid: CidLike, *, recursive: bool = True) -> list[str]: ...

    def pin_rm(self, cid: CidLike, *, recursive: bool = True) -> list[str]: ...

    def pin_ls(self, cid: Optional[CidLike] = None, *, type: str = "all") -> list[Pin]: ...

    def export_car_iter(self, root: CidLike) -> Iterator[bytes]:
        """CAR v1 of the whole DAG under ``root``, streamed."""
        ...

    def export_car(self, root: CidLike, dest: PathOrFile) -> int:
        """Write the CAR to a path or binary file; return the number of bytes written."""
        ...

    def import_car(self, source: PathOrFile, *, pin_roots: bool = True) -> CarImportResult: ...

    def close(self) -> None: ...


class CarFiles:
    """`export_car` and `import_car` for paths and binary files, on top of a backend's own
    `export_car_iter` and `_import_car(stream, pin_roots)`: shared by the embedded and Kubo stores."""

    def export_car(self, root: CidLike, dest: PathOrFile) -> int:
        return write_chunks(self.export_car_iter(root), dest)  # type: ignore[attr-defined]

    def import_car(self, source: PathOrFile, *, pin_roots: bool = True) -> CarImportResult:
        if hasattr(source, "read"):
            result: CarImportResult = self._import_car(source, pin_roots)  # type: ignore[attr-defined]
            return result
        with open(os.fspath(source), "rb") as f:
            result = self._import_car(f, pin_roots)  # type: ignore[attr-defined]
            return result


def write_chunks(chunks: Iterator[bytes], dest: PathOrFile) -> int:
    """Write streamed bytes to a path (atomically: temp file then rename) or a binary file."""
    if hasattr(dest, "write"):
        return _write_all(chunks, dest)  # type: ignore[arg-type]
    path = os.fspath(dest)
    tmp = f"{path}.part-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            n = _write_all(chunks, f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return n


def _write_all(chunks: Iterator[bytes], f: BinaryIO) -> int:
    n = 0
    for piece in chunks:
        f.write(piece)
        n += len(piece)
    return n


def pin_types_for(filter_: str) -> Sequence[PinType]:
    """Pin types selected by Kubo's ``--type`` value."""
    if filter_ == "all":
        return (PinType.DIRECT, PinType.RECURSIVE, PinType.INDIRECT)
    try:
        return (PinType(filter_),)
    except ValueError:
        raise ValueError(f"invalid type {filter_!r}, must be one of: direct, indirect, recursive, all") from None
