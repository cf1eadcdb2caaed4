"""Benchmark: the dashboard's first meaningful paint, block → screen latency, and page weight.

    .venv/bin/python bench/dashboard.py [--loads 10] [--moves 20] [--interval 0.25]

A local Anvil with the reference universe; one real keeper cycle hedges the demo account (so every panel has
rows and the journal has intents); then `hedger dashboard` runs as its own process and headless Chromium
(Debian's, driven by Playwright) opens it.

- first meaningful paint: from navigation start to the moment the page has rendered the first block's
  numbers (tables filled from the first server-sent event), over `--loads` fresh browser contexts; the
  browser's own first-contentful-paint is reported beside it.
- block → screen: a new ETH price is sent (Anvil mines it at once) and the time runs from just before the
  transaction is sent to the moment the page has rendered that block (both clocks are this machine's),
  over `--moves` moves; `--interval` is the dashboard's poll for new blocks.
- page weight: bytes over the wire for the live page (HTML, script, styles, the chart library) and the
  size of the first state event and of one per-block update.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support: the helpers the tests use

from hedger.chain.nodes import Anvil
from hedger.chain.universe import deploy_universe
from hedger.settings import parse_network
from hedger.testing import LocalChain
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.keeper_helpers import (
    DEMO_KEY,
    cli_env,
    network_document_with,
    open_keeper,
    wait_until,
    write_network,
)

TARGET_MS = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1),
        "max": round(ordered[-1], 1),
        "n": len(ordered),
    }


def hedge_once(chain: LocalChain, doc: dict, network_file: Path, journal: Path) -> None:
    os.environ["HEDGER_PRIVATE_KEY"] = DEMO_KEY
    try:
        keeper = open_keeper(chain, parse_network(doc, str(network_file)), journal)
        keeper.cycle()
        keeper.session.close()
    finally:
        os.environ.pop("HEDGER_PRIVATE_KEY", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.25)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, Anvil.launch() as node:
        directory = Path(tmp)
        chain = LocalChain(node, deploy_universe(node))
        doc = network_document_with(chain, keeper={"kill_switch_file": str(directory / "STOP")})
        network_file = write_network(doc, directory)
        journal = directory / "journal.sqlite"
        hedge_once(chain, doc, network_file, journal)

        port = free_port()
        env = cli_env(directory, HEDGER_RPC_LOCAL=node.url)
        env.pop("HEDGER_PRIVATE_KEY")  # the dashboard never needs it
        command = [sys.executable, "-m", "hedger.app.cli", "dashboard", "--network", str(network_file), "--journal",
                   str(journal), "--port", str(port), "--interval", str(args.interval)]  # fmt: skip
        process = subprocess.Popen(command, env=env, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: _ready(url), 60, "the dashboard to serve its first snapshot", 0.05)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                result = measure(browser, chain, url, args)
                browser.close()
        finally:
            process.terminate()
            process.communicate(timeout=15)
    print(json.dumps(result, indent=2))


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/api/state", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def measure(browser, chain: LocalChain, url: str, args: argparse.Namespace) -> dict:
    paints, contentful, weights = [], [], []
    for _ in range(args.loads):
        context = browser.new_context(viewport={"width": 1500, "height": 1100})
        page = context.new_page()
        page.goto(url + "/")
        page.wait_for_function("() => window.__hedger && window.__hedger.firstRender !== null", timeout=10_000)
        page.wait_for_load_state("load")
        paints.append(page.evaluate("() => window.__hedger.firstRender"))
        fcp = page.evaluate("() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")
        if fcp is not None:
            contentful.append(fcp)
        weights.append(
            page.evaluate(
                """() => {
                  const nav = performance.getEntriesByType('navigation')[0];
                  const res = performance.getEntriesByType('resource').filter((r) => r.initiatorType !== 'other');
                  const files = [nav].concat(res).map((r) => ({ name: new URL(r.name).pathname,
                    bytes: r.transferSize || r.encodedBodySize }));
                  return files;
                }"""
            )
        )
        context.close()

    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.goto(url + "/")
    page.wait_for_function("() => window.__hedger && window.__hedger.firstRender !== null", timeout=10_000)
    feed = chain.feed("ETH/USD")
    latencies, blocks_behind = [], []
    for move in range(args.moves):
        price = (3_000 + (move % 2) * 15 + move) * 10**8
        time.sleep(0.05 + (move % 5) * args.interval / 5)  # moves land at any phase of the poll
        sent_ms = time.time() * 1000
        receipt = chain.transact(feed.functions.setAnswer(price))
        block = receipt["blockNumber"]
        page.wait_for_function(f"() => window.__hedger.rendered[{block}] !== undefined", timeout=10_000)
        latencies.append(page.evaluate(f"() => window.__hedger.rendered[{block}]") - sent_ms)
        blocks_behind.append(chain.w3.eth.block_number - block)
    context.close()

    files = {f["name"]: f["bytes"] for f in weights[0]}
    with urllib.request.urlopen(url + "/api/full") as response:
        full_bytes = len(response.read())
    with urllib.request.urlopen(url + "/api/state") as response:
        update_bytes = len(response.read())
    first_paint = percentiles(paints)
    update = percentiles(latencies)
    return {
        "benchmark": "dashboard",
        "chain": "anvil (local), reference universe, demo account hedged by one keeper cycle",
        "first_meaningful_paint_ms": first_paint,
        "first_contentful_paint_ms": percentiles(contentful) if contentful else None,
        "block_to_screen_ms": update,
        "block_to_screen_blocks_behind_max": max(blocks_behind),
        "poll_interval_s": args.interval,
        "page_weight_bytes": {
            "files": files,
            "total_files": sum(files.values()),
            "first_state_event": full_bytes,
            "per_block_update": update_bytes,
        },
        "targets_ms": {"first_meaningful_paint": TARGET_MS, "block_to_screen": TARGET_MS},
        "meets_targets": first_paint["p95"] <= TARGET_MS and update["p95"] <= TARGET_MS,
    }


if __name__ == "__main__":
    main()
