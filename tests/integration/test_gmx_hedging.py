"""Hedging on GMX v2 end to end, on hedger's GMX stand-ins: a Session reads the snapshot and plans with the isolated-
margin rules, the Executor sends the plan, and the ExchangeRouter stand-in records exactly what reached it.

The account holds 10 ETH (native) and 50,000 USDC; ETH is $3,000 on both feeds; the GMX ETH market allows 100×
(min collateral factor 1%), liquidates at 0.5% and charges a 0.07% position fee."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedger.app.session import Session
from hedger.chain.nodes import DEV_ACCOUNTS
from hedger.execution.journal import IntentStatus
from hedger.model import Action, ActionKind, Plan, Reason, Verdict
from hedger.strategy.state import PlannerState
from hedger.testing import chain_state_for
from tests.support.standins import (
    CREATE_ORDER,
    FLOAT,
    GMX_VENUE,
    decode_call,
    deploy_gmx,
    recorded_calls,
    seed_market_factors,
    seed_min_position_size,
)

pytestmark = pytest.mark.integration

TRADER, TRADER_KEY = DEV_ACCOUNTS[5]
USDC_UNIT, ETH_WEI = 10**6, 10**18
FEE_WEI = 5 * 10**14  # execution_fee_eth = "0.0005" in the stand-ins' network document


@pytest.fixture(scope="module")
def gmx(node, universe):
    with chain_state_for(node, universe) as chain:
        yield deploy_gmx(chain)


@pytest.fixture
def session(chain, gmx, tmp_path, monkeypatch):
    """A Session on the GMX stand-ins for an account holding exactly 10 ETH and 50,000 USDC."""
    seed_market_factors(chain, gmx, gmx.markets["ETH"].address, Decimal("0.01"), Decimal("0.005"), Decimal("0.0007"))
    seed_min_position_size(chain, gmx, 1)
    chain.node.set_balance(TRADER, 10 * ETH_WEI)
    chain.transact(chain.token("USDC").functions.mint(TRADER, 50_000 * USDC_UNIT))
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", TRADER_KEY)
    opened = Session(gmx.network, chain.w3, TRADER, chain.node.url, tmp_path / "journal.sqlite")
    yield opened
    opened.close()


def token(gmx, symbol: str) -> str:
    return gmx.network.tokens[symbol].address


def seed_short(chain, gmx, size_usd: int, tokens: int, collateral_usdc: int) -> None:
    """A USDC-collateralised ETH short of the trader's, straight into the DataStore stand-in."""
    market = gmx.markets["ETH"].address
    numbers = (size_usd * FLOAT, tokens * ETH_WEI, collateral_usdc * USDC_UNIT, 0, 0, 0, 0, 0, chain.now(), 0)
    chain.transact(gmx.data_store.functions.setPosition(((TRADER, market, token(gmx, "USDC")), numbers, (False,))))


def create_order_params(gmx) -> tuple:
    (params,) = decode_call(recorded_calls(gmx)[-1][2], CREATE_ORDER)
    return params


def test_a_new_hedge_opens_on_gmx_with_its_collateral_in_the_order(chain, gmx, session):
    snapshot = session.snapshot()
    plan = session.plan(snapshot, PlannerState())
    (order,) = plan.actions
    assert (plan.verdict, order.kind, order.venue, order.symbol) == (Verdict.ALLOW, ActionKind.OPEN, GMX_VENUE, "ETH")
    # 10 ETH × $3,000 = $30,000 short at leverage 2: 15,000 USDC travel with the order
    assert (order.size_delta, order.collateral_delta, order.acceptable_price) == (-10, 15_000, Decimal(2970))

    usdc = chain.token("USDC").functions
    (outcome,) = session.executor().execute(plan, snapshot).outcomes
    assert outcome.status == "order_pending", outcome.detail
    intent = session.journal.intents()[-1]
    approve, main = session.journal.txs(intent.id)
    approval = decode_call(chain.w3.eth.get_transaction(approve.tx_hash)["input"], "approve(address,uint256)")
    assert (approve.to_address, approval) == (chain.universe.tokens["USDC"], (gmx.router.address, 15_000 * USDC_UNIT))
    assert usdc.allowance(TRADER, gmx.router.address).call() == 0  # exactly what the order pulled

    send_wnt, send_tokens, create = recorded_calls(gmx)[-3:]
    assert chain.w3.eth.get_transaction(main.tx_hash)["value"] == FEE_WEI == send_wnt[1]
    assert decode_call(send_tokens[2], "sendTokens(address,address,uint256)") == (
        token(gmx, "USDC"), gmx.order_vault.address, 15_000 * USDC_UNIT,
    )  # fmt: skip
    (params,) = decode_call(create[2], CREATE_ORDER)
    assert params[1][:5] == (
        30_000 * FLOAT,  # sizeDeltaUsd: 10 ETH × the $3,000 index price
        15_000 * USDC_UNIT,  # initialCollateralDeltaAmount: the action's collateral_delta
        0,  # triggerPrice
        2970 * 10**12,  # acceptablePrice: $2,970 per ETH, per wei at 30 decimals
        FEE_WEI,  # executionFee
    )
    assert (params[2], params[4]) == (2, False)  # MarketIncrease, short
    assert usdc.balanceOf(gmx.order_vault.address).call() == 15_000 * USDC_UNIT

    (pending,) = session.snapshot().pending_orders
    assert (pending.order_id, pending.size_delta, pending.collateral_delta) == (intent.order_id, -10, 15_000)


