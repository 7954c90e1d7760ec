"""Embedded store: round trips, dedup, integrity, pins, blocks, CARs and concurrent writers."""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import random
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipfs_testdata import seeded
from twinledger.ipfs import (
    BlockNotFound,
    CarError,
    ContentStore,
    EmbeddedStore,
    IntegrityError,
    NotPinned,
    PinType,
    open_store,
    parse_cid,
)
from twinledger.ipfs.cids import cid_str

MB = 1024 * 1024


def test_implements_the_interface(store: EmbeddedStore) -> None:
    assert isinstance(store, ContentStore)


def test_add_and_cat_round_trip_with_known_cids(store: EmbeddedStore) -> None:
    data = seeded(1048577)
    res = store.add_bytes(data, cid_version=0)
    assert res.cid == "Qme9q1rEyrCRD2WvCtjYSmLt2g2cekYM1C4Tn5mRivzuyB"
    assert res.size == len(data) and res.cumulative_size > len(data)
    assert store.cat(res.cid) == data
    assert b"".join(store.cat_iter(res.cid)) == data
    assert store.cat(res.cid, offset=262140, length=10) == data[262140:262150]
    assert store.cat(store.add_bytes(b"").cid) == b""


def test_default_settings_are_the_projects(store: EmbeddedStore) -> None:
    # docs/formats.md §5: CIDv1, raw leaves
    assert store.add_bytes(b"hello world").cid == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"


def test_add_file_by_path_and_stream(store: EmbeddedStore, tmp_path: Path) -> None:
    data = seeded(262145)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    by_path = store.add_file(path, cid_version=0)
    with open(path, "rb") as f:
        by_stream = store.add_file(f, cid_version=0)
    assert by_path == by_stream
    assert by_path.cid == "QmdkAszdeWKht9nXSzPKGUYvUqpMfm325GuCn1pZnTa9ja"


def test_same_content_twice_is_stored_once(store: EmbeddedStore) -> None:
    data = random.Random(1).randbytes(3 * MB)
    first = store.add_bytes(data)
    count = store.block_count()
    assert count == 13  # 12 leaves + root
    assert store.add_bytes(data) == first
    assert store.block_count() == count


def test_only_hash_writes_nothing(store: EmbeddedStore) -> None:
    res = store.add_bytes(seeded(262145), cid_version=0, only_hash=True)
    assert res.cid == "QmdkAszdeWKht9nXSzPKGUYvUqpMfm325GuCn1pZnTa9ja"
    assert store.block_count() == 0 and store.pin_ls() == []


def _flip_one_byte(store: EmbeddedStore, cid: str, at: int = 5) -> Path:
    path = Path(store._block_path(parse_cid(cid)))
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x01
    os.chmod(path, 0o644)
    path.write_bytes(bytes(raw))
    return path


def test_flipped_byte_raises_integrity_error_naming_the_cid(store: EmbeddedStore) -> None:
    data = random.Random(2).randbytes(600_000)
    root = store.add_bytes(data).cid
    leaf = store.add_bytes(data[:262144], pin=False).cid  # the first leaf, as its own raw block
    _flip_one_byte(store, leaf)
    with pytest.raises(IntegrityError) as err:
        store.block_get(leaf)
    assert err.value.cid == leaf and leaf in str(err.value)
    with pytest.raises(IntegrityError, match=leaf):
        store.cat(root)
    chunks = store.cat_iter(root)
    with pytest.raises(IntegrityError):
        next(chunks)  # the corrupt first leaf is never returned
    assert store.cat(root, offset=262144) == data[262144:]  # other blocks still read


