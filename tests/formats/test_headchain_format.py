"""docs/formats.md section 3: the head chain."""

from __future__ import annotations

import pytest
from eth_abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from twinledger.formats.headchain import GENESIS_HEAD, BatchAnchor, fold_heads, next_head
from twinledger.formats.merkle import keccak256

R = bytes.fromhex("11" * 32)
C = bytes.fromhex("22" * 32)


def test_genesis_is_zero() -> None:
    assert GENESIS_HEAD == bytes(32)


def test_matches_abi_encode() -> None:
    expected = keccak256(
        encode(
            ["bytes32", "uint256", "uint64", "bytes32", "bytes32", "uint32", "uint64", "uint64"],
            [GENESIS_HEAD, 7, 0, R, C, 3, 1_700_000_000_000, 1_700_000_000_999],
        )
    )
    assert next_head(GENESIS_HEAD, 7, 0, R, C, 3, 1_700_000_000_000, 1_700_000_000_999) == expected


def test_known_answer() -> None:
    h = next_head(GENESIS_HEAD, 1, 0, R, C, 1, 0, 0)
    assert h.hex() == KNOWN_HEAD


KNOWN_HEAD = "43afdc8bd55e1368013f210c92c9c1aa2b0cccf962cf70705607b70f05e4a139"


def test_every_field_matters() -> None:
    base = (GENESIS_HEAD, 1, 0, R, C, 1, 5, 6)
    h = next_head(*base)
    variants = [
        (R,) + base[1:],
        (base[0], 2) + base[2:],
        base[:2] + (1,) + base[3:],
        base[:3] + (C,) + base[4:],
        base[:4] + (R,) + base[5:],
        base[:5] + (2,) + base[6:],
        base[:6] + (4,) + base[7:],
        base[:7] + (7,),
    ]
    assert len({next_head(*v) for v in variants} | {h}) == 9


@pytest.mark.parametrize(
    "args",
    [
        (b"\x00" * 31, 1, 0, R, C, 1, 0, 0),
        (GENESIS_HEAD, -1, 0, R, C, 1, 0, 0),
        (GENESIS_HEAD, 1, 2**64, R, C, 1, 0, 0),
        (GENESIS_HEAD, 1, 0, R, C, 2**32, 0, 0),
        (GENESIS_HEAD, 1, 0, R, b"", 1, 0, 0),
        (GENESIS_HEAD, 1, True, R, C, 1, 0, 0),
    ],
)
def test_rejects_out_of_range(args: tuple) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        next_head(*args)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.binary(min_size=32, max_size=32), st.integers(1, 2**32 - 1), st.integers(0, 2**63)),
        min_size=1,
        max_size=8,
    )
)
def test_fold_equals_step_by_step(batches: list[tuple[bytes, int, int]]) -> None:
    anchors = [BatchAnchor(9, i, root, C, count, t, t + 1) for i, (root, count, t) in enumerate(batches)]
    heads = fold_heads(anchors)
    h = GENESIS_HEAD
    for a, got in zip(anchors, heads):
        h = next_head(h, a.feed_id, a.seq, a.root, a.cid, a.count, a.t_first, a.t_last)
        assert got == h
