"""The Hyperliquid (HyperEVM) adapter against hedger's precompile and CoreWriter stand-ins, placed at
the real addresses on Anvil: exact numbers read, exact action bytes sent."""

from __future__ import annotations

import copy
import dataclasses
from decimal import Decimal

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, keccak

from hedger.chain.anvil import DEV_ACCOUNTS
from hedger.chain.connect import connect
from hedger.chain.multicall import execute, latest_block, run_steps
from hedger.errors import RpcError
from hedger.model import PendingOrder, Side, Source
from hedger.snapshot import SnapshotReader
from hedger.testing import chain_state_for
from hedger.venues.base import OrderIntent, StaticFundingSource, UnsupportedOrder, VenueState
from hedger.venues.hyperliquid import DEFAULT_SETTLE_WINDOW_S, HyperliquidVenue, order_price
from tests.support.standins import HL_VENUE, install_hyperliquid

pytestmark = pytest.mark.integration

ALICE = DEV_ACCOUNTS[2][0]
BTC, ETH = 0, 1  # perp indices on HyperCore
CORE_WRITER = "0x3333333333333333333333333333333333333333"
L1_BLOCK = 612_345_678  # HyperCore's block number, as the 0x…809 precompile answers
LIMIT_ORDER_FIELDS = ["uint32", "bool", "uint64", "uint64", "bool", "uint8", "uint128"]


@pytest.fixture(scope="module")
def hl(anvil, universe):
    """The stand-ins at the precompile and CoreWriter addresses for this module, removed after it."""
    with chain_state_for(anvil, universe) as chain:
        yield install_hyperliquid(chain)


@pytest.fixture
def seeded(chain, hl):
    """ETH (szDecimals 4, 25x) marked at $3,456.78, BTC (szDecimals 5, 40x) at $60,012.5; a cross short of
    2.5 ETH entered at $3,500 and an isolated long of 0.1 BTC entered at $59,000."""
    info = hl["perp_asset_info_precompile"].functions.setPerpAssetInfo
    chain.transact(info(ETH, ("ETH", 55, 4, 25, False)))
    chain.transact(info(BTC, ("BTC", 56, 5, 40, False)))
    for key, eth_px, btc_px in (("mark_px_precompile", 345_678, 600_125), ("oracle_px_precompile", 345_600, 600_000)):
        chain.transact(hl[key].functions.setPx(ETH, eth_px))
        chain.transact(hl[key].functions.setPx(BTC, btc_px))
    position = hl["position_precompile"].functions.setPosition
    chain.transact(position(ALICE, ETH, (-25_000, 8_750_000_000, 0, 5, False)))
    chain.transact(position(ALICE, BTC, (10_000, 5_900_000_000, -4_900_000_000, 10, True)))
    summary = (10_000_000_000, 1_728_390_000, 8_641_950_000, 18_641_950_000)
    chain.transact(hl["account_margin_summary_precompile"].functions.setAccountMarginSummary(0, ALICE, summary))
    chain.transact(hl["core_user_exists_precompile"].functions.setCoreUserExists(ALICE, True))
    chain.transact(hl["l1_block_number_precompile"].functions.setL1BlockNumber(L1_BLOCK))
    return hl


def read(chain, venue: HyperliquidVenue, account: str = ALICE) -> tuple[VenueState, int]:
    rpc = connect(chain.anvil.url, chain.w3.eth.chain_id).rpc
    block = latest_block(rpc)
    before = rpc.round_trips
    (state,) = run_steps(rpc, [venue.read(account, block)], block.number)
    return state, rpc.round_trips - before


def sent_action(chain, hl, account: str, tx) -> bytes:
    """Send `tx` from `account` and return the payload the CoreWriter recorded (checking its event too)."""
    tx_hash = chain.w3.eth.send_transaction({"from": account, "to": tx.to, "data": tx.data, "value": tx.value})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    writer = hl["core_writer"]
    count = writer.functions.actionCount().call()
    sender, payload = writer.functions.action(count - 1).call()
    (event,) = writer.events.RawAction().process_receipt(receipt)
    assert (sender, event["args"]["user"], event["args"]["data"]) == (account, account, payload)
    return payload


