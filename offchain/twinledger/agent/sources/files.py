"""Line-based sources: `CsvReplay`, `JsonLinesReplay` (files) and `StdinSource` (JSON lines or CSV on a
stream); each yields raw `Sample`s for validation."""
from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Literal, TextIO


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


def _replay(lines: Iterable[str], name: str, fmt: Literal["auto", "jsonl", "csv"],
            speed: float | None, sleep: Callable[[float], None]) -> Iterator[SourceItem]:
    first_t: int | None = None
    started = time.monotonic()
    for number, line in enumerate(lines, 1):
        item = parse_line(line, f"{name}:{number}", fmt)
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
class CsvReplay:
    """Replays ``sensor,t_ms,value`` lines (an optional header is skipped). ``speed`` paces the
    replay by the samples' times (1.0 = real time); ``None`` replays as fast as possible."""

    path: Path
    speed: float | None = None
    sleep: Callable[[float], None] = time.sleep

    def __iter__(self) -> Iterator[SourceItem]:
        with open(self.path, encoding="utf-8", errors="replace", newline="") as f:
            yield from _replay(f, str(self.path), "csv", self.speed, self.sleep)


@dataclass
class JsonLinesReplay:
    """Replays JSON lines ``{"sensor", "t_ms", "value"}``; ``{"event": "sensor_swapped", "old",
    "new", "t_ms"}`` lines become ``SensorSwapped`` events."""

    path: Path
    speed: float | None = None
    sleep: Callable[[float], None] = time.sleep

    def __iter__(self) -> Iterator[SourceItem]:
        with open(self.path, encoding="utf-8", errors="replace") as f:
            yield from _replay(f, str(self.path), "jsonl", self.speed, self.sleep)


@dataclass
class StdinSource:
    """Lines from a text stream (stdin by default), each JSON or CSV (``auto`` tells them apart)."""

    stream: TextIO | None = None
    fmt: Literal["auto", "jsonl", "csv"] = "auto"

    def __iter__(self) -> Iterator[SourceItem]:
        stream = self.stream if self.stream is not None else sys.stdin
        yield from _replay(stream, "stdin", self.fmt, None, time.sleep)
