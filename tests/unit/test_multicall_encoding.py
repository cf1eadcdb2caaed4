"""hedger's own ABI codec (hedger.chain.abi) and the hand-written Multicall3 layouts produce exactly what
eth_abi produces (eth_abi is a test-time reference only: the read path never imports it)."""

from __future__ import annotations

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector
from eth_utils import to_checksum_address as reference_checksum
from hypothesis import given, settings
from hypothesis import strategies as st

from hedger.chain import abi
from hedger.chain.multicall import Call, decode_results, encode_call3s
from hedger.errors import DecodeError

addresses = st.binary(min_size=20, max_size=20).map(lambda b: reference_checksum(b))
calls = st.lists(st.tuples(addresses, st.binary(max_size=200)), max_size=20)
uints = st.integers(0, 2**256 - 1)
ints = st.integers(-(2**255), 2**255 - 1)


@given(calls)
def test_call3_encoding_matches_eth_abi(pairs):
    expected = abi_encode(["(address,bool,bytes)[]"], [[(target, True, data) for target, data in pairs]])
    assert (
        encode_call3s(pairs) == expected == abi.encode(["(address,bool,bytes)[]"], [[(t, True, d) for t, d in pairs]])
    )


@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=200)), max_size=20))
def test_result_decoding_matches_eth_abi(results):
    assert decode_results(abi_encode(["(bool,bytes)[]"], [results])) == results


@given(addresses, uints, ints, st.booleans(), st.binary(min_size=32, max_size=32))
def test_static_arguments_and_outputs_match_eth_abi(address, unsigned, signed, flag, word):
    types = ["address", "uint256", "int256", "bool", "bytes32", "(address,uint256)", "uint8[2]"]
    values = [address, unsigned, signed, flag, word, (address, unsigned), [1, 2]]
    encoded = abi_encode(types, values)
    assert abi.encode(types, values) == encoded
    assert abi.decode(types, encoded) == (address, unsigned, signed, flag, word, (address, unsigned), [1, 2])
    nested = Call(address, b"", ("(address,uint256)", "int256", "bool"))
    raw = abi_encode(["(address,uint256)", "int256", "bool"], [(address, unsigned), signed, flag])
    assert nested.decode(raw) == ((address, unsigned), signed, flag)


dynamic_values = st.tuples(
    st.binary(max_size=100),
    st.text(max_size=40),
    st.lists(st.tuples(uints, addresses, st.binary(max_size=40)), max_size=5),
    st.lists(st.lists(ints, max_size=3), max_size=3),
)


@settings(max_examples=40)
@given(dynamic_values)
def test_dynamic_types_match_eth_abi(values):
    types = ["bytes", "string", "(uint256,address,bytes)[]", "int256[][]"]
    encoded = abi_encode(types, list(values))
    assert abi.encode(types, list(values)) == encoded
    expected = abi_decode(types, encoded)
    decoded = abi.decode(types, encoded)
    assert decoded[0] == expected[0] and decoded[1] == expected[1]
    assert [tuple(t) for t in decoded[2]] == [(n, reference_checksum(a), b) for n, a, b in expected[2]]
    assert [tuple(row) for row in decoded[3]] == list(expected[3])


@given(st.binary(min_size=20, max_size=20))
def test_checksums_and_selectors_match_eth_utils(raw):
    assert abi.to_checksum_address(raw) == reference_checksum(raw) == abi.to_checksum_address("0x" + raw.hex())
    signature = "transfer(address,uint256)"
    assert abi.selector(signature) == function_signature_to_4byte_selector(signature)


@pytest.mark.parametrize(
    ("abi_type", "word"),
    [("address", b"\x01" + bytes(31)), ("bool", (2).to_bytes(32, "big")), ("uint8", (256).to_bytes(32, "big")),
     ("int8", (128).to_bytes(32, "big")), ("bytes4", bytes(4) + b"\x01" + bytes(27))],
)  # fmt: skip
def test_out_of_range_words_are_refused(abi_type, word):
    with pytest.raises(DecodeError):
        abi.decode([abi_type], word)


def test_offsets_past_the_end_are_refused():
    with pytest.raises(DecodeError, match="past the end"):
        abi.decode(["bytes"], (32).to_bytes(32, "big") + (1000).to_bytes(32, "big"))
