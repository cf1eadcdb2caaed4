"""Deploy hedger's stand-ins of GMX v2 and HyperEVM on a local chain, and network configurations that
point the venue adapters at them."""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.grammar import parse as parse_type
from eth_utils import function_signature_to_4byte_selector, is_address, keccak, to_checksum_address
from web3.contract import Contract

from hedger.chain.contracts import at, deploy, load_artifact
from hedger.chain.toolchain import project_root
from hedger.chain.universe import network_document
from hedger.settings import NetworkConfig, parse_network
from hedger.testing import LocalChain
from hedger.venues.base import FundingSource
from hedger.venues.gmx_v2 import MIN_POSITION_SIZE_USD, GmxV2Venue, market_factor_keys
from hedger.venues.hyperliquid import HyperliquidVenue

FLOAT = 10**30
GMX_VENUE = "gmx"
HL_VENUE = "hyperliquid"
GMX_CONTRACTS = {
    "data_store": "GmxDataStoreStandIn",
    "reader": "GmxReaderStandIn",
    "router": "GmxRouterStandIn",
    "order_vault": "GmxOrderVaultStandIn",
    "event_emitter": "GmxEventEmitterStandIn",
}


def fake_address(label: str) -> str:
    """A fixed address that holds no code (GMX market tokens and the synthetic BTC index here)."""
    return to_checksum_address(keccak(text=label)[12:])


@dataclass(frozen=True)
class GmxMarketSpec:
    symbol: str
    address: str
    index_token: str
    index_decimals: int
    index_feed: str
    long_token: str
    short_token: str


@dataclass
class GmxStandIns:
    data_store: Contract
    reader: Contract
    exchange_router: Contract
    router: Contract
    order_vault: Contract
    event_emitter: Contract
    wnt: Contract
    markets: dict[str, GmxMarketSpec]
    document: dict[str, Any]  # the network configuration, as a TOML document (tests may edit a copy)

    @property
    def network(self) -> NetworkConfig:
        return parse_network(self.document, "<gmx stand-ins>")

    def venue(self, chain: LocalChain, document: dict[str, Any] | None = None) -> GmxV2Venue:
        network = self.network if document is None else parse_network(document, "<edited gmx stand-ins>")
        return GmxV2Venue(chain.w3, network, network.venues[GMX_VENUE])


def deploy_gmx(chain: LocalChain) -> GmxStandIns:
    """DataStore, Reader, Router, OrderVault, EventEmitter, WNT and ExchangeRouter stand-ins, wired as in GMX, with an
    ETH/USD [WETH-USDC] and a BTC/USD [WBTC-USDC] market (synthetic BTC index, 8 decimals)."""
    w3, owner = chain.w3, chain.universe.deployer
    contracts = {name: deploy(w3, artifact, sender=owner) for name, artifact in GMX_CONTRACTS.items()}
    wnt = deploy(w3, "GmxWrappedNativeStandIn", sender=owner)
    store, router, vault, emitter = (contracts[n] for n in ("data_store", "router", "order_vault", "event_emitter"))
    wiring = (store.address, router.address, vault.address, emitter.address, wnt.address)
    exchange = deploy(w3, "GmxExchangeRouterStandIn", *wiring, sender=owner)
    contracts["exchange_router"] = exchange
    for call in (
        store.functions.setController(exchange.address, True),
        router.functions.setPlugin(exchange.address, True),
        vault.functions.setController(exchange.address, True),
        emitter.functions.setController(exchange.address, True),
    ):
        chain.transact(call)
    btc_index = fake_address("gmx synthetic BTC")
    markets = {
        "ETH": GmxMarketSpec("ETH", fake_address("gmx ETH/USD market"), wnt.address, 18, "ETH/USD", "WETH", "USDC"),
        "BTC": GmxMarketSpec("BTC", fake_address("gmx BTC/USD market"), btc_index, 8, "BTC/USD", "WBTC", "USDC"),
    }
    tokens = {**chain.universe.tokens, "WETH": wnt.address}
    for m in markets.values():
        chain.transact(
            store.functions.setMarket((m.address, m.index_token, tokens[m.long_token], tokens[m.short_token]))
        )
    doc = gmx_network_document(chain, contracts, wnt.address, markets)
    return GmxStandIns(store, contracts["reader"], exchange, router, vault, emitter, wnt, markets, doc)


def gmx_network_document(
    chain: LocalChain, contracts: dict[str, Contract], wnt: str, markets: dict[str, GmxMarketSpec]
) -> dict[str, Any]:
    """The local universe's tokens and feeds (WETH being the WNT stand-in) and a `gmx` venue."""
    doc = network_document(chain.universe)
    doc["tokens"]["WETH"]["address"] = wnt
    venue = {name: contract.address for name, contract in contracts.items()}
    venue |= {
        "kind": "gmx_v2",
        "referral_storage": fake_address("gmx referral storage"),
        "wrapped_native_token": "WETH",
        "collateral_token": "USDC",
        "execution_fee_eth": "0.0005",
        "markets": {
            m.symbol: {
                "asset": m.symbol,
                "market": m.address,
                "index_token": m.index_token,
                "index_decimals": m.index_decimals,
                "index_feed": m.index_feed,
                "long_token": m.long_token,
                "short_token": m.short_token,
            }
            for m in markets.values()
        },
    }
    doc["venues"] = {GMX_VENUE: venue}
    return doc