def split_action(payload: bytes, fields: list[str]) -> tuple[int, int, tuple]:
    """(version, action id, decoded fields) of a CoreWriter payload."""
    return payload[0], int.from_bytes(payload[1:4], "big"), abi_decode(fields, payload[4:])


# ---------------------------------------------------------------------- reading


def test_precompile_numbers_are_scaled_by_size_decimals(chain, seeded):
    state, round_trips = read(chain, seeded.venue(chain))
    assert round_trips == 1
    eth, btc = (next(f for f in state.funding if f.symbol == s) for s in ("ETH", "BTC"))
    assert (eth.mark_price, eth.index_price) == (Decimal("3456.78"), Decimal("3456.00"))  # raw / 10^(6 − 4)
    assert (btc.mark_price, btc.index_price) == (Decimal("60012.5"), Decimal("60000.0"))  # raw / 10^(6 − 5)
    markets = {m.symbol: m for m in state.markets}
    assert markets["ETH"].size_step == Decimal("0.0001") and markets["BTC"].size_step == Decimal("0.00001")
    assert (markets["ETH"].initial_margin_ratio, markets["ETH"].maintenance_margin_ratio) == (
        Decimal("0.04"),
        Decimal("0.02"),
    )
    assert markets["BTC"].max_leverage == 40 and markets["BTC"].maintenance_margin_ratio == Decimal("0.0125")
    assert (markets["ETH"].taker_fee, markets["ETH"].min_notional_usd, markets["ETH"].market_id) == (
        Decimal("0.00045"), Decimal(10), "1",
    )  # fmt: skip


def test_positions_and_margin_summary_are_read_exactly(chain, seeded):
    state, _ = read(chain, seeded.venue(chain))
    eth, btc = (next(p for p in state.positions if p.symbol == s) for s in ("ETH", "BTC"))
    # szi −25,000 at szDecimals 4 is −2.5 ETH; entryNtl 8,750,000,000 is $8,750 (1e6)
    assert (eth.side, eth.contracts, eth.entry_price, eth.mark_price) == (
        Side.SHORT,
        Decimal("2.5"),
        3500,
        Decimal("3456.78"),
    )
    assert eth.unrealized_pnl_usd == Decimal("108.05")  # 8,750 − 2.5 × 3,456.78
    assert eth.collateral_usd == Decimal(10_000)  # cross: the account's value
    assert eth.maintenance_margin_usd == Decimal("2.5") * Decimal("3456.78") * Decimal("0.02")
    assert (eth.extra["margin_mode"], eth.extra["leverage"]) == ("cross", 5)
    assert (btc.side, btc.contracts, btc.entry_price) == (Side.LONG, Decimal("0.1"), 59_000)
    assert btc.unrealized_pnl_usd == Decimal("101.25")  # 0.1 × 60,012.5 − 5,900
    assert btc.collateral_usd == Decimal("1101.25")  # isolated: raw USD −4,900 + 0.1 × 60,012.5
    assert btc.extra["margin_mode"] == "isolated"

    margin = state.margin
    assert (margin.equity_usd, margin.initial_requirement_usd, margin.notional_usd) == (
        Decimal(10_000), Decimal("1728.39"), Decimal("8641.95"),
    )  # fmt: skip
    assert margin.maintenance_requirement_usd == eth.maintenance_margin_usd + btc.maintenance_margin_usd
    assert margin.maintenance_requirement_usd == Decimal("247.854625")


def test_funding_is_unknown_without_a_source_and_hourly_with_one(chain, seeded):
    state, _ = read(chain, seeded.venue(chain))
    assert all(f.rate is None and not f.known and f.interval_s == 3600 for f in state.funding)
    assert sum("funding unknown" in e for e in state.errors) == 2
    source = StaticFundingSource({"ETH": Decimal("0.0000125")})
    state, _ = read(chain, seeded.venue(chain, funding_source=source))
    eth, btc = (next(f for f in state.funding if f.symbol == s) for s in ("ETH", "BTC"))
    assert (eth.rate, eth.per_hour, eth.annualized) == (Decimal("0.0000125"), Decimal("0.0000125"), Decimal("0.1095"))
    assert eth.source.address == "funding-source:static" and eth.paid_per_hour(Side.SHORT) == Decimal("-0.0000125")
    assert btc.rate is None


