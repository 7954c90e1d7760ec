"""Reading DAGs: link extraction, depth-first walks and UnixFS file content (cat)."""

from __future__ import annotations

from typing import Any, Callable, Generator, Iterator, Optional

import dag_cbor
from multiformats import CID

from .cids import DAG_CBOR, DAG_PB, IDENTITY, RAW, cid_str
from .dagpb import PBNode, UnixFSType, decode_node, decode_unixfs
from .errors import UnsupportedContent

GetBlock = Callable[[CID], bytes]


def links_of(cid: CID, block: bytes) -> list[CID]:
    """Child CIDs of a block, in order (dag-pb links, CIDs anywhere inside dag-cbor)."""
    code = cid.codec.code
    if code == DAG_PB:
        return [CID.decode(link.hash) for link in decode_node(block).links]
    if code == DAG_CBOR:
        found: list[CID] = []
        _collect_cids(dag_cbor.decode(block), found)
        return found
    return []


def _collect_cids(value: Any, out: list[CID]) -> None:
    if isinstance(value, CID):
        out.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_cids(item, out)
    elif isinstance(value, list):
        for item in value:
            _collect_cids(item, out)


def walk(get_block: GetBlock, root: CID) -> Iterator[tuple[CID, bytes]]:
    """Every block reachable from ``root`` once, depth-first pre-order (Kubo's dag export order).

    Identity CIDs carry their data inline and are skipped."""
    seen: set[bytes] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        key = bytes(cid)
        if key in seen or cid.hashfun.code == IDENTITY:
            continue
        seen.add(key)
        block = get_block(cid)
        yield cid, block
        stack.extend(reversed(links_of(cid, block)))


def cat(get_block: GetBlock, root: CID, offset: int = 0, length: Optional[int] = None) -> Iterator[bytes]:
    """Stream a UnixFS file's bytes from ``offset``, at most ``length`` bytes."""
    if offset < 0 or (length is not None and length < 0):
        raise ValueError("offset and length must not be negative")
    remaining = [length if length is not None else -1]
    if remaining[0] == 0:
        return
    yield from _cat_node(get_block, root, offset, remaining)


def _take(data: bytes, skip: int, remaining: list[int]) -> tuple[bytes, int]:
    """Cut ``data`` by the bytes still to skip and the bytes still wanted; return (piece, skip left)."""
    if skip >= len(data):
        return b"", skip - len(data)
    piece = data[skip:] if skip else data
    if remaining[0] >= 0:
        piece = piece[:remaining[0]]
        remaining[0] -= len(piece)
    return piece, 0


def _cat_node(get_block: GetBlock, cid: CID, skip: int, remaining: list[int]) -> Generator[bytes, None, int]:
    """Yield the node's bytes after ``skip``; return how much of ``skip`` is still to skip."""
    block = get_block(cid)
    code = cid.codec.code
    if code == RAW:
        piece, skip = _take(block, skip, remaining)
        if piece:
            yield piece
        return skip
    if code != DAG_PB:
        raise UnsupportedContent(f"{cid_str(cid)} is not a UnixFS file (codec {cid.codec.name})")
    node: PBNode = decode_node(block)
    if node.data is None:
        raise UnsupportedContent(f"{cid_str(cid)} is a dag-pb node without UnixFS data")
    fs = decode_unixfs(node.data)
    if fs.type in (UnixFSType.DIRECTORY, UnixFSType.HAMT_SHARD):
        raise UnsupportedContent(f"{cid_str(cid)} is a directory, not a file")
    if fs.type not in (UnixFSType.FILE, UnixFSType.RAW):
        raise UnsupportedContent(f"{cid_str(cid)} is a UnixFS {fs.type.name.lower()}, not a file")
    if fs.data:
        piece, skip = _take(fs.data, skip, remaining)
        if piece:
            yield piece
    sizes = fs.blocksizes if len(fs.blocksizes) == len(node.links) else None
    for i, link in enumerate(node.links):
        if remaining[0] == 0:
            break
        if sizes is not None and skip >= sizes[i]:
            skip -= sizes[i]  # the whole subtree lies before the wanted range: never fetched
            continue
        skip = yield from _cat_node(get_block, CID.decode(link.hash), skip, remaining)
    return skip
