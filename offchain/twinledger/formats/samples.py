"""The raw items every reading source yields: a `Sample` (unvalidated on purpose: the value may be a
string, `None` or garbage, and `error` says a line could not be split) or a `SensorSwapped` event."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple, Union


class Sample(NamedTuple):
    """A raw, unvalidated sample. ``error`` is set when the input could not be parsed at all.

    A named tuple, not a frozen dataclass: one is built per reading on the ingest path, and a frozen
    dataclass costs about three times as much to build (its ``__init__`` sets each field through
    ``object.__setattr__``)."""

    sensor: Any
    t_ms: Any
    value: Any
    origin: str = ""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SensorSwapped:
    """A sensor was physically replaced: readings continue under ``new``. The daemon retires the
    old feed and registers the new one, so the history stays continuous."""

    old: str
    new: str
    t_ms: int
    old_serial: str = ""
    new_serial: str = ""


SourceItem = Union[Sample, SensorSwapped]
Source = Iterable[SourceItem]
