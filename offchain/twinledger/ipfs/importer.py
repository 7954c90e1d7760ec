"""UnixFS file importer producing the same DAG (and CIDs) as Kubo's balanced layout.

Mirrors boxo's ``importer/balanced``: the first leaf becomes the root; while data remains, the
current root becomes the first child of a new root one layer deeper, which is then filled
depth-first up to ``max_links`` children per node. A one-chunk file is just its leaf.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Iterator, Optional

from multiformats import CID, varint

from .cids import DAG_PB, RAW, make_cid
from .dagpb import PBLink, PBNode, UnixFSData, UnixFSType, encode_node, encode_unixfs

DEFAULT_CHUNK_SIZE = 256 * 1024
DEFAULT_MAX_LINKS = 174
MAX_CHUNK_SIZE = 1024 * 1024  # Kubo refuses larger chunks (bitswap block limit)

BlockSink = Callable[[CID, "bytes | memoryview"], None]


@dataclass(frozen=True)
class ImportParams:
    """Importer settings; ``raw_leaves=None`` means Kubo's default (raw iff CIDv1)."""

    cid_version: int = 1
    raw_leaves: Optional[bool] = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    max_links: int = DEFAULT_MAX_LINKS

    def __post_init__(self) -> None:
        if self.cid_version not in (0, 1):
            raise ValueError(f"cid_version must be 0 or 1, not {self.cid_version}")
        if not 0 < self.chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk size must be between 1 and {MAX_CHUNK_SIZE} bytes")
        if self.max_links < 2:
            raise ValueError("max_links must be at least 2")

    @property
    def use_raw_leaves(self) -> bool:
        return self.cid_version == 1 if self.raw_leaves is None else self.raw_leaves


@dataclass(frozen=True)
class ImportResult:
    cid: CID
    size: int  # file bytes
    tsize: int  # cumulative size of all blocks (Kubo's "Size" in add output)
    blocks: int


_CHUNKER_RE = re.compile(r"^size-(\d+)$")


def parse_chunker(spec: str | None) -> int:
    """Chunk size from a Kubo chunker spec (``size-N``; ``default`` is 256 KiB)."""
    if spec in (None, "", "default"):
        return DEFAULT_CHUNK_SIZE
    m = _CHUNKER_RE.match(spec)
    if not m:
        raise ValueError(f"unsupported chunker {spec!r}: only 'size-N' is implemented")
    size = int(m.group(1))
    if not 0 < size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunker size must be between 1 and {MAX_CHUNK_SIZE}, got {size}")
    return size


def chunk_bytes(data: bytes | bytearray | memoryview, size: int) -> Iterator[memoryview]:
    """Zero-copy fixed-size chunks of an in-memory buffer."""
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield view[start:start + size]


def chunk_reader(stream: BinaryIO, size: int) -> Iterator[bytes]:
    """Fixed-size chunks read from a stream; short reads are completed like io.ReadFull."""
    while True:
        buf = stream.read(size)
        if not buf:
            return
        while len(buf) < size:
            more = stream.read(size - len(buf))
            if not more:
                break
            buf += more
        yield buf
        if len(buf) < size:
            return


class _Lookahead:
    """Chunk iterator that knows whether another chunk follows (boxo's ``db.Done()``)."""

    def __init__(self, chunks: Iterable[bytes | memoryview]) -> None:
        self._it = (c for c in chunks if len(c))
        self._next = next(self._it, None)

    def done(self) -> bool:
        return self._next is None

    def take(self) -> bytes | memoryview:
        chunk = self._next
        assert chunk is not None
        self._next = next(self._it, None)
        return chunk


@dataclass(frozen=True)
class _Child:
    cid: CID
    tsize: int
    filesize: int


class _Builder:
    def __init__(self, params: ImportParams, sink: Optional[BlockSink]) -> None:
        self.p = params
        self.sink = sink
        self.blocks = 0

    def _emit(self, cid: CID, block: bytes | memoryview) -> None:
        self.blocks += 1
        if self.sink is not None:
            self.sink(cid, block)

    def leaf(self, chunk: bytes | memoryview) -> _Child:
        n = len(chunk)
        if self.p.use_raw_leaves:
            cid = make_cid(chunk, RAW, 1)  # raw blocks need CIDv1 even under a v0 root
            self._emit(cid, chunk)
            return _Child(cid, n, n)
        block = _encode_file_leaf(chunk)
        cid = make_cid(block, DAG_PB, self.p.cid_version)
        self._emit(cid, block)
        return _Child(cid, len(block), n)

    def internal(self, children: list[_Child]) -> _Child:
        sizes = tuple(c.filesize for c in children)
        filesize = sum(sizes)
        data = encode_unixfs(UnixFSData(UnixFSType.FILE, None, filesize, sizes))
        links = tuple(PBLink(bytes(c.cid), "", c.tsize) for c in children)
        block = encode_node(PBNode(links, data))
        cid = make_cid(block, DAG_PB, self.p.cid_version)
        self._emit(cid, block)
        return _Child(cid, len(block) + sum(c.tsize for c in children), filesize)

    def fill(self, chunks: _Lookahead, children: list[_Child], depth: int) -> _Child:
        while len(children) < self.p.max_links and not chunks.done():
            if depth == 1:
                children.append(self.leaf(chunks.take()))
            else:
                children.append(self.fill(chunks, [], depth - 1))
        return self.internal(children)

    def layout(self, chunks: _Lookahead) -> _Child:
        if chunks.done():
            return self.leaf(b"")
        root = self.leaf(chunks.take())
        depth = 1
        while not chunks.done():
            root = self.fill(chunks, [root], depth)
            depth += 1
        return root


def _encode_file_leaf(chunk: bytes | memoryview) -> bytes:
    """dag-pb node {Data: UnixFS{Type: File, Data: chunk, filesize}} with a single copy of chunk."""
    n = len(chunk)
    if n == 0:  # Kubo leaves Data unset for the empty file
        inner_head, inner_tail = b"\x08\x02", b"\x18\x00"
        chunk = b""
    else:
        inner_head = b"\x08\x02\x12" + varint.encode(n)
        inner_tail = b"\x18" + varint.encode(n)
    inner_len = len(inner_head) + n + len(inner_tail)
    return b"".join((b"\x0a", varint.encode(inner_len), inner_head, chunk, inner_tail))


def import_chunks(
    chunks: Iterable[bytes | memoryview], params: ImportParams, sink: Optional[BlockSink] = None
) -> ImportResult:
    """Build the UnixFS DAG of a file given as chunks of exactly ``params.chunk_size`` bytes
    (the last may be shorter). Blocks go to ``sink`` (None: only hash)."""
    builder = _Builder(params, sink)
    root = builder.layout(_Lookahead(chunks))
    return ImportResult(root.cid, root.filesize, root.tsize, builder.blocks)


def import_bytes(data: bytes | bytearray | memoryview, params: ImportParams,
                 sink: Optional[BlockSink] = None) -> ImportResult:
    return import_chunks(chunk_bytes(data, params.chunk_size), params, sink)


def import_stream(stream: BinaryIO, params: ImportParams, sink: Optional[BlockSink] = None) -> ImportResult:
    return import_chunks(chunk_reader(stream, params.chunk_size), params, sink)
