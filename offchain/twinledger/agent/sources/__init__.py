"""Reading sources: each yields raw `Sample`s (and `SensorSwapped` events) for validation.

A sample is raw on purpose: the value may be a string, `None` or garbage, and a line that could not
even be split into fields arrives as a `Sample` with `error` set, so validation rejects and counts it
in one place. The file and stream sources are in `files`; the filling-plant simulator (a source and
the device program calls drive) is the `twinledger.sim` package.
"""
from ...formats.samples import Sample, SensorSwapped, Source, SourceItem
from .files import DEFAULT_MAX_LINE_BYTES, Acknowledger, CsvReplay, JsonLinesReplay, StdinSource, parse_line

__all__ = ["DEFAULT_MAX_LINE_BYTES", "Acknowledger", "CsvReplay", "JsonLinesReplay", "Sample", "SensorSwapped",
           "Source", "SourceItem", "StdinSource", "parse_line"]
