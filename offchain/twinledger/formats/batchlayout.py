"""The byte layout of a canonical version-1 batch (docs/formats.md section 1), scanned in one pass.

This module owns the one parser of that layout: ``formats/batch.py`` builds its fast decoder and
``reading_slices`` on it. ``scan`` returns every reading's raw fields (sensor names still as UTF-8
bytes) and where each reading's bytes lie, or None for anything outside the layout that
``encode_batch`` writes; it checks no field value (the decoder does, and hands anything it does not
accept to the strict ``dag_cbor`` path for the verdict).

Readings of one batch usually share a shape (the same head sizes and sensor name length), so a run
of same-shaped readings is checked by one compiled regular expression and unpacked by one
``struct.iter_unpack``, in C; only the first reading of each run is parsed field by field.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass

__all__ = ["BATCH_PREFIX", "FEED_KEY", "Q_KEY", "R_KEY", "READINGS_KEY", "S_KEY", "T_KEY", "V_KEY", "Layout", "scan"]

# {"v": 1, "seq": ...: the map head, the version and the key of seq (DAG-CBOR key order: v, seq, feed, readings)
BATCH_PREFIX = b"\xa4\x61v\x01\x63seq"
FEED_KEY = b"\x64feed"
READINGS_KEY = b"\x68readings"
# A reading {q, r, s, t, v}: its map head with the first key, then each key (text of one letter); v is a float64.
Q_KEY = b"\xa5\x61q"
R_KEY, S_KEY, T_KEY, V_KEY = b"\x61r", b"\x61s", b"\x61t", b"\x61v\xfb"

# Head size classes (argument in the initial byte, then 1, 2, 4, 8 bytes): the initial byte's additional info.
_INFO = (None, 24, 25, 26, 27)
# A shortest-form unsigned head of each class, as a regular expression and as a struct field.
_UINT_RE = (rb"[\x00-\x17]", rb"\x18[\x18-\xff]", rb"\x19[\x01-\xff][\x00-\xff]",
            rb"\x1a(?!\x00\x00)[\x00-\xff]{4}", rb"\x1b(?!\x00\x00\x00\x00)[\x00-\xff]{8}")
_UINT_STRUCT = ("B", "xB", "xH", "xI", "xQ")
_MINIMUM = (0, 24, 0x100, 0x10000, 0x100000000)
_WIDTH = (0, 1, 2, 4, 8)


_unpack_double = struct.Struct(">d").unpack_from


class _NotInLayout(Exception):
    """The bytes leave the canonical layout (scan returns None)."""


def _head(data: bytes, pos: int, major: int) -> tuple[int, int, int]:
    """A head of ``major`` type in shortest form at ``pos``: ``(argument, next position, size class)``."""
    ib = data[pos]
    if ib >> 5 != major:
        raise _NotInLayout
    info = ib & 0x1F
    if info < 24:
        return info, pos + 1, 0
    if info > 27:
        raise _NotInLayout
    size_class = info - 23
    end = pos + 1 + _WIDTH[size_class]
    n = int.from_bytes(data[pos + 1:end], "big")
    if end > len(data) or n < _MINIMUM[size_class]:
        raise _NotInLayout
    return n, end, size_class


def _expect(data: bytes, pos: int, literal: bytes) -> int:
    if data[pos:pos + len(literal)] != literal:
        raise _NotInLayout
    return pos + len(literal)


# (quality class, rid class, the sensor name's head bytes, name length, time class)
_Shape = tuple[int, int, bytes, int, int]


@functools.lru_cache(maxsize=512)
def _run_of(shape: _Shape) -> tuple[re.Pattern[bytes], struct.Struct]:
    """A pattern matching any number of consecutive readings of ``shape``, and the struct that unpacks one
    into ``(q, r, sensor bytes, t, v)``."""
    qc, rc, name_head, n, tc = shape
    one = (re.escape(Q_KEY) + _UINT_RE[qc] + re.escape(R_KEY) + _UINT_RE[rc] + re.escape(S_KEY + name_head)
           + rb"[\x00-\xff]{%d}" % n + re.escape(T_KEY) + _UINT_RE[tc] + re.escape(V_KEY) + rb"[\x00-\xff]{8}")
    fmt = (f">{len(Q_KEY)}x{_UINT_STRUCT[qc]}{len(R_KEY)}x{_UINT_STRUCT[rc]}{len(S_KEY) + len(name_head)}x{n}s"
           f"{len(T_KEY)}x{_UINT_STRUCT[tc]}{len(V_KEY)}xd")
    return re.compile(rb"(?:" + one + rb")*"), struct.Struct(fmt)


@dataclass(frozen=True, slots=True)
class Layout:
    """Every reading's raw fields, in batch order, and the runs of same-length readings they came from."""

    feed: int
    seq: int
    qualities: list[int]
    rids: list[int]
    sensors: list[bytes]  # UTF-8, not yet decoded or checked
    times: list[int]
    values: list[float]
    runs: list[tuple[int, int, int]]  # (offset of the first reading, bytes per reading, readings)

    def slices(self, data: bytes) -> list[bytes]:
        """Each reading's own bytes (what ``encode_reading`` gives for it: the Merkle leaf preimage)."""
        out: list[bytes] = []
        for start, size, count in self.runs:
            stop = start + size * count
            out += map(data.__getitem__, map(slice, range(start, stop, size), range(start + size, stop + size, size)))
        return out


