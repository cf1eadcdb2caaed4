"""Batched reads from one block, in a constant number of RPC round trips.

A reader is written as a *read step*: a generator that yields a list of `Call`s, receives their
`CallResult`s, may yield once more (a follow-up that depends on the first answers) and finally
returns what it built. `run_steps` advances every reader together: each round gathers the calls
of all readers into Multicall3 `aggregate3` calls (failures allowed, so one broken contract gives
one failed result instead of hiding the rest), sends them as one JSON-RPC batch pinned to one
block, and hands each reader its own results. The round-trip count is the number of rounds
(readers' depth), whatever the number of markets, feeds or tokens.

No size cliff: aggregate3 chunks are planned by gas (each Call carries an estimate; a call whose cost
grows with the account, such as PerpMarket.accountSummary, says by how much) against the network's
`eth_call_gas_cap`, and by calldata size against `max_request_bytes`; `Rpc.batch` then splits the round
into HTTP requests under that limit and sends them concurrently. A chunk the node still refuses as too
large is split in halves and sent again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any, TypeVar

from hedger.chain.abi import Codec, codec, encode, positional, selector, to_checksum_address, type_string
from hedger.chain.connect import Rpc
from hedger.errors import DecodeError, RequestTooLarge, RpcError
from hedger.settings import DEFAULT_ETH_CALL_GAS_CAP

MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
_AGGREGATE3 = selector("aggregate3((address,bool,bytes)[])")
DEFAULT_CALL_GAS = 60_000  # planned gas of a call that carries no estimate: a few cold storage reads and a feed
DEFAULT_MAX_CALLDATA_BYTES = 400_000  # one aggregate3's calldata (hex doubles it in the JSON body)
_CALLDATA_CACHE_SIZE = 256  # aggregate3 calldata kept per chunk of calls (repeat snapshots re-use it)
_CALLS_KEPT = 65_536  # Calls kept per AbiFunction for re-use

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One read: a target, its calldata, how to decode the answer, and the gas it is planned to use."""

    target: str
    data: bytes
    output_types: tuple[str, ...]
    label: str = ""
    decoder: Callable[[bytes], Any] | None = None
    group: str | None = None  # calls of one group travel in their own aggregate3, failing alone (see execute)
    gas: int = DEFAULT_CALL_GAS

    @classmethod
    def raw(
        cls,
        target: str,
        data: bytes,
        decoder: Callable[[bytes], Any],
        label: str = "",
        group: str | None = None,
        gas: int = DEFAULT_CALL_GAS,
    ) -> Call:
        """A Call with a custom decoder (precompiles and other non-ABI answers)."""
        return cls(target=target, data=data, output_types=(), label=label, decoder=decoder, group=group, gas=gas)

    def decode(self, raw: bytes) -> Any:
        if self.decoder is not None:
            return self.decoder(raw)
        values = _outputs(self.output_types).decode(raw, 0)
        return values[0] if len(values) == 1 else values


@cache
def _outputs(types: tuple[str, ...]) -> Codec:
    return codec("(" + ",".join(types) + ")")


@dataclass(frozen=True)
class BoundCall:
    """A function with its arguments encoded, at an address: calldata for a Call or a transaction."""

    address: str
    fn_name: str
    abi: Mapping[str, Any]
    data: bytes


@dataclass(frozen=True)
class AbiFunction:
    """A contract function's selector and types, to build Calls fast (no web3 objects per call). Calls
    with hashable arguments are built once per target and arguments, then re-used (same calldata)."""

    name: str
    selector: bytes
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]
    abi: Mapping[str, Any] = field(default_factory=dict, compare=False)
    _calls: dict = field(default_factory=dict, compare=False, repr=False)

    def call(self, target: str, *args: Any, gas: int = DEFAULT_CALL_GAS) -> Call:
        key = (target, args, gas)
        try:
            return self._calls[key]
        except TypeError:  # unhashable arguments (lists, mappings): encoded every time
            return Call(target, self.encode(args), self.output_types, label=self.name, gas=gas)
        except KeyError:
            if len(self._calls) >= _CALLS_KEPT:
                self._calls.clear()
            built = self._calls[key] = Call(target, self.encode(args), self.output_types, label=self.name, gas=gas)
            return built

    def bind(self, target: str, *args: Any) -> BoundCall:
        return BoundCall(target, self.name, self.abi, self.encode(args))

    def encode(self, args: Sequence[Any]) -> bytes:
        """Selector and arguments; structs may be given as mappings by field name."""
        if len(args) != len(self.input_types):
            raise TypeError(f"{self.name} takes {len(self.input_types)} arguments, got {len(args)}")
        if any(t.startswith("(") for t in self.input_types):
            args = [positional(p, a) for p, a in zip(self.abi["inputs"], args, strict=True)]
        return self.selector + encode(self.input_types, args)


