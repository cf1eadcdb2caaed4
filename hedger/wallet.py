"""A wallet's holdings (native coin and configured ERC-20s), and its exposure per asset once netted
with perp positions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from hedger.chain.abi import encode as abi_encode
from hedger.chain.abi import selector
from hedger.chain.multicall import Block, Call, CallResult, ReadStep
from hedger.model import Balance, Exposure, OracleReading, Position, Source
from hedger.settings import NetworkConfig

_BALANCE_OF = selector("balanceOf(address)")
_GET_ETH_BALANCE = selector("getEthBalance(address)")
_DECIMALS = selector("decimals()")
_SYMBOL = selector("symbol()")
NATIVE_DECIMALS = 18


def read_balances(network: NetworkConfig, account: str, block: Block) -> ReadStep[tuple[Balance, ...]]:
    """The native balance (through Multicall3's getEthBalance) and every configured token's, with each
    token's decimals() and symbol() read in the same batch and checked against the network file: a token
    whose chain says otherwise carries the mismatch (`Balance.mismatch`), and the run cycle halts its asset."""
    owner = abi_encode(["address"], [account])
    tokens = list(network.tokens.values())
    calls = [Call(network.multicall, _GET_ETH_BALANCE + owner, ("uint256",), label="getEthBalance")]
    for t in tokens:
        calls += [
            Call(t.address, _BALANCE_OF + owner, ("uint256",), label=f"{t.symbol}.balanceOf"),
            Call(t.address, _DECIMALS, ("uint8",), label=f"{t.symbol}.decimals"),
            Call(t.address, _SYMBOL, ("string",), label=f"{t.symbol}.symbol"),
        ]
    native, *token_results = yield calls
    balances = []
    if native.ok:
        source = Source(network.multicall, block.number, block.timestamp)
        balances.append(Balance(network.native_asset, network.native_asset, native.value, NATIVE_DECIMALS, source))
    for index, token in enumerate(tokens):
        result, decimals, symbol = token_results[3 * index : 3 * index + 3]
        if result.ok:
            source = Source(token.address, block.number, block.timestamp)
            balances.append(
                Balance(
                    token.symbol, token.asset, result.value, token.decimals, source, token.address, token.stablecoin,
                    _mismatch(token.symbol, token.decimals, decimals, symbol, network.file),
                )
            )  # fmt: skip
    return tuple(balances)


def _mismatch(
    symbol: str, decimals: int, chain_decimals: CallResult, chain_symbol: CallResult, file: str
) -> str | None:
    """Why the chain disagrees with the network file about a token, if it does (a symbol() that does not
    decode as a string, e.g. bytes32 on old tokens, is not checked; a decimals() that fails is a mismatch)."""
    if not chain_decimals.ok:
        return f"{symbol}: decimals() failed on chain ({chain_decimals.error}); {file} says {decimals}"
    if chain_decimals.value != decimals:
        return f"{symbol}: {file} says {decimals} decimals, the token on chain has {chain_decimals.value}"
    if chain_symbol.ok:
        name = chain_symbol.value
        if isinstance(name, str) and name.strip().upper() != symbol.upper():
            return f"{symbol}: the token on chain calls itself {name!r}, not {symbol!r} as {file} says"
    return None


def exposures(
    balances: Iterable[Balance], positions: Iterable[Position], oracles: Iterable[OracleReading]
) -> tuple[Exposure, ...]:
    """Spot held plus signed perp size, per asset, valued at the asset's primary oracle price."""
    spot: dict[str, Decimal] = defaultdict(Decimal)
    perp: dict[str, Decimal] = defaultdict(Decimal)
    for balance in balances:
        spot[balance.asset] += balance.amount
    for position in positions:
        perp[position.asset] += position.signed_size
    prices = {o.asset: o.price for o in oracles if o.role == "primary" and o.ok}
    assets = sorted(set(spot) | set(perp))
    return tuple(Exposure(a, spot[a], perp[a], prices.get(a)) for a in assets)
