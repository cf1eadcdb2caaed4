"""The GMX v2 adapter against hedger's ABI-faithful GMX stand-ins on Anvil: exact numbers read, exact
bytes sent."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.grammar import parse as parse_type
from eth_utils import function_signature_to_4byte_selector, is_address, keccak, to_checksum_address
from eth_utils.abi import collapse_if_tuple
from web3.exceptions import ContractCustomError, ContractLogicError

from hedger.chain.anvil import DEV_ACCOUNTS
from hedger.chain.connect import connect
from hedger.chain.contracts import load_artifact
from hedger.chain.multicall import execute, latest_block, run_steps
from hedger.chain.revert import decode_revert
from hedger.errors import ConfigError
from hedger.model import MarginMode, Side
from hedger.snapshot import SnapshotReader
from hedger.strategy.margin import pending_top_up_tokens
from hedger.strategy.plan import check_cancel_delay
from hedger.testing import chain_state_for
from hedger.venues._abi import ABI_DIR, load_abi
from hedger.venues.base import OrderIntent, UnsupportedOrder, VenueState
from hedger.venues.gmx_v2 import EVENT_LOG2_TOPIC, market_factor_keys, open_interest_key, price_per_unit
from hedger.venues.gmx_v2.keys import REQUEST_EXPIRATION_TIME
from tests.support.chain_helpers import set_price
from tests.support.standins import (
    FLOAT,
    GMX_VENUE,
    deploy_gmx,
    keeper_executes,
    seed_market_factors,
    seed_min_position_size,
    set_uint,
)

pytestmark = pytest.mark.integration

ALICE, BOB = DEV_ACCOUNTS[2][0], DEV_ACCOUNTS[3][0]
ETH_WEI, BTC_SAT, USDC_UNIT = 10**18, 10**8, 10**6
FEE_WEI = 5 * 10**14  # execution_fee_eth = "0.0005" in the stand-ins' network document
MAX_UINT = 2**256 - 1

# The deployed ABI (gmx-io/gmx-synthetics deployments/arbitrum/{Reader,DataStore,ExchangeRouter}.json):
# every function hedger calls, as canonical signature → output types.
REAL_ABI = {
    "Reader": {
        "getMarket(address,address)": "((address,address,address,address))",
        "getAccountPositions(address,address,uint256,uint256)": "(((address,address,address),(uint256,uint256,"
        "uint256,int256,uint256,uint256,uint256,uint256,uint256,uint256),(bool))[])",
        "getAccountPositionInfoList(address,address,address,address[],((uint256,uint256),(uint256,uint256),"
        "(uint256,uint256))[],address,uint256,uint256)": "((bytes32,((address,address,address),(uint256,uint256,"
        "uint256,int256,uint256,uint256,uint256,uint256,uint256,uint256),(bool)),((bytes32,address,address,uint256,"
        "uint256,uint256,uint256,uint256,uint256,uint256),(uint256,uint256,uint256),(uint256,uint256,uint256,uint256,"
        "uint256,uint256),(uint256,uint256,uint256,uint256),(address,uint256,uint256),(uint256,uint256,uint256,"
        "uint256),(uint256,uint256),uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256),"
        "(int256,uint256,bool,int256,int256,uint256),int256,int256,int256)[])",
        "getMarketInfo(address,((uint256,uint256),(uint256,uint256),(uint256,uint256)),address)": "(((address,"
        "address,address,address),uint256,uint256,(((uint256,uint256),(uint256,uint256)),((uint256,uint256),"
        "(uint256,uint256))),(bool,uint256,int256,((uint256,uint256),(uint256,uint256)),((uint256,uint256),"
        "(uint256,uint256))),(uint256,uint256,int256),bool))",
        "getAccountOrders(address,address,uint256,uint256)": "((bytes32,((address,address,address,address,address,"
        "address,address,address[]),(uint8,uint8,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,"
        "uint256,uint256),(bool,bool,bool,bool),bytes32[]))[])",
    },
    "DataStore": {"getUint(bytes32)": "(uint256)"},
    "ExchangeRouter": {
        "multicall(bytes[])": "(bytes[])",
        "sendWnt(address,uint256)": "()",
        "sendTokens(address,address,uint256)": "()",
        "createOrder(((address,address,address,address,address,address,address[]),(uint256,uint256,uint256,"
        "uint256,uint256,uint256,uint256,uint256),uint8,uint8,bool,bool,bool,bytes32,bytes32[]))": "(bytes32)",
        "cancelOrder(bytes32)": "()",
    },
}
# EventEmitter.EventLog2 (deployments/arbitrum/EventEmitter.json), the event GMX reports orders through.
REAL_EVENT_LOG2 = (
    "EventLog2(address,string,string,bytes32,bytes32,(((string,address)[],(string,address[])[]),((string,uint256)[],"
    "(string,uint256[])[]),((string,int256)[],(string,int256[])[]),((string,bool)[],(string,bool[])[]),((string,"
    "bytes32)[],(string,bytes32[])[]),((string,bytes)[],(string,bytes[])[]),((string,string)[],(string,string[])[])))"
)
STAND_INS = {
    "Reader": "GmxReaderStandIn",
    "DataStore": "GmxDataStoreStandIn",
    "ExchangeRouter": "GmxExchangeRouterStandIn",
}
CREATE_ORDER = next(s for s in REAL_ABI["ExchangeRouter"] if s.startswith("createOrder"))


def signatures(abi: list[dict]) -> dict[str, str]:
    functions = (e for e in abi if e["type"] == "function")
    return {
        f"{f['name']}({','.join(collapse_if_tuple(i) for i in f['inputs'])})": "("
        + ",".join(collapse_if_tuple(o) for o in f["outputs"])
        + ")"
        for f in functions
    }


@pytest.fixture(scope="module")
def gmx(anvil, universe):
    """The GMX stand-ins, deployed once for this module on the session chain and removed after it."""
    with chain_state_for(anvil, universe) as chain:
        yield deploy_gmx(chain)


@pytest.fixture
def seeded(chain, gmx):
    """ETH at $5,000, BTC at $60,000, USDC at $1; GMX margin and fee factors for both markets."""
    set_price(chain, "ETH/USD", 5000)
    seed_market_factors(chain, gmx, gmx.markets["ETH"].address, Decimal("0.01"), Decimal("0.005"), Decimal("0.0007"))
    seed_market_factors(chain, gmx, gmx.markets["BTC"].address, Decimal("0.02"), Decimal("0.01"), Decimal("0.0005"))
    seed_min_position_size(chain, gmx, 1)
    return gmx


def token(gmx, symbol: str) -> str:
    return gmx.network.tokens[symbol].address


def seed_position(chain, gmx, account, symbol, collateral, is_long, size_usd, size_tokens, collateral_amount) -> bytes:
    market = gmx.markets[symbol].address
    numbers = (size_usd, size_tokens, collateral_amount, 0, 0, 0, 0, 0, chain.now(), 0)
    chain.transact(
        gmx.data_store.functions.setPosition(((account, market, token(gmx, collateral)), numbers, (is_long,)))
    )
    return keccak(
        abi_encode(["address", "address", "address", "bool"], [account, market, token(gmx, collateral), is_long])
    )


def seed_open_interest(chain, gmx, symbol: str, usd: dict[tuple[str, bool], int]) -> None:
    """Open interest (whole USD) by (collateral symbol, isLong), under GMX's DataStore keys."""
    for (collateral, is_long), amount in usd.items():
        set_uint(
            chain, gmx, open_interest_key(gmx.markets[symbol].address, token(gmx, collateral), is_long), amount * FLOAT
        )


