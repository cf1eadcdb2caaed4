"""Batched reads from one block, in a constant number of RPC round trips.

A reader is written as a *read step*: a generator that yields a list of `Call`s, receives their
`CallResult`s, may yield once more (a follow-up that depends on the first answers) and finally
returns what it built. `run_steps` advances every reader together: each round gathers the calls
of all readers into Multicall3 `aggregate3` calls (failures allowed, so one broken contract gives
one failed result instead of hiding the rest), sends them as one JSON-RPC batch pinned to one
block, and hands each reader its own results. The round-trip count is the number of rounds
(readers' depth), whatever the number of markets, feeds or tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from hedger.chain.connect import Rpc
from hedger.errors import DecodeError

MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
_AGGREGATE3 = function_signature_to_4byte_selector("aggregate3((address,bool,bytes)[])")
CHUNK_SIZE = 400  # calls per aggregate3: keeps each eth_call well under node gas caps

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One read: a target, its calldata and how to decode the answer."""

    target: str
    data: bytes
    output_types: tuple[str, ...]
    label: str = ""
    decoder: Callable[[bytes], Any] | None = None

    @classmethod
    def of(cls, function: Any, label: str = "") -> Call:
        """A Call from a bound web3 ContractFunction (``contract.functions.f(args)``)."""
        return cls(
            target=function.address,
            data=bytes.fromhex(function._encode_transaction_data().removeprefix("0x")),
            output_types=tuple(_abi_type(o) for o in function.abi["outputs"]),
            label=label or function.fn_name,
        )

    @classmethod
    def raw(cls, target: str, data: bytes, decoder: Callable[[bytes], Any], label: str = "") -> Call:
        """A Call with a custom decoder (precompiles and other non-ABI answers)."""
        return cls(target=target, data=data, output_types=(), label=label, decoder=decoder)

    def decode(self, raw: bytes) -> Any:
        if self.decoder is not None:
            return self.decoder(raw)
        values = _normalise(abi_decode(list(self.output_types), raw), self.output_types)
        return values[0] if len(values) == 1 else values


@dataclass(frozen=True)
class CallResult:
    """A call's decoded value, or why there is none (reverted, or an undecodable answer)."""

    ok: bool
    value: Any = None
    error: str | None = None
    raw: bytes = b""


ReadStep = Generator[list[Call], list[CallResult], T]


@dataclass(frozen=True)
class Block:
    number: int
    timestamp: int
    hash: str


def latest_block(rpc: Rpc) -> Block:
    block = rpc.request("eth_getBlockByNumber", ["latest", False])
    return Block(int(block["number"], 16), int(block["timestamp"], 16), block["hash"])


def run_steps(
    rpc: Rpc, steps: Sequence[ReadStep[Any]], block_number: int, multicall: str = MULTICALL3_ADDRESS
) -> list[Any]:
    """Run read steps together against one block; returns each step's result, in order."""
    outputs: list[Any] = [None] * len(steps)
    waiting: dict[int, list[Call]] = {}
    for index, step in enumerate(steps):
        _advance(index, step, None, waiting, outputs)
    while waiting:
        order = list(waiting)
        flat = [call for index in order for call in waiting[index]]
        results = execute(rpc, flat, block_number, multicall)
        current, waiting = waiting, {}
        offset = 0
        for index in order:
            count = len(current[index])
            _advance(index, steps[index], results[offset : offset + count], waiting, outputs)
            offset += count
    return outputs


def _advance(index: int, step: ReadStep[Any], sent: list[CallResult] | None, waiting: dict, outputs: list) -> None:
    try:
        calls = next(step) if sent is None else step.send(sent)
    except StopIteration as done:
        outputs[index] = done.value
        return
    if calls:
        waiting[index] = calls
    else:
        _advance(index, step, [], waiting, outputs)


def execute(rpc: Rpc, calls: Sequence[Call], block_number: int, multicall: str = MULTICALL3_ADDRESS) -> list[CallResult]:
    """All `calls` at `block_number`, in aggregate3 chunks sent as one JSON-RPC batch."""
    if not calls:
        return []
    chunks = [calls[i : i + CHUNK_SIZE] for i in range(0, len(calls), CHUNK_SIZE)]
    requests_ = [("eth_call", [{"to": multicall, "data": _encode(chunk)}, hex(block_number)]) for chunk in chunks]
    answers = rpc.batch(requests_)
    results: list[CallResult] = []
    for chunk, answer in zip(chunks, answers, strict=True):
        results.extend(_decode_chunk(chunk, answer))
    return results


def _encode(chunk: Sequence[Call]) -> str:
    payload = abi_encode(["(address,bool,bytes)[]"], [[(c.target, True, c.data) for c in chunk]])
    return "0x" + (_AGGREGATE3 + payload).hex()


def _decode_chunk(chunk: Sequence[Call], answer: str) -> list[CallResult]:
    try:
        (pairs,) = abi_decode(["(bool,bytes)[]"], bytes.fromhex(answer.removeprefix("0x")))
    except Exception as error:
        raise DecodeError(f"Multicall3 answered with undecodable data ({len(answer)} hex chars)") from error
    if len(pairs) != len(chunk):
        raise DecodeError(f"Multicall3 returned {len(pairs)} results for {len(chunk)} calls")
    return [_result(call, ok, raw) for call, (ok, raw) in zip(chunk, pairs, strict=True)]


def _result(call: Call, ok: bool, raw: bytes) -> CallResult:
    if not ok:
        return CallResult(False, error=f"{call.label or 'call'} reverted", raw=raw)
    try:
        return CallResult(True, call.decode(raw), raw=raw)
    except Exception as error:  # garbage from a contract is a failed reading, never a crash
        return CallResult(False, error=f"{call.label or 'call'} returned undecodable data: {error}", raw=raw)


def _abi_type(output: dict[str, Any]) -> str:
    if output["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in output["components"]) + ")" + output["type"][5:]
    return output["type"]


def _normalise(values: Sequence[Any], types: Sequence[str]) -> tuple[Any, ...]:
    return tuple(_normalise_one(v, t) for v, t in zip(values, types, strict=True))


def _normalise_one(value: Any, abi_type: str) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type.endswith("[]"):
        return [_normalise_one(v, abi_type[:-2]) for v in value]
    if abi_type.startswith("("):
        return _normalise(value, _split_tuple(abi_type[1:-1]))
    return value


def _split_tuple(inner: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    return [p for p in parts if p]
