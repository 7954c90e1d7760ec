"""Reading and batch encoding, version 1 (docs/formats.md section 1).

A reading is the DAG-CBOR map ``{r, s, t, v, q}`` and a batch the map ``{v, feed, seq, readings}``.
Encoding goes through the ``dag_cbor`` package, which applies the deterministic DAG-CBOR rules
(length-then-bytewise key order, shortest integers, 64-bit floats), so the same content always
gives the same bytes. Decoding is strict: ``dag_cbor`` rejects non-canonical CBOR, and this module
then checks the version, the exact key sets and every field's type and range.

``encode_reading`` yields the bytes that the Merkle leaf hashes (``formats/merkle.py``).

The ``dag_cbor`` package spends ~100 µs per reading, too slow for kHz feeds and 100k-reading
audits, so both directions have a fast path specialised to this one fixed layout. The fast encoder
must produce exactly ``dag_cbor.encode``'s bytes, and the fast decoder accepts only bytes that
``dag_cbor.decode`` plus the checks below also accept (differential tests in
tests/formats/test_batch_fastpath.py and test_batch_onepass.py). The fast decoder, ``reading_slices``
and ``decode_batch_columns`` (readings and leaf preimages in one pass) all stand on the one layout
scanner of ``formats/batchlayout.py``. Anything the fast decoder does not recognise goes through
``dag_cbor`` for the verdict and the error message.
``reading_encoded_size`` and ``batch_encoded_size`` compute encoding lengths arithmetically, so the
outbox can close a batch below the size limit without encoding candidates.
"""

from __future__ import annotations

import math
import operator
import struct
from collections import deque
from dataclasses import dataclass
from enum import IntFlag
from itertools import islice, repeat
from typing import Any, Iterable, Sequence

import dag_cbor
from dag_cbor.encoding import DAGCBOREncodingError

from ..errors import TwinLedgerError
from .batchlayout import BATCH_PREFIX, FEED_KEY, Q_KEY, R_KEY, READINGS_KEY, S_KEY, T_KEY, V_KEY, Layout, scan

__all__ = [
    "BATCH_FORMAT_VERSION",
    "BATCH_SIZE_LIMIT",
    "MAX_UINT64",
    "Batch",
    "BatchColumns",
    "BatchFormatError",
    "Quality",
    "Reading",
    "batch_encoded_size",
    "decode_batch",
    "decode_batch_columns",
    "decode_batch_slices",
    "decode_reading",
    "encode_batch",
    "encode_batch_reference",
    "encode_reading",
    "encode_reading_reference",
    "encode_batch_of_encoded",
    "encode_reading_fields",
    "reading_encoded_size",
    "reading_slices",
    "fields_ok",
    "trusted_reading",
]

BATCH_FORMAT_VERSION = 1
# A batch is one raw IPFS block of at most one 256 KiB chunk; its encoding must stay strictly below.
BATCH_SIZE_LIMIT = 256 * 1024
MAX_UINT64 = 2**64 - 1

_READING_KEYS = frozenset({"r", "s", "t", "v", "q"})
_BATCH_KEYS = frozenset({"v", "feed", "seq", "readings"})


class BatchFormatError(TwinLedgerError, ValueError):
    """Bytes or values that are not a valid version-1 reading or batch."""


class Quality(IntFlag):
    """Quality flags of a reading (the ``q`` bitmask). ``GOOD`` (0) means no flag is set."""

    GOOD = 0
    OUT_OF_RANGE = 1
    SAFETY_RULE = 2
    REDUNDANCY_MISMATCH = 4
    STUCK = 8
    SPIKE = 16
    SOURCE_UNCERTAIN = 32   # the plant itself said so (OPC UA status "uncertain", Sparkplug quality)
    SOURCE_BAD = 64         # the plant itself said so (OPC UA status "bad", Sparkplug quality below 64)


_QUALITY_MASK = int(
    Quality.OUT_OF_RANGE
    | Quality.SAFETY_RULE
    | Quality.REDUNDANCY_MISMATCH
    | Quality.STUCK
    | Quality.SPIKE
    | Quality.SOURCE_UNCERTAIN
    | Quality.SOURCE_BAD
)


def _check_uint(name: str, value: object, limit: int = MAX_UINT64) -> int:
    if type(value) is not int:  # bool and IntFlag are rejected/normalised by the callers
        raise BatchFormatError(f"{name} must be an unsigned integer, got {type(value).__name__}")
    if not 0 <= value <= limit:
        raise BatchFormatError(f"{name} out of range: {value}")
    return value


