"""Embedded IPFS node throughput: a 100 MB file and many 1 KB objects, next to raw sha2-256 over the same
bytes in the same run (every block's CID is a sha2-256 of it, so hashing is the limit of adding)."""
from __future__ import annotations

import os
import time
from pathlib import Path

from twinledger.ipfs import open_store

from .common import Results
from .limits import sha256_seconds

MB = 1_000_000


def big_add(store, size: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(add MB/s, sha256 MB/s) for one fresh random file of `size` bytes."""
    data = os.urandom(size)
    t0 = time.perf_counter()
    store.add_bytes(data)
    add_s = time.perf_counter() - t0
    return size / MB / add_s, size / MB / sha256_seconds(data)


def small_adds(store, count: int, size: int = 1024) -> float:  # type: ignore[no-untyped-def]
    """Adds per second of `count` distinct objects of `size` bytes."""
    objects = [os.urandom(size) for _ in range(count)]
    t0 = time.perf_counter()
    for obj in objects:
        store.add_bytes(obj)
    return count / (time.perf_counter() - t0)


def measure(workdir: Path, runs: int = 3, file_mb: int = 100, small_count: int = 2000) -> Results:
    """Embedded node (the default store, fsync on) in `workdir`; each run adds new content, so nothing dedups."""
    res = Results()
    store = open_store(f"embedded:{Path(workdir) / 'ipfs-bench'}")
    try:
        adds, hashes, smalls = [], [], []
        for _ in range(runs):
            add, sha = big_add(store, file_mb * MB)
            adds.append(add)
            hashes.append(sha)
            smalls.append(small_adds(store, small_count))
        res.put("ipfs_add_mb_per_s", adds)
        res.put("sha256_mb_per_s", hashes)
        res.put("ipfs_small_adds_per_s", smalls)
        res.extra["ipfs_file_mb"] = file_mb
        res.extra["ipfs_small_object_bytes"] = 1024
        res.extra["ipfs_fsync"] = bool(getattr(store, "fsync", True))
    finally:
        store.close()
    return res
