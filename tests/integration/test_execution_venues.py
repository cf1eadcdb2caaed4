"""Order flows of every venue through the same executor: GMX v2 (approve to Router, ExchangeRouter.multicall
with the execution fee, an async order followed to its outcome) and Hyperliquid (a CoreWriter action held
pending until HyperCore has applied it)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_account import Account

from hedger.chain.anvil import DEV_ACCOUNTS
from hedger.chain.connect import connect
from hedger.execution.executor import Executor
from hedger.execution.journal import IntentStatus, Journal, TxStatus
from hedger.execution.sender import KeyAccount, SendPolicy
from hedger.model import Action, ActionKind, Plan, Reason, Verdict
from hedger.snapshot import SnapshotReader
from hedger.testing import chain_state_for
from hedger.venues.base import venue_for
from tests.support.chain_helpers import set_price
from tests.support.standins import (
    GMX_VENUE,
    HL_VENUE,
    deploy_gmx,
    install_hyperliquid,
    keeper_executes,
    seed_market_factors,
    seed_min_position_size,
)

pytestmark = pytest.mark.integration

DEMO, DEMO_KEY = DEV_ACCOUNTS[1]
REASON = Reason("test", "a test order")
FEE_WEI = 5 * 10**14


@pytest.fixture(scope="module")
def standins(anvil, universe):
    with chain_state_for(anvil, universe) as chain:
        yield deploy_gmx(chain), install_hyperliquid(chain)


def executor(chain, network, tmp_path) -> tuple[Executor, SnapshotReader]:
    w3 = connect(chain.anvil.url, network.chain_id).w3
    venues = {name: venue_for(w3, network, config) for name, config in network.venues.items()}
    policy = SendPolicy(receipt_timeout_s=20.0)
    ex = Executor(w3, network, KeyAccount(Account.from_key(DEMO_KEY)), Journal(tmp_path / "j.sqlite"), venues, policy)
    return ex, SnapshotReader(w3, network, list(venues.values()))


def plan(snap, *actions) -> Plan:
    return Plan(snap.network, snap.account, snap.block_number, snap.block_timestamp, Verdict.ALLOW, actions)


def test_a_gmx_short_goes_through_an_exact_approval_and_one_multicall_then_is_followed(chain, standins, tmp_path):
    gmx, _ = standins
    set_price(chain, "ETH/USD", 5000)
    seed_market_factors(chain, gmx, gmx.markets["ETH"].address, Decimal("0.01"), Decimal("0.005"), Decimal("0.0007"))
    seed_min_position_size(chain, gmx, 1)
    ex, reader = executor(chain, gmx.network, tmp_path)
    snap = reader.take(DEMO)
    short = Action(ActionKind.OPEN, GMX_VENUE, "ETH", REASON, size_delta=Decimal(-2),
                   collateral_delta=Decimal(1000), acceptable_price=Decimal(4900))  # fmt: skip
    balance = chain.w3.eth.get_balance(DEMO)
    (outcome,) = ex.execute(plan(snap, short), snap).outcomes
    assert outcome.status == "order_pending", outcome.detail

    intent = ex.journal.intents()[-1]
    approve, main = ex.journal.txs(intent.id)
    assert (approve.purpose, approve.to_address, main.to_address) == ("approve", chain.universe.tokens["USDC"],
                                                                      gmx.exchange_router.address)  # fmt: skip
    assert all(t.status is TxStatus.MINED for t in (approve, main))
    tx = chain.w3.eth.get_transaction(main.tx_hash)
    assert tx["value"] == FEE_WEI  # the execution fee travels with the multicall
    gas = sum(
        chain.w3.eth.get_transaction_receipt(t.tx_hash)["gasUsed"] * t.effective_gas_price for t in (approve, main)
    )
    assert chain.w3.eth.get_balance(DEMO) == balance - FEE_WEI - gas
    assert chain.token("USDC").functions.balanceOf(gmx.order_vault.address).call() == 1000 * 10**6
    assert chain.token("USDC").functions.allowance(DEMO, gmx.router.address).call() == 0  # exactly what was needed
    (pending,) = reader.take(DEMO).pending_orders
    assert intent.order_id == pending.order_id

    again = ex.execute(plan(snap, short), reader.take(DEMO))
    assert again.outcomes[0].status == "skipped"  # never a second order while one is pending

    keeper_executes(chain, gmx, intent.order_id, DEMO)
    ex.reconcile()
    assert ex.journal.intent(intent.id).status is IntentStatus.DONE


def test_a_hyperliquid_order_is_one_corewriter_action_held_pending_until_applied(chain, standins, tmp_path):
    _, hl = standins
    info = hl["perp_asset_info_precompile"].functions.setPerpAssetInfo
    chain.transact(info(1, ("ETH", 55, 4, 25, False)))
    for key in ("mark_px_precompile", "oracle_px_precompile"):
        chain.transact(hl[key].functions.setPx(1, 300_000))
    chain.transact(hl["core_user_exists_precompile"].functions.setCoreUserExists(DEMO, True))  # a HyperCore account
    ex, reader = executor(chain, hl.network, tmp_path)
    snap = reader.take(DEMO)
    short = Action(ActionKind.OPEN, HL_VENUE, "ETH", REASON, size_delta=Decimal("-1.5"), acceptable_price=Decimal(2950))
    (outcome,) = ex.execute(plan(snap, short), snap).outcomes
    assert outcome.status == "order_pending"
    writer = hl["core_writer"].functions
    assert writer.actionCount().call() == 1 and writer.action(0).call()[0] == DEMO

    blocked = ex.execute(plan(reader.take(DEMO), short), reader.take(DEMO))
    assert blocked.outcomes[0].status == "skipped" and writer.actionCount().call() == 1

    # HyperCore applies the action (the position precompile shows the short) and the settle window passes
    chain.transact(hl["position_precompile"].functions.setPosition(DEMO, 1, (-15_000, 4_500_000_000, 0, 5, False)))
    chain.anvil.increase_time(11)
    ex.reconcile()
    assert ex.journal.intents()[0].status is IntentStatus.DONE
