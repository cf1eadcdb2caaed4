"""Benchmark: the keeper's memory over 10,000 blocks.

    .venv/bin/python bench/keeper_memory.py [--blocks 10000] [--warmup 200] [--price-every 10] [--seed 1]

The keeper runs in this process (`Keeper.cycle()`, the body of its loop: snapshot, plan, execute, journal,
metrics, JSON log line) on every block of a local Anvil with the reference universe. Most blocks are empty
(`evm_mine`); every `--price-every` blocks ETH moves on both sources (a random walk, 2% a step), and with
the ETH hedge capped at $22,500 of notional and no cooldown the keeper rebalances whenever the 5% band is
breached, so the journal grows as in production. RSS (VmRSS) and the mean keeper cycle are sampled every
500 blocks; growth is measured from the end of the warm-up (imports, caches and connection pools settled)
to the last block. Prints JSON. It takes ~6 minutes on 2 cores: Anvil's own block production slows as the
chain grows (from ~3 ms to ~30 ms a block by 10,000), while the keeper's cycle stays flat.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support: the helpers the tests use

from hedger.app.logs import configure
from hedger.chain.nodes import Anvil
from hedger.chain.universe import deploy_universe
from hedger.testing import LocalChain
from tests.support.keeper_helpers import DEMO_KEY, move_price, network_with, open_keeper, raw_rpc

STRATEGY = {"sizing": {"max_notional_usd": 22_500}, "policy": {"cooldown_s": 0}}
SAMPLE_EVERY = 500


class Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def prices(rng: random.Random, price: float = 3_000.0):
    while True:
        price = min(max(price * math.exp(rng.gauss(0, 0.02)), 2_100.0), 4_000.0)
        yield Decimal(f"{price:.2f}")


@dataclass
class Samples:
    """Every SAMPLE_EVERY blocks: RSS, the mean keeper cycle in the window, and the time since the start."""

    rss_mb: list[float] = field(default_factory=list)
    cycle_ms: list[float] = field(default_factory=list)
    elapsed_s: list[float] = field(default_factory=list)
    window: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def take(self) -> None:
        self.rss_mb.append(round(rss_mb(), 1))
        self.cycle_ms.append(round(1000 * sum(self.window) / max(len(self.window), 1), 1))
        self.elapsed_s.append(round(time.monotonic() - self.started, 1))
        self.window.clear()


def run(blocks: int, warmup: int, price_every: int, seed: int) -> dict:
    os.environ["HEDGER_PRIVATE_KEY"] = DEMO_KEY  # Anvil's public development key #1, for the local demo account
    configure("INFO", Discard())  # every JSON log line is formatted and written, as in production, then dropped
    walk, sent = prices(random.Random(seed)), 0
    with Anvil.launch() as node, tempfile.TemporaryDirectory() as tmp:
        chain = LocalChain(node, deploy_universe(node))
        keeper = open_keeper(chain, network_with(chain, strategy=STRATEGY), Path(tmp) / "journal.sqlite")
        samples = Samples()
        for index in range(warmup + blocks):
            if index % price_every == 0:
                move_price(chain, "ETH", next(walk))
            else:
                raw_rpc(chain)("evm_mine")
            started = time.perf_counter()
            sent += len(keeper.cycle().report.sent)
            samples.window.append(time.perf_counter() - started)
            if index >= warmup and (index - warmup) % SAMPLE_EVERY == 0:
                samples.take()
        samples.take()
        journal_kb = sum(p.stat().st_size for p in Path(tmp).glob("journal.sqlite*")) // 1024
    rss = samples.rss_mb
    return {
        "benchmark": "keeper_memory",
        "node": "anvil (local)",
        "blocks": blocks,
        "warmup_blocks": warmup,
        "cycles": keeper.cycles,
        "actions_sent": sent,
        "journal_kb": journal_kb,
        "rss_mb": {"start": rss[0], "end": rss[-1], "peak": max(rss)},
        "rss_growth_pct": round(100 * (rss[-1] - rss[0]) / rss[0], 2),
        "samples_every_blocks": SAMPLE_EVERY,
        "rss_samples_mb": rss,
        "cycle_ms_samples": samples.cycle_ms[1:],
        "elapsed_s_samples": samples.elapsed_s,
        "seconds": samples.elapsed_s[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--price-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(run(args.blocks, args.warmup, args.price_every, args.seed), indent=2))


if __name__ == "__main__":
    main()
