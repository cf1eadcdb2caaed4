"""Solidity ABI encoding and decoding for the read path, without web3 or eth_abi (whose import alone
costs more than a whole snapshot): each type string is parsed once into a codec (cached), keccak-256
comes from pycryptodome, addresses are checksummed per EIP-55 (cached).

Decoding is strict: a word outside its type's range (an address with non-zero padding, a bool above 1,
a uint8 above 255, a sign-extension that does not match) or an offset past the end is a DecodeError.
Addresses decode to checksummed strings, bytesN and bytes to `bytes`, tuples to tuples, arrays to lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from typing import Any

from Crypto.Hash import keccak as _keccak

from hedger.errors import DecodeError

WORD = 32


def keccak(data: bytes) -> bytes:
    return _keccak.new(data=data, digest_bits=256).digest()


@cache
def selector(signature: str) -> bytes:
    """The 4-byte function selector of a canonical signature such as ``transfer(address,uint256)``."""
    return keccak(signature.encode())[:4]


@lru_cache(maxsize=65_536)
def to_checksum_address(value: str | bytes) -> str:
    """EIP-55 checksummed form of a 20-byte address (hex string in any case, or raw bytes)."""
    raw = value.hex() if isinstance(value, bytes) else value.removeprefix("0x").removeprefix("0X").lower()
    if len(raw) != 40 or not _HEX.fullmatch(raw):
        raise ValueError(f"{value!r} is not a 20-byte address")
    digest = keccak(raw.encode()).hex()
    return "0x" + "".join(c.upper() if int(h, 16) >= 8 else c for c, h in zip(raw, digest[:40], strict=True))


def type_string(param: Mapping[str, Any]) -> str:
    """The canonical type of an ABI JSON parameter (tuples spelled out as ``(t1,t2)[]``)."""
    kind = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(type_string(c) for c in param["components"]) + ")" + kind[5:]
    return kind


def positional(param: Mapping[str, Any], value: Any) -> Any:
    """A value with every struct given as a mapping (by component name) turned into a tuple, for `encode`."""
    kind = param["type"]
    if kind.endswith("]"):
        element = {**param, "type": kind[: kind.rindex("[")]}
        return [positional(element, v) for v in value]
    if kind.startswith("tuple"):
        components = param["components"]
        if isinstance(value, Mapping):
            value = [value[c["name"]] for c in components]
        return tuple(positional(c, v) for c, v in zip(components, value, strict=True))
    return value


def encode(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """ABI encoding of `values` as the tuple of `types` (function arguments)."""
    return codec("(" + ",".join(types) + ")").encode(tuple(values))


def decode(types: Sequence[str], data: bytes) -> tuple[Any, ...]:
    """ABI decoding of `data` as the tuple of `types` (function outputs); extra trailing bytes are ignored."""
    return codec("(" + ",".join(types) + ")").decode(data, 0)


class Codec:
    """One ABI type: `head` bytes in place (32 when dynamic), `encode`, and `decode(data, at)` of the value
    whose encoding starts at `at` (the head for a static type, the tail for a dynamic one)."""

    dynamic = False
    head = WORD

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes, at: int) -> Any:
        raise NotImplementedError


class _Word(Codec):
    """A type held in one word: decoded from the word alone (`from_word`)."""

    def from_word(self, word: bytes) -> Any:
        raise NotImplementedError

    def decode(self, data: bytes, at: int) -> Any:
        return self.from_word(_word(data, at))


class _Uint(_Word):
    def __init__(self, bits: int):
        self.limit = 1 << bits

    def encode(self, value: Any) -> bytes:
        number = int(value)
        if not 0 <= number < self.limit:
            raise ValueError(f"{value} does not fit a uint{self.limit.bit_length() - 1}")
        return number.to_bytes(WORD, "big")

    def from_word(self, word: bytes) -> int:
        number = int.from_bytes(word, "big")
        if number >= self.limit:
            raise DecodeError(f"{number} is out of range for uint{self.limit.bit_length() - 1}")
        return number


class _Int(_Word):
    def __init__(self, bits: int):
        self.bound = 1 << (bits - 1)

    def encode(self, value: Any) -> bytes:
        number = int(value)
        if not -self.bound <= number < self.bound:
            raise ValueError(f"{value} does not fit an int{self.bound.bit_length()}")
        return number.to_bytes(WORD, "big", signed=True)

    def from_word(self, word: bytes) -> int:
        number = int.from_bytes(word, "big", signed=True)
        if not -self.bound <= number < self.bound:
            raise DecodeError(f"{number} is out of range for int{self.bound.bit_length()}")
        return number


class _Address(_Word):
    def encode(self, value: Any) -> bytes:
        raw = value if isinstance(value, bytes) else bytes.fromhex(str(value).removeprefix("0x"))
        if len(raw) != 20:
            raise ValueError(f"{value!r} is not a 20-byte address")
        return bytes(12) + raw

    def from_word(self, word: bytes) -> str:
        if any(word[:12]):
            raise DecodeError("address word has non-zero padding")
        return to_checksum_address(word[12:])


class _Bool(_Word):
    def encode(self, value: Any) -> bytes:
        if not isinstance(value, bool | int) or value not in (0, 1):
            raise ValueError(f"{value!r} is not a bool")
        return int(value).to_bytes(WORD, "big")

    def from_word(self, word: bytes) -> bool:
        flag = int.from_bytes(word, "big")
        if flag > 1:
            raise DecodeError(f"{flag} is not a bool")
        return flag == 1


class _FixedBytes(_Word):
    def __init__(self, size: int):
        self.size = size

    def encode(self, value: Any) -> bytes:
        raw = bytes(value)
        if len(raw) > self.size:
            raise ValueError(f"{len(raw)} bytes do not fit a bytes{self.size}")
        return raw.ljust(WORD, b"\0")  # bytesN values are left-aligned

    def from_word(self, word: bytes) -> bytes:
        if any(word[self.size :]):
            raise DecodeError(f"bytes{self.size} word has non-zero padding")
        return word[: self.size]


class _Bytes(Codec):
    dynamic = True

    def __init__(self, text: bool):
        self.text = text

    def encode(self, value: Any) -> bytes:
        raw = value.encode() if self.text else bytes(value)
        return len(raw).to_bytes(WORD, "big") + raw + bytes(-len(raw) % WORD)

    def decode(self, data: bytes, at: int) -> bytes | str:
        length = int.from_bytes(_word(data, at), "big")
        if at + WORD + length > len(data):
            raise DecodeError(f"{length} bytes announced at {at}, past the end ({len(data)} bytes)")
        raw = data[at + WORD : at + WORD + length]
        return raw.decode(errors="replace") if self.text else raw


class _Tuple(Codec):
    def __init__(self, members: Sequence[Codec]):
        self.members = tuple(members)
        self.dynamic = any(m.dynamic for m in self.members)
        self.head = WORD if self.dynamic else sum(m.head for m in self.members)
        self.words = [m for m in self.members if isinstance(m, _Word)]  # all one-word members: sliced in one go
        if len(self.words) != len(self.members):
            self.words = []

    def encode(self, value: Any) -> bytes:
        values = tuple(value)
        if len(values) != len(self.members):
            raise ValueError(f"{len(values)} values for a tuple of {len(self.members)}")
        heads, tails = [], []
        position = sum(m.head for m in self.members)
        for member, item in zip(self.members, values, strict=True):
            encoded = member.encode(item)
            if member.dynamic:
                heads.append(position.to_bytes(WORD, "big"))
                tails.append(encoded)
                position += len(encoded)
            else:
                heads.append(encoded)
        return b"".join(heads) + b"".join(tails)

    def decode(self, data: bytes, at: int) -> tuple[Any, ...]:
        if self.words:
            if at + self.head > len(data):
                raise DecodeError(f"answer too short: needs {at + self.head} bytes, has {len(data)}")
            return tuple(m.from_word(data[at + i * WORD : at + (i + 1) * WORD]) for i, m in enumerate(self.words))
        out, head = [], at
        for member in self.members:
            if member.dynamic:
                offset = int.from_bytes(_word(data, head), "big")
                out.append(member.decode(data, _within(data, at + offset)))
            else:
                out.append(member.decode(data, head))
            head += member.head
        return tuple(out)


class _Array(Codec):
    def __init__(self, element: Codec, length: int | None):
        self.element, self.length = element, length
        self.dynamic = length is None or element.dynamic
        self.head = WORD if self.dynamic else element.head * (length or 0)

    def encode(self, value: Any) -> bytes:
        items = list(value)
        if self.length is not None and len(items) != self.length:
            raise ValueError(f"{len(items)} items for an array of {self.length}")
        body = _Tuple([self.element] * len(items)).encode(items)
        return body if self.length is not None else len(items).to_bytes(WORD, "big") + body

    def decode(self, data: bytes, at: int) -> list[Any]:
        count = self.length
        if count is None:
            count = int.from_bytes(_word(data, at), "big")
            at += WORD
            if count * WORD > len(data) - at:  # every element takes at least one word
                raise DecodeError(f"an array of {count} announced at {at}, past the end ({len(data)} bytes)")
        return list(_Tuple([self.element] * count).decode(data, at))


@cache
def codec(abi_type: str) -> Codec:
    """The codec of a canonical ABI type string (parsed once, then cached)."""
    array = _ARRAY_SUFFIX.search(abi_type)
    if array:
        size = array.group(1)
        return _Array(codec(abi_type[: array.start()]), int(size) if size else None)
    if abi_type.startswith("("):
        return _Tuple([codec(member) for member in split_tuple(abi_type[1:-1])])
    return _elementary(abi_type)


def _elementary(abi_type: str) -> Codec:
    match = _ELEMENTARY.fullmatch(abi_type)
    if match is None:
        raise ValueError(f"unsupported ABI type {abi_type!r}")
    kind, size = match.group(1), match.group(2)
    if kind == "uint":
        return _Uint(int(size or 256))
    if kind == "int":
        return _Int(int(size or 256))
    if kind == "address":
        return _Address()
    if kind == "bool":
        return _Bool()
    if kind == "bytes":
        return _FixedBytes(int(size)) if size else _Bytes(text=False)
    return _Bytes(text=True)


def split_tuple(inner: str) -> list[str]:
    """The member types of a tuple's inside (``"uint256,(address,bool)[]"`` → two members)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    return [p for p in parts if p]


def _word(data: bytes, at: int) -> bytes:
    if at < 0 or at + WORD > len(data):
        raise DecodeError(f"answer too short: needs {at + WORD} bytes, has {len(data)}")
    return data[at : at + WORD]


def _within(data: bytes, at: int) -> int:
    if at > len(data):
        raise DecodeError(f"offset {at} points past the end of the answer ({len(data)} bytes)")
    return at


_HEX = re.compile(r"[0-9a-f]{40}")
_ARRAY_SUFFIX = re.compile(r"\[(\d*)\]$")
_ELEMENTARY = re.compile(r"(uint|int|address|bool|bytes|string)(\d*)")
