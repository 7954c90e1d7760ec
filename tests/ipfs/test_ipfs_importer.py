"""UnixFS importer: CIDs identical to Kubo's, DAG shape, and byte-exact dag-pb encoding."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID

from ipfs_testdata import seeded
from twinledger.ipfs import ImportParams, cid_str, import_bytes
from twinledger.ipfs.cids import DAG_PB, RAW
from twinledger.ipfs.dag import cat
from twinledger.ipfs.dagpb import UnixFSType, decode_node, decode_unixfs
from twinledger.ipfs.importer import parse_chunker

KIB256 = 256 * 1024
V0 = ImportParams(cid_version=0)  # Kubo's defaults
V1 = ImportParams(cid_version=1)


def cid_of(data: bytes, params: ImportParams) -> str:
    return cid_str(import_bytes(data, params).cid)


def build(data: bytes, params: ImportParams) -> tuple[CID, dict[bytes, bytes]]:
    blocks: dict[bytes, bytes] = {}
    result = import_bytes(data, params, lambda cid, block: blocks.__setitem__(bytes(cid), bytes(block)))
    return result.cid, blocks


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (V0, "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"),
        (V1, "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"),
        (ImportParams(cid_version=1, raw_leaves=False), "bafybeihykld7uyxzogax6vgyvag42y7464eywpf55gxi5qpoisibh3c5wa"),
    ],
)
def test_hello_world_matches_kubo(params: ImportParams, expected: str) -> None:
    assert cid_of(b"hello world", params) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (262145, "QmdkAszdeWKht9nXSzPKGUYvUqpMfm325GuCn1pZnTa9ja"),
        (1048577, "Qme9q1rEyrCRD2WvCtjYSmLt2g2cekYM1C4Tn5mRivzuyB"),
    ],
)
def test_seeded_random_files_match_kubo(n: int, expected: str) -> None:
    assert cid_of(seeded(n), V0) == expected


def test_empty_file() -> None:
    # Kubo: an empty UnixFS file node (Data unset, filesize 0); with raw leaves, the empty raw block.
    assert cid_of(b"", V0) == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    assert cid_of(b"", V1) == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    root, blocks = build(b"", V0)
    assert blocks[bytes(root)] == bytes.fromhex("0a0408021800")


def test_exactly_one_chunk_is_a_single_leaf() -> None:
    data = seeded(KIB256)
    root, blocks = build(data, V0)
    assert len(blocks) == 1
    node = decode_node(blocks[bytes(root)])
    assert node.links == ()
    fs = decode_unixfs(node.data or b"")
    assert (fs.type, fs.data, fs.filesize, fs.blocksizes) == (UnixFSType.FILE, data, KIB256, ())
    raw_root, raw_blocks = build(data, V1)
    assert raw_root.codec.code == RAW and raw_blocks == {bytes(raw_root): data}


def test_one_byte_over_a_chunk_makes_a_two_link_root() -> None:
    data = seeded(KIB256 + 1)
    root, blocks = build(data, V1)
    assert root.codec.code == DAG_PB
    node = decode_node(blocks[bytes(root)])
    fs = decode_unixfs(node.data or b"")
    assert fs.blocksizes == (KIB256, 1) and fs.filesize == KIB256 + 1 and fs.data is None
    assert [link.tsize for link in node.links] == [KIB256, 1]


def test_dag_pb_encoding_is_byte_exact() -> None:
    """Links before Data; every link has Hash, an empty-but-present Name (12 00), then Tsize."""
    root, blocks = build(b"ab", ImportParams(cid_version=1, chunk_size=1))
    leaf_a = bytes(import_bytes(b"a", V1).cid)
    block = blocks[bytes(root)]
    link = b"\x0a\x24" + leaf_a + b"\x12\x00" + b"\x18\x01"
    assert block.startswith(b"\x12" + bytes([len(link)]) + link)
    assert block.endswith(b"\x0a\x08" + b"\x08\x02\x18\x02\x20\x01\x20\x01")


def test_more_chunks_than_one_layer_forces_a_second_layer() -> None:
    """174 x 256 KiB fit one layer; one more chunk moves them under a new root (as Kubo)."""
    full = 174 * KIB256
    data = bytes(full) + b"\x01"
    root, blocks = build(data, V1)
    node = decode_node(blocks[bytes(root)])
    assert len(node.links) == 2
    first = decode_node(blocks[node.links[0].hash])
    second = decode_node(blocks[node.links[1].hash])
    assert len(first.links) == 174 and len(second.links) == 1
    assert decode_unixfs(node.data or b"").blocksizes == (full, 1)
    one_layer, one_blocks = build(data[:full], V1)
    assert len(decode_node(one_blocks[bytes(one_layer)]).links) == 174
    assert node.links[0].hash == bytes(one_layer)  # the old root moved down unchanged
    assert b"".join(cat(lambda c: blocks[bytes(c)], root)) == data


# Vectors from go-unixfs's balanced-importer tests (raw leaves, CIDv0 roots, tiny chunks/links).
GO_UNIXFS_VECTORS = [
    ("[0     9)", 10, 2, "bafkreieqjdswwovkokzitxxsn4ppswzzsy2qs623duz5ivjhplglbygbou"),
    ("[0     10)", 10, 2, "bafkreiaymswyg525nktwb75n53rcwdqvjbfjgi5nu4glriglylthbnuxnu"),
    ("[0     10)[10   19)", 10, 2, "QmUyaoLFxpUpZra4qs65dMbrBMEERJt91JL3kdyKEXqLxN"),
    ("[0     10)[10     21)", 10, 2, "QmZ9KupPPphsds2Cbu7Ntb73tUHbyrZEgJisHMmw9AUfQP"),
    ("[0     10)[10    20)[10    30)", 10, 2, "QmSYvtzqeJY6zCRk31SdRweDD6z1bwP9GJY5bmKQ55XwWp"),
    ("[0     10)[10    20)[10     31)", 10, 2, "QmZ2Be9hJQhifpgASmQTGkL7j9KUaJC5W9siL6MnFSkLhd"),
    ("[0     10)[10    20)[10    30)", 5, 3, "QmYb4gZGCAkRdNZbc5npDzLJA34ZzPtdVDmESb9Xk76Ws2"),
]


@pytest.mark.parametrize(("data", "chunk", "links", "expected"), GO_UNIXFS_VECTORS)
def test_small_chunk_and_link_limits_match_go(data: str, chunk: int, links: int, expected: str) -> None:
    params = ImportParams(cid_version=0, raw_leaves=True, chunk_size=chunk, max_links=links)
    assert cid_of(data.encode(), params) == expected


def test_chunk_size_and_link_limit_change_the_cid() -> None:
    data = seeded(1048577)
    base = cid_of(data, V1)
    assert cid_of(data, ImportParams(cid_version=1, chunk_size=65536)) != base
    assert cid_of(data, ImportParams(cid_version=1, chunk_size=65536, max_links=8)) != cid_of(
        data, ImportParams(cid_version=1, chunk_size=65536)
    )
    assert cid_of(data, ImportParams(cid_version=1, max_links=174)) == base


def test_parse_chunker() -> None:
    assert parse_chunker("size-262144") == KIB256
    assert parse_chunker(None) == KIB256
    for bad in ("rabin", "size-0", "size-x", f"size-{2 * 1024 * 1024}"):
        with pytest.raises(ValueError):
            parse_chunker(bad)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=3000),
    chunk=st.integers(1, 700),
    links=st.integers(2, 6),
    version=st.sampled_from([0, 1]),
    raw=st.sampled_from([None, True, False]),
    offset=st.integers(0, 3100),
    length=st.one_of(st.none(), st.integers(0, 3100)),
)
def test_any_dag_reads_back(data: bytes, chunk: int, links: int, version: int, raw: bool | None,
                            offset: int, length: int | None) -> None:
    root, blocks = build(data, ImportParams(version, raw, chunk, links))
    read = lambda c: blocks[bytes(c)]  # noqa: E731
    assert b"".join(cat(read, root)) == data
    end = None if length is None else offset + length
    assert b"".join(cat(read, root, offset, length)) == data[offset:end]


def test_streamed_import_equals_in_memory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from twinledger.ipfs import import_stream

    data = random.Random(7).randbytes(3 * KIB256 + 5)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    with open(path, "rb") as f:
        assert import_stream(f, V0).cid == import_bytes(data, V0).cid