def seed_rates(chain, gmx, symbol, longs_pay_shorts, factor, borrowing_long=0, borrowing_short=0) -> None:
    rates = (longs_pay_shorts, factor, borrowing_long, borrowing_short, False)
    chain.transact(gmx.data_store.functions.setMarketRates(gmx.markets[symbol].address, rates))


def read(chain, venue, account=ALICE) -> tuple[VenueState, int]:
    """The venue's state at the latest block, and the RPC round trips it took."""
    rpc = connect(chain.anvil.url, chain.w3.eth.chain_id).rpc
    block = latest_block(rpc)
    before = rpc.round_trips
    (state,) = run_steps(rpc, [venue.read(account, block)], block.number)
    return state, rpc.round_trips - before


def send(chain, account, tx) -> dict:
    tx_hash = chain.w3.eth.send_transaction({"from": account, "to": tx.to, "data": tx.data, "value": tx.value})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    return receipt


def recorded_calls(gmx) -> list[tuple[str, int, bytes]]:
    router = gmx.exchange_router.functions
    return [router.recordedCall(i).call() for i in range(router.recordedCallCount().call())]


def decoded(data: bytes, signature: str) -> tuple:
    """The arguments of a call to `signature`, addresses checksummed."""
    assert data[:4] == function_signature_to_4byte_selector(signature), f"not {signature}"
    arguments = parse_type(signature[signature.index("(") :]).components
    return checksummed(abi_decode([a.to_type_str() for a in arguments], data[4:]))


def checksummed(value):
    if isinstance(value, tuple):
        return tuple(checksummed(v) for v in value)
    if isinstance(value, str) and is_address(value):
        return to_checksum_address(value)
    return value


# ---------------------------------------------------------------------- the interface itself


def test_stand_ins_and_the_shipped_abi_have_the_real_signatures_and_return_types():
    shipped = json.loads((ABI_DIR / "gmx_v2.json").read_text())
    for contract, expected in REAL_ABI.items():
        stand_in = signatures(load_artifact(STAND_INS[contract]).abi)
        assert {s: stand_in[s] for s in expected} == expected
        assert signatures(shipped[contract]) == expected
    for abi in (shipped["EventEmitter"], load_artifact("GmxEventEmitterStandIn").abi):
        (event,) = (e for e in abi if e["type"] == "event")
        assert f"EventLog2({','.join(collapse_if_tuple(i) for i in event['inputs'])})" == REAL_EVENT_LOG2
        assert [i["indexed"] for i in event["inputs"]] == [False, False, True, True, True, False]
    assert keccak(text=REAL_EVENT_LOG2) == EVENT_LOG2_TOPIC


def test_feed_prices_reach_the_reader_in_gmx_per_unit_format(chain, seeded):
    """ETH at $5,000 is 5000e12, BTC at $60,000 is 60000e22, USDC at $1 is 1e24 (USD per smallest unit, 1e30)."""
    assert price_per_unit(5000 * 10**8, 8, 18) == 5000 * 10**12  # an 8-decimal feed
    assert price_per_unit(5000 * 10**18, 18, 18) == 5000 * 10**12  # an 18-decimal feed
    venue = seeded.venue(chain)
    rpc = connect(chain.anvil.url, chain.w3.eth.chain_id).rpc
    block = latest_block(rpc)
    step = venue.read(ALICE, block)
    second = step.send(execute(rpc, next(step), block.number))
    signature = next(s for s in REAL_ABI["Reader"] if s.startswith("getMarketInfo"))
    prices = {decoded(c.data, signature)[2]: decoded(c.data, signature)[1] for c in second}
    eth, btc = seeded.markets["ETH"].address, seeded.markets["BTC"].address
    assert prices[eth] == ((5000 * 10**12,) * 2, (5000 * 10**12,) * 2, (10**24,) * 2)
    assert prices[btc] == ((60000 * 10**22,) * 2, (60000 * 10**22,) * 2, (10**24,) * 2)


