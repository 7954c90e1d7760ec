"""Embedded content store: an on-disk blockstore, a SQLite pin set, and the UnixFS importer.

Layout of the store directory::

    blocks/<XY>/<KEY>.data   one file per block; KEY is the base32 multihash and XY its
                             next-to-last two characters (Kubo flatfs's ``next-to-last/2``)
    tmp/                     blocks being written
    pins.sqlite              pins (WAL mode, safe for several processes)

A block becomes visible only by an atomic rename of a fully written and fsynced temp file, so
a crash never leaves a torn block under its final name, and concurrent writers of the same
block simply race to install identical bytes. Every read is verified against the CID.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

from multiformats import CID, multicodec, multihash

from .car import iter_car, read_car
from .cids import (
    DAG_PB,
    SHA2_256,
    CidLike,
    block_key,
    cid_from_multihash,
    cid_str,
    hash_block,
    identity_data,
    parse_cid,
    verify_block,
    CODEC_NAMES,
)
from .dag import cat as dag_cat
from .dag import walk
from .errors import BlockNotFound, IpfsError, NotPinned
from .importer import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_LINKS, import_bytes, import_stream
from .store import (
    AddOptions,
    AddResult,
    CarFiles,
    BlockStat,
    CarImportResult,
    PathOrFile,
    Pin,
    PinType,
    pin_types_for,
)

log = logging.getLogger(__name__)

_STALE_TMP_SECONDS = 3600


class _BlockWriter:
    """Installs blocks atomically; directory fsyncs are batched until ``finish``.

    With fsync on, block writes run on a small thread pool: each fsync waits on the disk
    (milliseconds), and overlapping them lets the filesystem commit many in one journal flush.
    At most ``_MAX_IN_FLIGHT`` blocks are queued, so memory stays bounded for any file size.
    """

    def __init__(self, store: "EmbeddedStore") -> None:
        self._store = store
        self._dirty_dirs: set[str] = set()
        self._lock = threading.Lock()
        self._pending: deque[Future[None]] = deque()
        self.written = 0
        self.bytes = 0

    def put(self, cid: CID, data: bytes | memoryview) -> None:
        final = self._store._block_path(cid)
        if os.path.exists(final):
            return  # content-addressed: identical bytes are already there
        if not self._store.fsync:
            self._install(final, data)
            return
        while len(self._pending) >= _MAX_IN_FLIGHT:
            self._pending.popleft().result()
        self._pending.append(_pool().submit(self._install, final, data))

    def _install(self, final: str, data: bytes | memoryview) -> None:
        tmp = os.path.join(self._store._tmp_dir, f"{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if self._store.fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        shard = os.path.dirname(final)
        new_dirs: tuple[str, ...] = (shard,)
        try:
            os.replace(tmp, final)
        except FileNotFoundError:
            os.makedirs(shard, exist_ok=True)
            new_dirs = (shard, os.path.dirname(shard))
            os.replace(tmp, final)
        with self._lock:
            self._dirty_dirs.update(new_dirs)
            self.written += 1
            self.bytes += len(data)

    def finish(self) -> None:
        """Wait for queued writes (re-raising the first failure) and make the renames durable."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            for fut in self._pending:
                fut.cancel()
        if self._store.fsync:
            for directory in self._dirty_dirs:
                _fsync_dir(directory)
        self._dirty_dirs.clear()


