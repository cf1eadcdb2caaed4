"""Benchmark: one batched snapshot, 1 to 2,000 markets, against web3-ethereum-defi's multicall reader making
the same calls at the same block in the same rounds, and (up to --naive-up-to markets) a naive reader (one
web3 call per value).

    .venv/bin/python bench/read_snapshot.py [--markets 1,10,100,500,1000,2000] [--repeat 5] [--positions 200]

web3-ethereum-defi is installed from PyPI into a venv of its own (.hedger/bench-defi-venv, created on first
run; never a hedger dependency) and driven by bench/defi_multicall.py in a subprocess: every batch size in
--defi-batch-sizes is timed ("all": every call of a round in one tryBlockAndAggregate) and the fastest that
succeeds is the comparison. hedger's calls are recorded while it reads (its aggregate3 chunks unpacked),
so both readers send exactly the same calls.

Prints JSON: per size, hedger's sequential round trips, HTTP requests and median seconds; the defi reader's
median seconds per batch size; the naive reader's; and the speed-ups.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import hedger.chain.multicall as multicall
from hedger.chain.anvil import Anvil, AnvilConfig
from hedger.chain.connect import Chain, connect
from hedger.chain.contracts import at
from hedger.chain.toolchain import project_root
from hedger.chain.universe import FeedSpec, MarketSpec, UniverseSpec, deploy_universe, network_document, to_units
from hedger.settings import NetworkConfig, parse_network
from hedger.snapshot import SnapshotReader

WAD = 10**18
DEFI_PACKAGE = "web3-ethereum-defi==1.2"
DEFI_VENV = project_root() / ".hedger" / "bench-defi-venv"


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


def open_positions(node: Anvil, account: str, universe, count: int) -> None:
    """A short in the first `count` markets (accountSummary's cost grows with each)."""
    perp = at(node.w3, "PerpMarket", universe.perp_market)
    usdc = at(node.w3, "TestToken", universe.tokens["USDC"])
    send = lambda call: node.w3.eth.wait_for_transaction_receipt(call.transact({"from": account}))  # noqa: E731
    amount = to_units(Decimal(1_000_000), 6)
    node.set_balance(account, 1_000 * 10**18)  # each order's margin check prices every open position: gas grows
    send(usdc.functions.mint(account, amount))
    send(usdc.functions.approve(perp.address, amount))
    send(perp.functions.depositMargin(amount))
    for market_id in list(universe.market_ids.values())[:count]:
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
            perp.pendingOrder(account, market_id),
        ):  # fmt: skip
            call.call()


def record_rounds(reader: SnapshotReader, account: str) -> tuple[int, list[list]]:
    """One snapshot with hedger.chain.multicall.execute wrapped: the block read and each round's calls."""
    rounds: list[list] = []
    execute = multicall.execute

    def recording(rpc, calls, block_number, *args):
        rounds.append([(c.target, c.data.hex(), list(c.output_types) or None) for c in calls])
        return execute(rpc, calls, block_number, *args)

    multicall.execute = recording
    try:
        snapshot = reader.take(account)
    finally:
        multicall.execute = execute
    return snapshot.block_number, rounds


def measure_hedger(reader: SnapshotReader, account: str, repeat: int, markets: int, positions: int) -> dict:
    rpc = reader.rpc
    seconds, trips, requests_ = [], [], []
    for _ in range(repeat):
        before, http_before, started = rpc.round_trips, rpc.transport.http_requests, time.perf_counter()
        snapshot = reader.take(account)
        seconds.append(time.perf_counter() - started)
        trips.append(rpc.round_trips - before)
        requests_.append(rpc.transport.http_requests - http_before)
    return {
        "ok": len(snapshot.markets) == markets and len(snapshot.positions) == positions and bool(snapshot.margins),
        "markets_read": len(snapshot.markets),
        "positions_read": len(snapshot.positions),
        "round_trips": max(trips),
        "http_requests": max(requests_),
        "seconds_median": round(statistics.median(seconds), 5),
    }


def measure_naive(w3, network: NetworkConfig, account: str, repeat: int) -> dict:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        naive_snapshot(w3, network, account)
        seconds.append(time.perf_counter() - started)
    return {"seconds_median": round(statistics.median(seconds), 5)}


def defi_python() -> Path:
    """The separate venv's python, with web3-ethereum-defi installed from PyPI on first use."""
    python = DEFI_VENV / "bin" / "python"
    if not (DEFI_VENV / ".installed").exists():
        venv.create(DEFI_VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", DEFI_PACKAGE], check=True)
        (DEFI_VENV / ".installed").write_text(DEFI_PACKAGE)
    return python


def measure_defi(url: str, block: int, rounds: list, repeat: int, batch_sizes: list[int]) -> dict:
    job = {"rpc_url": url, "block": block, "repeat": repeat, "batch_sizes": batch_sizes, "rounds": rounds}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(job, file)
        file.flush()
        script = Path(__file__).with_name("defi_multicall.py")
        done = subprocess.run([str(defi_python()), str(script), file.name], capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1][:300]}
    modes = json.loads(done.stdout)
    timed = {k: v["seconds_median"] for k, v in modes.items() if "seconds_median" in v}
    fastest = min(timed, key=lambda k: timed[k]) if timed else None
    return {"modes": modes, "fastest": fastest, "fastest_seconds": timed.get(fastest) if fastest else None}


def bench(markets: int, args: argparse.Namespace) -> dict:
    spec = spec_with(markets)
    positions = min(markets, args.positions)
    with Anvil.launch(AnvilConfig(code_size_limit_disabled=True)) as node:
        universe = deploy_universe(node, spec)
        network = parse_network(network_document(universe), "<bench>")
        open_positions(node, universe.demo_account, universe, positions)
        chain: Chain = connect(node.url, network.chain_id)
        reader = SnapshotReader(chain, network)
        block, rounds = record_rounds(reader, universe.demo_account)
        hedger = measure_hedger(reader, universe.demo_account, args.repeat, markets, positions)
        defi = measure_defi(node.url, block, rounds, args.repeat, args.defi_batch_sizes) if args.defi else None
        naive = measure_naive(chain.w3, network, universe.demo_account, 1) if markets <= args.naive_up_to else None
    result = {
        "markets": markets,
        "feeds": len(spec.feeds),
        "open_positions": positions,
        "calls_per_round": [len(r) for r in rounds],
        "hedger": hedger,
    }
    if defi is not None:
        result["web3_ethereum_defi"] = defi
        if defi.get("fastest_seconds"):
            result["speedup_vs_defi_fastest"] = round(defi["fastest_seconds"] / hedger["seconds_median"], 1)
    if naive is not None:
        result["naive"] = naive
        result["speedup_vs_naive"] = round(naive["seconds_median"] / hedger["seconds_median"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markets", default="1,10,100,500,1000,2000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--positions", type=int, default=200, help="open positions (in the first N markets)")
    parser.add_argument("--naive-up-to", type=int, default=100, help="run the naive reader up to this many markets")
    parser.add_argument("--defi-batch-sizes", default="40,400,0", help="web3-ethereum-defi batch sizes (0: all)")
    parser.add_argument("--no-defi", dest="defi", action="store_false", help="skip web3-ethereum-defi")
    args = parser.parse_args()
    args.defi_batch_sizes = [int(n) for n in args.defi_batch_sizes.split(",")]
    results = [bench(int(n), args) for n in args.markets.split(",")]
    print(json.dumps({"benchmark": "read_snapshot", "node": "anvil (local)", "python": sys.version.split()[0],
                      "defi_package": DEFI_PACKAGE if args.defi else None, "results": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