def test_a_perp_index_that_is_not_the_configured_coin_is_skipped(chain, seeded):
    chain.transact(seeded["perp_asset_info_precompile"].functions.setPerpAssetInfo(ETH, ("SOL", 1, 2, 20, False)))
    state, _ = read(chain, seeded.venue(chain))
    assert [m.symbol for m in state.markets] == ["BTC"] and [p.symbol for p in state.positions] == ["BTC"]
    assert any("perp 1 is SOL with szDecimals 2" in e for e in state.errors)


def test_an_unknown_asset_is_an_error_not_a_crash(chain, seeded):
    doc = copy.deepcopy(seeded.document)
    doc["venues"][HL_VENUE]["markets"]["DOGE"] = {"asset": "DOGE", "perp_index": 173, "coin": "DOGE", "sz_decimals": 0}
    state, _ = read(chain, seeded.venue(chain, document=doc))
    assert sorted(m.symbol for m in state.markets) == ["BTC", "ETH"]
    assert any("DOGE.perpAssetInfo: its group's eth_call failed" in e for e in state.errors)


def test_a_snapshot_on_hyperevm_reads_everything_in_two_round_trips(chain, seeded):
    network = seeded.network
    snapshot = SnapshotReader(connect(chain.anvil.url, network.chain_id), network).take(ALICE)
    assert snapshot.rpc_round_trips == 2  # the block header, then one batched round
    assert {p.symbol for p in snapshot.positions} == {"ETH", "BTC"}
    assert snapshot.exposure("ETH").perp == Decimal("-2.5") and snapshot.exposure("ETH").price is None
    assert snapshot.margin(HL_VENUE).equity_usd == 10_000


# ---------------------------------------------------------------------- orders


@pytest.mark.parametrize(
    ("price", "sz_decimals", "buying", "expected"),
    [
        (Decimal("3400.123"), 4, False, Decimal("3400.2")),  # 5 significant figures, rounded up for a sell
        (Decimal("3400.123"), 4, True, Decimal("3400.1")),  # … and down for a buy
        (Decimal("61234.56"), 5, False, Decimal(61235)),  # at most 6 − 5 = 1 decimal, and 5 figures
        (Decimal("123456.7"), 2, True, Decimal(123456)),  # integers are always allowed
        (Decimal("0.0012345"), 0, False, Decimal("0.001235")),  # at most 6 decimals
        (Decimal("0.012345"), 1, True, Decimal("0.01234")),  # at most 6 − 1 = 5 decimals
    ],
)
def test_order_prices_are_put_on_hypercore_ticks_the_strict_way(price, sz_decimals, buying, expected):
    assert order_price(price, sz_decimals, buying) == expected


def test_an_ioc_limit_order_is_the_exact_corewriter_action(chain, seeded):
    venue = seeded.venue(chain)
    state, _ = read(chain, venue)
    eth = next(m for m in state.markets if m.symbol == "ETH")
    (tx,) = venue.encode_order(ALICE, OrderIntent(eth, Decimal("-2.5"), Decimal("3400.123")))
    assert (tx.to, tx.value) == (CORE_WRITER, 0)
    assert tx.data[:4] == function_signature_to_4byte_selector("sendRawAction(bytes)")
    payload = sent_action(chain, seeded, ALICE, tx)
    # version 1, action 1 (limit order): ETH, sell, $3,400.2 and 2.5 ETH at 1e8, not reduce-only, IOC, no cloid
    assert payload[:4] == bytes([1, 0, 0, 1])
    assert split_action(payload, LIMIT_ORDER_FIELDS) == (1, 1, (ETH, False, 340_020_000_000, 250_000_000, False, 3, 0))


