"""A fork of the local chain at a pinned block behaves like its parent at that block: the same snapshot,
value for value, through SnapshotReader; the same plan; and a dry-run rebalance on the fork leaves the
same exposure as one on the parent. Runs everywhere (the parent is the test session's Anvil)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedger.chain.connect import connect
from hedger.chain.nodes import Anvil, NodeConfig
from hedger.execution.dry_run import dry_run
from hedger.execution.sender import SendPolicy
from hedger.snapshot import SnapshotReader
from hedger.strategy.parameters import StrategySettings
from hedger.strategy.plan import build_plan
from tests.support.keeper_helpers import DEMO, move_price

pytestmark = pytest.mark.integration


def read(url: str, network):
    return SnapshotReader(connect(url, network.chain_id), network).take(DEMO)


def test_a_fork_at_a_pinned_block_reads_plans_and_rebalances_like_its_parent(chain):
    network, settings = chain.network, StrategySettings()
    pinned = chain.w3.eth.block_number
    parent = read(chain.node.url, network)
    plan = build_plan(parent, settings)
    assert parent.block_number == pinned and len(plan.actions) == 3  # collateral, then the BTC and ETH hedges
    move_price(chain, "ETH", 2500)  # the parent moves on; the fork stays at the pinned block

    # no dev accounts on the fork: the demo account is one, and Anvil would credit it 10,000 ETH
    with Anvil.launch(NodeConfig(fork_url=chain.node.url, fork_block=pinned, accounts=0)) as fork:
        forked = read(fork.url, network)
        assert forked == parent  # every reading, source, block number and timestamp
        assert build_plan(forked, settings) == plan
        on_fork = dry_run(network, forked, plan, fork.url, SendPolicy())
        assert read(fork.url, network) == parent  # a dry run forks again: the fork itself is untouched
    on_parent = dry_run(network, parent, plan, chain.node.url, SendPolicy())

    assert on_fork.method == on_parent.method == f"executed on an Anvil fork of block {pinned}"
    statuses = [(o.action, o.status) for o in on_fork.report.outcomes]
    assert statuses == [(o.action, o.status) for o in on_parent.report.outcomes]
    assert [status for _, status in statuses] == ["done", "done", "done"]
    assert holdings(on_fork.after) == holdings(on_parent.after)
    # filled at the pinned block's prices less the skew impact: 3,000 × (1 − 11 / 20,000), 60,000 × (1 − 0.5 / 1,000)
    positions = {"BTC": (Decimal("-0.5"), Decimal(59_970)), "ETH": (Decimal(-11), Decimal("2998.35"))}
    assert holdings(on_fork.after)["positions"] == positions
    assert read(chain.node.url, network).oracle("ETH").price == Decimal(2500)


def holdings(snapshot) -> dict:
    """Token balances and positions (size, entry price) after a dry run. Left out: the native coin (gas
    prices on two Anvil nodes need not match) and values that accrue with the new blocks' timestamps."""
    return {
        "tokens": {b.token: b.raw for b in snapshot.balances if b.token_address is not None},
        "positions": {p.symbol: (p.signed_size, p.entry_price) for p in snapshot.positions},
        "margin": [m.collateral for m in snapshot.margins],
    }
