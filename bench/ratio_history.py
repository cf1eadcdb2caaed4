"""Round-history benchmark: cold read of N days of rounds for four feeds, then warm keeper cycles; prints JSON.

    .venv/bin/python bench/ratio_history.py [--days 30] [--cycles 3]

Starts Anvil, deploys the reference universe with `--days` of hourly rounds seeded from ../shared/data (or the
fixture), and reads the ETH and BTC feeds (primary and secondary) back through `ChainHistory` with a fresh cache.
Targets: the cold read ≤ 10 round trips; each warm cycle (an hour later, one new round per feed) ≤ 1.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from hedger.chain.anvil import Anvil
from hedger.chain.connect import connect
from hedger.chain.contracts import at
from hedger.chain.history_seed import HOUR_S, load_seed
from hedger.chain.multicall import latest_block
from hedger.chain.universe import deploy_universe, network_document
from hedger.oracles.history import ChainHistory, RoundCache
from hedger.settings import parse_network


def main() -> None:
    args = _parser().parse_args()
    seed = load_seed(args.days)
    with Anvil.launch() as node, tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        universe = deploy_universe(node, history=seed)
        deploy_s = time.perf_counter() - started
        network = parse_network(network_document(universe), "<bench>")
        feeds = [f for f in network.feeds.values() if f.asset in ("ETH", "BTC")]
        rpc = connect(node.url, network.chain_id).rpc
        cache = RoundCache(Path(scratch) / "bench-history.sqlite")
        history = ChainHistory(rpc, network.chain_id, cache)

        block = latest_block(rpc)
        before, started = rpc.round_trips, time.perf_counter()
        cold = history.read(feeds, args.days, block)
        cold_trips, cold_s = rpc.round_trips - before, time.perf_counter() - started
        rounds = {name: len(h.rounds) for name, h in cold.items()}

        warm = []
        for cycle in range(args.cycles):
            node.increase_time(HOUR_S)
            for feed in feeds:
                contract = at(node.w3, "ChainlinkFeed", feed.address)
                answer = contract.functions.latestRoundData().call()[1]
                contract.functions.setAnswer(answer + 10**8 * (cycle + 1)).transact({"from": universe.deployer})
            block = latest_block(rpc)
            before, started = rpc.round_trips, time.perf_counter()
            history.read(feeds, args.days, block)
            warm.append({"round_trips": rpc.round_trips - before, "seconds": round(time.perf_counter() - started, 4)})
        cache.close()
    print(
        json.dumps(
            {
                "benchmark": "ratio_history",
                "feeds": len(feeds),
                "days": args.days,
                "seed": seed.source,
                "deploy_with_history_s": round(deploy_s, 2),
                "rounds_read": rounds,
                "cold": {"round_trips": cold_trips, "seconds": round(cold_s, 4), "target_round_trips": 10},
                "warm_cycles": warm,
                "warm_target_round_trips": 1,
                "pass": cold_trips <= 10 and all(w["round_trips"] <= 1 for w in warm),
            },
            indent=2,
        )
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--cycles", type=int, default=3)
    return parser


if __name__ == "__main__":
    main()
