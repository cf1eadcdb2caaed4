"""Decode revert data: Error(string), Panic(uint256) and the custom errors of known ABIs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hedger.chain.abi import decode as abi_decode
from hedger.chain.abi import selector as selector_of
from hedger.chain.abi import type_string

PANIC_CODES = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "bad storage byte array",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an invalid internal function",
}
_ERROR_STRING = selector_of("Error(string)")
_PANIC = selector_of("Panic(uint256)")


@dataclass(frozen=True)
class RevertReason:
    """A decoded revert: the error's name, its arguments by name, and the raw data."""

    name: str
    args: dict[str, Any]
    data: bytes

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.name}({inner})"


def error_selectors(abis: Iterable[list[dict[str, Any]]]) -> dict[bytes, dict[str, Any]]:
    """Selector → ABI entry for every custom error in the given ABIs."""
    selectors = {}
    for abi in abis:
        for entry in abi:
            if entry.get("type") == "error":
                signature = f"{entry['name']}({','.join(type_string(i) for i in entry['inputs'])})"
                selectors[selector_of(signature)] = entry
    return selectors


def decode_revert(data: bytes | str | None, abis: Iterable[list[dict[str, Any]]] = ()) -> RevertReason:
    """Name and arguments of a revert; unknown selectors come back as `UnknownError`."""
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data) if isinstance(data, str) else (data or b"")
    if len(raw) < 4:
        return RevertReason("EmptyRevert", {}, raw)
    selector, body = raw[:4], raw[4:]
    try:
        if selector == _ERROR_STRING:
            return RevertReason("Error", {"message": abi_decode(["string"], body)[0]}, raw)
        if selector == _PANIC:
            code = abi_decode(["uint256"], body)[0]
            return RevertReason("Panic", {"code": code, "meaning": PANIC_CODES.get(code, "unknown")}, raw)
        entry = error_selectors(abis).get(selector)
        if entry is not None:
            types = [type_string(i) for i in entry["inputs"]]
            values = abi_decode(types, body)  # addresses come checksummed
            names = [i["name"] or f"arg{n}" for n, i in enumerate(entry["inputs"])]
            return RevertReason(entry["name"], dict(zip(names, values, strict=True)), raw)
    except Exception:  # malformed body: report what we can rather than fail while reporting a failure
        return RevertReason("UndecodableRevert", {"selector": "0x" + selector.hex()}, raw)
    return RevertReason("UnknownError", {"selector": "0x" + selector.hex()}, raw)


def known_abis() -> list[list[dict[str, Any]]]:
    """ABIs whose custom errors hedger can name: every compiled contract of this project and every
    venue ABI shipped with the package (hedger/venues/abi/*.json)."""
    from hedger.chain.contracts import build_dir
    from hedger.chain.toolchain import checkout_root

    compiled = sorted(build_dir().glob("*.json")) if checkout_root() else []
    sources = compiled + sorted((Path(__file__).parents[1] / "venues" / "abi").glob("*.json"))
    abis = []
    for path in sources:
        data = json.loads(path.read_text())
        abi = data.get("abi", data) if isinstance(data, dict) else data
        if isinstance(abi, list):
            abis.append(abi)
        elif isinstance(abi, dict):  # a venue file: contract name → ABI fragment
            abis.extend(fragment for fragment in abi.values() if isinstance(fragment, list))
    return abis