def abi_functions(abi: Sequence[Mapping[str, Any]]) -> dict[str, AbiFunction]:
    """Name → AbiFunction for every (non-overloaded) function of an ABI."""
    functions = {}
    for entry in abi:
        if entry.get("type") != "function":
            continue
        inputs = tuple(type_string(i) for i in entry["inputs"])
        functions[entry["name"]] = AbiFunction(
            entry["name"],
            selector(f"{entry['name']}({','.join(inputs)})"),
            inputs,
            tuple(type_string(o) for o in entry["outputs"]),
            entry,
        )
    return functions


class AbiContract:
    """A contract's address and ABI without web3: ``contract.functions.f(args)`` is a BoundCall (calldata),
    ``contract.fn["f"]`` its AbiFunction (to build Calls)."""

    def __init__(self, address: str, abi: Sequence[Mapping[str, Any]]):
        self.address = to_checksum_address(address)
        self.abi = abi
        self.fn = abi_functions(abi)
        self.functions = _Functions(self)


class _Functions:
    def __init__(self, contract: AbiContract):
        self._contract = contract

    def __getattr__(self, name: str) -> Callable[..., BoundCall]:
        function = self._contract.fn.get(name)
        if function is None:
            raise AttributeError(f"the ABI of {self._contract.address} has no function {name!r}")
        return partial(function.bind, self._contract.address)


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