def test_block_put_get_has_stat(store: EmbeddedStore) -> None:
    stat = store.block_put(b"abc")
    assert stat.cid == "bafkreif2pall7dybz7vecqka3zo24irdwabwdi4wc55jznaq75q7eaavvu" and stat.size == 3
    assert store.block_has(stat.cid) and store.block_get(stat.cid) == b"abc"
    assert store.block_stat(stat.cid) == stat
    cbor = store.block_put(b"\xa0", codec="dag-cbor")
    assert cbor.cid.startswith("bafyrei")
    assert store.block_put(b"abc", mhtype="sha2-512").cid.startswith("bafkrgq")
    assert store.block_get(store.block_put(b"abc", mhtype="sha2-512").cid) == b"abc"
    missing = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert not store.block_has(missing)
    with pytest.raises(BlockNotFound, match=missing):
        store.block_get(missing)
    with pytest.raises(BlockNotFound):
        store.block_stat(missing)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([0x55, 0x70, 0x71, 0x72, 0x0129]), st.sampled_from(["sha2-256", "sha2-512", "identity"]),
       st.binary(max_size=80))
def test_cid_strings_built_by_hand_are_multiformats_strings(codec: int, mhtype: str, data: bytes) -> None:
    from multiformats import CID, multihash as mh_lib

    from twinledger.ipfs.cids import block_key, cid_v1_str, multihash_key

    mh = bytes(mh_lib.get(mhtype).digest(data))
    reference = CID("base32", 1, codec, mh)
    assert cid_v1_str(codec, mh) == reference.encode("base32") == cid_str(reference)
    assert multihash_key(mh) == block_key(reference)


def test_block_put_many_is_block_put_of_each_and_pins_them_in_one_go(store: EmbeddedStore, tmp_path: Path) -> None:
    blocks = [b"abc", b"", b"abc"] + [random.Random(i).randbytes(300) for i in range(20)]
    stats = store.block_put_many(blocks, pin=True)
    assert stats[0].cid == "bafkreif2pall7dybz7vecqka3zo24irdwabwdi4wc55jznaq75q7eaavvu"
    other = EmbeddedStore(tmp_path / "one-by-one")
    assert stats == [other.block_put(b, pin=True) for b in blocks]
    assert [store.block_get(s.cid) for s in stats] == blocks
    assert {p.cid for p in store.pin_ls(type="direct")} == {s.cid for s in stats}
    assert not os.listdir(tmp_path / "store" / "tmp")
    assert store.block_put_many([b"\xa0"] * 5, codec="dag-cbor", mhtype="identity")[0].cid == cid_str(
        parse_cid(other.block_put(b"\xa0", codec="dag-cbor", mhtype="identity").cid))
    with pytest.raises(ValueError, match="CIDv0"):
        store.block_put_many([b"x"] * 5, cid_version=0)


