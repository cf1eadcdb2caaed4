"""A wallet's holdings (native coin and configured ERC-20s), and its exposure per asset once netted
with perp positions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector

from hedger.chain.multicall import Block, Call, ReadStep
from hedger.model import Balance, Exposure, OracleReading, Position, Source
from hedger.settings import NetworkConfig

_BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")
_GET_ETH_BALANCE = function_signature_to_4byte_selector("getEthBalance(address)")
NATIVE_DECIMALS = 18


def read_balances(network: NetworkConfig, account: str, block: Block) -> ReadStep[tuple[Balance, ...]]:
    """The native balance (through Multicall3's getEthBalance) and every configured token's."""
    owner = abi_encode(["address"], [account])
    tokens = list(network.tokens.values())
    calls = [Call(network.multicall, _GET_ETH_BALANCE + owner, ("uint256",), label="getEthBalance")]
    calls += [Call(t.address, _BALANCE_OF + owner, ("uint256",), label=f"{t.symbol}.balanceOf") for t in tokens]
    native, *token_results = yield calls
    balances = []
    if native.ok:
        source = Source(network.multicall, block.number, block.timestamp)
        balances.append(Balance(network.native_asset, network.native_asset, native.value, NATIVE_DECIMALS, source))
    for token, result in zip(tokens, token_results, strict=True):
        if result.ok:
            source = Source(token.address, block.number, block.timestamp)
            balances.append(
                Balance(
                    token.symbol, token.asset, result.value, token.decimals, source, token.address, token.stablecoin
                )
            )
    return tuple(balances)


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
