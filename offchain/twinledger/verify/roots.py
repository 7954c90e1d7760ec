"""Batch roots computed in helper processes while the verifier does everything else.

Hashing is most of checking a long feed (two keccaks per leaf and about one per tree node, against one decode
and a few comparisons per reading), and keccak holds the GIL. So for a feed of at least `PARALLEL_FROM_READINGS`
readings the verifier's fetch threads hand each plaintext batch they fetched to a helper process, which answers
`formats.batchroot.batch_root` of exactly those bytes, while this process decodes, indexes and checks the
signatures. A helper is `python -m twinledger.formats.batchroot`: it imports only the formats layer and speaks a
length-prefixed protocol over its pipes (no pickling, no copy of this process). The helpers are started once per
process and shared by every `Verifier` in it; they end with it (end of their stdin).

A helper's root is only a value to compare: the verdict on every batch is the verifier's own. Whenever a root is
not there (bytes that are no batch, a sealed batch, a helper that died or could not start) the verifier
computes it itself, so the findings never depend on whether helpers ran.
"""
from __future__ import annotations

import atexit
import queue
import subprocess
import threading

from ..crypto.payload import looks_sealed
from ..formats import batchroot
from ..formats.batchroot import cores_here

__all__ = ["MAX_WORKERS", "PARALLEL_FROM_READINGS", "RootHelpers", "cores_here", "shared_helpers"]

PARALLEL_FROM_READINGS = 20_000  # below this, starting the helpers costs more than they save
MAX_WORKERS = 4


class RootHelpers:
    """`workers` helper processes; `root` lends one to the calling thread for one batch."""

    def __init__(self, workers: int) -> None:
        self._idle: queue.SimpleQueue[subprocess.Popen[bytes]] = queue.SimpleQueue()
        self._procs: list[subprocess.Popen[bytes]] = []
        self.failed = False  # a helper died or answered out of step: this set is done
        self.answered = 0  # requests answered (a root or "no batch")
        self._count = threading.Lock()
        try:
            for _ in range(workers):
                proc = batchroot.start_helper()
                self._procs.append(proc)
                self._idle.put(proc)
        except OSError:
            self.close()
            raise

    @property
    def pids(self) -> list[int]:
        """The helpers' process ids, in the order they are first lent out."""
        return [proc.pid for proc in self._procs]

    def root(self, data: bytes) -> bytes | None:
        """The root of `data` from an idle helper (waiting for one), or None: no batch, sealed, or no helper."""
        if self.failed or looks_sealed(data):
            return None
        proc = self._idle.get()
        try:
            if self.failed or proc.poll() is not None:
                self.failed = True
                return None
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(batchroot.request(data))
            proc.stdin.flush()
            answer = proc.stdout.read(batchroot.ANSWER_SIZE)
            if len(answer) != batchroot.ANSWER_SIZE or answer[0] not in (0, 1):
                self.failed = True
                return None
            with self._count:
                self.answered += 1
            return answer[1:] if answer[0] else None
        except (OSError, ValueError):  # the helper's pipe broke (it died, or was closed on shutdown)
            self.failed = True
            return None
        finally:
            self._idle.put(proc)  # a dead helper too: the next caller sees `failed` at once instead of waiting

    def close(self) -> None:
        """End the helpers (end of their stdin) and reap them."""
        self.failed = True
        batchroot.stop_helpers(self._procs)


_lock = threading.Lock()
_shared: RootHelpers | None = None


def shared_helpers() -> RootHelpers | None:
    """The process's helpers, started on first use (again after one failed); None on a single core, where they
    could only slow the verifier down, or where no process can be started."""
    global _shared
    with _lock:
        if _shared is not None and _shared.failed:
            _shared.close()
            _shared = None
        if _shared is None:
            workers = min(MAX_WORKERS, cores_here())
            if workers < 2:
                return None
            try:
                _shared = RootHelpers(workers)
            except OSError:
                return None
        return _shared


def _close_shared() -> None:
    global _shared
    with _lock:
        if _shared is not None:
            _shared.close()
            _shared = None


atexit.register(_close_shared)