_GET_BLOCK_NUMBER = selector("getBlockNumber()")
_GET_BLOCK_TIMESTAMP = selector("getCurrentBlockTimestamp()")


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
    rpc: Rpc,
    steps: Sequence[ReadStep[Any]],
    block_number: int | str,
    multicall: str = MULTICALL3_ADDRESS,
    gas_cap: int = DEFAULT_ETH_CALL_GAS_CAP,
) -> list[Any]:
    """Run read steps together against one block (a number, or a tag such as "latest" where the node
    serves no other); returns each step's result, in order. `gas_cap`: see `execute`."""
    outputs: list[Any] = [None] * len(steps)
    waiting: dict[int, list[Call]] = {}
    for index, step in enumerate(steps):
        _advance(index, step, None, waiting, outputs)
    while waiting:
        order = list(waiting)
        flat = [call for index in order for call in waiting[index]]
        results = execute(rpc, flat, block_number, multicall, gas_cap)
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
    rpc: Rpc,
    calls: Sequence[Call],
    block_number: int | str,
    multicall: str = MULTICALL3_ADDRESS,
    gas_cap: int = DEFAULT_ETH_CALL_GAS_CAP,
) -> list[CallResult]:
    """All `calls` at `block_number` (or a block tag), in aggregate3 chunks planned by gas (at most
    `gas_cap` each, by the calls' estimates) and calldata size, sent as one round (`Rpc.batch` splits
    it into concurrent HTTP requests under the payload limit).

    Calls with a `group` go in aggregate3s of their own group: if such an eth_call fails as a whole (a
    HyperEVM precompile given a bad input burns all the gas it is passed, so the calls after it in the
    same aggregate3 starve and some providers fail the whole eth_call), only that group's calls fail.
    A chunk the node refuses as too large is split in halves and sent again (one more round, only then);
    any other failure of an ungrouped chunk fails the read."""
    if not calls:
        return []
    tag = hex(block_number) if isinstance(block_number, int) else block_number
    max_bytes = min(DEFAULT_MAX_CALLDATA_BYTES, rpc.max_request_bytes // 3)
    results: list[CallResult | None] = [None] * len(calls)
    pending = _plan_chunks(calls, gas_cap, max_bytes)
    while pending:
        requests_ = [("eth_call", [_eth_call(multicall, [calls[i] for i in c], gas_cap), tag]) for c, _ in pending]
        answers = rpc.batch(requests_, errors_as_values=True)
        retry: list[tuple[list[int], bool]] = []
        for (members, isolated), answer in zip(pending, answers, strict=True):
            chunk = [calls[i] for i in members]
            if isinstance(answer, RequestTooLarge) and len(members) > 1:
                half = len(members) // 2
                retry += [(members[:half], isolated), (members[half:], isolated)]
                continue
            for i, result in zip(members, _chunk_results(chunk, answer, isolated), strict=True):
                results[i] = result
        pending = retry
    return [r for r in results if r is not None]


def _plan_chunks(calls: Sequence[Call], gas_cap: int, max_bytes: int) -> list[tuple[list[int], bool]]:
    """Indices of `calls` in aggregate3 chunks (and whether the chunk is a group's): consecutive calls while
    their planned gas stays within `gas_cap` and their calldata within `max_bytes`; a call planned above
    the cap travels alone."""
    partitions: dict[str | None, list[int]] = {None: []}
    for i, call in enumerate(calls):
        partitions.setdefault(call.group, []).append(i)
    chunks: list[tuple[list[int], bool]] = []
    for group, members in partitions.items():
        current: list[int] = []
        gas = size = 0
        for i in members:
            call_gas, call_size = calls[i].gas, len(calls[i].data) + _CALL3_OVERHEAD
            if current and (gas + call_gas > gas_cap or size + call_size > max_bytes):
                chunks.append((current, group is not None))
                current, gas, size = [], 0, 0
            current.append(i)
            gas, size = gas + call_gas, size + call_size
        if current:
            chunks.append((current, group is not None))
    return chunks


def _chunk_results(chunk: Sequence[Call], answer: Any, isolated: bool) -> list[CallResult]:
    if not isinstance(answer, RpcError):
        return _decode_chunk(chunk, answer)
    if not isolated:
        raise answer
    why = str(answer).splitlines()[0]
    return [CallResult(False, error=f"{c.label or 'call'}: its group's eth_call failed ({why})") for c in chunk]


def _eth_call(multicall: str, chunk: Sequence[Call], gas_cap: int) -> dict[str, str]:
    """The eth_call of one chunk; a lone call planned above the cap asks for the gas it needs."""
    request = {"to": multicall, "data": _encode(chunk)}
    planned = sum(c.gas for c in chunk)
    if planned > gas_cap:
        request["gas"] = hex(planned + planned // 4)
    return request


_CALL3_OVERHEAD = 6 * 32  # offset, target, allowFailure, bytes offset, length, padding: per call in aggregate3
_calldata_cache: OrderedDict[tuple[tuple[str, bytes], ...], str] = OrderedDict()


def _encode(chunk: Sequence[Call]) -> str:
    """aggregate3 calldata (hex) of a chunk, re-used while the same calls are read again (the same account's
    next snapshot sends the same chunks)."""
    key = tuple((c.target, c.data) for c in chunk)
    encoded = _calldata_cache.get(key)
    if encoded is None:
        encoded = "0x" + (_AGGREGATE3 + encode_call3s(key)).hex()
        _calldata_cache[key] = encoded
        if len(_calldata_cache) > _CALLDATA_CACHE_SIZE:
            _calldata_cache.popitem(last=False)
    else:
        _calldata_cache.move_to_end(key)
    return encoded


def encode_call3s(calls: Sequence[tuple[str, bytes]]) -> bytes:
    """ABI encoding of `(address target, bool allowFailure=true, bytes callData)[]`, written out by hand:
    the same bytes as the generic codec (a test checks), several times faster for hundreds of calls."""
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


_WORD = 32
