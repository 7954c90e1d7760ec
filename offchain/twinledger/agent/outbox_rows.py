"""Readings on their way into the outbox as plain rows: the checks ``Reading`` makes, the encoded size each
row will have in its batch, and the copy-skipping slow path of a group commit (``Outbox.append_rows``).

A row is ``(feed, sensor, t_ms, value, quality)``; no object is built per reading. The checks are those of
``formats.batch.Reading`` (a quick test of each field, and the ``Reading`` itself for the error or the
normalised types when that fails), so the outbox never stores what a batch could not carry.
"""
from __future__ import annotations

import sqlite3
from bisect import bisect_right
from operator import itemgetter
from itertools import accumulate, chain
from math import inf
from dataclasses import dataclass, field
from typing import Sequence

from twinledger.formats.batch import MAX_UINT64, Quality, Reading, batch_overhead, reading_encoded_size

from .outbox_schema import INSERT_READING

__all__ = ["Appended", "Param", "Row", "UnbatchedRows", "insert_all", "insert_one_by_one", "readings_fitting",
           "row_params"]

Row = tuple[int, str, int, float, int]  # feed, sensor, t_ms, value, quality
Param = tuple[int, int, str, int, float, int, int]  # rid, feed, sensor, t_ms, value, quality, encoded size


@dataclass(frozen=True, slots=True)
class Appended:
    """What one group commit stored: each row's parameters (in the order given, copies left out) and, per
    feed, ``[count, sum of encoded sizes]``."""

    params: list[Param]
    by_feed: dict[int, list[int]]
    rows_of: dict[int, list[Param]] = field(default_factory=dict)  # per feed, its params in rid order


_BASE: dict[str, int] = {}  # sensor -> encoded size of a reading of it less its three integer heads
_SMALL = 24  # integers below this take one byte
_QUALITY_MAX = int(max(Quality)) * 2 - 1  # every flag set


def _base(sensor: str) -> int:
    size = _BASE.get(sensor)
    if size is None:
        size = reading_encoded_size(sensor, 0, 0, 0) - 3
        if len(_BASE) >= 4096:
            _BASE.clear()
        _BASE[sensor] = size
    return size


def _uint_size(n: int) -> int:
    return 1 if n < _SMALL else 2 if n < 0x100 else 3 if n < 0x10000 else 5 if n <= 0xFFFFFFFF else 9


def row_params(rows: Sequence[Row], first_rid: int) -> Appended:
    """Parameters of ``INSERT_READING`` for ``rows`` with consecutive rids from ``first_rid``; raises
    ``BatchFormatError`` (as ``Reading`` does) for a row a batch could not hold."""
    last_rid = first_rid + len(rows) - 1
    rid_size = _uint_size(first_rid) if _uint_size(first_rid) == _uint_size(last_rid) else 0
    params: list[Param] = []
    append = params.append
    by_feed: dict[int, list[int]] = {}
    rows_of: dict[int, list[Param]] = {}
    base_of = _BASE.get
    rid = first_rid
    for feed, sensor, t_ms, value, quality in rows:
        base = base_of(sensor)  # a sensor seen here before passed the name checks
        if base is None or not (type(t_ms) is int and 0 <= t_ms <= MAX_UINT64 and type(value) is float
                                and -inf < value < inf and type(quality) is int and 0 <= quality <= _QUALITY_MAX):
            checked = Reading(rid, sensor, t_ms, value, quality)  # raises with the reason; normalises the types
            sensor, t_ms, value, quality = checked.sensor, checked.t_ms, checked.value, checked.quality
            base = _base(sensor)
        size = (base + (rid_size or _uint_size(rid)) + (9 if t_ms > 0xFFFFFFFF else _uint_size(t_ms))
                + (1 if quality < _SMALL else 2))
        # + 0.0: SQLite gives -0.0 back as 0.0, so the row kept in memory is the row a restart reads.
        param = (rid, feed, sensor, t_ms, value + 0.0, quality, size)
        append(param)
        feed_rows = rows_of.get(feed)
        if feed_rows is None:
            rows_of[feed] = [param]
            by_feed[feed] = [1, size]
        else:
            feed_rows.append(param)
            totals = by_feed[feed]
            totals[0] += 1
            totals[1] += size
        rid += 1
    return Appended(params, by_feed, rows_of)


