"""Line-based sources: `CsvReplay`, `JsonLinesReplay` (files) and `StdinSource` (JSON lines or CSV on a
stream); each yields raw `Sample`s for validation.

Each keeps a ``position``: for a file the byte offset just after the last item it yielded, for a
stream the number of lines consumed. The daemon commits a file's position in the same outbox
transaction as the readings (the checkpoint a restart resumes from) and acknowledges a stream's
position once committed. A line longer than ``max_line_bytes`` is never held in memory: it arrives as
an unparseable sample, so validation rejects and counts it."""
from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Literal, TextIO


from ...formats.samples import Sample, SensorSwapped, SourceItem


# -- line-based replay --------------------------------------------------------------------------

def parse_line(line: str, origin: str, fmt: Literal["auto", "jsonl", "csv"] = "auto") -> SourceItem | None:
    """One input line to a sample/event; ``None`` for blank lines, ``#`` comments and CSV headers."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if fmt == "jsonl" or (fmt == "auto" and text.startswith("{")):
        return _parse_json(text, origin)
    return _parse_csv(text, origin)


def _parse_json(text: str, origin: str) -> SourceItem:
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return Sample(None, None, text, origin, f"invalid JSON: {exc.msg if hasattr(exc, 'msg') else exc}")
    if not isinstance(obj, dict):
        return Sample(None, None, text, origin, "JSON line is not an object")
    if obj.get("event") == "sensor_swapped":
        try:
            return SensorSwapped(str(obj["old"]), str(obj["new"]), int(obj.get("t_ms", 0)),
                                 str(obj.get("old_serial", "")), str(obj.get("new_serial", "")))
        except (KeyError, TypeError, ValueError) as exc:
            return Sample(None, None, text, origin, f"bad sensor_swapped event: {exc!r}")
    missing = [k for k in ("sensor", "t_ms", "value") if k not in obj]
    if missing:
        return Sample(obj.get("sensor"), obj.get("t_ms"), obj.get("value"), origin,
                      f"missing field(s): {', '.join(missing)}")
    return Sample(obj["sensor"], obj["t_ms"], obj["value"], origin)


def _parse_csv(text: str, origin: str) -> SourceItem | None:
    try:
        fields = next(csv.reader([text]))
    except csv.Error as exc:
        return Sample(None, None, text, origin, f"invalid CSV: {exc}")
    if [f.strip().lower() for f in fields] == ["sensor", "t_ms", "value"]:
        return None
    if len(fields) != 3:
        return Sample(None, None, text, origin, f"expected 3 CSV fields (sensor,t_ms,value), got {len(fields)}")
    sensor, t_ms, value = (f.strip() for f in fields)
    return Sample(sensor, t_ms, value, origin)


DEFAULT_MAX_LINE_BYTES = 64 * 1024


def read_lines(stream: BinaryIO | TextIO, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
               start: int = 0) -> Iterator[tuple[str | None, int]]:
    """``(text, end)`` per line of ``stream``: ``end`` is the byte offset just after it (a text stream
    counts lines instead), so a caller can resume exactly there. A line over ``max_line_bytes`` is
    skipped without being held in memory and comes as ``(None, end)``."""
    position = start
    while True:
        chunk = stream.readline(max_line_bytes + 1)
        if not chunk:
            return
        position += _advance(chunk)
        too_long = len(chunk.rstrip(b"\r\n" if isinstance(chunk, bytes) else "\r\n")) > max_line_bytes
        while too_long and not _ends_line(chunk):
            chunk = stream.readline(max_line_bytes + 1)   # drain the rest of the long line, bounded
            if not chunk:
                break
            position += _advance(chunk)
        text = chunk.decode("utf-8", errors="replace") if isinstance(chunk, bytes) else chunk
        yield (None if too_long else text), position


def _ends_line(chunk: bytes | str) -> bool:
    return chunk.endswith(b"\n") if isinstance(chunk, bytes) else chunk.endswith("\n")


def _advance(chunk: bytes | str) -> int:
    return len(chunk) if isinstance(chunk, bytes) else (1 if chunk.endswith("\n") else 0)


@dataclass
class _Cursor:
    """Where a line source stands: ``position`` is the resume point just after the last item yielded."""

    position: int = 0


def _replay(lines: Iterable[tuple[str | None, int]], name: str, fmt: Literal["auto", "jsonl", "csv"],
            speed: float | None, sleep: Callable[[float], None], cursor: _Cursor,
            max_line_bytes: int, first_line: int = 1) -> Iterator[SourceItem]:
    first_t: int | None = None
    started = time.monotonic()
    for number, (line, end) in enumerate(lines, first_line):
        origin = f"{name}:{number}"
        if line is None:
            item: SourceItem | None = Sample(None, None, "", origin,
                                             f"line longer than {max_line_bytes} bytes (max_line_bytes)")
        else:
            item = parse_line(line, origin, fmt)
        cursor.position = end
        if item is None:
            continue
        if speed and isinstance(item, Sample) and item.error is None:
            try:
                t = int(item.t_ms)
            except (TypeError, ValueError):
                t = None
            if t is not None:
                first_t = t if first_t is None else first_t
                delay = (t - first_t) / 1000 / speed - (time.monotonic() - started)
                if delay > 0:
                    sleep(delay)
        yield item


@dataclass
class _FileReplay:
    path: Path
    speed: float | None = None
    sleep: Callable[[float], None] = time.sleep
    start_offset: int = 0                  # resume point: the byte offset just after the last committed line
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    cursor: _Cursor = field(default_factory=_Cursor)
    _fmt: Literal["auto", "jsonl", "csv"] = "auto"

    @property
    def checkpoint_key(self) -> str:
        """The source's name in the outbox's checkpoints: its resolved path."""
        return f"file:{Path(self.path).resolve()}"

    @property
    def position(self) -> int:
        """The byte offset just after the last item yielded (what a commit of it may checkpoint)."""
        return self.cursor.position

    def __iter__(self) -> Iterator[SourceItem]:
        with open(self.path, "rb") as f:
            start = self.start_offset
            if start > f.seek(0, 2):  # the file was replaced by a shorter one: its lines are new
                start = 0
            f.seek(start)
            self.cursor.position = start
            yield from _replay(read_lines(f, self.max_line_bytes, start), str(self.path), self._fmt, self.speed,
                               self.sleep, self.cursor, self.max_line_bytes,
                               first_line=1 if start == 0 else _line_number(self.path, start))


def _line_number(path: Path, offset: int) -> int:
    """The 1-based number of the line that starts at ``offset`` (for origins in logs; reads in chunks)."""
    count = 1
    with open(path, "rb") as f:
        while offset > 0:
            chunk = f.read(min(offset, 1 << 20))
            if not chunk:
                break
            count += chunk.count(b"\n")
            offset -= len(chunk)
    return count


@dataclass
class CsvReplay(_FileReplay):
    """Replays ``sensor,t_ms,value`` lines (an optional header is skipped). ``speed`` paces the
    replay by the samples' times (1.0 = real time); ``None`` replays as fast as possible. It starts at
    ``start_offset`` (the outbox's checkpoint) and reports ``position`` after each item."""

    _fmt: Literal["auto", "jsonl", "csv"] = "csv"


@dataclass
class JsonLinesReplay(_FileReplay):
    """Replays JSON lines ``{"sensor", "t_ms", "value"}``; ``{"event": "sensor_swapped", "old",
    "new", "t_ms"}`` lines become ``SensorSwapped`` events. Resumes like ``CsvReplay``."""

    _fmt: Literal["auto", "jsonl", "csv"] = "jsonl"


@dataclass
class StdinSource:
    """Lines from a stream (stdin by default), each JSON or CSV (``auto`` tells them apart).
    ``position`` counts the lines consumed: the daemon acknowledges it once they are committed."""

    stream: TextIO | BinaryIO | None = None
    fmt: Literal["auto", "jsonl", "csv"] = "auto"
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    cursor: _Cursor = field(default_factory=_Cursor)
    checkpoint_key: str = "stdin"

    @property
    def position(self) -> int:
        return self.cursor.position

    def __iter__(self) -> Iterator[SourceItem]:
        stream = self.stream if self.stream is not None else sys.stdin
        raw = getattr(stream, "buffer", stream)   # bytes where possible, so a long line is never held whole
        counted = _counted(read_lines(raw, self.max_line_bytes))
        yield from _replay(counted, "stdin", self.fmt, None, time.sleep, self.cursor, self.max_line_bytes)


def _counted(lines: Iterator[tuple[str | None, int]]) -> Iterator[tuple[str | None, int]]:
    """Positions as line counts (what a producer on a pipe can resend from)."""
    for number, (text, _) in enumerate(lines, 1):
        yield text, number


class Acknowledger:
    """Tells a stdin producer what is committed: one line ``{"ack": N}`` (N lines of this stream are in
    the outbox, or were rejected for good) after each commit, flushed at once. The producer resends
    from line N+1 after a crash; copies of committed readings are skipped by the outbox. ``target`` is
    ``stdout``, ``none``, ``fd:N`` (an inherited file descriptor) or a file path (appended to)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._stream: TextIO | None = None
        if target == "stdout":
            self._stream = sys.stdout
        elif target.startswith("fd:"):
            self._stream = open(int(target[3:]), "w", encoding="utf-8", closefd=False)
        elif target != "none":
            self._stream = open(target, "a", encoding="utf-8")
        self.last = 0

    def ack(self, lines: int) -> None:
        if self._stream is None or lines <= self.last:
            return
        self.last = lines
        self._stream.write(json.dumps({"ack": lines}) + "\n")
        self._stream.flush()