def scan(data: bytes) -> Layout | None:
    """The readings' fields and places if ``data`` is a batch in the canonical layout with at least one
    reading, else None."""
    try:
        return _scan(data)
    except (_NotInLayout, IndexError):
        return None


def _scan(data: bytes) -> Layout:
    if not data.startswith(BATCH_PREFIX):
        raise _NotInLayout
    seq, pos, _ = _head(data, len(BATCH_PREFIX), 0)
    feed, pos, _ = _head(data, _expect(data, pos, FEED_KEY), 0)
    count, pos, _ = _head(data, _expect(data, pos, READINGS_KEY), 4)
    if count == 0:
        raise _NotInLayout
    qs: list[int] = []
    rids: list[int] = []
    names: list[bytes] = []
    times: list[int] = []
    values: list[float] = []
    runs: list[tuple[int, int, int]] = []
    left = count
    size = len(data)
    while left:
        start = pos
        # the first reading of a run, field by field; it gives the run's shape
        q, pos, qc = _head(data, _expect(data, pos, Q_KEY), 0)
        rid, pos, rc = _head(data, _expect(data, pos, R_KEY), 0)
        name_at = _expect(data, pos, S_KEY)
        n, pos, _ = _head(data, name_at, 3)
        name_head = data[name_at:pos]
        name = data[pos:pos + n]
        if len(name) != n:
            raise _NotInLayout
        t, pos, tc = _head(data, _expect(data, pos + n, T_KEY), 0)
        pos = _expect(data, pos, V_KEY)
        if pos + 8 > size:
            raise _NotInLayout
        (v,) = _unpack_double(data, pos)
        pos += 8
        qs.append(q)
        rids.append(rid)
        names.append(name)
        times.append(t)
        values.append(v)
        left -= 1
        step = pos - start
        more = 0
        if left:
            pattern, record = _run_of((qc, rc, name_head, n, tc))
            matched = pattern.match(data, pos, min(size, pos + step * left))
            end = matched.end() if matched is not None else pos
            more = (end - pos) // step
            if more:
                cols = zip(*record.iter_unpack(memoryview(data)[pos:end]))
                qs += next(cols)
                rids += next(cols)
                names += next(cols)
                times += next(cols)
                values += next(cols)
                left -= more
                pos = end
        runs.append((start, step, 1 + more))
    if pos != size:
        raise _NotInLayout
    return Layout(feed, seq, qs, rids, names, times, values, runs)
