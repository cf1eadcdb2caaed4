"""The executor and sender on Anvil: simulate first, never send twice, replace stuck transactions."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from decimal import Decimal

import pytest
from eth_account import Account

from hedger.chain.connect import connect
from hedger.chain.nodes import DEV_ACCOUNTS
from hedger.errors import ChainIdMismatch, ExecutionError, NotAllowlisted, SimulationFailed
from hedger.execution.executor import Executor, RetryPolicy
from hedger.execution.journal import IntentStatus, Journal, TxStatus
from hedger.execution.sender import KeyAccount, Sender, SendPolicy
from hedger.model import Action, ActionKind, Plan, Reason, Verdict
from hedger.snapshot import SnapshotReader
from hedger.venues.base import TxRequest, venue_for
from tests.support import perp_reference as ref
from tests.support.chain_helpers import WAD

pytestmark = pytest.mark.integration

DEMO_KEY = DEV_ACCOUNTS[1][1]
REASON = Reason("test", "a test action")


def executor(chain, tmp_path, network=None, **policy) -> Executor:
    network = network or chain.network
    w3 = connect(chain.node.url, network.chain_id).w3
    venues = {name: venue_for(w3, network, config) for name, config in network.venues.items()}
    send_policy = SendPolicy(**{"receipt_timeout_s": 20.0, **policy})
    return Executor(w3, network, KeyAccount(Account.from_key(DEMO_KEY)), Journal(tmp_path / "journal.sqlite"), venues,
                    send_policy, RetryPolicy())  # fmt: skip


def snapshot(chain, ex: Executor):
    return SnapshotReader(ex.w3, ex.network, list(ex.venues.values())).take(ex.account.address)


def plan_of(snap, *actions: Action) -> Plan:
    return Plan(snap.network, snap.account, snap.block_number, snap.block_timestamp, Verdict.ALLOW, tuple(actions))


def deposit(amount) -> Action:
    return Action(ActionKind.ADD_COLLATERAL, "reference", "ETH", REASON, collateral_delta=Decimal(amount))


def order(size, acceptable, kind=ActionKind.OPEN) -> Action:
    return Action(kind, "reference", "ETH", REASON, size_delta=Decimal(size), acceptable_price=Decimal(acceptable))


def nonce(chain) -> int:
    return chain.w3.eth.get_transaction_count(chain.universe.demo_account)


def test_execute_moves_the_position_to_the_plan_target_and_journals_everything(chain, tmp_path):
    ex = executor(chain, tmp_path)
    snap = snapshot(chain, ex)
    report = ex.execute(plan_of(snap, deposit(5000), order(-5, 2900)), snap)
    assert [o.status for o in report.outcomes] == ["done", "done"]
    assert chain.perp.functions.getPosition(ex.account.address, 1).call()[0] == -5 * WAD
    fill = ref.fill_price(3000 * WAD, 0, -5 * WAD, 10_000 * WAD)
    fee = ref.trading_fee(-5 * WAD, fill, 5 * 10**14)
    assert chain.perp.functions.margin(ex.account.address).call() == 5000 * 10**6 + ref.settle_tokens(-fee, 10**12)
    intents = ex.journal.intents()
    assert [i.status for i in intents] == [IntentStatus.DONE, IntentStatus.DONE]
    deposit_txs = ex.journal.txs(intents[0].id)
    assert [t.purpose for t in deposit_txs] == ["approve", "main"]  # exact allowance first, then the deposit
    assert all(t.status is TxStatus.MINED and t.raw_tx.startswith("0x02") for t in deposit_txs)
    assert chain.token("USDC").functions.allowance(ex.account.address, chain.perp.address).call() == 0


def test_a_reverting_simulation_sends_nothing_and_names_the_reason(chain, tmp_path):
    ex = executor(chain, tmp_path)
    snap = snapshot(chain, ex)
    ex.execute(plan_of(snap, deposit(5000)), snap)
    before = nonce(chain)
    report = ex.execute(plan_of(snap, order(-5, 3001)), snapshot(chain, ex))  # a sell can't fill above the oracle
    (outcome,) = report.outcomes
    assert outcome.status == "failed" and "AcceptablePriceExceeded" in outcome.detail
    assert nonce(chain) == before
    failed = ex.journal.intents()[-1]
    assert failed.status is IntentStatus.FAILED and ex.journal.txs(failed.id) == []


def test_an_order_without_an_acceptable_price_is_refused_with_a_message_and_sends_nothing(chain, tmp_path):
    ex = executor(chain, tmp_path)
    snap = snapshot(chain, ex)
    unbounded = Action(ActionKind.OPEN, "reference", "ETH", REASON, size_delta=Decimal(-1))
    before = nonce(chain)
    (outcome,) = ex.execute(plan_of(snap, unbounded), snap).outcomes
    assert outcome.status == "skipped" and "no acceptable price" in outcome.detail
    assert nonce(chain) == before and ex.journal.intents() == []
    with pytest.raises(ExecutionError, match="needs an acceptable price"):  # encoding it directly is refused too
        ex.transactions(ex.venues["reference"], unbounded, snap)


def test_a_halted_plan_sends_nothing(chain, tmp_path):
    ex = executor(chain, tmp_path)
    snap = snapshot(chain, ex)
    halted = replace(plan_of(snap, deposit(5000)), verdict=Verdict.HALT)
    before = nonce(chain)
    assert ex.execute(halted, snap).halted and nonce(chain) == before and ex.journal.intents() == []


def test_wrong_chain_or_unknown_destination_is_refused(chain, tmp_path):
    ex = executor(chain, tmp_path)
    with pytest.raises(ChainIdMismatch):
        Sender(ex.w3, replace(ex.network, chain_id=42161), ex.account, ex.journal, SendPolicy())
    stranger = TxRequest("0x000000000000000000000000000000000000dEaD", b"", "send to a stranger")
    before = nonce(chain)
    with pytest.raises(NotAllowlisted, match="not named in"):
        ex.sender.send("none", stranger, "main")
    with pytest.raises(SimulationFailed):
        ex.sender.simulate(TxRequest(chain.perp.address, bytes.fromhex("deadbeef"), "garbage call"))
    assert nonce(chain) == before


@pytest.mark.anvil_only(
    "exact replacement: with the miner stopped, Ganache mines the original, not its same-nonce replacement"
)
def test_a_stuck_transaction_is_replaced_with_a_fee_bump(chain, tmp_path):
    ex = executor(chain, tmp_path, stuck_after_s=0.5, poll_interval_s=0.05)
    snap = snapshot(chain, ex)
    chain.node.set_automine(False)
    try:
        results = {}
        worker = threading.Thread(target=lambda: results.update(report=ex.execute(plan_of(snap, deposit(10)), snap)))
        worker.start()
        reader = Journal(tmp_path / "journal.sqlite")  # a second connection: WAL lets it read while the worker writes
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _replacement_broadcast(reader):
            time.sleep(0.05)
        chain.node.mine()  # mines the approval's replacement
        while worker.is_alive() and time.monotonic() < deadline + 10:
            time.sleep(0.3)
            chain.node.mine()
        worker.join(5)
    finally:
        chain.node.set_automine(True)
    assert results["report"].outcomes[0].status == "done"
    txs = ex.journal.txs(ex.journal.intents()[0].id)
    first, second = txs[0], txs[1]
    assert first.nonce == second.nonce and second.replaces == first.id
    assert second.max_fee_per_gas >= first.max_fee_per_gas * 1.125
    assert second.max_priority_fee_per_gas >= first.max_priority_fee_per_gas * 1.125
    assert (first.status, second.status) == (TxStatus.REPLACED, TxStatus.MINED)


def _replacement_broadcast(journal: Journal) -> bool:
    """A replacement of the first transaction is in the node's mempool (not only in the journal)."""
    intents = journal.intents()
    txs = journal.txs(intents[0].id) if intents else []
    return any(t.replaces is not None and t.status is TxStatus.SENT for t in txs)


