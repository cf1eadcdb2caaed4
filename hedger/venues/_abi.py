"""ABI helpers for venue adapters: interface fragments shipped under hedger/venues/abi/, calls whose
answers decode into structs with the ABI's field names, and raw calldata for selector-less calls."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address
from eth_utils.abi import collapse_if_tuple

from hedger.chain.multicall import Call

ABI_DIR = Path(__file__).parent / "abi"


@cache
def load_abi(file: str, contract: str) -> list[dict[str, Any]]:
    """The ABI fragment of `contract` in hedger/venues/abi/<file>.json."""
    return json.loads((ABI_DIR / f"{file}.json").read_text())[contract]


def calldata(function: Any) -> bytes:
    """The calldata of a bound web3 ContractFunction (``contract.functions.f(args)``)."""
    return bytes.fromhex(function._encode_transaction_data().removeprefix("0x"))


def named_call(function: Any, label: str = "") -> Call:
    """A Call whose answer decodes into attribute-accessible structs named as in the ABI."""
    outputs = function.abi["outputs"]
    types = [collapse_if_tuple(o) for o in outputs]

    def decode(raw: bytes) -> Any:
        values = [named(o, v) for o, v in zip(outputs, abi_decode(types, raw), strict=True)]
        return values[0] if len(values) == 1 else tuple(values)

    return Call.raw(function.address, calldata(function), decode, label or function.fn_name)


def named(param: dict[str, Any], value: Any) -> Any:
    """An eth_abi value with tuples turned into namespaces (fields named as in `param`) and
    addresses checksummed."""
    kind = param["type"]
    if kind.endswith("]"):
        element = {**param, "type": kind[: kind.rindex("[")]}
        return [named(element, v) for v in value]
    if kind == "tuple":
        return SimpleNamespace(**{c["name"]: named(c, v) for c, v in zip(param["components"], value, strict=True)})
    if kind == "address":
        return to_checksum_address(value)
    return value