# ---------------------------------------------------------------------- reading


def test_positions_are_read_exactly_in_usd_tokens_and_collateral(chain, seeded):
    # a 10 ETH short entered at $5,200 with 10,000 USDC, and a 0.5 BTC long entered at $58,000 with 0.1 WBTC
    short_key = seed_position(
        chain, seeded, ALICE, "ETH", "USDC", False, 52_000 * FLOAT, 10 * ETH_WEI, 10_000 * USDC_UNIT
    )
    seed_position(chain, seeded, ALICE, "BTC", "WBTC", True, 29_000 * FLOAT, BTC_SAT // 2, BTC_SAT // 10)
    # pending: 12.5 USDC funding owed; claimable 0.001 WETH ($5) and 2 USDC; $3.25 borrowing
    fees = (12_500_000, ETH_WEI // 1000, 2 * USDC_UNIT, 325 * FLOAT // 100)
    chain.transact(seeded.data_store.functions.setPendingFees(short_key, fees))
    state, round_trips = read(chain, seeded.venue(chain))
    assert round_trips == 2 and state.errors == ()
    eth, btc = (next(p for p in state.positions if p.symbol == s) for s in ("ETH", "BTC"))

    assert (eth.side, eth.contracts, eth.entry_price, eth.mark_price) == (Side.SHORT, 10, 5200, 5000)
    assert eth.unrealized_pnl_usd == Decimal(2000)  # (5,200 − 5,000) × 10, from the Reader at the prices we gave
    assert eth.collateral_usd == Decimal(10_000)
    assert eth.accrued_funding_usd == Decimal("5.5")  # 12.5 owed − 5 − 2 claimable
    assert eth.maintenance_margin_usd == Decimal(52_000) * Decimal("0.005")
    assert eth.extra["pending_borrowing_fee_usd"] == Decimal("3.25")
    assert eth.extra["position_key"] == "0x" + short_key.hex()
    assert (eth.extra["size_in_usd_raw"], eth.extra["size_in_tokens_raw"]) == (52_000 * FLOAT, 10 * ETH_WEI)
    assert (eth.extra["collateral_symbol"], eth.extra["collateral_amount"]) == ("USDC", Decimal(10_000))
    # isolated margin: the position's own collateral, and what closing it now would cost besides the PnL
    assert (eth.collateral_token, eth.collateral_amount) == ("USDC", Decimal(10_000))
    assert eth.closing_costs_usd == Decimal("3.25") + Decimal("12.5") + Decimal(52_000) * Decimal("0.0007")
    # GMX liquidates where 10,000 + (52,000 − 10 × P) − 52.15 = 0.5% × 52,000
    assert eth.liquidation_price == (Decimal(52_000) * Decimal("0.995") + 10_000 - Decimal("52.15")) / 10

    assert (btc.side, btc.contracts, btc.entry_price, btc.mark_price) == (Side.LONG, Decimal("0.5"), 58_000, 60_000)
    assert btc.unrealized_pnl_usd == Decimal(1000)
    assert btc.collateral_usd == Decimal(6000)  # 0.1 WBTC at 60000e22 per satoshi
    assert btc.leverage == Decimal(5)
    # WBTC collateral moves with the index: 0.1 × P + 0.5 × P − 29,000 − 14.5 of closing fee = 1% × 29,000
    assert btc.liquidation_price == (Decimal(29_000) * Decimal("1.01") + Decimal("14.5")) / Decimal("0.6")


def test_markets_carry_gmx_factors_open_interest_and_minimum_size(chain, seeded):
    seed_open_interest(
        chain, seeded, "ETH", {("WETH", True): 1_000_000, ("USDC", True): 2_000_000, ("USDC", False): 1_500_000}
    )
    state, _ = read(chain, seeded.venue(chain))
    eth = next(m for m in state.markets if m.symbol == "ETH")
    assert (eth.margin_mode, eth.collateral_token) == (MarginMode.ISOLATED, "USDC")
    assert (eth.initial_margin_ratio, eth.maintenance_margin_ratio, eth.taker_fee) == (
        Decimal("0.01"), Decimal("0.005"), Decimal("0.0007"),
    )  # fmt: skip
    assert eth.max_leverage == 100 and eth.min_notional_usd == 1 and eth.async_orders
    assert eth.size_step == Decimal("1e-18") and eth.market_id == seeded.markets["ETH"].address
    assert (eth.extra["open_interest_long_usd"], eth.extra["open_interest_short_usd"]) == (3_000_000, 1_500_000)
    btc = next(m for m in state.markets if m.symbol == "BTC")
    assert btc.size_step == Decimal("1e-8") and btc.initial_margin_ratio == Decimal("0.02")


def test_funding_per_side_per_hour_follows_gmx_formula(chain, seeded):
    # ETH: longs pay 1e-9 per second; $3M long against $1.5M short
    seed_open_interest(
        chain, seeded, "ETH", {("WETH", True): 1_000_000, ("USDC", True): 2_000_000, ("USDC", False): 1_500_000}
    )
    seed_rates(chain, seeded, "ETH", True, 10**21, borrowing_long=2 * 10**20, borrowing_short=3 * 10**20)
    # BTC: shorts pay 1.5e-9 per second; $3M long against $7M short
    seed_open_interest(
        chain, seeded, "BTC", {("WBTC", True): 3_000_000, ("WBTC", False): 4_000_000, ("USDC", False): 3_000_000}
    )
    seed_rates(chain, seeded, "BTC", False, 15 * 10**20)
    state, _ = read(chain, seeded.venue(chain))
    eth, btc = (next(f for f in state.funding if f.symbol == s) for s in ("ETH", "BTC"))

    assert eth.interval_s == 3600 and eth.sign_convention == "positive: longs pay shorts"
    assert eth.rate == Decimal("0.0000036")  # paying side: 1e-9 × 3600
    assert eth.short_rate == Decimal("-0.0000072")  # receiving side: 1e-9 × 3M / 1.5M × 3600
    assert (eth.borrowing_long_per_hour, eth.borrowing_short_per_hour) == (Decimal("0.00000072"), Decimal("0.00000108"))
    assert eth.paid_per_hour(Side.SHORT) == Decimal("-0.0000072") + Decimal("0.00000108")
    assert eth.annualized == Decimal("0.0000036") * 8760
    assert (eth.mark_price, eth.index_price) == (5000, 5000)

    assert btc.short_rate == Decimal("0.0000054")  # paying side: 1.5e-9 × 3600
    assert btc.rate == Decimal("-0.0000126")  # receiving side: 1.5e-9 × 7M / 3M × 3600
    assert (btc.borrowing_long_per_hour, btc.borrowing_short_per_hour) == (0, 0)


def test_open_interest_is_halved_when_long_and_short_token_are_the_same(chain, seeded):
    market = "0x" + keccak(text="gmx ETH/USD [WETH-WETH]")[12:].hex()
    doc = copy.deepcopy(seeded.document)
    wnt = seeded.wnt.address
    chain.transact(seeded.data_store.functions.setMarket((chain.w3.to_checksum_address(market), wnt, wnt, wnt)))
    doc["venues"][GMX_VENUE]["markets"]["ETH-WETH"] = {
        "asset": "ETH", "market": chain.w3.to_checksum_address(market), "index_token": wnt, "index_decimals": 18,
        "index_feed": "ETH/USD", "long_token": "WETH", "short_token": "WETH", "collateral_token": "WETH",
    }  # fmt: skip
    venue = seeded.venue(chain, doc)
    single = venue.markets["ETH-WETH"]
    for is_long, amount in ((True, 2_000_000), (False, 1_000_000)):
        set_uint(chain, seeded, open_interest_key(single.address, wnt, is_long), amount * FLOAT)
    seed_rates(chain, seeded, "ETH", True, 10**21)
    chain.transact(seeded.data_store.functions.setMarketRates(single.address, (True, 10**21, 0, 0, False)))
    seed_market_factors(chain, seeded, single.address, Decimal("0.01"), Decimal("0.005"), Decimal("0.0007"))
    state, _ = read(chain, venue)
    funding = next(f for f in state.funding if f.symbol == "ETH-WETH")
    market = next(m for m in state.markets if m.symbol == "ETH-WETH")
    # each amount is stored under both (identical) collateral keys, so the sum counts it twice
    assert (market.extra["open_interest_long_usd"], market.extra["open_interest_short_usd"]) == (2_000_000, 1_000_000)
    assert (funding.rate, funding.short_rate) == (Decimal("0.0000036"), Decimal("-0.0000072"))


def test_a_collateral_that_is_not_a_pool_token_is_a_config_error(chain, gmx):
    doc = copy.deepcopy(gmx.document)
    doc["venues"][GMX_VENUE]["markets"]["BTC"]["collateral_token"] = "WETH"
    with pytest.raises(ConfigError, match="collateral_token"):
        gmx.venue(chain, doc)


def test_a_snapshot_with_gmx_takes_three_round_trips_from_one_block(chain, seeded):
    seed_position(chain, seeded, ALICE, "ETH", "USDC", False, 52_000 * FLOAT, 10 * ETH_WEI, 10_000 * USDC_UNIT)
    network = seeded.network
    snapshot = SnapshotReader(connect(chain.anvil.url, network.chain_id), network).take(ALICE)
    assert snapshot.rpc_round_trips == 3
    assert {f.symbol for f in snapshot.funding} == {"ETH", "BTC"} and len(snapshot.markets) == 2
    (position,) = snapshot.positions
    assert position.source.block_number == snapshot.block_number and position.unrealized_pnl_usd == 2000
    assert snapshot.exposure("ETH").perp == Decimal(-10)


def test_a_feed_out_of_bounds_leaves_its_markets_unpriced_and_nothing_crashes(chain, seeded):
    seed_position(chain, seeded, ALICE, "ETH", "USDC", False, 52_000 * FLOAT, 10 * ETH_WEI, 10_000 * USDC_UNIT)
    seed_position(chain, seeded, ALICE, "BTC", "WBTC", True, 29_000 * FLOAT, BTC_SAT // 2, BTC_SAT // 10)
    set_price(chain, "BTC/USD", 20_000_000)  # above the feed's configured max_price
    state, _ = read(chain, seeded.venue(chain))
    btc_funding = next(f for f in state.funding if f.symbol == "BTC")
    assert btc_funding.rate is None and btc_funding.index_price is None
    btc = next(p for p in state.positions if p.symbol == "BTC")
    assert (btc.contracts, btc.mark_price, btc.unrealized_pnl_usd, btc.collateral_usd) == (
        Decimal("0.5"),
        None,
        None,
        None,
    )
    eth = next(p for p in state.positions if p.symbol == "ETH")
    assert eth.mark_price == 5000 and eth.unrealized_pnl_usd is None  # the Reader prices all positions or none
    assert any("BTC/USD answered 20000000" in e for e in state.errors)
    assert any("unpriced or unconfigured markets" in e for e in state.errors)


def test_a_market_whose_tokens_differ_from_the_network_file_is_skipped(chain, seeded):
    doc = copy.deepcopy(seeded.document)
    doc["venues"][GMX_VENUE]["markets"]["BTC"]["index_token"] = seeded.markets["ETH"].index_token
    state, _ = read(chain, seeded.venue(chain, doc))
    assert [m.symbol for m in state.markets] == ["ETH"]
    assert any("BTC: the chain says" in e for e in state.errors)


# ---------------------------------------------------------------------- orders


def eth_market(chain, gmx):
    state, _ = read(chain, gmx.venue(chain))
    return next(m for m in state.markets if m.symbol == "ETH"), state


def test_opening_a_usdc_short_sends_fee_tokens_and_exact_create_order_params(chain, seeded):
    venue = seeded.venue(chain)
    market, _ = eth_market(chain, seeded)
    intent = OrderIntent(
        market,
        Decimal(-2),
        acceptable_price=Decimal("4950.1234567891234"),
        collateral_delta=Decimal(1000),
        reference_price=Decimal(5000),
    )
    (approval,) = venue.approvals(ALICE, intent, intent.collateral_delta)
    assert (approval.token, approval.spender, approval.amount) == (
        token(seeded, "USDC"),
        seeded.router.address,
        1000 * USDC_UNIT,
    )
    usdc = chain.token("USDC")
    chain.transact(usdc.functions.mint(ALICE, 1000 * USDC_UNIT))
    chain.transact(usdc.functions.approve(approval.spender, approval.amount), ALICE)
    (tx,) = venue.encode_order(ALICE, intent)
    assert (tx.to, tx.value) == (seeded.exchange_router.address, FEE_WEI)
    send(chain, ALICE, tx)

    (_, value_1, send_wnt), (_, _, send_tokens), (sender, _, create) = recorded_calls(seeded)
    vault = seeded.order_vault.address
    assert (sender, value_1) == (ALICE, FEE_WEI)
    assert decoded(send_wnt, "sendWnt(address,uint256)") == (vault, FEE_WEI)
    assert decoded(send_tokens, "sendTokens(address,address,uint256)") == (
        token(seeded, "USDC"),
        vault,
        1000 * USDC_UNIT,
    )
    (params,) = decoded(create, CREATE_ORDER)
    market_address = seeded.markets["ETH"].address
    assert params == (
        (ALICE, ALICE, ZERO, ZERO, market_address, token(seeded, "USDC"), ()),  # receiver … swapPath
        (
            10_000 * FLOAT,  # sizeDeltaUsd: 2 ETH × $5,000
            1000 * USDC_UNIT,  # initialCollateralDeltaAmount
            0,  # triggerPrice
            4_950_123_456_789_124,  # acceptablePrice: $4,950.1234567891234 × 1e12, rounded up (a sell)
            FEE_WEI,  # executionFee
            0,  # callbackGasLimit
            0,  # minOutputAmount
            0,  # validFromTime
        ),
        2,  # MarketIncrease
        0,  # NoSwap
        False,  # isLong
        False,  # shouldUnwrapNativeToken
        False,  # autoCancel
        bytes(32),  # referralCode
        (),  # dataList
    )
    assert chain.token("USDC").functions.balanceOf(vault).call() == 1000 * USDC_UNIT
    assert seeded.wnt.functions.balanceOf(vault).call() == FEE_WEI

    state, _ = read(chain, venue)
    (order,) = state.pending_orders
    assert (order.symbol, order.size_delta, order.acceptable_price) == ("ETH", -2, Decimal("4950.123456789124"))
    assert order.extra["size_delta_usd"] == 10_000 and order.extra["execution_fee_wei"] == FEE_WEI
    assert order.extra["initial_collateral_delta_amount"] == 1000 * USDC_UNIT and order.extra["order_type"] == 2
    assert order.collateral_delta == 1000
    assert order.created_at == chain.now()


ZERO = "0x0000000000000000000000000000000000000000"


def test_weth_collateral_travels_with_the_fee_in_send_wnt(chain, seeded):
    doc = copy.deepcopy(seeded.document)
    doc["venues"][GMX_VENUE]["markets"]["ETH"]["collateral_token"] = "WETH"
    venue = seeded.venue(chain, doc)
    market, _ = eth_market(chain, seeded)
    intent = OrderIntent(
        market, Decimal(1), Decimal(5100), collateral_delta=Decimal("0.5"), reference_price=Decimal(5000)
    )
    assert venue.approvals(ALICE, intent, intent.collateral_delta) == []  # sent as value, no allowance
    (tx,) = venue.encode_order(ALICE, intent)
    assert tx.value == FEE_WEI + ETH_WEI // 2
    send(chain, ALICE, tx)
    (_, value, send_wnt), (_, _, create) = recorded_calls(seeded)
    assert value == FEE_WEI + ETH_WEI // 2
    assert decoded(send_wnt, "sendWnt(address,uint256)") == (seeded.order_vault.address, FEE_WEI + ETH_WEI // 2)
    (params,) = decoded(create, CREATE_ORDER)
    assert params[0][5] == seeded.wnt.address and params[4] is True
    assert params[1][3] == 5100 * 10**12  # a buy: rounded down (exact here)
    (order,) = read(chain, venue)[0].pending_orders
    assert order.extra["initial_collateral_delta_amount"] == ETH_WEI // 2  # GMX nets the fee out of the WNT received
    assert order.extra["execution_fee_wei"] == FEE_WEI and order.size_delta == 1


def test_decreasing_and_closing_a_short_use_the_position_exactly(chain, seeded):
    seed_position(chain, seeded, ALICE, "ETH", "USDC", False, 52_000 * FLOAT, 10 * ETH_WEI, 10_000 * USDC_UNIT)
    venue = seeded.venue(chain)
    market, state = eth_market(chain, seeded)
    (position,) = state.positions
    decrease = OrderIntent(
        market,
        Decimal(4),
        Decimal("5100.0000000000009"),
        reduce_only=True,
        collateral_delta=Decimal(-500),
        position=position,
    )
    assert venue.approvals(ALICE, decrease, Decimal(0)) == []
    (tx,) = venue.encode_order(ALICE, decrease)
    assert tx.value == FEE_WEI
    send(chain, ALICE, tx)
    (_, _, send_wnt), (_, _, create) = recorded_calls(seeded)
    assert decoded(send_wnt, "sendWnt(address,uint256)") == (seeded.order_vault.address, FEE_WEI)
    (params,) = decoded(create, CREATE_ORDER)
    assert params[1][:4] == (20_800 * FLOAT, 500 * USDC_UNIT, 0, 5_100_000_000_000_000)  # 4/10 of sizeInUsd; buy: floor
    assert (params[2], params[4]) == (4, False)  # MarketDecrease of the short

    close = OrderIntent(market, Decimal(10), Decimal(5100), reduce_only=True, position=position)
    send(chain, ALICE, venue.encode_order(ALICE, close)[0])
    (params,) = decoded(recorded_calls(seeded)[-1][2], CREATE_ORDER)
    assert params[1][:2] == (52_000 * FLOAT, 0)  # the whole sizeInUsd: GMX refuses more than the position

    orders = read(chain, venue)[0].pending_orders  # as GMX removes them: sizeInTokens × sizeDeltaUsd / sizeInUsd
    assert sorted(o.size_delta for o in orders) == [4, 10]  # not sizeDeltaUsd / price (4.16 and 10.4 at $5,000)
    assert {o.extra["size_basis"] for o in orders} == {"position"}


def test_cancel_removes_the_order_and_the_fee_can_be_raised_per_order(chain, seeded):
    venue = seeded.venue(chain)
    market, _ = eth_market(chain, seeded)
    intent = OrderIntent(
        market, Decimal(-1), Decimal(4900), reference_price=Decimal(5000), extra={"execution_fee_wei": 10**15}
    )
    (tx,) = venue.encode_order(ALICE, intent)
    assert tx.value == 10**15
    send(chain, ALICE, tx)
    (order,) = read(chain, venue)[0].pending_orders
    assert order.extra["execution_fee_wei"] == 10**15
    cancel = venue.encode_cancel(ALICE, order)
    assert cancel.data == function_signature_to_4byte_selector("cancelOrder(bytes32)") + bytes.fromhex(
        order.order_id[2:]
    )
    send(chain, ALICE, cancel)
    assert read(chain, venue)[0].pending_orders == ()


def test_orders_are_followed_through_the_event_emitter_until_executed_or_cancelled(chain, seeded):
    venue = seeded.venue(chain)
    market, _ = eth_market(chain, seeded)
    start = chain.w3.eth.block_number
    intent = OrderIntent(market, Decimal(-1), Decimal(4900), reference_price=Decimal(5000))
    first, second = (
        venue.order_id_from_receipt(send(chain, ALICE, venue.encode_order(ALICE, intent)[0])) for _ in range(2)
    )
    assert [o.order_id for o in read(chain, venue)[0].pending_orders] == [first, second]
    assert venue.order_outcome(first, start).status == "pending"

    keeper_executes(chain, seeded, first, ALICE)
    outcome = venue.order_outcome(first, start)
    assert (outcome.status, outcome.block_number) == ("executed", chain.w3.eth.block_number)

    (pending,) = read(chain, venue)[0].pending_orders
    cancel_receipt = send(chain, ALICE, venue.encode_cancel(ALICE, pending))
    assert venue.order_id_from_receipt(cancel_receipt) is None
    outcome = venue.order_outcome(second, start)
    assert (outcome.status, outcome.reason) == ("cancelled", "USER_INITIATED_CANCEL")


def test_orders_gmx_cannot_take_are_refused_before_encoding(chain, seeded):
    seed_position(chain, seeded, ALICE, "ETH", "USDC", False, 52_000 * FLOAT, 10 * ETH_WEI, 10_000 * USDC_UNIT)
    venue = seeded.venue(chain)
    market, state = eth_market(chain, seeded)
    (position,) = state.positions
    refused = {
        "reference_price": OrderIntent(market, Decimal(-1), Decimal(4900)),
        "reduce-only": OrderIntent(market, Decimal(1), Decimal(5100), reduce_only=True),
        "flip": OrderIntent(market, Decimal(12), Decimal(5100), position=position),
        "collateral goes in": OrderIntent(
            market, Decimal(2), Decimal(5100), collateral_delta=Decimal(5), position=position
        ),
    }
    for reason, intent in refused.items():
        with pytest.raises(UnsupportedOrder, match=reason):
            venue.encode_order(ALICE, intent)
    with pytest.raises(UnsupportedOrder, match="per position"):
        venue.encode_collateral(ALICE, Decimal(100))
    assert venue.approvals(ALICE, None, Decimal(100)) == []


def test_collateral_only_orders_add_or_remove_collateral_of_the_position(chain, seeded):
    seed_position(chain, seeded, ALICE, "ETH", "USDC", False, 52_000 * FLOAT, 10 * ETH_WEI, 10_000 * USDC_UNIT)
    venue = seeded.venue(chain)
    market, state = eth_market(chain, seeded)
    (position,) = state.positions
    add = OrderIntent(market, Decimal(0), Decimal(4000), collateral_delta=Decimal(250), position=position)
    usdc = chain.token("USDC")
    chain.transact(usdc.functions.mint(ALICE, 250 * USDC_UNIT))
    (approval,) = venue.approvals(ALICE, add, add.collateral_delta)
    chain.transact(usdc.functions.approve(approval.spender, approval.amount), ALICE)
    send(chain, ALICE, venue.encode_order(ALICE, add)[0])
    (params,) = decoded(recorded_calls(seeded)[-1][2], CREATE_ORDER)
    assert (params[2], params[4], params[1][0], params[1][1]) == (2, False, 0, 250 * USDC_UNIT)
    remove = OrderIntent(market, Decimal(0), Decimal(6000), collateral_delta=Decimal(-100), position=position)
    send(chain, ALICE, venue.encode_order(ALICE, remove)[0])
    (params,) = decoded(recorded_calls(seeded)[-1][2], CREATE_ORDER)
    assert (params[2], params[4], params[1][0], params[1][1]) == (4, False, 0, 100 * USDC_UNIT)


# ---------------------------------------------------------------------- fidelity to the real GMX (docs/venues.md)


def seed_factor(chain, gmx, symbol: str, name: str, value: Decimal) -> None:
    """One of `market_factor_keys` (1e30 fixed point) under GMX's own DataStore key."""
    set_uint(chain, gmx, market_factor_keys(gmx.markets[symbol].address)[name], int(value * FLOAT))


def open_usdc_short(chain, gmx, venue, market, size: Decimal, collateral: Decimal, acceptable: Decimal) -> str:
    """Send a USDC-collateralised increase of a short from ALICE; returns its order key."""
    intent = OrderIntent(market, -size, acceptable, collateral_delta=collateral, reference_price=Decimal(5000))
    (approval,) = venue.approvals(ALICE, intent, collateral)
    usdc = chain.token("USDC")
    chain.transact(usdc.functions.mint(ALICE, approval.amount))
    chain.transact(usdc.functions.approve(approval.spender, approval.amount), ALICE)
    return venue.order_id_from_receipt(send(chain, ALICE, venue.encode_order(ALICE, intent)[0]))


def test_a_pending_decrease_removes_the_positions_own_tokens_even_unpriced(chain, seeded):
    """GMX removes sizeInTokens × sizeDeltaUsd / sizeInUsd (PositionUtils.getPositionPnlUsd), whatever the price."""
    seed_position(chain, seeded, ALICE, "ETH", "USDC", False, 52_000 * FLOAT, 10 * ETH_WEI, 10_000 * USDC_UNIT)
    venue = seeded.venue(chain)
    market, state = eth_market(chain, seeded)
    (position,) = state.positions
    send(chain, ALICE, venue.encode_order(ALICE, OrderIntent(market, Decimal(4), Decimal(5100), position=position))[0])
    set_price(chain, "ETH/USD", 20_000_000)  # above the feed's bounds: ETH unpriced
    (order,) = read(chain, venue)[0].pending_orders
    assert (order.size_delta, order.extra["size_basis"], order.extra["priced"]) == (4, "position", False)


def test_an_unpriced_pending_increase_is_sized_at_its_bound_or_unknown_never_a_top_up(chain, seeded):
    venue = seeded.venue(chain)
    market, _ = eth_market(chain, seeded)
    open_usdc_short(chain, seeded, venue, market, Decimal(2), Decimal(1000), Decimal(4000))
    set_price(chain, "ETH/USD", 20_000_000)
    (order,) = read(chain, venue)[0].pending_orders
    assert (order.size_delta, order.extra["size_basis"]) == (Decimal("-2.5"), "acceptable_price")  # $10,000 at $4,000

    open_usdc_short(chain, seeded, venue, market, Decimal(1), Decimal(500), Decimal(0))  # no bound for a sell
    orders = read(chain, venue)[0].pending_orders
    unknown = next(o for o in orders if o.extra["size_basis"] == "unknown")
    assert (unknown.size_delta, unknown.collateral_delta, unknown.extra["size_unknown"]) == (0, 500, True)
    assert pending_top_up_tokens(orders) == 0  # a sized increase's collateral is no collateral-only top-up


def test_a_custom_error_cancellation_is_decoded_with_gmx_error_abi(chain, seeded):
    """GMX leaves "reason" empty for a custom error; "reasonBytes" carries it (OrderHandler._handleOrderError)."""
    venue = seeded.venue(chain)
    market, _ = eth_market(chain, seeded)
    start = chain.w3.eth.block_number
    key = open_usdc_short(chain, seeded, venue, market, Decimal(1), Decimal(40), Decimal(4900))  # 0.8% < 1%
    usdc_price = price_per_unit(10**8, 8, 6)
    chain.transact(seeded.exchange_router.functions.keeperExecutesIncrease(bytes.fromhex(key[2:]), usdc_price))
    outcome = venue.order_outcome(key, start)
    assert outcome.status == "cancelled"
    assert outcome.reason == f"InsufficientCollateralUsd(remainingCollateralUsd={40 * USDC_UNIT * usdc_price})"
    errors = {e["name"]: e for e in load_abi("gmx_v2", "Errors")}
    assert [i["type"] for i in errors["MaxCollateralSumExceeded"]["inputs"]] == ["uint256", "uint256"]
    assert len(errors) > 300  # every custom error of contracts/error/Errors.sol


def test_the_balance_improving_position_fee_is_picked_as_gmx_does(chain, seeded):
    """Keys.positionFeeFactorKey(market, balanceWasImproved): the lower factor when |long − short| OI narrows."""
    seed_factor(chain, seeded, "ETH", "position_fee_factor_balance_improved", Decimal("0.0005"))
    seed_open_interest(chain, seeded, "ETH", {("USDC", True): 10_000_000, ("USDC", False): 8_000_000})
    seed_position(chain, seeded, ALICE, "ETH", "USDC", True, 50_000 * FLOAT, 10 * ETH_WEI, 10_000 * USDC_UNIT)
    market, state = eth_market(chain, seeded)
    assert market.taker_fee == Decimal("0.0007") and market.extra["taker_fee_balance_improved"] == Decimal("0.0005")
    assert market.taker_fee_for(Decimal(-50_000)) == Decimal("0.0005")  # selling: fewer longs, a narrower gap
    assert market.taker_fee_for(Decimal(50_000)) == Decimal("0.0007")  # buying widens it
    assert market.taker_fee_for(Decimal(-5_000_000)) == Decimal("0.0007")  # overshooting widens it the other way
    (position,) = state.positions
    assert position.closing_costs_usd == Decimal(50_000) * Decimal("0.0005")  # closing the long narrows the gap


def test_initial_margin_takes_the_open_interest_multiplier_and_maintenance_has_no_fallback(chain, seeded):
    """MarketUtils.getMinCollateralFactorForOpenInterest: OI × multiplier when above MIN_COLLATERAL_FACTOR;
    an increase collateralised at the bare factor is cancelled by the keeper with InsufficientCollateralUsd."""
    seed_open_interest(chain, seeded, "ETH", {("USDC", False): 100_000_000})
    seed_factor(chain, seeded, "ETH", "min_collateral_factor_for_open_interest_short", Decimal("2e-10"))  # 2% at $100M
    seed_factor(chain, seeded, "ETH", "min_collateral_factor_for_liquidation", Decimal(0))
    market, _ = eth_market(chain, seeded)
    assert market.extra["initial_margin_ratio_short"] == Decimal("0.02") and market.initial_margin_ratio == Decimal(
        "0.02"
    )
    assert market.extra["initial_margin_ratio_long"] == Decimal("0.01")
    assert market.maintenance_margin_ratio == 0  # no MIN_COLLATERAL_FACTOR_FOR_LIQUIDATION: none, as in GMX

    venue, start = seeded.venue(chain), chain.w3.eth.block_number
    usdc_price = price_per_unit(10**8, 8, 6)
    at_bare_factor = open_usdc_short(chain, seeded, venue, market, Decimal(1), Decimal(50), Decimal(4900))  # 1%
    at_hedger_ratio = open_usdc_short(chain, seeded, venue, market, Decimal(1), Decimal(101), Decimal(4900))  # > 2%
    for key in (at_bare_factor, at_hedger_ratio):
        chain.transact(seeded.exchange_router.functions.keeperExecutesIncrease(bytes.fromhex(key[2:]), usdc_price))
    assert venue.order_outcome(at_bare_factor, start).status == "cancelled"
    assert venue.order_outcome(at_hedger_ratio, start).status == "executed"


def revert_data(call, sender: str) -> bytes:
    try:
        call.call({"from": sender})
    except (ContractCustomError, ContractLogicError) as error:
        return bytes.fromhex(str(error.data).removeprefix("0x"))
    raise AssertionError("expected the call to revert")


def test_a_market_order_is_not_cancelled_before_gmx_request_expiration(chain, seeded):
    """BaseHandler.validateRequestCancellation: RequestNotYetCancellable until REQUEST_EXPIRATION_TIME has passed."""
    set_uint(chain, seeded, REQUEST_EXPIRATION_TIME, 300)
    venue = seeded.venue(chain)
    market, _ = eth_market(chain, seeded)
    open_usdc_short(chain, seeded, venue, market, Decimal(1), Decimal(500), Decimal(4900))
    state, _ = read(chain, venue)
    (order,) = state.pending_orders
    assert order.extra["cancellable_at"] == order.created_at + 300
    assert next(m for m in state.markets if m.symbol == "ETH").extra["request_expiration_s"] == 300
    with pytest.raises(UnsupportedOrder, match="REQUEST_EXPIRATION_TIME"):
        venue.encode_cancel(ALICE, order)
    early = seeded.exchange_router.functions.cancelOrder(bytes.fromhex(order.order_id[2:]))
    reason = decode_revert(revert_data(early, ALICE), [load_artifact("GmxExchangeRouterStandIn").abi])
    assert (reason.name, reason.args["requestExpirationAge"], reason.args["requestType"]) == (
        "RequestNotYetCancellable", 300, "Order",
    )  # fmt: skip
    with pytest.raises(ConfigError, match="min_cancel_delay_s"):
        check_cancel_delay(120, state.markets, "net.toml")
    check_cancel_delay(300, state.markets, "net.toml")

    chain.anvil.increase_time(300)
    (order,) = read(chain, venue)[0].pending_orders
    send(chain, ALICE, venue.encode_cancel(ALICE, order))
    assert read(chain, venue)[0].pending_orders == ()


def test_abi_fields_carry_gmx_own_names():
    """deployments/arbitrum: Reader's Order.Props list is `_dataList`; ExchangeRouter.multicall returns `results`."""
    shipped = json.loads((ABI_DIR / "gmx_v2.json").read_text())
    for abi in (shipped, {"Reader": load_artifact("GmxReaderStandIn").abi}):
        orders = next(e for e in abi["Reader"] if e.get("name") == "getAccountOrders")
        assert [c["name"] for c in orders["outputs"][0]["components"][1]["components"]] == [
            "addresses", "numbers", "flags", "_dataList",
        ]  # fmt: skip
    for abi in (shipped["ExchangeRouter"], load_artifact("GmxExchangeRouterStandIn").abi):
        multicall = next(e for e in abi if e.get("name") == "multicall")
        assert [o["name"] for o in multicall["outputs"]] == ["results"]