def test_the_nonce_manager_notices_transactions_sent_by_others(chain, tmp_path):
    ex = executor(chain, tmp_path)
    first = ex.sender.nonces.allocate()
    max_fee = 2 * chain.w3.eth.get_block("latest")["baseFeePerGas"] + 10**9  # whatever earlier tests left
    for used in (first, first + 1):  # another wallet with the same key sends two transactions
        signed = Account.from_key(DEMO_KEY).sign_transaction(
            {"to": chain.universe.deployer, "value": 1, "gas": 21000, "maxFeePerGas": max_fee,
             "maxPriorityFeePerGas": 1, "nonce": used, "chainId": 31337}
        )  # fmt: skip
        chain.w3.eth.wait_for_transaction_receipt(chain.w3.eth.send_raw_transaction(signed.raw_transaction))
    assert ex.sender.nonces.allocate() == first + 2


def test_an_async_order_is_tracked_until_the_venue_settles_it(chain, tmp_path):
    network = chain.network
    venues = dict(network.venues)
    venues["reference"] = replace(venues["reference"], params={**venues["reference"].params, "async_orders": True})
    ex = executor(chain, tmp_path, network=replace(network, venues=venues))
    snap = snapshot(chain, ex)
    report = ex.execute(plan_of(snap, deposit(5000), order(-2, 2900)), snap)
    assert [o.status for o in report.outcomes] == ["done", "order_pending"]
    pending = ex.journal.intents()[-1]
    assert pending.status is IntentStatus.ORDER_PENDING and pending.order_id == "1"

    blocked = ex.execute(plan_of(snap, order(-1, 2900)), snapshot(chain, ex))
    assert blocked.outcomes[0].status == "skipped" and "pending" in blocked.outcomes[0].detail

    committed = chain.perp.functions.pendingOrder(ex.account.address, 1).call()[3]
    chain.node.set_next_block_timestamp(committed + 5)
    chain.node.mine()
    chain.transact(chain.perp.functions.settleOrder(ex.account.address, 1), DEV_ACCOUNTS[5][0])
    assert ex.reconcile() == (f"{pending.id[:8]} open reference:ETH: order 1 executed",)
    assert ex.journal.intent(pending.id).status is IntentStatus.DONE


