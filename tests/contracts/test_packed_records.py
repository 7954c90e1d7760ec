"""PackedRecords, pinned to Solidity's own packing: the version meta it writes in one SSTORE reads back through
the struct's fields (and leaves the other slots alone), the header it decodes is the one the fields wrote, and
its one-version increment moves only `versionCount`."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
ADDRESSES = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())


@pytest.fixture(scope="module")
def records(project: Any, deployer: Any) -> Any:
    return deployer.deploy(project.TestPackedRecords)


@SETTINGS
@given(author=ADDRESSES, codec=st.integers(0, 2**16 - 1), time=st.integers(0, 2**40 - 1))
def test_meta_written_in_one_word_reads_back_field_by_field(
    records: Any, deployer: Any, author: str, codec: int, time: int
) -> None:
    out = records.writeMeta.call(author, codec, time)
    assert (out[0].lower(), out[1], out[2]) == (author.lower(), codec, time)
    assert (int.from_bytes(bytes(out[3]), "big"), int.from_bytes(bytes(out[4]), "big")) == (1, 2)


@SETTINGS
@given(
    twin=st.integers(0, 2**48 - 1), count=st.integers(0, 2**32 - 2), archived=st.booleans(),
    created=st.integers(0, 2**40 - 1),
)
def test_header_decodes_what_the_fields_wrote(
    records: Any, deployer: Any, twin: int, count: int, archived: bool, created: int
) -> None:
    assert tuple(records.decodeHeader.call(twin, count, archived, created)) == (twin, count, archived)


def test_one_version_moves_only_the_count(records: Any, deployer: Any) -> None:
    records.decodeHeader(2**48 - 1, 41, True, 2**40 - 1, sender=deployer)
    assert tuple(records.addVersion.call()) == (2**48 - 1, 42, True, 2**40 - 1)
