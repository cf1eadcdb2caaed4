"""The hand-written ABI fast paths produce exactly what eth_abi produces."""

from __future__ import annotations

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from hedger.chain.multicall import Call, _encode_args, decode_results, encode_call3s

addresses = st.binary(min_size=20, max_size=20).map(lambda b: to_checksum_address(b))
calls = st.lists(st.tuples(addresses, st.binary(max_size=200)), max_size=20)


@given(calls)
def test_call3_encoding_matches_eth_abi(pairs):
    expected = abi_encode(["(address,bool,bytes)[]"], [[(target, True, data) for target, data in pairs]])
    assert encode_call3s(pairs) == expected


@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=200)), max_size=20))
def test_result_decoding_matches_eth_abi(results):
    assert decode_results(abi_encode(["(bool,bytes)[]"], [results])) == results


@given(addresses, st.integers(0, 2**256 - 1), st.integers(-(2**255), 2**255 - 1), st.booleans())
def test_static_arguments_and_outputs_match_eth_abi(address, unsigned, signed, flag):
    types = ("address", "uint256", "int256", "bool")
    values = (address, unsigned, signed, flag)
    encoded = abi_encode(list(types), list(values))
    assert _encode_args(types[:3], values[:3]) == encoded[: 3 * 32]
    nested = Call(address, b"", ("(address,uint256)", "int256", "bool"))
    raw = abi_encode(["(address,uint256)", "int256", "bool"], [(address, unsigned), signed, flag])
    assert nested.decode(raw) == ((address, unsigned), signed, flag)
    assert tuple(abi_decode(["int256"], raw[64:96])) == (signed,)
