"""The keeper's own gates: the kill switch (file or environment) and the daily gas budget stop
risk-adding actions at once, while risk-reducing ones still go out."""

from __future__ import annotations

import pytest

from hedger.model import Verdict
from tests.support.keeper_helpers import DEMO, DEMO_KEY, network_with, open_keeper

pytestmark = pytest.mark.integration


@pytest.fixture
def keeper(chain, tmp_path, monkeypatch):
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", DEMO_KEY)
    monkeypatch.delenv("HEDGER_KILL_SWITCH", raising=False)
    return open_keeper(chain, network_with(chain), tmp_path / "journal.sqlite")


def sent(result) -> list[str]:
    return [f"{o.action.kind.value}:{o.action.symbol}" for o in result.report.outcomes if o.status == "done"]


def gate_messages(result) -> str:
    return " ".join(f"{r.code}: {r.message}" for r in result.plan.reasons if r.code == "operator_gate")


def test_the_kill_switch_file_stops_risk_adding_actions_at_once(chain, keeper, tmp_path):
    keeper.config.kill_switch_file.touch()
    nonce = chain.w3.eth.get_transaction_count(DEMO)
    result = keeper.cycle()
    assert result.plan.verdict is Verdict.REDUCE_ONLY and "operator_gate" in gate_messages(result)
    assert sent(result) == [] and chain.w3.eth.get_transaction_count(DEMO) == nonce
    assert keeper.metrics.kill_switch._value.get() == 1

    keeper.config.kill_switch_file.unlink()
    assert sorted(sent(keeper.cycle())) == ["add_collateral:USDC", "open:BTC", "open:ETH"]
    assert keeper.metrics.kill_switch._value.get() == 0


def test_the_kill_switch_from_the_environment_lets_reductions_through(chain, keeper, monkeypatch):
    keeper.cycle()  # hedged: -11 ETH, -0.5 BTC
    weth = chain.token("WETH")
    chain.transact(weth.functions.transfer(chain.universe.deployer, 4 * 10**18), DEMO)  # 4 ETH fewer to hedge
    chain.transact(weth.functions.mint(DEMO, 0))  # a new block
    monkeypatch.setenv("HEDGER_KILL_SWITCH", "1")
    result = keeper.cycle()
    assert sent(result) == ["decrease:ETH"]
    assert chain.perp.functions.getPosition(DEMO, 1).call()[0] > -8 * 10**18


def test_a_spent_gas_budget_allows_only_reductions(chain, keeper, tmp_path):
    keeper.cycle()  # no budget yet: the hedge opens, and that costs gas
    journal = tmp_path / "journal.sqlite"
    budget = open_keeper(chain, network_with(chain), journal, gas_budget_per_day_wei=1)  # already spent
    eth_hedge = chain.perp.functions.getPosition(DEMO, 1).call()[0]
    weth = chain.token("WETH")
    chain.transact(weth.functions.mint(DEMO, 2 * 10**18))  # more ETH to hedge
    grow = budget.cycle()
    assert grow.plan.verdict is Verdict.REDUCE_ONLY and "gas budget spent" in gate_messages(grow)
    assert sent(grow) == [] and chain.perp.functions.getPosition(DEMO, 1).call()[0] == eth_hedge

    chain.transact(weth.functions.transfer(chain.universe.deployer, 6 * 10**18), DEMO)  # 4 ETH fewer than hedged
    assert sent(budget.cycle()) == ["decrease:ETH"]  # reducing risk is never held back by the budget
