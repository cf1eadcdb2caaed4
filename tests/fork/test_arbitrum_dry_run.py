"""Arbitrum One forked at a pinned block: the GMX v2 read path through SnapshotReader, and a dry-run
`hedger rebalance` on it, for an account holding 2 ETH and 20,000 USDC: unless a guard objects, the plan
opens a 2 ETH short on GMX carrying about half its notional in USDC (target leverage 2), and the dry run
sends it (approval to the Router, ExchangeRouter.multicall) on the fork. Skipped unless HEDGER_RPC_ARBITRUM
is set; the block is HEDGER_ARBITRUM_FORK_BLOCK (or HEDGER_FORK_BLOCK_ARBITRUM, as in test_gmx_fork.py),
by default 402,000,000: after the GMX Reader and ExchangeRouter in networks/arbitrum-one.toml were deployed.

The URL reaches only the Anvil fork; `hedger rebalance` is pointed at the fork with --rpc-url and gets no
HEDGER_* variable of this environment, so nothing can reach Arbitrum itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest

RPC_URL = os.environ.get("HEDGER_RPC_ARBITRUM")
if not RPC_URL:
    pytest.skip("set HEDGER_RPC_ARBITRUM to fork Arbitrum One", allow_module_level=True)

from hedger.chain.connect import connect  # noqa: E402
from hedger.chain.contracts import at  # noqa: E402
from hedger.chain.nodes import DEV_ACCOUNTS, Anvil, NodeConfig  # noqa: E402
from hedger.settings import load_network  # noqa: E402
from hedger.snapshot import SnapshotReader  # noqa: E402

pytestmark = pytest.mark.fork

ARBITRUM = 42161
FORK_BLOCK = int(
    os.environ.get("HEDGER_ARBITRUM_FORK_BLOCK") or os.environ.get("HEDGER_FORK_BLOCK_ARBITRUM") or 402_000_000
)
TRADER = DEV_ACCOUNTS[2][0]  # no dev accounts on this fork (accounts=0): its balances are set below
USDC = 20_000 * 10**6


@pytest.fixture(scope="module")
def network():
    return load_network("arbitrum-one")


@pytest.fixture(scope="module")
def fork(network):
    node = Anvil.launch(
        NodeConfig(fork_url=RPC_URL, fork_block=FORK_BLOCK, chain_id=ARBITRUM, accounts=0), timeout_s=120
    )
    try:
        fund(node, network)
        yield node
    finally:
        node.stop()


def fund(node: Anvil, network) -> None:
    """2 ETH of gas and exposure, and 20,000 USDC from GMX's ETH/USD [WETH-USDC] pool (its short token)."""
    node.set_balance(TRADER, 2 * 10**18)
    pool = network.venues["gmx"].markets["ETH"].require("market")
    node.impersonate(pool)
    node.set_balance(pool, 10**18)
    usdc = at(node.w3, "TestToken", network.tokens["USDC"].address)
    node.w3.eth.wait_for_transaction_receipt(usdc.functions.transfer(TRADER, USDC).transact({"from": pool}), 120)
    node.stop_impersonating(pool)


def test_the_gmx_read_path_on_an_arbitrum_fork(fork, network):
    snapshot = SnapshotReader(connect(fork.url, ARBITRUM), network).take(TRADER)
    assert snapshot.block_number == FORK_BLOCK + 1 and snapshot.rpc_round_trips <= 3  # the funding block
    assert {(m.venue, m.symbol) for m in snapshot.markets if m.venue == "gmx"} == {("gmx", "ETH"), ("gmx", "BTC")}
    assert all(f.known and f.interval_s == 3600 for f in snapshot.funding if f.venue == "gmx")
    for asset in ("ETH", "BTC", "USDC"):
        (feed,) = (f for f in network.feeds.values() if f.asset == asset and f.role == "primary")
        reading = snapshot.oracle(asset)
        assert reading.ok and feed.min_price <= reading.price <= feed.max_price
        assert reading.source.block_number == snapshot.block_number
    balances = {b.token: b.raw for b in snapshot.balances}
    assert balances["USDC"] == USDC and balances["ETH"] == 2 * 10**18
    assert snapshot.exposure("ETH").spot == Decimal(2) and snapshot.positions == ()


def test_a_dry_run_rebalance_on_an_arbitrum_fork(fork, network, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGER_")}
    env["HEDGER_JOURNAL"] = str(tmp_path / "journal.sqlite")
    command = [sys.executable, "-m", "hedger.app.cli", "rebalance", "--network", "arbitrum-one", "--rpc-url", fork.url,
               "--account", TRADER, "--json"]  # fmt: skip
    before = (fork.w3.eth.block_number, fork.w3.eth.get_transaction_count(TRADER))
    run = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    out = json.loads(run.stdout)
    plan, report = out["plan"], out["report"]
    assert run.returncode == (3 if plan["verdict"] == "halt" else 0), run.stderr[-3000:]
    assert plan["block_number"] == FORK_BLOCK + 1 and plan["network"] == "arbitrum-one"
    eth = next(e for e in out["exposure_before"] if e["asset"] == "ETH")
    assert Decimal(eth["spot"]) == 2 and Decimal(eth["perp"]) == 0
    if plan["verdict"] == "allow":  # GMX is isolated margin: the hedge opens with its own USDC collateral
        (open_short,) = plan["actions"]
        assert (open_short["kind"], open_short["venue"], open_short["symbol"]) == ("open", "gmx", "ETH")
        assert Decimal(open_short["size_delta"]) == -2
        notional_usd = 2 * Decimal(open_short["reason"]["values"]["price"])
        leverage = notional_usd / Decimal(open_short["collateral_delta"])  # USDC within its peg: about 2
        assert Decimal("1.98") < leverage < Decimal("2.02")
        assert report["outcomes"][0]["status"] == "order_pending", report
    if plan["actions"] and plan["verdict"] != "halt":
        assert out["mode"] == f"dry run: executed on an Anvil fork of block {FORK_BLOCK + 1}"
        assert [o["action"] for o in report["outcomes"]] == plan["actions"]
        assert all(o["status"] in ("done", "order_pending", "skipped") for o in report["outcomes"]), report
        assert out["exposure_after"] is not None
    else:
        assert out["mode"] == "dry run: nothing to simulate" and report["outcomes"] == []
    assert (fork.w3.eth.block_number, fork.w3.eth.get_transaction_count(TRADER)) == before  # the fork untouched