@dataclass(frozen=True, slots=True)
class Reading:
    """One validated measurement as it is anchored. ``rid`` comes from the outbox."""

    rid: int
    sensor: str
    t_ms: int
    value: float
    quality: int = 0

    def __post_init__(self) -> None:
        _check_uint("rid", self.rid)
        if not isinstance(self.sensor, str) or not self.sensor:
            raise BatchFormatError("sensor must be a non-empty string")
        try:
            self.sensor.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BatchFormatError(f"sensor is not valid UTF-8 text: {exc}") from None
        _check_uint("t_ms", self.t_ms)
        value = self.value
        if type(value) is int:
            value = float(value)
            object.__setattr__(self, "value", value)
        if type(value) is not float:
            raise BatchFormatError(f"value must be a float, got {type(value).__name__}")
        if not math.isfinite(value):
            raise BatchFormatError(f"value must be finite, got {value!r}")
        quality = self.quality
        if isinstance(quality, IntFlag):
            quality = int(quality)
            object.__setattr__(self, "quality", quality)
        _check_uint("quality", quality)
        if quality & ~_QUALITY_MASK:
            raise BatchFormatError(f"quality has unknown flag bits: {quality:#x}")

    @property
    def flags(self) -> Quality:
        return Quality(self.quality)

    def to_ipld(self) -> dict[str, Any]:
        return {"r": self.rid, "s": self.sensor, "t": self.t_ms, "v": self.value, "q": self.quality}


@dataclass(frozen=True, slots=True)
class Batch:
    """The readings of one feed closed under one sequence number, in acceptance (rid) order."""

    feed: int
    seq: int
    readings: tuple[Reading, ...]

    def __post_init__(self) -> None:
        _check_uint("feed", self.feed)
        _check_uint("seq", self.seq)
        if not isinstance(self.readings, tuple):
            object.__setattr__(self, "readings", tuple(self.readings))
        if not self.readings:
            raise BatchFormatError("a batch holds at least one reading")
        prev = -1
        for reading in self.readings:
            if not isinstance(reading, Reading):
                raise BatchFormatError(f"readings must be Reading objects, got {type(reading).__name__}")
            if reading.rid <= prev:
                raise BatchFormatError(f"reading ids must increase within a batch: {reading.rid} after {prev}")
            prev = reading.rid

    @property
    def count(self) -> int:
        return len(self.readings)

    @property
    def t_first(self) -> int:
        """Earliest measurement time (readings are in acceptance order, not always time order)."""
        return min(r.t_ms for r in self.readings)

    @property
    def t_last(self) -> int:
        return max(r.t_ms for r in self.readings)

    def to_ipld(self) -> dict[str, Any]:
        return {
            "v": BATCH_FORMAT_VERSION,
            "feed": self.feed,
            "seq": self.seq,
            "readings": [r.to_ipld() for r in self.readings],
        }


_new_reading = object.__new__
_set_field = object.__setattr__


def trusted_reading(rid: int, sensor: str, t_ms: int, value: float, quality: int) -> Reading:
    """A ``Reading`` from fields that already passed its checks (rows the outbox stored after
    checking them): skips ``__post_init__``, which costs more than the rest of the hot path."""
    r = _new_reading(Reading)
    _set_field(r, "rid", rid)
    _set_field(r, "sensor", sensor)
    _set_field(r, "t_ms", t_ms)
    _set_field(r, "value", value)
    _set_field(r, "quality", quality)
    return r


def fields_ok(sensor: object, t_ms: int, value: float, quality: int) -> bool:
    """True when ``Reading(rid, sensor, t_ms, value, quality)`` would pass its checks (for any valid rid):
    the quick test in front of ``trusted_reading``; on False build the ``Reading`` for the error."""
    return (type(sensor) is str and bool(sensor) and 0 <= t_ms <= MAX_UINT64 and -math.inf < value < math.inf
            and 0 <= quality and not quality & ~_QUALITY_MASK and sensor.isascii())


def encode_reading(reading: Reading) -> bytes:
    """The canonical DAG-CBOR bytes of one reading (the Merkle leaf preimage)."""
    return _fast_reading(reading)


