"""Benchmark: one batched snapshot vs a naive reader (one web3 call per value), 1 to 100 markets.

    .venv/bin/python bench/read_snapshot.py [--markets 1,10,50,100] [--repeat 5]

Prints JSON: RPC round trips and seconds per snapshot for both readers, and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from decimal import Decimal

from hedger.chain.connect import Rpc, connect
from hedger.chain.contracts import at
from hedger.chain.nodes import Anvil
from hedger.chain.universe import FeedSpec, MarketSpec, UniverseSpec, deploy_universe, network_document, to_units
from hedger.settings import NetworkConfig, parse_network
from hedger.snapshot import SnapshotReader

WAD = 10**18


def spec_with(markets: int) -> UniverseSpec:
    """The reference universe with `markets` markets, each priced by a feed of its own."""
    base = UniverseSpec()
    extra = max(0, markets - len(base.markets))
    feeds = base.feeds + tuple(
        FeedSpec(f"X{i}/USD", f"X{i}", Decimal(100 + i), 3600, Decimal(1), Decimal(100_000)) for i in range(extra)
    )
    market_specs = base.markets[:markets] + tuple(
        MarketSpec(f"X{i}", f"X{i}/USD", skew_scale=Decimal(1_000_000)) for i in range(extra)
    )
    return replace(base, feeds=feeds, markets=market_specs)


def open_positions(node: Anvil, network: NetworkConfig, account: str, universe) -> None:
    perp = at(node.w3, "PerpMarket", universe.perp_market)
    usdc = at(node.w3, "TestToken", universe.tokens["USDC"])
    send = lambda call: node.w3.eth.wait_for_transaction_receipt(call.transact({"from": account}))  # noqa: E731
    amount = to_units(Decimal(1_000_000), 6)
    send(usdc.functions.mint(account, amount))
    send(usdc.functions.approve(perp.address, amount))
    send(perp.functions.depositMargin(amount))
    for market_id in universe.market_ids.values():
        send(perp.functions.modifyPosition(market_id, -WAD // 100, 0))


def naive_snapshot(w3, network: NetworkConfig, account: str) -> None:
    """What a straightforward client does: one eth_call per value, each at 'latest'."""
    for feed in network.feeds.values():
        contract = at(w3, "ChainlinkFeed", feed.address)
        round_id = contract.functions.latestRoundData().call()[0]
        contract.functions.decimals().call()
        if round_id > 1:
            contract.functions.getRoundData(round_id - 1).call()
    for token in network.tokens.values():
        at(w3, "TestToken", token.address).functions.balanceOf(account).call()
    w3.eth.get_balance(account)
    venue = network.venues["reference"]
    perp = at(w3, "PerpMarket", venue.params["address"]).functions
    perp.accountSummary(account).call()
    perp.minOrderDelay().call()
    perp.orderExpiry().call()
    for market in venue.markets.values():
        market_id = market.require("id", int)
        for call in (
            perp.marketParams(market_id), perp.currentFundingRate(market_id), perp.marketSummary(market_id),
            perp.fillPrice(market_id, 0), perp.rawPosition(account, market_id), perp.getPosition(account, market_id),
            perp.liquidationPrice(account, market_id), perp.pendingOrder(account, market_id),
        ):  # fmt: skip
            call.call()


def measure(run, rpc: Rpc, repeat: int) -> dict:
    seconds, trips = [], []
    for _ in range(repeat):
        before, started = rpc.round_trips, time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
        trips.append(rpc.round_trips - before)
    return {"round_trips": max(trips), "seconds_median": round(statistics.median(seconds), 5)}


def bench(markets: int, repeat: int) -> dict:
    with Anvil.launch() as node:
        spec = spec_with(markets)
        universe = deploy_universe(node, spec)
        network = parse_network(network_document(universe), "<bench>")
        open_positions(node, network, universe.demo_account, universe)
        w3 = connect(node.url, network.chain_id)
        rpc = Rpc(w3)
        reader = SnapshotReader(w3, network)
        batched = measure(lambda: reader.take(universe.demo_account), rpc, repeat)
        naive = measure(lambda: naive_snapshot(w3, network, universe.demo_account), rpc, repeat)
    return {
        "markets": markets,
        "feeds": len(spec.feeds),
        "batched": batched,
        "naive": naive,
        "speedup": round(naive["seconds_median"] / batched["seconds_median"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markets", default="1,10,50,100")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = [bench(int(n), args.repeat) for n in args.markets.split(",")]
    print(json.dumps({"benchmark": "read_snapshot", "node": "anvil (local)", "results": results}, indent=2))


if __name__ == "__main__":
    main()