def test_decreases_are_reduce_only_rounded_to_lot_size_and_carry_a_cloid(chain, seeded):
    venue = seeded.venue(chain)
    state, _ = read(chain, venue)
    btc = next(m for m in state.markets if m.symbol == "BTC")
    intent = OrderIntent(btc, Decimal("-0.0123456"), Decimal("58000.01"), reduce_only=True, extra={"cloid": 0x1234})
    payload = sent_action(chain, seeded, ALICE, venue.encode_order(ALICE, intent)[0])
    # 0.0123456 BTC rounds down to 0.01234 (szDecimals 5); the sell price rounds up to $58,001 (one decimal max)
    assert split_action(payload, LIMIT_ORDER_FIELDS)[2] == (BTC, False, 5_800_100_000_000, 1_234_000, True, 3, 0x1234)
    with pytest.raises(UnsupportedOrder, match="below the lot size"):
        venue.encode_order(ALICE, OrderIntent(btc, Decimal("0.000001"), Decimal(60000)))


def test_collateral_moves_between_spot_and_perp_and_orders_cancel_by_cloid(chain, seeded):
    venue = seeded.venue(chain)
    (tx,) = venue.encode_collateral(ALICE, Decimal("250.5"))
    assert split_action(sent_action(chain, seeded, ALICE, tx), ["uint64", "bool"]) == (1, 7, (250_500_000, True))
    (tx,) = venue.encode_collateral(ALICE, Decimal(-100))
    assert split_action(sent_action(chain, seeded, ALICE, tx), ["uint64", "bool"])[2] == (100_000_000, False)
    state, _ = read(chain, venue)
    order = _pending(state, {"cloid": 0x1234})
    cancel = venue.encode_cancel(ALICE, order)
    assert split_action(sent_action(chain, seeded, ALICE, cancel), ["uint32", "uint128"]) == (1, 11, (ETH, 0x1234))
    with pytest.raises(UnsupportedOrder, match="no cloid"):
        venue.encode_cancel(ALICE, _pending(state, {}))
    assert venue.approvals(ALICE, None, Decimal(100)) == []


def _pending(state: VenueState, extra: dict) -> PendingOrder:
    """An ETH order as the executor's journal would know it (HyperCore's open orders are not on-chain)."""
    source = Source(CORE_WRITER, 0, 0)
    return PendingOrder(
        state.venue, "ETH", "0x" + keccak(text="order").hex(), Decimal(-1), None, 0, source, extra=extra
    )


# ---------------------------------------------------------------------- fidelity to HyperEVM (docs/venues.md)


def send_order(chain, hl, venue, intent) -> str:
    (tx,) = venue.encode_order(ALICE, intent)
    tx_hash = chain.w3.eth.send_transaction({"from": ALICE, "to": tx.to, "data": tx.data, "value": tx.value})
    order_id = venue.order_id_from_receipt(chain.w3.eth.wait_for_transaction_receipt(tx_hash))
    assert order_id is not None
    return order_id


def test_an_order_hypercore_drops_silently_is_cancelled_after_the_settle_window(chain, seeded):
    venue = seeded.venue(chain)
    state, _ = read(chain, venue)
    eth = next(m for m in state.markets if m.symbol == "ETH")
    position = next(p for p in state.positions if p.symbol == "ETH")
    order_id = send_order(chain, seeded, venue, OrderIntent(eth, Decimal(-1), Decimal(3400), position=position))
    assert order_id.endswith(f"/{ETH}/-25000")  # the szi it was sent against, from the snapshot
    assert venue.order_outcome(order_id, 0).status == "pending"
    chain.anvil.increase_time(venue.settle_window_s)
    outcome = venue.order_outcome(order_id, 0)  # nothing changed on HyperCore: an IOC that found no fill, or worse
    assert (
        outcome.status == "cancelled" and "szi -25000" in outcome.reason and "without an EVM revert" in outcome.reason
    )


