"""Benchmark: how fast the keeper reacts to an oracle update that breaches its band.

    .venv/bin/python bench/keeper_reaction.py [--trials 200] [--interval 0.1] [--seed 1] [--new-heads ws,poll]

A `hedger keeper run` process (default settings, but for the two below) watches a local Anvil with the
reference universe; Anvil automines, so each transaction gets a block of its own. The ETH hedge is capped at
$22,500 of notional (`sizing.max_notional_usd`), so its unit target moves with the price, and the cooldown
is 0, so the 5% band alone decides. Each trial waits until the keeper has planned on the latest block, and
then a random fraction of its poll interval (breaches arrive at any moment); it publishes a new ETH price on
both sources in one block (alternately low, $2,100-2,500, and high, $2,900-3,300: every move breaches the
band) and times the keeper's order: in blocks after the breach block, and in ms from the moment the breach
block was mined to the moment the keeper's transaction is seen mined. Each `--new-heads` mode runs the same
trials on a fresh chain: `ws`, the keeper follows Anvil's newHeads subscription (`[keeper] new_heads = "ws"`);
`poll`, it polls for new blocks every `--interval` seconds (the milliseconds are then mostly that poll).
Prints JSON, one summary per mode.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support: the helpers the tests use

from hedger.chain.anvil import Anvil
from hedger.chain.universe import deploy_universe
from hedger.testing import LocalChain
from tests.support.chain_helpers import fund_margin
from tests.support.keeper_helpers import (
    DEMO,
    KeeperProcess,
    cli_env,
    keeper_process,
    mine_together,
    network_document_with,
    nonce,
    orders_of,
    price_calls,
    wait_until,
    write_network,
)

STRATEGY = {"sizing": {"max_notional_usd": 22_500}, "policy": {"cooldown_s": 0}}
RANGES = ((2_100, 2_500), (2_900, 3_300))


def wait_idle(chain: LocalChain, keeper: KeeperProcess) -> None:
    latest = chain.w3.eth.block_number
    wait_until(lambda: keeper.last_cycle_block() == latest, 60, "the keeper to plan on the latest block", 0.005)


def trial(chain: LocalChain, price: Decimal) -> dict:
    """One breach; the time is taken when the keeper's first transaction is seen mined (with ample margin
    that is its order: checked, the order's block is what `blocks` counts)."""
    sent = nonce(chain)
    breach, mined_at = mine_together(chain, price_calls(chain, "ETH", price))
    wait_until(lambda: nonce(chain) > sent, 60, "the keeper's reaction", 0.0005)
    seen_at = time.perf_counter()
    orders = wait_until(lambda: orders_of(chain, DEMO, breach + 1), 60, "the keeper's order")
    return {"blocks": orders[0]["blockNumber"] - breach, "ms": (seen_at - mined_at) * 1000}


def run(trials: int, interval: float, seed: int, new_heads: str) -> dict:
    rng = random.Random(seed)
    with Anvil.launch() as node, tempfile.TemporaryDirectory() as tmp:
        chain = LocalChain(node, deploy_universe(node))
        # Ample margin, so that no collateral top-up (approve, deposit: two blocks) ever precedes an order: a
        # capped hedge sells the lows and buys back the highs, ~$1,000 a trial here.
        fund_margin(chain, DEMO, 1_000_000)
        workdir = Path(tmp)
        doc = network_document_with(chain, strategy=STRATEGY, keeper={"new_heads": new_heads})
        write_network(doc, workdir)
        with keeper_process(["--interval", str(interval)], cli_env(workdir), workdir) as k:
            results = []
            for index in range(trials):
                wait_idle(chain, k)
                time.sleep(rng.uniform(0, interval))  # breaches arrive at any point of the keeper's poll
                low, high = RANGES[index % 2]
                results.append(trial(chain, Decimal(rng.randrange(low * 100, high * 100)) / 100))
            wait_idle(chain, k)
            exit_code = k.stop()
    return summary(results, interval, new_heads, exit_code)


def summary(results: list[dict], interval: float, new_heads: str, exit_code: int) -> dict:
    blocks = Counter(r["blocks"] for r in results)
    ms = sorted(r["ms"] for r in results)
    return {
        "benchmark": "keeper_reaction",
        "node": "anvil (local, automine)",
        "keeper": f"hedger keeper run --interval {interval} (a separate process), new_heads = {new_heads!r}",
        "trials": len(results),
        "next_block_share": round(blocks[1] / len(results), 4),
        "blocks_after_breach": {str(k): blocks[k] for k in sorted(blocks)},
        "ms": {
            "p50": round(statistics.median(ms), 1),
            "p95": round(ms[max(0, round(0.95 * len(ms)) - 1)], 1),
            "max": round(ms[-1], 1),
            "mean": round(statistics.fmean(ms), 1),
        },
        "keeper_exit_code": exit_code,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.1, help="the keeper's poll for new blocks, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--new-heads", default="ws,poll", help="modes to run, comma-separated: ws, poll")
    args = parser.parse_args()
    modes = args.new_heads.split(",")
    print(json.dumps({mode: run(args.trials, args.interval, args.seed, mode) for mode in modes}, indent=2))


if __name__ == "__main__":
    main()