def encode_batch(batch: Batch, *, max_bytes: int | None = BATCH_SIZE_LIMIT - 1) -> bytes:
    """The canonical DAG-CBOR bytes of a batch; raises if longer than ``max_bytes``."""
    data = b"".join([
        BATCH_PREFIX, _head(0, batch.seq), FEED_KEY, _head(0, batch.feed), READINGS_KEY,
        _head(4, len(batch.readings)), *map(_fast_reading, batch.readings),
    ])
    if max_bytes is not None and len(data) > max_bytes:
        raise BatchFormatError(f"batch encoding is {len(data)} bytes, above the limit of {max_bytes}")
    return data


def encode_reading_reference(reading: Reading) -> bytes:
    """``encode_reading`` through the ``dag_cbor`` package (the reference the fast path must match)."""
    return _encode(reading.to_ipld())


def encode_batch_reference(batch: Batch) -> bytes:
    return _encode(batch.to_ipld())


_pack_double = struct.Struct(">d").pack
_SMALL_HEADS = {major: [bytes([major << 5 | n]) for n in range(24)] for major in (0, 3, 4)}


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return _SMALL_HEADS[major][n]
    m = major << 5
    if n < 0x100:
        return bytes((m | 24, n))
    if n < 0x10000:
        return bytes((m | 25,)) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes((m | 26,)) + n.to_bytes(4, "big")
    return bytes((m | 27,)) + n.to_bytes(8, "big")


def _fast_reading(r: Reading) -> bytes:
    # Keys in DAG-CBOR order (length, then bytewise): q, r, s, t, v; each key is text(1) 0x61.
    sensor = r.sensor.encode("utf-8")
    return b"".join((
        Q_KEY, _head(0, r.quality), R_KEY, _head(0, r.rid), S_KEY, _head(3, len(sensor)), sensor,
        T_KEY, _head(0, r.t_ms), V_KEY, _pack_double(r.value),
    ))


def encode_batch_of_encoded(feed: int, seq: int, encoded: Sequence[bytes]) -> bytes:
    """``encode_batch`` of a batch whose readings are already encoded (``encode_reading_fields``), in order."""
    return b"".join([b"\xa4\x61v\x01\x63seq", _head(0, seq), b"\x64feed", _head(0, feed), b"\x68readings",
                     _head(4, len(encoded)), *encoded])


_SENSOR_PARTS: dict[str, bytes] = {}  # sensor -> its key, head and name, then the t key (bounded below)
_Q_PARTS = [b"\xa5\x61q" + bytes([q] if q < 24 else [24, q]) + b"\x61r" for q in range(_QUALITY_MASK + 1)]
_pack_rid16 = struct.Struct(">BH").pack
_pack_rid32 = struct.Struct(">BI").pack
_pack_tail64 = struct.Struct(">BQ3sd").pack
_SMALL_UINTS = _SMALL_HEADS[0] + [bytes((24, n)) for n in range(24, 0x100)]


def encode_reading_fields(rid: int, sensor: str, t_ms: int, value: float, quality: int) -> bytes:
    """``encode_reading(Reading(rid, sensor, t_ms, value, quality))`` for fields that already passed its checks
    (the outbox's stored rows), without building the ``Reading``: the per-sensor bytes are cached and the common
    sizes (a rid below 2^32, a time in ms since 1970) packed without a call per head."""
    part = _SENSOR_PARTS.get(sensor)
    if part is None:
        name = sensor.encode("utf-8")
        part = b"\x61s" + _head(3, len(name)) + name + b"\x61t"
        if len(_SENSOR_PARTS) >= 4096:
            _SENSOR_PARTS.clear()
        _SENSOR_PARTS[sensor] = part
    if t_ms > 0xFFFFFFFF and rid <= 0xFFFFFFFF:
        head = (_pack_rid32(0x1A, rid) if rid > 0xFFFF else _pack_rid16(0x19, rid) if rid > 0xFF
                else _SMALL_UINTS[rid])
        return b"".join((_Q_PARTS[quality], head, part, _pack_tail64(0x1B, t_ms, b"\x61v\xfb", value)))
    return b"".join((_Q_PARTS[quality], _head(0, rid), part, _head(0, t_ms), b"\x61v\xfb", _pack_double(value)))


def _encode(obj: Any) -> bytes:
    try:
        return dag_cbor.encode(obj)
    except DAGCBOREncodingError as exc:
        raise BatchFormatError(f"cannot encode: {exc}") from None


def decode_reading(data: bytes) -> Reading:
    """Strictly decode the bytes of one reading."""
    return _reading_from_ipld(_decode(data), 0)


