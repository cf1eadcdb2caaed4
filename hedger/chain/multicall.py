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

import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from hedger.chain.connect import Rpc
from hedger.errors import DecodeError, RpcError

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
    group: str | None = None  # calls of one group travel in their own aggregate3, failing alone (see execute)

    @classmethod
    def of(cls, function: Any, label: str = "") -> Call:
        """A Call from a bound web3 ContractFunction (``contract.functions.f(args)``); convenient but
        slow to build (~1 ms): hot paths use `AbiFunction.call`."""
        return cls(
            target=function.address,
            data=bytes.fromhex(function._encode_transaction_data().removeprefix("0x")),
            output_types=tuple(_abi_type(o) for o in function.abi["outputs"]),
            label=label or function.fn_name,
        )

    @classmethod
    def raw(
        cls, target: str, data: bytes, decoder: Callable[[bytes], Any], label: str = "", group: str | None = None
    ) -> Call:
        """A Call with a custom decoder (precompiles and other non-ABI answers)."""
        return cls(target=target, data=data, output_types=(), label=label, decoder=decoder, group=group)

    def decode(self, raw: bytes) -> Any:
        if self.decoder is not None:
            return self.decoder(raw)
        values = _decode_static(self.output_types, raw)
        if values is None:
            values = _normalise(abi_decode(list(self.output_types), raw), self.output_types)
        return values[0] if len(values) == 1 else values


@dataclass(frozen=True)
class AbiFunction:
    """A contract function's selector and types, to build Calls fast (no web3 objects per call)."""

    name: str
    selector: bytes
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]

    def call(self, target: str, *args: Any) -> Call:
        return Call(target, self.selector + _encode_args(self.input_types, args), self.output_types, label=self.name)


def abi_functions(abi: Sequence[dict[str, Any]]) -> dict[str, AbiFunction]:
    """Name → AbiFunction for every (non-overloaded) function of an ABI."""
    functions = {}
    for entry in abi:
        if entry.get("type") != "function":
            continue
        inputs = tuple(_abi_type(i) for i in entry["inputs"])
        selector = function_signature_to_4byte_selector(f"{entry['name']}({','.join(inputs)})")
        functions[entry["name"]] = AbiFunction(
            entry["name"], selector, inputs, tuple(_abi_type(o) for o in entry["outputs"])
        )
    return functions


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


_GET_BLOCK_NUMBER = function_signature_to_4byte_selector("getBlockNumber()")
_GET_BLOCK_TIMESTAMP = function_signature_to_4byte_selector("getCurrentBlockTimestamp()")


def block_calls(multicall: str, label: str = "multicall", group: str | None = None) -> list[Call]:
    """Multicall3's getBlockNumber() and getCurrentBlockTimestamp(): the block a batch is executed in."""
    return [
        Call(multicall, _GET_BLOCK_NUMBER, ("uint256",), label=f"{label}.getBlockNumber", group=group),
        Call(multicall, _GET_BLOCK_TIMESTAMP, ("uint256",), label=f"{label}.getCurrentBlockTimestamp", group=group),
    ]


def read_block(multicall: str) -> ReadStep[Block]:
    """A read step answering the block its batch ran in (for reads at "latest"); hash unknown ("")."""
    number, timestamp = yield block_calls(multicall)
    if not (number.ok and timestamp.ok):
        raise DecodeError(f"Multicall3 at {multicall} did not answer getBlockNumber/getCurrentBlockTimestamp")
    return Block(number.value, timestamp.value, "")


def latest_block(rpc: Rpc) -> Block:
    block = rpc.request("eth_getBlockByNumber", ["latest", False])
    return Block(int(block["number"], 16), int(block["timestamp"], 16), block["hash"])


def run_steps(
    rpc: Rpc, steps: Sequence[ReadStep[Any]], block_number: int | str, multicall: str = MULTICALL3_ADDRESS
) -> list[Any]:
    """Run read steps together against one block (a number, or a tag such as "latest" where the node
    serves no other); returns each step's result, in order."""
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


def execute(
    rpc: Rpc, calls: Sequence[Call], block_number: int | str, multicall: str = MULTICALL3_ADDRESS
) -> list[CallResult]:
    """All `calls` at `block_number` (or a block tag), in aggregate3 chunks sent as one JSON-RPC batch.

    Calls with a `group` go in aggregate3s of their own group: if such an eth_call fails as a whole (a
    HyperEVM precompile given a bad input burns all the gas it is passed, so the calls after it in the
    same aggregate3 starve and some providers fail the whole eth_call), only that group's calls fail.
    A failed ungrouped chunk still fails the read."""
    if not calls:
        return []
    tag = hex(block_number) if isinstance(block_number, int) else block_number
    ungrouped = [i for i, c in enumerate(calls) if c.group is None]
    groups: dict[str, list[int]] = {}
    for i, call in enumerate(calls):
        if call.group is not None:
            groups.setdefault(call.group, []).append(i)
    chunks = [(ungrouped[i : i + CHUNK_SIZE], False) for i in range(0, len(ungrouped), CHUNK_SIZE)]
    for members in groups.values():
        chunks += [(members[i : i + CHUNK_SIZE], True) for i in range(0, len(members), CHUNK_SIZE)]
    requests_ = [("eth_call", [{"to": multicall, "data": _encode([calls[i] for i in c])}, tag]) for c, _ in chunks]
    answers = rpc.batch(requests_, errors_as_values=True)
    results: list[CallResult | None] = [None] * len(calls)
    for (members, isolated), answer in zip(chunks, answers, strict=True):
        chunk = [calls[i] for i in members]
        if isinstance(answer, RpcError):
            if not isolated:
                raise answer
            why = str(answer).splitlines()[0]
            decoded = [
                CallResult(False, error=f"{c.label or 'call'}: its group's eth_call failed ({why})") for c in chunk
            ]
        else:
            decoded = _decode_chunk(chunk, answer)
        for i, result in zip(members, decoded, strict=True):
            results[i] = result
    return [r for r in results if r is not None]