_CHUNK = 32  # rows per INSERT statement: fewer statement steps per row than one executemany row each
_INSERT_CHUNK = INSERT_READING + ", (?, ?, ?, ?, ?, ?, ?)" * (_CHUNK - 1)


def insert_all(db: sqlite3.Connection, params: Sequence[Param]) -> None:
    """``INSERT_READING`` for every row of ``params`` (copies ignored; the caller counts the changes)."""
    full = len(params) // _CHUNK * _CHUNK
    if full:
        flat = list(chain.from_iterable(params[:full]))
        step = 7 * _CHUNK
        db.executemany(_INSERT_CHUNK, [flat[i:i + step] for i in range(0, full * 7, step)])
    db.executemany(INSERT_READING, params[full:])


def insert_one_by_one(db: sqlite3.Connection, params: Sequence[Param]) -> Appended:
    """The slow path of a group holding copies: each row alone, copies skipped, rids consecutive."""
    if not params:
        return Appended([], {})
    rows = [(feed, sensor, t_ms, value, quality) for _rid, feed, sensor, t_ms, value, quality, _size in params]
    next_rid = params[0][0]
    stored: list[Row] = []
    for feed, sensor, t_ms, value, quality in rows:
        size = reading_encoded_size(sensor, next_rid, t_ms, quality)
        if db.execute(INSERT_READING, (next_rid, feed, sensor, t_ms, value, quality, size)).rowcount:
            stored.append((feed, sensor, t_ms, value, quality))
            next_rid += 1
    return row_params(stored, params[0][0])


class UnbatchedRows:
    """Each feed's unbatched readings as this connection committed them, so that closing a batch does not
    read them back from the file (``Outbox._close``). A copy, not the truth: the close counts the feed's
    unbatched rows in its own transaction and reads them from the file whenever the copy does not match (a
    restart, another writer, the memory cap below). Unbatched rows are never deleted, so a copy whose count
    matches holds exactly the file's rows."""

    MAX_ROWS = 100_000  # all feeds together; past it the copy is dropped and rebuilt from later commits

    def __init__(self) -> None:
        self._rows: dict[int, list[Param]] = {}
        self._held = 0
        self.used = 0  # closes served from the copy (the rest read the file)

    def committed(self, rows_of: dict[int, list[Param]]) -> None:
        """Rows just committed, per feed (``Appended.rows_of``)."""
        for feed, rows in rows_of.items():
            held = self._rows.get(feed)
            if held is None:
                self._rows[feed] = list(rows)
            else:
                held.extend(rows)
            self._held += len(rows)
        if self._held > self.MAX_ROWS:
            self.clear()

    def matching(self, feed: int, after: int, count: int) -> list[Param] | None:
        """The feed's rows after rid ``after`` if the copy holds all ``count`` of them, else None."""
        rows = self._rows.get(feed)
        if not rows:
            return None
        if rows[0][0] <= after:  # another writer batched some: keep only what is still unbatched
            self._drop(feed, after)
            rows = self._rows.get(feed, [])
        if len(rows) != count:
            return None
        self.used += 1
        return rows

    def batched(self, feed: int, last_rid: int) -> None:
        """The feed's rows up to ``last_rid`` are in a batch now."""
        if self._rows.get(feed):
            self._drop(feed, last_rid)

    def clear(self) -> None:
        self._rows.clear()
        self._held = 0

    def _drop(self, feed: int, upto_rid: int) -> None:
        rows = self._rows[feed]
        n = bisect_right(rows, upto_rid, key=itemgetter(0))
        self._held -= n
        self._rows[feed] = rows[n:]


def readings_fitting(feed: int, seq: int, sizes: list[int], max_bytes: int) -> int:
    """How many readings of encoded ``sizes`` one batch holds within ``max_bytes``; at least one. The array
    head grows with the count, so the exact test only runs near the limit."""
    ends = list(accumulate(sizes))
    n = bisect_right(ends, max_bytes - batch_overhead(feed, seq, 2**64 - 1))
    while n < len(sizes) and batch_overhead(feed, seq, n + 1) + ends[n] <= max_bytes:
        n += 1
    return max(n, 1)