def test_block_put_many_names_no_block_before_its_bytes_are_flushed(store: EmbeddedStore, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The flush of the temp files fails (a disk error): no block has its name, no temp file is left."""
    from twinledger.ipfs import embedded

    if embedded._SYNCFS is None:
        pytest.skip("no syncfs on this platform: each block is fsynced before its rename")

    def failing(fd: int) -> int:
        import ctypes

        ctypes.set_errno(5)
        return -1

    monkeypatch.setattr(embedded, "_SYNCFS", failing)
    blocks = [random.Random(i).randbytes(100) for i in range(8)]
    with pytest.raises(OSError, match="syncfs"):
        store.block_put_many(blocks, pin=True)
    assert not any(files for _, _, files in os.walk(tmp_path / "store" / "blocks"))
    assert not os.listdir(tmp_path / "store" / "tmp") and store.pin_ls() == []


def test_pins(store: EmbeddedStore) -> None:
    res = store.add_bytes(random.Random(3).randbytes(600_000))
    pins = store.pin_ls()
    assert [(p.cid, p.type) for p in pins if p.type is PinType.RECURSIVE] == [(res.cid, PinType.RECURSIVE)]
    assert len(store.pin_ls(type="indirect")) == 3  # the three leaves
    assert store.pin_rm(res.cid) == [res.cid]
    assert store.pin_ls() == []
    with pytest.raises(NotPinned):
        store.pin_rm(res.cid)
    assert store.pin_add(res.cid) == [res.cid]
    direct = store.block_put(b"x", pin=True)
    assert store.pin_ls(direct.cid)[0].type is PinType.DIRECT
    with pytest.raises(BlockNotFound):
        store.pin_add("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
    with pytest.raises(ValueError):
        store.pin_ls(type="bogus")


def test_car_export_import_keeps_every_cid(store: EmbeddedStore, tmp_path: Path) -> None:
    data = random.Random(4).randbytes(5 * MB + 17)
    res = store.add_bytes(data, cid_version=0, raw_leaves=False)
    car = tmp_path / "x.car"
    size = store.export_car(res.cid, car)
    assert size == car.stat().st_size
    fresh = EmbeddedStore(tmp_path / "fresh")
    imported = fresh.import_car(car)
    assert imported.roots == [res.cid] and imported.pin_errors == {}
    assert set(fresh.iter_block_keys()) == set(store.iter_block_keys())
    assert fresh.cat(res.cid) == data
    assert fresh.pin_ls(res.cid)[0].type is PinType.RECURSIVE


def test_car_import_rejects_a_tampered_block(store: EmbeddedStore, tmp_path: Path) -> None:
    res = store.add_bytes(b"some sensor batch" * 1000)
    car = bytearray(b"".join(store.export_car_iter(res.cid)))
    car[-3] ^= 0xFF
    fresh = EmbeddedStore(tmp_path / "fresh")
    with pytest.raises(IntegrityError, match=res.cid):
        fresh.import_car(io.BytesIO(bytes(car)))
    assert not fresh.block_has(res.cid)
    with pytest.raises(CarError):
        fresh.import_car(io.BytesIO(b"\x05hello"))


def _worker(path: str, seed: int) -> str:
    s = EmbeddedStore(path)
    shared = random.Random(99).randbytes(700_000)  # every process also adds the same file
    s.add_bytes(shared)
    return s.add_bytes(random.Random(seed).randbytes(1_000_000 + seed)).cid


def test_concurrent_adds_from_several_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "shared")
    EmbeddedStore(path).close()
    with mp.get_context("spawn").Pool(4) as pool:
        cids = pool.starmap(_worker, [(path, seed) for seed in range(8)])
    store = EmbeddedStore(path)
    for seed, cid in enumerate(cids):
        assert store.cat(cid) == random.Random(seed).randbytes(1_000_000 + seed)
    recursive = {p.cid for p in store.pin_ls(type="recursive")}
    assert set(cids) <= recursive and len(recursive) == 9
    assert os.listdir(tmp_path / "shared" / "tmp") == []


def test_torn_temp_files_are_never_visible(store: EmbeddedStore) -> None:
    # A crash leaves at most a temp file; blocks appear only by rename.
    leftover = Path(store._tmp_dir) / "dead.tmp"
    leftover.write_bytes(b"partial")
    old = time.time() - 7200
    os.utime(leftover, (old, old))
    assert store.block_count() == 0
    EmbeddedStore(store.path)  # reopening sweeps stale temp files
    assert not leftover.exists()


def test_open_store_specs(tmp_path: Path) -> None:
    s = open_store(f"embedded:{tmp_path / 'a'}")
    assert isinstance(s, EmbeddedStore) and s.path == tmp_path / "a"
    assert isinstance(open_store(str(tmp_path / "b")), EmbeddedStore)
    from twinledger.ipfs import KuboStore

    k = open_store("kubo:http://127.0.0.1:5001")
    assert isinstance(k, KuboStore) and k.multiaddr == "/ip4/127.0.0.1/tcp/5001/http"
    assert open_store("kubo:/ip4/127.0.0.1/tcp/5002/http").multiaddr == "/ip4/127.0.0.1/tcp/5002/http"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        open_store("ftp:somewhere")


@pytest.mark.large
@pytest.mark.timeout(120)
def test_100mb_round_trip(store: EmbeddedStore) -> None:
    data = os.urandom(100 * MB)
    start = time.perf_counter()
    res = store.add_bytes(data)
    elapsed = time.perf_counter() - start
    print(f"\nembedded add_bytes: {100 / elapsed:.0f} MB/s")
    assert res.size == len(data)
    got = bytearray()
    for piece in store.cat_iter(res.cid):
        assert len(piece) <= 262144  # streamed block by block
        got += piece
    assert got == data
