"""`chain.tx.encoded_call`: the calldata `TxSender` sends is byte for byte what web3's own encoding of the same
call gives, for the project's own calls (anchors of many items, strings, arrays, signed integers, booleans,
addresses, hex strings for bytes); a call by keyword arguments or a deployment falls back to web3 (None)."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from twinledger.chain.artifacts import load_artifacts
from twinledger.chain.tx import encoded_call

ADDRESS = Web3.to_checksum_address("0x" + "5a" * 20)
OTHER = Web3.to_checksum_address("0x00000000000000000000000000000000000000c4")


@pytest.fixture(scope="module")
def contracts() -> dict[str, Any]:
    w3 = Web3()  # no node: encoding needs none
    return {name: w3.eth.contract(address=ADDRESS, abi=art.abi) for name, art in load_artifacts().items()}


def uint(bits: int) -> st.SearchStrategy[int]:
    return st.integers(0, 2**bits - 1)


anchor_items = st.lists(st.tuples(uint(256), uint(64), st.binary(min_size=32, max_size=32),
                                  st.binary(min_size=32, max_size=32), uint(32), uint(64), uint(64),
                                  st.binary(max_size=130)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(items=anchor_items)
def test_an_anchor_of_many_items_encodes_as_web3_encodes_it(contracts, items) -> None:
    fn = contracts["SensorFeed"].functions.anchorMany(items)
    assert encoded_call(fn) == fn._encode_transaction_data()
    one = contracts["SensorFeed"].functions.anchor(*items[0])
    assert encoded_call(one) == one._encode_transaction_data()


@settings(max_examples=40, deadline=None)
@given(name=st.text(max_size=40), values=st.lists(st.integers(-2**255, 2**255 - 1), max_size=8),
       ok=st.booleans(), labels=st.lists(st.text(max_size=12), max_size=5))
def test_strings_arrays_signed_integers_booleans_and_addresses_encode_alike(contracts, name, values, ok,
                                                                          labels) -> None:
    spec, auth = contracts["Specification"].functions, contracts["Authorization"].functions
    digests = [bytes([i]) * 32 for i in range(len(labels))]
    calls = [
        spec.createTwin(name, b"\x01" * 32, b"\x02" * 32, 7, b"\x03" * 32),
        spec.callProgram(3, b"\x04" * 32, b"\x05" * 32, values),
        spec.completeCall(9, ok, b"\x06" * 32, 65535),
        spec.addComponents(1, digests, digests, labels, digests),
        auth.grantTwinRole(2, b"\x07" * 32, OTHER),
    ]
    for fn in calls:
        assert encoded_call(fn) == fn._encode_transaction_data(), fn.fn_name


def test_hex_strings_encode_alike_and_keyword_calls_and_deployments_are_left_to_web3(contracts) -> None:
    feeds = contracts["SensorFeed"].functions
    hex_args = feeds.anchor(1, 0, "0x" + "ab" * 32, b"\x01" * 32, 10, 1, 2, "0xabcd")  # hex for bytes32 and bytes
    assert encoded_call(hex_args) == hex_args._encode_transaction_data()
    names = [i["name"] for i in hex_args.abi["inputs"]]
    by_name = feeds.anchor(**dict(zip(names, (1, 0, b"\xab" * 32, b"\x01" * 32, 10, 1, 2, b""))))
    assert encoded_call(by_name) is None
    assert by_name._encode_transaction_data() == feeds.anchor(1, 0, b"\xab" * 32, b"\x01" * 32, 10, 1, 2,
                                                              b"")._encode_transaction_data()
    assert encoded_call(contracts["SensorFeed"].constructor) is None