_MAX_IN_FLIGHT = 16
_POOL: Optional[ThreadPoolExecutor] = None
_POOL_PID = -1
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid():  # never reuse a pool across fork
            _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="blockwriter")
            _POOL_PID = os.getpid()
        return _POOL


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class EmbeddedStore(CarFiles):
    """The default :class:`~twinledger.ipfs.store.ContentStore`, kept in a local directory."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._blocks_dir = str(self.path / "blocks")
        self._tmp_dir = str(self.path / "tmp")
        os.makedirs(self._blocks_dir, exist_ok=True)
        os.makedirs(self._tmp_dir, exist_ok=True)
        self._db_lock = threading.Lock()
        self._db: Optional[sqlite3.Connection] = None
        self._db_pid = -1
        self._remove_stale_tmp()

    # ---- blockstore -------------------------------------------------------------------------

    def _block_path(self, cid: CID) -> str:
        key = block_key(cid)
        return os.path.join(self._blocks_dir, key[-3:-1], key + ".data")

    def _remove_stale_tmp(self) -> None:
        """Temp files left by a crashed writer; recent ones may belong to a live process."""
        cutoff = time.time() - _STALE_TMP_SECONDS
        for entry in os.scandir(self._tmp_dir):
            try:
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass

    def _get(self, cid: CID) -> bytes:
        inline = identity_data(cid)
        if inline is not None:
            return inline
        try:
            with open(self._block_path(cid), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise BlockNotFound(cid_str(cid)) from None
        verify_block(cid, data)
        return data

    def block_count(self) -> int:
        return sum(1 for _ in self.iter_block_keys())

    def iter_block_keys(self) -> Iterator[str]:
        """Base32 multihash keys of every stored block."""
        for shard in os.scandir(self._blocks_dir):
            if shard.is_dir():
                for entry in os.scandir(shard.path):
                    if entry.name.endswith(".data"):
                        yield entry.name[:-5]

    # ---- files --------------------------------------------------------------------------------

    def add_bytes(self, data: bytes | bytearray | memoryview, *, cid_version: int = 1,
                  raw_leaves: Optional[bool] = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
                  max_links: int = DEFAULT_MAX_LINKS, only_hash: bool = False,
                  pin: bool = True) -> AddResult:
        opts = AddOptions(cid_version, raw_leaves, chunk_size, max_links, only_hash, pin)
        return self._add(lambda sink: import_bytes(data, opts.import_params(), sink), opts)

    def add_file(self, source: PathOrFile, *, cid_version: int = 1, raw_leaves: Optional[bool] = None,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, max_links: int = DEFAULT_MAX_LINKS,
                 only_hash: bool = False, pin: bool = True) -> AddResult:
        opts = AddOptions(cid_version, raw_leaves, chunk_size, max_links, only_hash, pin)
        if hasattr(source, "read"):
            stream: BinaryIO = source  # type: ignore[assignment]
            return self._add(lambda sink: import_stream(stream, opts.import_params(), sink), opts)
        with open(os.fspath(source), "rb") as f:
            return self._add(lambda sink: import_stream(f, opts.import_params(), sink), opts)

    def _add(self, run, opts: AddOptions) -> AddResult:  # type: ignore[no-untyped-def]
        if opts.only_hash:
            result = run(None)
        else:
            writer = _BlockWriter(self)
            result = run(writer.put)
            writer.finish()
            log.debug("added %s: %d blocks, %d new", cid_str(result.cid), result.blocks, writer.written)
        cid = cid_str(result.cid)
        if opts.pin and not opts.only_hash:
            self._set_pin(cid, PinType.RECURSIVE)
        return AddResult(cid, result.size, result.tsize)

    def cat_iter(self, cid: CidLike, *, offset: int = 0, length: Optional[int] = None) -> Iterator[bytes]:
        return dag_cat(self._get, parse_cid(cid), offset, length)

    def cat(self, cid: CidLike, *, offset: int = 0, length: Optional[int] = None) -> bytes:
        return b"".join(self.cat_iter(cid, offset=offset, length=length))

    # ---- blocks -------------------------------------------------------------------------------

    def block_get(self, cid: CidLike) -> bytes:
        return self._get(parse_cid(cid))

    def block_put(self, data: bytes, *, codec: str = "raw", mhtype: str = "sha2-256",
                  cid_version: int = 1, pin: bool = False) -> BlockStat:
        cid = make_block_cid(data, codec, mhtype, cid_version)
        writer = _BlockWriter(self)
        if identity_data(cid) is None:
            writer.put(cid, data)
            writer.finish()
        key = cid_str(cid)
        if pin:
            self._set_pin(key, PinType.DIRECT)
        return BlockStat(key, len(data))

    def block_has(self, cid: CidLike) -> bool:
        c = parse_cid(cid)
        return identity_data(c) is not None or os.path.exists(self._block_path(c))

    def block_stat(self, cid: CidLike) -> BlockStat:
        c = parse_cid(cid)
        inline = identity_data(c)
        if inline is not None:
            return BlockStat(cid_str(c), len(inline))
        try:
            return BlockStat(cid_str(c), os.stat(self._block_path(c)).st_size)
        except FileNotFoundError:
            raise BlockNotFound(cid_str(c)) from None

    # ---- pins ---------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        # One connection per process: a connection inherited through fork must not be reused.
        if self._db is None or self._db_pid != os.getpid():
            db = sqlite3.connect(self.path / "pins.sqlite", timeout=30.0, isolation_level=None,
                                 check_same_thread=False)
            db.execute("PRAGMA busy_timeout = 30000")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("CREATE TABLE IF NOT EXISTS pins (cid TEXT PRIMARY KEY, type TEXT NOT NULL)")
            self._db, self._db_pid = db, os.getpid()
        return self._db

    def _set_pin(self, cid: str, kind: PinType) -> None:
        with self._db_lock:
            db = self._conn()
            if kind is PinType.DIRECT:
                db.execute("INSERT OR IGNORE INTO pins (cid, type) VALUES (?, ?)", (cid, kind.value))
            else:
                db.execute("INSERT OR REPLACE INTO pins (cid, type) VALUES (?, ?)", (cid, kind.value))

    def _pins(self) -> dict[str, PinType]:
        with self._db_lock:
            rows = self._conn().execute("SELECT cid, type FROM pins").fetchall()
        return {cid: PinType(kind) for cid, kind in rows}

    def pin_add(self, cid: CidLike, *, recursive: bool = True) -> list[str]:
        c = parse_cid(cid)
        if recursive:
            for _ in walk(self._get, c):  # the whole DAG must be present and intact
                pass
        else:
            self._get(c)
        key = cid_str(c)
        self._set_pin(key, PinType.RECURSIVE if recursive else PinType.DIRECT)
        return [key]

    def pin_rm(self, cid: CidLike, *, recursive: bool = True) -> list[str]:
        key = cid_str(parse_cid(cid))
        with self._db_lock:
            db = self._conn()
            row = db.execute("SELECT type FROM pins WHERE cid = ?", (key,)).fetchone()
            if row is None:
                raise NotPinned(f"{key} is not pinned or pinned indirectly")
            if row[0] == PinType.RECURSIVE.value and not recursive:
                raise NotPinned(f"{key} is pinned recursively")
            db.execute("DELETE FROM pins WHERE cid = ?", (key,))
        return [key]

    def pin_ls(self, cid: Optional[CidLike] = None, *, type: str = "all") -> list[Pin]:
        wanted = pin_types_for(type)
        pins = self._pins()
        result = [Pin(k, t) for k, t in pins.items() if t in wanted]
        if PinType.INDIRECT in wanted:
            result.extend(Pin(k, PinType.INDIRECT) for k in self._indirect(pins) if k not in pins)
        if cid is not None:
            key = cid_str(parse_cid(cid))
            result = [p for p in result if p.cid == key]
            if not result:
                raise NotPinned(f"path '{key}' is not pinned")
        return sorted(result, key=lambda p: (p.type.value, p.cid))

    def _indirect(self, pins: dict[str, PinType]) -> set[str]:
        found: set[str] = set()
        for key, kind in pins.items():
            if kind is PinType.RECURSIVE:
                root = parse_cid(key)
                for child, _ in walk(self._get, root):
                    if bytes(child) != bytes(root):
                        found.add(cid_str(child))
        return found

    # ---- CAR ----------------------------------------------------------------------------------

    def export_car_iter(self, root: CidLike) -> Iterator[bytes]:
        c = parse_cid(root)
        return iter_car([c], walk(self._get, c))

    def _import_car(self, stream: BinaryIO, pin_roots: bool) -> CarImportResult:
        roots, blocks = read_car(stream)
        writer = _BlockWriter(self)
        count = size = 0
        for cid, block in blocks:
            if identity_data(cid) is None:
                writer.put(cid, block)
            count += 1
            size += len(block)
        writer.finish()
        errors: dict[str, str] = {}
        if pin_roots:
            for root in roots:
                try:
                    self.pin_add(root)
                except IpfsError as exc:
                    errors[cid_str(root)] = str(exc)
        return CarImportResult([cid_str(r) for r in roots], count, size, errors)

    def close(self) -> None:
        with self._db_lock:
            if self._db is not None and self._db_pid == os.getpid():
                self._db.close()
            self._db = None

    def __enter__(self) -> "EmbeddedStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.path)!r})"


def make_block_cid(data: bytes, codec: str = "raw", mhtype: str = "sha2-256", cid_version: int = 1) -> CID:
    """CID of a single block, as ``ipfs block put`` computes it."""
    try:
        code = CODEC_NAMES.get(codec) or multicodec.get(codec).code
        mh_code = SHA2_256 if mhtype == "sha2-256" else multihash.get(mhtype).code
    except (KeyError, ValueError) as exc:
        raise ValueError(f"unknown codec or hash: {exc}") from None
    mh = hash_block(data, mh_code)
    if cid_version == 0 and not (code == DAG_PB and mh_code == SHA2_256):
        raise ValueError("CIDv0 requires dag-pb and sha2-256")
    return cid_from_multihash(mh, code, cid_version)
