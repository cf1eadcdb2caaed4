"""`make demo`: the whole story on a fresh local chain, each step printed.

A wallet holds ETH and BTC tokens and no hedge → `hedger status` → `hedger plan` →
`hedger rebalance --execute` → ETH falls 1,000 USD → the keeper rebalances in the next block →
the ETH oracle goes stale while the wallet buys more ETH → the keeper refuses to add risk → final status.

The demo caps each market's hedge at 20,000 USD of notional (`strategy.sizing.max_notional_usd`), so a
price fall lets the capped ETH hedge grow (from 6.67 to 10 ETH when ETH falls to 2,000: a gap large enough
to override the rebalancing cooldown): that is the rebalance the keeper makes.

    python scripts/demo.py        # everything runs on a throwaway Anvil; nothing else is touched
"""

from __future__ import annotations

import os
import tempfile
from decimal import Decimal
from pathlib import Path

import tomli_w

from hedger.app.cli import main as hedger
from hedger.app.keeper import Keeper, KeeperConfig
from hedger.app.session import Session
from hedger.chain.contracts import at
from hedger.chain.history_seed import load_seed
from hedger.chain.nodes import DEV_ACCOUNTS, Anvil
from hedger.chain.universe import Universe, deploy_universe, network_document, to_units

DEMO_STRATEGY = {"sizing": {"max_notional_usd": "20000"}}


def step(number: int, title: str) -> None:
    print(f"\n{'═' * 100}\n{number}. {title}\n{'═' * 100}", flush=True)


def set_price(node: Anvil, universe: Universe, asset: str, price: int) -> None:
    """Both of an asset's feeds publish the same new price (a genuine move, not a disagreement)."""
    for name in (f"{asset}/USD", f"{asset}/USD-2"):
        feed = at(node.w3, "ChainlinkFeed", universe.feeds[name])
        node.w3.eth.wait_for_transaction_receipt(
            feed.functions.setAnswer(price * 10**8).transact({"from": universe.deployer})
        )


def refresh_feeds(node: Anvil, universe: Universe, skip: str = "") -> None:
    """Keep every feed but `skip`'s fresh (a new round at the same answer), as a live network would."""
    for name, address in universe.feeds.items():
        if skip and name.startswith(skip):
            continue
        feed = at(node.w3, "ChainlinkFeed", address)
        answer = feed.functions.latestAnswer().call()
        node.w3.eth.wait_for_transaction_receipt(feed.functions.setAnswer(answer).transact({"from": universe.deployer}))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hedger-demo-") as directory, Anvil.launch() as node:
        workdir = Path(directory)  # the network file and the journal: removed with the chain at the end
        universe = deploy_universe(node, history=load_seed(30))  # 30 days of hourly rounds in the feeds
        document = {**network_document(universe), "strategy": DEMO_STRATEGY}
        (workdir / "local.toml").write_text(tomli_w.dumps(document))
        os.environ.update(
            HEDGER_NETWORKS_DIR=str(workdir), HEDGER_JOURNAL=str(workdir / "journal.sqlite"),
            HEDGER_PRIVATE_KEY=DEV_ACCOUNTS[1][1],  # Anvil's public development key #1: the demo wallet
        )  # fmt: skip
        os.chdir(workdir)
        print(f"Local chain {node.url}; reference universe deployed; network file {workdir / 'local.toml'}")
        print(f"Demo wallet {universe.demo_account}: 10 WETH, 0.5 WBTC, 50,000 USDC, 1 ETH for gas; no hedge.")

        step(1, "hedger status — what the wallet is exposed to")
        hedger(["status"])
        step(2, "hedger plan — what hedger would do, and why")
        hedger(["plan"])
        print("\nhedger ratio ETH --hedge-with BTC — the ETH/BTC beta estimated from the feeds' round history")
        hedger(["ratio", "ETH", "--hedge-with", "BTC"])
        step(3, "hedger rebalance --execute — simulate, sign, send, confirm")
        hedger(["rebalance", "--execute"])

        session = Session.open("local")
        keeper = Keeper(session, KeeperConfig(poll_interval_s=0.05))
        keeper.cycle()  # the keeper starts from the state the rebalance left

        step(4, "ETH falls from 3,000 to 2,000 USD: the capped hedge may grow; the keeper acts in the next block")
        set_price(node, universe, "ETH", 2000)
        breach_block = node.w3.eth.block_number
        print(f"Oracle update mined in block {breach_block}")
        result = keeper.cycle()
        for outcome in result.report.outcomes:
            receipt = node.w3.eth.get_transaction_receipt(outcome.tx_hashes[-1])
            print(f"Keeper ({outcome.status}): {outcome.action.kind.value} {outcome.action.size_delta} "
                  f"{outcome.action.symbol}, {outcome.action.reason.message}; mined in block {receipt['blockNumber']}"
                  f" = breach block + {receipt['blockNumber'] - breach_block}")  # fmt: skip

        step(5, "The ETH oracle stops updating for over an hour while the wallet buys 5 more WETH")
        node.increase_time(3_900)
        refresh_feeds(node, universe, skip="ETH/")
        weth = at(node.w3, "TestToken", universe.tokens["WETH"])
        node.w3.eth.wait_for_transaction_receipt(
            weth.functions.mint(universe.demo_account, to_units(Decimal(5), 18)).transact({"from": universe.deployer})
        )
        before = node.w3.eth.get_transaction_count(universe.demo_account)
        result = keeper.cycle()
        sent = node.w3.eth.get_transaction_count(universe.demo_account) - before
        print(f"Keeper verdict: {result.plan.verdict.value}; transactions sent: {sent}; why:")
        for reason in result.plan.reasons:
            if reason.code not in ("venue_choice", "capped_by_max_notional"):
                print(f"  - {reason.code}: {reason.message}")

        step(6, "hedger status — final")
        hedger(["status"])
        session.close()


if __name__ == "__main__":
    main()