def test_orders_cancelled_by_the_venue_are_retried_at_most_the_cap(chain, tmp_path):
    network = chain.network
    venues = dict(network.venues)
    venues["reference"] = replace(venues["reference"], params={**venues["reference"].params, "async_orders": True})
    ex = executor(chain, tmp_path, network=replace(network, venues=venues))
    ex.retry = RetryPolicy(max_failures=2, backoff_base_s=0)
    ex.execute(plan_of(snapshot(chain, ex), deposit(5000)), snapshot(chain, ex))
    for attempt in range(3):
        snap = snapshot(chain, ex)
        report = ex.execute(plan_of(snap, order(-1, 2999)), snap)
        if attempt == 2:
            assert report.outcomes[0].status == "skipped" and "retry cap" in report.outcomes[0].detail
            break
        committed = chain.perp.functions.pendingOrder(ex.account.address, 1).call()[3]
        chain.node.set_next_block_timestamp(committed + 6)
        chain.transact(chain.feed("ETH/USD").functions.setAnswer(2900 * 10**8))  # the price falls below the limit
        chain.transact(chain.perp.functions.settleOrder(ex.account.address, 1), DEV_ACCOUNTS[5][0])
        (note,) = ex.reconcile()
        assert "cancelled" in note and "AcceptablePriceExceeded" in note
        chain.transact(chain.feed("ETH/USD").functions.setAnswer(3000 * 10**8))


def test_reduce_only_and_halted_plans_send_only_what_reduces_risk(chain, tmp_path):
    ex = executor(chain, tmp_path)
    snap = snapshot(chain, ex)
    ex.execute(plan_of(snap, deposit(5000), order(-5, 2900)), snap)
    snap = snapshot(chain, ex)
    reduce_only = replace(plan_of(snap, order(-1, 2900, ActionKind.INCREASE), order(2, 3100, ActionKind.DECREASE)),
                          verdict=Verdict.REDUCE_ONLY)  # fmt: skip
    report = ex.execute(reduce_only, snap)
    assert [o.status for o in report.outcomes] == ["skipped", "done"]
    assert "risk-adding" in report.outcomes[0].detail
    assert chain.perp.functions.getPosition(ex.account.address, 1).call()[0] == -3 * WAD

    halted = replace(plan_of(snapshot(chain, ex), order(1, 3100, ActionKind.DECREASE)), verdict=Verdict.HALT)
    assert ex.execute(halted, snapshot(chain, ex)).halted  # by default a halt sends nothing at all
    assert chain.perp.functions.getPosition(ex.account.address, 1).call()[0] == -3 * WAD
    ex.reduce_when_halted = True
    report = ex.execute(halted, snapshot(chain, ex))
    assert [o.status for o in report.outcomes] == ["done"]
    assert chain.perp.functions.getPosition(ex.account.address, 1).call()[0] == -2 * WAD
