"""Embedded content store: an on-disk blockstore, a SQLite pin set, and the UnixFS importer.

Layout of the store directory::

    blocks/<XY>/<KEY>.data   one file per block; KEY is the base32 multihash and XY its
                             next-to-last two characters (Kubo flatfs's ``next-to-last/2``)
    tmp/                     blocks being written
    pins.sqlite              pins (WAL mode, safe for several processes)

A block becomes visible only by an atomic rename of a fully written and fsynced temp file (or,
for many blocks at once, of temp files flushed by one ``syncfs``), so a crash never leaves a torn
block under its final name, and concurrent writers of the same
block simply race to install identical bytes. Every read is verified against the CID.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import sqlite3
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional, Sequence

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
    IDENTITY,
    cid_v1_str,
    multihash_key,
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
_SYNCED_ONCE_MIN_BLOCKS = 4  # block_put_many: from here on, two filesystem flushes beat one fsync per block


class _BlockWriter:
    """Installs blocks atomically; directory fsyncs are batched until ``finish``.

    With fsync on, block writes run on a small thread pool: each fsync waits on the disk
    (milliseconds), and overlapping them lets the filesystem commit many in one journal flush.
    At most ``_MAX_IN_FLIGHT`` blocks are queued, so memory stays bounded for any file size.

    ``synced_once`` (many small blocks, ``block_put_many``): the temp files are written without
    their own fsyncs and made durable by one ``syncfs``; only then are they renamed to their final
    names, and a second ``syncfs`` makes the renames durable. A block still never appears under its
    name before its bytes are on disk, for two filesystem flushes instead of one fsync per block and
    per directory (where ``syncfs`` is missing, each file is fsynced as usual).
    """

    def __init__(self, store: "EmbeddedStore", *, synced_once: bool = False) -> None:
        self._store = store
        self._dirty_dirs: set[str] = set()
        self._lock = threading.Lock()
        self._pending: deque[Future[None]] = deque()
        self._unsynced: list[tuple[Future[str | None], str]] = []  # (temp file being written, final): synced_once
        self._synced_once = synced_once and store.fsync and _SYNCFS is not None
        self.written = 0
        self.bytes = 0

    def put(self, cid: CID, data: bytes | memoryview) -> None:
        self.put_at(self._store._block_path(cid), data)

    def put_at(self, final: str, data: bytes | memoryview) -> None:
        """Install `data` as the block file `final` (its path in the store)."""
        if self._synced_once:  # the file system calls on several threads: their waits overlap
            self._unsynced.append((_pool().submit(self._write_tmp_if_new, final, data), final))
            return
        if os.path.exists(final):
            return  # content-addressed: identical bytes are already there
        if not self._store.fsync:
            self._install(final, data)
            return
        while len(self._pending) >= _MAX_IN_FLIGHT:
            self._pending.popleft().result()
        self._pending.append(_pool().submit(self._install, final, data))

    def _write_tmp(self, data: bytes | memoryview, *, fsync: bool) -> str:
        tmp = os.path.join(self._store._tmp_dir, f"{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        return tmp

    def _write_tmp_if_new(self, final: str, data: bytes | memoryview) -> str | None:
        if os.path.exists(final):
            return None  # content-addressed: identical bytes are already there
        tmp = self._write_tmp(data, fsync=False)
        with self._lock:
            self.written += 1
            self.bytes += len(data)
        return tmp

    def _rename(self, tmp: str, final: str) -> tuple[str, ...]:
        """Move a written temp file to its name; returns the directories the rename changed."""
        shard = os.path.dirname(final)
        try:
            os.replace(tmp, final)
        except FileNotFoundError:
            os.makedirs(shard, exist_ok=True)
            os.replace(tmp, final)
            return (shard, os.path.dirname(shard))
        return (shard,)

    def _install(self, final: str, data: bytes | memoryview) -> None:
        new_dirs = self._rename(self._write_tmp(data, fsync=self._store.fsync), final)
        with self._lock:
            self._dirty_dirs.update(new_dirs)
            self.written += 1
            self.bytes += len(data)

    def finish(self) -> None:
        """Wait for queued writes (re-raising the first failure) and make the renames durable."""
        if self._synced_once:
            self._finish_synced_once()
            return
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            for fut in self._pending:
                fut.cancel()
        if self._store.fsync:
            dirs = list(self._dirty_dirs)
            if len(dirs) == 1:
                _fsync_dir(dirs[0])
            else:  # a large file touches many shard directories
                list(_pool().map(_fsync_dir, dirs))
        self._dirty_dirs.clear()

    def _finish_synced_once(self) -> None:
        writing, self._unsynced = self._unsynced, []
        if not writing:
            return
        pending: list[tuple[str, str]] = []
        failure: BaseException | None = None
        for future, final in writing:  # every write is waited for, so none is left running on a failure
            try:
                tmp = future.result()
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after the written ones are removed
                failure = failure or exc
                continue
            if tmp is not None:
                pending.append((tmp, final))
        if not pending and failure is None:
            return
        try:
            if failure is not None:
                raise failure
            _syncfs(self._store._tmp_dir)  # the bytes, before any of them has its name
        except BaseException:
            for tmp, _ in pending:
                _unlink_quietly(tmp)
            raise
        for i, (tmp, final) in enumerate(pending):
            try:
                self._rename(tmp, final)
            except BaseException:
                for later, _ in pending[i:]:
                    _unlink_quietly(later)
                raise
        _syncfs(self._store._blocks_dir)  # the names


def _load_syncfs() -> Optional[Callable[[int], int]]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_SYNCFS = _load_syncfs()


def _syncfs(path: str) -> None:
    """Flush the whole filesystem holding `path` (Linux ``syncfs(2)``, which reports write-back errors)."""
    assert _SYNCFS is not None
    fd = os.open(path, os.O_RDONLY)
    try:
        if _SYNCFS(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


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
        return self._key_path(block_key(cid))

    def _key_path(self, key: str) -> str:
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
        return self.block_put_many([data], codec=codec, mhtype=mhtype, cid_version=cid_version, pin=pin)[0]

    def block_put_many(self, blocks: Sequence[bytes], *, codec: str = "raw", mhtype: str = "sha2-256",
                       cid_version: int = 1, pin: bool = False) -> list[BlockStat]:
        """Every block durable (their fsyncs overlapped, each directory synced once) before the pins are
        committed in one transaction: a thousand small batches cost one pin commit, not a thousand."""
        code, mh_code = block_codes(codec, mhtype, cid_version)
        writer = _BlockWriter(self, synced_once=len(blocks) >= _SYNCED_ONCE_MIN_BLOCKS)
        keys = []
        for data in blocks:
            mh = hash_block(data, mh_code)
            if mh_code != IDENTITY:
                writer.put_at(self._key_path(multihash_key(mh)), data)
            keys.append(cid_v1_str(code, mh) if cid_version == 1 else cid_str(cid_from_multihash(mh, code, 0)))
        writer.finish()
        if pin:
            self._set_pins(keys, PinType.DIRECT)
        return [BlockStat(key, len(data)) for key, data in zip(keys, blocks)]

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
        self._set_pins([cid], kind)

    def _set_pins(self, cids: Sequence[str], kind: PinType) -> None:
        """One commit for all of them. A direct pin never weakens a recursive one."""
        verb = "INSERT OR IGNORE" if kind is PinType.DIRECT else "INSERT OR REPLACE"
        with self._db_lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(f"{verb} INTO pins (cid, type) VALUES (?, ?)", [(c, kind.value) for c in cids])
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

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
    code, mh_code = block_codes(codec, mhtype, cid_version)
    return cid_from_multihash(hash_block(data, mh_code), code, cid_version)


def block_codes(codec: str, mhtype: str, cid_version: int) -> tuple[int, int]:
    """(codec, multihash function) codes for ``ipfs block put``'s names; ValueError for unknown or invalid ones."""
    try:
        code = CODEC_NAMES.get(codec) or multicodec.get(codec).code
        mh_code = SHA2_256 if mhtype == "sha2-256" else multihash.get(mhtype).code
    except (KeyError, ValueError) as exc:
        raise ValueError(f"unknown codec or hash: {exc}") from None
    if cid_version == 0 and not (code == DAG_PB and mh_code == SHA2_256):
        raise ValueError("CIDv0 requires dag-pb and sha2-256")
    if cid_version not in (0, 1):
        raise ValueError(f"CID version {cid_version}: only 0 and 1 exist")
    return code, mh_code