def seed_market_factors(
    chain: LocalChain,
    gmx: GmxStandIns,
    market: str,
    min_collateral_factor: Decimal,
    liquidation_factor: Decimal,
    position_fee_factor: Decimal,
) -> None:
    """A market's factors under GMX's own DataStore keys (1e30 fixed point)."""
    keys = market_factor_keys(market)
    values = {
        "min_collateral_factor": min_collateral_factor,
        "min_collateral_factor_for_liquidation": liquidation_factor,
        "position_fee_factor": position_fee_factor,
    }
    for name, value in values.items():
        set_uint(chain, gmx, keys[name], int(value * FLOAT))


def set_uint(chain: LocalChain, gmx: GmxStandIns, key: bytes, value: int) -> None:
    chain.transact(gmx.data_store.functions.setUint(key, value))


def seed_min_position_size(chain: LocalChain, gmx: GmxStandIns, usd: int) -> None:
    set_uint(chain, gmx, MIN_POSITION_SIZE_USD, usd * FLOAT)


def keeper_executes(chain: LocalChain, gmx: GmxStandIns, order_id: str, account: str) -> None:
    """What GMX's order keeper leaves behind: the order gone from the store, and an "OrderExecuted" EventLog2."""
    key = bytes.fromhex(order_id[2:])
    empty = ((), ())
    data = (empty, empty, empty, empty, ((("key", key),), ()), empty, empty)  # bytes32Items: key
    chain.transact(gmx.data_store.functions.removeOrder(key))
    chain.transact(
        gmx.event_emitter.functions.emitEventLog2("OrderExecuted", key, bytes(12) + bytes.fromhex(account[2:]), data)
    )


CREATE_ORDER = (
    "createOrder(((address,address,address,address,address,address,address[]),(uint256,uint256,uint256,uint256,"
    "uint256,uint256,uint256,uint256),uint8,uint8,bool,bool,bool,bytes32,bytes32[]))"
)


def recorded_calls(gmx: GmxStandIns) -> list[tuple[str, int, bytes]]:
    """Every call the ExchangeRouter stand-in took inside multicalls: (sender, value, calldata)."""
    router = gmx.exchange_router.functions
    return [router.recordedCall(i).call() for i in range(router.recordedCallCount().call())]


def decode_call(data: bytes, signature: str) -> tuple:
    """The arguments of a call to `signature` (addresses checksummed); fails on another function."""
    assert data[:4] == function_signature_to_4byte_selector(signature), f"not {signature}"
    arguments = parse_type(signature[signature.index("(") :]).components
    return _checksummed(abi_decode([a.to_type_str() for a in arguments], data[4:]))


def _checksummed(value):
    if isinstance(value, tuple):
        return tuple(_checksummed(v) for v in value)
    if isinstance(value, str) and is_address(value):
        return to_checksum_address(value)
    return value


# ---------------------------------------------------------------------- HyperEVM

PRECOMPILE_CONTRACTS = {
    "position_precompile": "HyperCorePositionStandIn",
    "mark_px_precompile": "HyperCorePxStandIn",
    "oracle_px_precompile": "HyperCorePxStandIn",
    "perp_asset_info_precompile": "HyperCorePerpAssetInfoStandIn",
    "account_margin_summary_precompile": "HyperCoreMarginSummaryStandIn",
    "l1_block_number_precompile": "HyperCoreL1BlockNumberStandIn",
    "core_user_exists_precompile": "HyperCoreUserExistsStandIn",
    "core_writer": "CoreWriterStandIn",
}


@dataclass
class HyperliquidStandIns:
    contracts: dict[str, Contract]  # by network-file key, at the real addresses
    document: dict[str, Any]  # networks/hyperevm.toml re-pointed at the local chain (tests may edit a copy)

    def __getitem__(self, key: str) -> Contract:
        return self.contracts[key]

    @property
    def network(self) -> NetworkConfig:
        return parse_network(self.document, "<hyperevm stand-ins>")

    def venue(
        self, chain: LocalChain, document: dict[str, Any] | None = None, funding_source: FundingSource | None = None
    ) -> HyperliquidVenue:
        network = self.network if document is None else parse_network(document, "<edited hyperevm stand-ins>")
        return HyperliquidVenue(chain.w3, network, network.venues[HL_VENUE], funding_source)


def install_hyperliquid(chain: LocalChain) -> HyperliquidStandIns:
    """The precompile and CoreWriter stand-ins' runtime code, set at the addresses networks/hyperevm.toml
    names (the real ones), and that file as a network configuration for this local chain."""
    doc = hyperevm_document(chain)
    params = doc["venues"][HL_VENUE]
    contracts = {}
    for key, name in PRECOMPILE_CONTRACTS.items():
        chain.node.set_code(params[key], load_artifact(name).deployed_bytecode)
        contracts[key] = at(chain.w3, name, params[key])
    return HyperliquidStandIns(contracts, doc)


def hyperevm_document(chain: LocalChain) -> dict[str, Any]:
    """networks/hyperevm.toml as it is, re-pointed at the local chain (its id and RPC URL)."""
    doc = copy.deepcopy(tomllib.loads((project_root() / "networks" / "hyperevm.toml").read_text()))
    doc["network"].update(chain_id=chain.w3.eth.chain_id, rpc_url=chain.node.url)
    return doc