def decode_batch(data: bytes, *, max_bytes: int | None = BATCH_SIZE_LIMIT - 1) -> Batch:
    """Strictly decode a version-1 batch; any deviation raises ``BatchFormatError``."""
    data = _batch_bytes(data, max_bytes)
    fast = _fast_decode_batch(data)
    return fast if fast is not None else _slow_decode_batch(data)


def _batch_bytes(data: bytes, max_bytes: int | None) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BatchFormatError(f"batch data must be bytes, got {type(data).__name__}")
    if max_bytes is not None and len(data) > max_bytes:
        raise BatchFormatError(f"batch is {len(data)} bytes, above the limit of {max_bytes}")
    return bytes(data)


def _slow_decode_batch(data: bytes) -> Batch:
    """Through ``dag_cbor``: the verdict and the precise error for whatever the fast path refuses."""
    obj = _decode(data)
    if type(obj) is not dict:
        raise BatchFormatError(f"a batch must be a map, got {type(obj).__name__}")
    if "v" in obj and obj["v"] != BATCH_FORMAT_VERSION:
        raise BatchFormatError(f"unsupported batch format version {obj['v']!r}")
    if obj.keys() != _BATCH_KEYS:
        raise BatchFormatError(f"batch keys must be {sorted(_BATCH_KEYS)}, got {sorted(obj)}")
    if type(obj["v"]) is not int:
        raise BatchFormatError("batch version must be an unsigned integer")
    items = obj["readings"]
    if type(items) is not list:
        raise BatchFormatError(f"readings must be a list, got {type(items).__name__}")
    readings = tuple(_reading_from_ipld(item, i) for i, item in enumerate(items))
    return Batch(feed=_check_uint("feed", obj["feed"]), seq=_check_uint("seq", obj["seq"]), readings=readings)


def _decode(data: bytes) -> Any:
    try:
        return dag_cbor.decode(data)
    except Exception as exc:  # noqa: BLE001 - dag-cbor raises several unrelated error classes
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BatchFormatError(f"not canonical DAG-CBOR: {first_line}") from None


def _reading_from_ipld(item: Any, index: int) -> Reading:
    if type(item) is not dict or item.keys() != _READING_KEYS:
        shown = sorted(item) if type(item) is dict else type(item).__name__
        raise BatchFormatError(f"reading #{index}: must be a map with keys q, r, s, t, v; got {shown}")
    if type(item["v"]) is not float:
        raise BatchFormatError(f"reading #{index}: value must be a float, got {type(item['v']).__name__}")
    try:
        return Reading(rid=item["r"], sensor=item["s"], t_ms=item["t"], value=item["v"], quality=item["q"])
    except BatchFormatError as exc:
        raise BatchFormatError(f"reading #{index}: {exc}") from None


def _uint_size(n: int) -> int:
    if n < 24:
        return 1
    if n < 0x100:
        return 2
    if n < 0x10000:
        return 3
    if n < 0x100000000:
        return 5
    return 9


# Fixed part of a reading: map head (1), five one-letter keys (2 each), float64 value (9).
_READING_FIXED = 1 + 5 * 2 + 9
# Fixed part of a batch: map head, keys "v", "seq", "feed", "readings" with their text heads, version 1.
_BATCH_FIXED = 1 + 2 + 1 + 4 + 5 + 9


def reading_encoded_size(sensor: str, rid: int, t_ms: int, quality: int) -> int:
    """``len(encode_reading(...))`` without encoding (the value is always 9 bytes)."""
    n = len(sensor.encode("utf-8"))
    return _READING_FIXED + _uint_size(quality) + _uint_size(rid) + _uint_size(n) + n + _uint_size(t_ms)


def batch_encoded_size(feed: int, seq: int, reading_sizes: Sequence[int] | Iterable[int]) -> int:
    """``len(encode_batch(...))`` from the readings' encoded sizes."""
    count = 0
    total = 0
    for size in reading_sizes:
        count += 1
        total += size
    return batch_overhead(feed, seq, count) + total


def batch_overhead(feed: int, seq: int, count: int) -> int:
    """Bytes of a batch encoding that are not reading maps."""
    return _BATCH_FIXED + _uint_size(feed) + _uint_size(seq) + _uint_size(count)


