"""HeadChain, pinned to the Python encoders: its in-place `head` is `formats/headchain.py`'s `next_head`, its
`anchorStructHash` is `formats/eip712.py`'s `AnchorMessage.struct_hash` (the EIP-712 field order, not the head
chain's), and `split` reads (r, s, v) from a 65-byte calldata signature as `eth_account` lays it out."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinledger.formats.eip712 import ANCHOR_TYPEHASH, AnchorMessage
from twinledger.formats.headchain import next_head

SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
B32 = st.binary(min_size=32, max_size=32)
BATCHES = st.tuples(
    B32, st.integers(0, 2**256 - 1), st.integers(0, 2**64 - 1), B32, B32,
    st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
)


@pytest.fixture(scope="module")
def chain_lib(project: Any, deployer: Any) -> Any:
    return deployer.deploy(project.TestHeadChain)


@SETTINGS
@given(batch=BATCHES)
def test_head_is_the_formats_head(chain_lib: Any, batch: tuple[Any, ...]) -> None:
    assert bytes(chain_lib.head(batch)) == next_head(*batch)


@SETTINGS
@given(batch=BATCHES)
def test_struct_hash_is_the_eip712_struct_hash(chain_lib: Any, batch: tuple[Any, ...]) -> None:
    prev, feed, seq, root, cid, count, t_first, t_last = batch
    message = AnchorMessage(feed, seq, prev, root, cid, count, t_first, t_last)
    assert bytes(chain_lib.anchorStructHash(ANCHOR_TYPEHASH, batch)) == message.struct_hash()


def test_the_two_hashes_differ_by_field_order(chain_lib: Any) -> None:
    batch = (b"\x01" * 32, 2, 3, b"\x04" * 32, b"\x05" * 32, 6, 7, 8)
    assert bytes(chain_lib.anchorStructHash(bytes(32), batch)) != bytes(chain_lib.head(batch))


def test_split_reads_r_s_v_of_a_real_signature(chain_lib: Any) -> None:
    signed = Account.from_key(b"\x11" * 32).unsafe_sign_hash(b"\x22" * 32)
    r, s, v = chain_lib.split(signed.signature)
    assert (int.from_bytes(bytes(r), "big"), int.from_bytes(bytes(s), "big"), v) == (signed.r, signed.s, signed.v)
