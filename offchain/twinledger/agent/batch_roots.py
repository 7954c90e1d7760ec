"""Batch roots hashed by helper processes while ingest goes on (the batcher's side of `formats.batchroot`).

A batch's root is three keccaks per reading, and keccak holds the GIL: hashed in the ingest thread, it is
about a third of what a reading costs there. The batcher hands each big batch's bytes to a helper process
(`submit`) and stores the batch once its root comes back (`collect`), meanwhile taking readings. Nothing is
acknowledged on a root: a reading counts as received when its group commit returns, before any batch holds it,
so a batch waiting for its root weakens no guarantee; after a crash its readings are unbatched and close again.

A helper that dies or answers out of step ends the set (`failed`): every request still waiting is answered
None and the batcher hashes those batches itself, so no batch depends on a helper having run.
"""
from __future__ import annotations

import select
import subprocess
from collections import deque
from itertools import count

import structlog

from twinledger.formats import batchroot

__all__ = ["BACKGROUND_FROM_READINGS", "BackgroundRoots"]

log = structlog.get_logger(__name__)

# A smaller batch is hashed in place: its pipe round trip costs about what hashing it does.
BACKGROUND_FROM_READINGS = 512
WORKERS = 2


class BackgroundRoots:
    """`workers` helper processes answering batch roots in the order each was asked."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        self._waiting: list[deque[int]] = []  # per helper, its tickets in the order it answers them
        self._tickets = count(1)
        self._next = 0
        self.failed = False
        try:
            for _ in range(workers):
                self._procs.append(batchroot.start_helper(unbuffered=True))
                self._waiting.append(deque())
        except OSError:
            self.close()
            raise

    @classmethod
    def for_this_machine(cls) -> BackgroundRoots | None:
        """Helpers where there is a core beside the agent's, else None (on one core they only slow it down)."""
        if batchroot.cores_here() < 2:
            return None
        try:
            return cls()
        except OSError as exc:
            log.warning("batch roots are hashed in the ingest thread: no helper process", error=str(exc))
            return None

    @property
    def outstanding(self) -> int:
        return sum(map(len, self._waiting))

    def submit(self, data: bytes) -> int | None:
        """Ask for the root of a plaintext batch's bytes; the ticket its answer comes back under, or None once
        the helpers failed (hash it yourself)."""
        if self.failed:
            return None
        index = min(range(len(self._procs)), key=lambda i: (len(self._waiting[i]), (i - self._next) % len(self._procs)))
        self._next = index + 1
        proc = self._procs[index]
        try:
            assert proc.stdin is not None
            _write_all(proc.stdin, batchroot.request(data))
        except (OSError, ValueError) as exc:
            self._fail(f"a helper's pipe broke: {exc}")
            return None
        ticket = next(self._tickets)
        self._waiting[index].append(ticket)
        return ticket

    def collect(self, *, wait: bool) -> dict[int, bytes | None]:
        """Answers that came back: ticket -> root (None: no batch, or the helpers failed). With `wait`, every
        request still out is answered before this returns."""
        answers: dict[int, bytes | None] = {}
        while not self.failed:
            busy = [i for i, waiting in enumerate(self._waiting) if waiting]
            if not busy:
                break
            fds = {self._procs[i].stdout.fileno(): i for i in busy}  # type: ignore[union-attr]
            readable, _, _ = select.select(list(fds), [], [], None if wait else 0)
            if not readable:
                break
            for fd in readable:
                self._read_answer(fds[fd], answers)
        if self.failed:
            for waiting in self._waiting:
                answers.update((ticket, None) for ticket in waiting)
                waiting.clear()
        return answers

    def _read_answer(self, index: int, answers: dict[int, bytes | None]) -> None:
        stdout = self._procs[index].stdout
        assert stdout is not None
        answer = b""
        try:
            while len(answer) < batchroot.ANSWER_SIZE:  # one answer is one small write: this rarely loops
                part = stdout.read(batchroot.ANSWER_SIZE - len(answer))
                if not part:
                    break
                answer += part
        except OSError as exc:
            self._fail(f"a helper's pipe broke: {exc}")
            return
        if len(answer) != batchroot.ANSWER_SIZE or answer[0] not in (0, 1):
            self._fail("a helper ended or answered out of step")
            return
        answers[self._waiting[index].popleft()] = answer[1:] if answer[0] else None

    def _fail(self, why: str) -> None:
        if not self.failed:
            log.warning("batch roots are hashed in the ingest thread from now on", reason=why)
        self.failed = True

    def close(self) -> None:
        """End the helpers (end of their stdin) and reap them."""
        self.failed = True
        batchroot.stop_helpers(self._procs)

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self._procs]


def _write_all(pipe: object, data: bytes) -> None:
    """A raw pipe may take part of a write; the rest follows (blocking until the helper reads)."""
    view = memoryview(data)
    while view:
        written = pipe.write(view)  # type: ignore[attr-defined]
        if not written:
            raise OSError("a helper's pipe takes no more bytes")
        view = view[written:]