def test_an_order_hypercore_applied_is_executed_and_ids_survive_a_restart(chain, seeded):
    venue = seeded.venue(chain)
    state, _ = read(chain, venue)
    btc = next(m for m in state.markets if m.symbol == "BTC")
    order_id = send_order(chain, seeded, venue, OrderIntent(btc, Decimal("0.05"), Decimal(61000)))
    assert order_id.endswith(f"/{BTC}/0")  # no position in the intent: sent against szi 0
    # HyperCore applies the fill: BTC szi 10,000 → 15,000 (0.1 → 0.15 BTC)
    fill = (15_000, 8_850_000_000, -4_900_000_000, 10, True)
    chain.transact(seeded["position_precompile"].functions.setPosition(ALICE, BTC, fill))
    chain.anvil.increase_time(venue.settle_window_s)
    fresh = seeded.venue(chain)  # another process: the id alone carries what the outcome needs
    outcome = fresh.order_outcome(order_id, 0)
    assert (outcome.status, outcome.reason) == ("executed", "szi 0 → 15000")
    assert venue.settle_window_s == DEFAULT_SETTLE_WINDOW_S == 10  # network file leaves the default


def test_hyperevm_is_read_at_latest_and_labelled_with_the_block_the_batch_saw(chain, seeded):
    network = seeded.network
    assert network.read_at == "latest"
    snapshot = SnapshotReader(connect(chain.anvil.url, network.chain_id), network).take(ALICE)
    head = chain.w3.eth.get_block("latest")
    assert (snapshot.block_number, snapshot.block_timestamp) == (head["number"], head["timestamp"])
    eth = next(p for p in snapshot.positions if p.symbol == "ETH")
    assert (eth.source.block_number, eth.source.block_timestamp) == (head["number"], head["timestamp"])
    assert eth.extra["l1_block"] == L1_BLOCK
    assert next(m for m in snapshot.markets if m.symbol == "ETH").extra["l1_block"] == L1_BLOCK


def test_a_precompile_burns_all_gas_on_bad_input_and_only_its_market_fails(chain, seeded):
    px = seeded["mark_px_precompile"]
    tx_hash = chain.w3.eth.send_transaction(
        {"from": ALICE, "to": px.address, "data": abi_encode(["uint32"], [173]), "gas": 200_000}
    )
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    assert (receipt["status"], receipt["gasUsed"]) == (0, 200_000)  # all of it, as the real precompiles
    doc = copy.deepcopy(seeded.document)
    doc["venues"][HL_VENUE]["markets"]["DOGE"] = {"asset": "DOGE", "perp_index": 173, "coin": "DOGE", "sz_decimals": 0}
    venue = seeded.venue(chain, document=doc)
    rpc = connect(chain.anvil.url, chain.w3.eth.chain_id).rpc
    calls = list(venue._calls(ALICE).values())
    with pytest.raises(RpcError, match="OutOfGas"):  # in one aggregate3, the burnt gas sinks every call
        execute(rpc, [dataclasses.replace(c, group=None) for c in calls], "latest")
    results = execute(rpc, calls, "latest")  # each market in its own aggregate3: DOGE fails alone
    failed = {c.label for c, r in zip(calls, results, strict=True) if not r.ok}
    assert failed == {"DOGE.perpAssetInfo", "DOGE.markPx", "DOGE.oraclePx", "DOGE.position"}


def test_a_sender_without_a_hypercore_account_is_refused_before_sending(chain, seeded):
    venue = seeded.venue(chain)
    state, _ = read(chain, venue)
    eth = next(m for m in state.markets if m.symbol == "ETH")
    bob = DEV_ACCOUNTS[3][0]
    with pytest.raises(UnsupportedOrder, match="has no HyperCore account"):
        venue.encode_order(bob, OrderIntent(eth, Decimal(-1), Decimal(3400)))
    with pytest.raises(UnsupportedOrder, match="has no HyperCore account"):
        venue.encode_collateral(bob, Decimal(100))
    chain.transact(seeded["core_user_exists_precompile"].functions.setCoreUserExists(bob, True))
    assert len(venue.encode_order(bob, OrderIntent(eth, Decimal(-1), Decimal(3400)))) == 1
