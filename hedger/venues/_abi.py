"""ABI helpers for venue adapters: interface fragments shipped under hedger/venues/abi/, calls whose
answers decode into structs with the ABI's field names."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hedger.chain.abi import codec, type_string
from hedger.chain.multicall import DEFAULT_CALL_GAS, BoundCall, Call

ABI_DIR = Path(__file__).parent / "abi"


@cache
def load_abi(file: str, contract: str) -> list[dict[str, Any]]:
    """The ABI fragment of `contract` in hedger/venues/abi/<file>.json."""
    return json.loads((ABI_DIR / f"{file}.json").read_text())[contract]


def named_call(function: BoundCall, label: str = "", gas: int = DEFAULT_CALL_GAS) -> Call:
    """A Call whose answer decodes into attribute-accessible structs named as in the ABI."""
    outputs = function.abi["outputs"]
    outputs_codec = codec("(" + ",".join(type_string(o) for o in outputs) + ")")

    def decode(raw: bytes) -> Any:
        values = [named(o, v) for o, v in zip(outputs, outputs_codec.decode(raw, 0), strict=True)]
        return values[0] if len(values) == 1 else tuple(values)

    return Call.raw(function.address, function.data, decode, label or function.fn_name, gas=gas)


def named(param: dict[str, Any], value: Any) -> Any:
    """A decoded value with tuples turned into namespaces (fields named as in `param`); addresses are
    already checksummed by the codec."""
    kind = param["type"]
    if kind.endswith("]"):
        element = {**param, "type": kind[: kind.rindex("[")]}
        return [named(element, v) for v in value]
    if kind == "tuple":
        return SimpleNamespace(**{c["name"]: named(c, v) for c, v in zip(param["components"], value, strict=True)})
    return value