def test_a_position_near_liquidation_gets_a_collateral_only_order(chain, gmx, session):
    seed_short(chain, gmx, 30_000, 10, 250)  # entered at $3,000 with 250 USDC
    snapshot = session.snapshot()
    (position,) = snapshot.positions
    # equity 250 + 0 PnL − 21 closing fee = 229 against 150 of maintenance (0.5% of $30,000): buffer 1.53
    assert (position.collateral_amount, position.closing_costs_usd) == (250, Decimal(21))
    assert position.liquidation_price == Decimal("3007.9")  # ($30,000 × 0.995 − 21 + 250) / 10 ETH
    plan = session.plan(snapshot, PlannerState())
    (top_up,) = plan.actions
    assert plan.verdict is Verdict.REDUCE_ONLY and "near_liquidation" in {r.code for r in plan.reasons}
    # back to 3 × 150 = 450 of equity: 221 USDC, no size
    assert (top_up.kind, top_up.symbol, top_up.size_delta, top_up.collateral_delta) == (
        ActionKind.ADD_COLLATERAL, "ETH", 0, 221,
    )  # fmt: skip

    (outcome,) = session.executor().execute(plan, snapshot).outcomes
    assert outcome.status == "order_pending", outcome.detail
    intent = session.journal.intents()[-1]
    assert (intent.kind, intent.status) == ("add_collateral", IntentStatus.ORDER_PENDING)
    assert decode_call(recorded_calls(gmx)[-2][2], "sendTokens(address,address,uint256)")[2] == 221 * USDC_UNIT
    params = create_order_params(gmx)
    assert params[1][:2] == (0, 221 * USDC_UNIT)  # sizeDeltaUsd 0, initialCollateralDeltaAmount
    assert (params[0][5], params[2], params[4]) == (token(gmx, "USDC"), 2, False)  # the short's USDC; an increase
    assert chain.token("USDC").functions.allowance(TRADER, gmx.router.address).call() == 0

    again = session.plan(session.snapshot(), PlannerState())
    assert again.actions == () and "order_pending" in {r.code for r in again.reasons}  # the top-up is on its way


def test_without_stablecoin_in_the_wallet_the_position_is_reduced_instead(chain, gmx, session):
    usdc = chain.token("USDC").functions
    chain.transact(usdc.transfer(chain.universe.deployer, 50_000 * USDC_UNIT), TRADER)
    seed_short(chain, gmx, 30_000, 10, 250)
    snapshot = session.snapshot()
    plan = session.plan(snapshot, PlannerState())
    # 229 of equity must cover 3 × maintenance: keep 229 / 450 of the short, 4.911… ETH closed
    (reduction,) = plan.actions
    assert (reduction.kind, reduction.reason.code) == (ActionKind.DECREASE, "reduce_near_liquidation")
    assert reduction.size_delta == Decimal("4.911111111111111112")
    (outcome,) = session.executor().execute(plan, snapshot).outcomes
    assert outcome.status == "order_pending", outcome.detail
    params = create_order_params(gmx)
    # GMX decreases by the same proportion of sizeInUsd: tokens × sizeInUsd / sizeInTokens
    assert params[1][:2] == (4_911_111_111_111_111_112 * 30_000 * FLOAT // (10 * ETH_WEI), 0)
    assert (params[2], params[4]) == (4, False)  # MarketDecrease of the short


def test_collateral_the_venue_cannot_take_is_refused_clearly(chain, gmx, session):
    snapshot = session.snapshot()
    reason = Reason("test", "a hand-made action")
    no_position = Action(ActionKind.ADD_COLLATERAL, GMX_VENUE, "ETH", reason, collateral_delta=Decimal(100),
                         acceptable_price=Decimal(2970))  # fmt: skip
    to_the_venue = Action(ActionKind.ADD_COLLATERAL, GMX_VENUE, "USDC", reason, collateral_delta=Decimal(100))
    plan = Plan(snapshot.network, TRADER, snapshot.block_number, snapshot.block_timestamp, Verdict.ALLOW,
                (no_position, to_the_venue))  # fmt: skip
    skipped, failed = session.executor().execute(plan, snapshot).outcomes
    assert (skipped.status, skipped.detail) == (
        "skipped", "isolated margin: collateral belongs to a position, and there is none on gmx:ETH",
    )  # fmt: skip
    assert failed.status == "failed" and "GMX v2 keeps collateral per position" in failed.detail
    assert recorded_calls(gmx) == [] and chain.token("USDC").functions.allowance(TRADER, gmx.router.address).call() == 0