@dataclass(frozen=True, slots=True)
class BatchColumns:
    """A strictly decoded batch as columns of reading fields, each checked as ``decode_batch`` checks it;
    ``Reading`` objects only on demand (a verifier that only hashes and indexes readings needs none)."""

    feed: int
    seq: int
    rids: Sequence[int]
    sensors: Sequence[str]
    times: Sequence[int]
    values: Sequence[float]
    qualities: Sequence[int]

    @classmethod
    def of(cls, feed: int, seq: int, readings: Sequence[Reading]) -> BatchColumns:
        return cls(feed, seq, *(list(map(operator.attrgetter(name), readings))
                                for name in ("rid", "sensor", "t_ms", "value", "quality")))

    def __len__(self) -> int:
        return len(self.rids)

    def readings(self) -> tuple[Reading, ...]:
        return _trusted_readings(self.rids, self.sensors, self.times, self.values, self.qualities)

    def batch(self) -> Batch:
        batch = _new_reading(Batch)  # the checks of Batch.__post_init__ passed (rids increase, count >= 1)
        _set_field(batch, "feed", self.feed)
        _set_field(batch, "seq", self.seq)
        _set_field(batch, "readings", self.readings())
        return batch


def _columns_of(layout: Layout) -> BatchColumns | None:
    """The columns of a scanned layout if every field passes the checks of ``Reading`` and ``Batch``, else
    None (the slow path then gives the verdict and the precise error). Checks run once per distinct
    sensor name and quality, and over whole columns otherwise, instead of reading by reading."""
    try:
        names = {raw: raw.decode("utf-8") for raw in set(layout.sensors)}
    except UnicodeDecodeError:
        return None
    rids = layout.rids
    if (b"" in names or any(q & ~_QUALITY_MASK for q in set(layout.qualities))
            or not all(map(math.isfinite, layout.values)) or not all(map(operator.lt, rids, islice(rids, 1, None)))):
        return None
    return BatchColumns(layout.feed, layout.seq, rids, list(map(names.__getitem__, layout.sensors)), layout.times,
                        layout.values, layout.qualities)


# Each field's slot descriptor: setting a column of fields with map() keeps the per-reading work in C, half the cost
# of one ``trusted_reading`` call per reading.
_FIELD_SETTERS = tuple(getattr(Reading, name).__set__ for name in ("rid", "sensor", "t_ms", "value", "quality"))


def _trusted_readings(*columns: Sequence[Any]) -> tuple[Reading, ...]:
    """``trusted_reading`` over columns of fields that passed its checks (rid, sensor, t_ms, value, quality)."""
    readings = tuple(map(_new_reading, repeat(Reading, len(columns[0]))))
    for set_field, column in zip(_FIELD_SETTERS, columns):
        deque(map(set_field, readings, column), 0)
    return readings


def _fast_decode_batch(data: bytes) -> Batch | None:
    layout = scan(data)
    columns = _columns_of(layout) if layout is not None else None
    return columns.batch() if columns is not None else None


def decode_batch_columns(data: bytes, *,
                         max_bytes: int | None = BATCH_SIZE_LIMIT - 1) -> tuple[BatchColumns, list[bytes]]:
    """``decode_batch(data)`` as columns, and each reading's own bytes (``reading_slices(data)[2]``, the Merkle
    leaf preimages), from one pass over ``data``; raises exactly what ``decode_batch`` raises."""
    data = _batch_bytes(data, max_bytes)
    layout = scan(data)
    columns = _columns_of(layout) if layout is not None else None
    if layout is not None and columns is not None:
        return columns, layout.slices(data)
    batch = _slow_decode_batch(data)  # raises: the fast path refuses no valid batch that is known
    return BatchColumns.of(batch.feed, batch.seq, batch.readings), [encode_reading(r) for r in batch.readings]


def decode_batch_slices(data: bytes, *, max_bytes: int | None = BATCH_SIZE_LIMIT - 1) -> tuple[Batch, list[bytes]]:
    """``decode_batch(data)`` and each reading's own bytes, from one pass (``decode_batch_columns``)."""
    columns, slices = decode_batch_columns(data, max_bytes=max_bytes)
    return columns.batch(), slices


def reading_slices(data: bytes) -> tuple[int, int, list[bytes], int, int] | None:
    """``(feed, seq, each reading's own bytes, t_first, t_last)`` of a batch in the canonical layout, without
    building ``Reading`` objects or checking field values: the slices are exactly ``encode_reading`` of each
    reading (the leaf preimages), so an anchorer hashes its own stored bytes directly. None if ``data`` is
    not in the layout ``encode_batch`` writes (then ``decode_batch`` gives the verdict)."""
    layout = scan(data)
    if layout is None:
        return None
    return layout.feed, layout.seq, layout.slices(data), min(layout.times), max(layout.times)