def _encode(chunk: Sequence[Call]) -> str:
    return "0x" + (_AGGREGATE3 + encode_call3s([(c.target, c.data) for c in chunk])).hex()


def encode_call3s(calls: Sequence[tuple[str, bytes]]) -> bytes:
    """ABI encoding of `(address target, bool allowFailure=true, bytes callData)[]`, written out by hand:
    the same bytes as eth_abi (a test checks), several times faster for hundreds of calls."""
    elements = []
    for target, data in calls:
        padded = data + bytes(-len(data) % _WORD)
        head = bytes(12) + bytes.fromhex(target.removeprefix("0x")) + _uint(1) + _uint(3 * _WORD)
        elements.append(head + _uint(len(data)) + padded)
    offsets, position = [], _WORD * len(elements)
    for element in elements:
        offsets.append(_uint(position))
        position += len(element)
    return _uint(_WORD) + _uint(len(elements)) + b"".join(offsets) + b"".join(elements)


def decode_results(raw: bytes) -> list[tuple[bool, bytes]]:
    """Decode `(bool success, bytes returnData)[]` by hand (the inverse layout of `encode_call3s`)."""
    array = _read_uint(raw, 0)
    count = _read_uint(raw, array)
    base = array + _WORD
    results = []
    for index in range(count):
        element = base + _read_uint(raw, base + index * _WORD)
        flag = _read_uint(raw, element)
        data_at = element + _read_uint(raw, element + _WORD)
        length = _read_uint(raw, data_at)
        if flag > 1 or data_at + _WORD + length > len(raw):
            raise DecodeError("malformed (bool,bytes)[] element")
        results.append((flag == 1, raw[data_at + _WORD : data_at + _WORD + length]))
    return results


def _uint(value: int) -> bytes:
    return value.to_bytes(_WORD, "big")


def _read_uint(raw: bytes, offset: int) -> int:
    if offset + _WORD > len(raw):
        raise DecodeError(f"answer too short: needs {offset + _WORD} bytes, has {len(raw)}")
    return int.from_bytes(raw[offset : offset + _WORD], "big")


def _decode_chunk(chunk: Sequence[Call], answer: str) -> list[CallResult]:
    try:
        pairs = decode_results(bytes.fromhex(answer.removeprefix("0x")))
    except (DecodeError, ValueError) as error:
        raise DecodeError(f"Multicall3 answered with undecodable data ({len(answer)} hex chars): {error}") from error
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


_WORD = 32
_STATIC_LEAVES = re.compile(r"^(u?int\d*|address|bool|bytes32)$")


def _encode_args(types: tuple[str, ...], args: tuple[Any, ...]) -> bytes:
    """ABI-encode arguments: a fast path for all-static 32-byte words, eth_abi for anything else."""
    if all(_STATIC_LEAVES.match(t) for t in types):
        return b"".join(_word(t, a) for t, a in zip(types, args, strict=True))
    return abi_encode(list(types), list(args))


def _word(abi_type: str, value: Any) -> bytes:
    if abi_type == "address":
        return bytes(12) + bytes.fromhex(value.removeprefix("0x"))
    if abi_type == "bytes32":
        return bytes(value).ljust(_WORD, b"\0")  # bytesN values are left-aligned
    if abi_type.startswith("int"):
        return int(value).to_bytes(_WORD, "big", signed=True)
    return int(value).to_bytes(_WORD, "big")


def _decode_static(types: tuple[str, ...], raw: bytes) -> tuple[Any, ...] | None:
    """Decode outputs made only of static words (incl. static tuples) by slicing; None otherwise."""
    leaves = _static_leaves(types)
    if leaves is None or len(raw) != _WORD * len(leaves):
        return None
    words = iter(_leaf(t, raw[i * _WORD : (i + 1) * _WORD]) for i, t in enumerate(leaves))
    return _rebuild(types, words)


def _static_leaves(types: Sequence[str]) -> list[str] | None:
    leaves: list[str] = []
    for abi_type in types:
        if abi_type.startswith("(") and abi_type.endswith(")"):
            inner = _static_leaves(_split_tuple(abi_type[1:-1]))
            if inner is None:
                return None
            leaves += inner
        elif _STATIC_LEAVES.match(abi_type):
            leaves.append(abi_type)
        else:
            return None
    return leaves


def _leaf(abi_type: str, word: bytes) -> Any:
    if abi_type == "address":
        if any(word[:12]):
            raise DecodeError("address word has non-zero padding")
        return to_checksum_address(word[12:])
    if abi_type == "bool":
        flag = int.from_bytes(word, "big")
        if flag > 1:
            raise DecodeError(f"{flag} is not a bool")
        return flag == 1
    if abi_type == "bytes32":
        return word
    signed = abi_type.startswith("int")
    value = int.from_bytes(word, "big", signed=signed)
    bits = int(abi_type[3 + (not signed) :] or 256) if abi_type not in ("int", "uint") else 256
    limit = 1 << (bits - 1) if signed else 1 << bits
    if (signed and not -limit <= value < limit) or (not signed and value >= limit):
        raise DecodeError(f"{value} does not fit {abi_type}")
    return value


def _rebuild(types: Sequence[str], words: Any) -> tuple[Any, ...]:
    out = []
    for abi_type in types:
        if abi_type.startswith("("):
            out.append(_rebuild(_split_tuple(abi_type[1:-1]), words))
        else:
            out.append(next(words))
    return tuple(out)
