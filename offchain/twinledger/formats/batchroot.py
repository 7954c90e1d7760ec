"""The Merkle root a batch's bytes commit to (docs/formats.md §2): each reading's own bytes, exactly as the batch
stores them, are one leaf. A function of the bytes alone and of this layer alone, so that a helper process can run
it after importing nothing more than the formats; `serve` is that process, `start_helper` starts one and
`request` frames a batch for it. Two layers use helpers: the verifier (`verify.roots`) and the agent's batcher
(`agent.batch_roots`)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # not on Windows; the helpers then work with the default pipe
    fcntl = None  # type: ignore[assignment]

from .batch import BATCH_SIZE_LIMIT, BatchFormatError, decode_batch_columns
from .merkle import root_of_readings

__all__ = ["ANSWER_SIZE", "MAX_REQUEST", "QUEUED_BATCHES", "batch_root", "batch_root_or_none", "cores_here",
           "request", "request_pipe_size", "serve", "start_helper", "stop_helpers"]


def batch_root(data: bytes) -> bytes:
    """The root over the readings of a plaintext batch; raises `BatchFormatError` for bytes that are no batch."""
    return root_of_readings(decode_batch_columns(data)[1])


def batch_root_or_none(data: bytes) -> bytes | None:
    """`batch_root`, or None for bytes that are no batch (the caller's own decode then names the fault)."""
    try:
        return batch_root(data)
    except BatchFormatError:
        return None


# ---- the helper process (`python -m twinledger.formats.batchroot`, started by `verify.roots`) ----------------
# Each request on stdin is a 4-byte big-endian length and that many bytes of one batch; each answer on stdout is
# one byte (1: a root follows, 0: the bytes are no batch) and the 32-byte root. End of stdin ends the process.

MAX_REQUEST = 1 << 24  # far above any batch (BATCH_SIZE_LIMIT): a longer request is a broken pipe, not a batch
ANSWER_SIZE = 33
# Requests a helper's stdin holds while the helper hashes: the caller's write of the next batch returns at once
# instead of waiting for the helper to read it (Linux's default pipe holds 64 KiB, a quarter of a full batch).
QUEUED_BATCHES = 4
_NO_ROOT = b"\x00" + bytes(32)
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])  # the directory holding `twinledger`


def start_helper(*, unbuffered: bool = False) -> subprocess.Popen[bytes]:
    """One helper process on pipes (`unbuffered`: raw pipes, so that `select` on its stdout sees every answer
    not read yet); raises OSError when no process can be started."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env, bufsize=0 if unbuffered else -1)
    assert proc.stdin is not None
    _grow_pipe(proc.stdin.fileno(), QUEUED_BATCHES * (4 + BATCH_SIZE_LIMIT))
    return proc


def stop_helpers(procs: list[subprocess.Popen[bytes]]) -> None:
    """End helpers (the end of their stdin) and reap them; one that does not end within 5 s is killed."""
    for proc in procs:
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _grow_pipe(fd: int, size: int) -> None:
    """Ask the kernel for a pipe buffer of `size` bytes (less where the system caps it); where pipes cannot be
    resized the default stays, and a write waits sooner for the helper."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if set_size is None:
        return
    try:
        with open("/proc/sys/fs/pipe-max-size") as cap:
            size = min(size, int(cap.read()))
    except (OSError, ValueError):
        pass
    try:
        fcntl.fcntl(fd, set_size, size)
    except OSError:
        pass


def request_pipe_size(proc: subprocess.Popen[bytes]) -> int | None:
    """The bytes a helper's request pipe holds (None where the system does not tell)."""
    get_size = getattr(fcntl, "F_GETPIPE_SZ", None) if fcntl is not None else None
    if get_size is None or proc.stdin is None:
        return None
    return int(fcntl.fcntl(proc.stdin.fileno(), get_size))


def cores_here() -> int:
    """The cores this process may run on (helpers only pay where there is a core beside this process's)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def request(data: bytes) -> bytes:
    """The bytes that ask a helper for the root of `data`."""
    return len(data).to_bytes(4, "big") + data


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer requests until `requests` ends."""
    while True:
        head = requests.read(4)
        if len(head) < 4:
            return
        size = int.from_bytes(head, "big")
        if size > MAX_REQUEST:
            raise SystemExit(f"batchroot: a request of {size} bytes is no batch; the pipe is out of step")
        data = requests.read(size)
        if len(data) < size:
            return
        root = batch_root_or_none(data)
        answers.write(_NO_ROOT if root is None else b"\x01" + root)
        answers.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
