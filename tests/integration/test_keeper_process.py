"""`hedger keeper run` as a process: SIGKILLed in the middle of a cycle and restarted, it sends exactly one
order per intent; cut off from its RPC for 30 s (in CI), it backs off, survives, and resumes on new blocks;
SIGTERM ends it with exit code 0."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
import urllib.request
from decimal import Decimal

import pytest

from hedger.execution.journal import IntentStatus, Journal, TxStatus
from tests.support.chain_helpers import fund_margin
from tests.support.keeper_helpers import (
    DEMO,
    WAD,
    DroppingProxy,
    KeeperProcess,
    cli_env,
    keeper_process,
    mint,
    network_document_with,
    orders_of,
    position,
    write_network,
)
from tests.support.sizes import OUTAGE_S

pytestmark = pytest.mark.integration

# step → (markets with an order on chain after the kill, the restarted keeper's first cycle)
CRASHES = {
    # the BTC order was signed, never broadcast: the restart broadcasts the same bytes while reconciling, after
    # the block its plan read, so it sends nothing on that plan and plans again on the next block
    "tx_signed": ([], ["skipped:open:reference:BTC", "skipped:open:reference:ETH"]),
    # the BTC order was mined before the restart's snapshot: that plan already knows it
    "tx_sent": ([2], ["done:open:reference:ETH"]),
    "receipt_recorded": ([2], ["done:open:reference:ETH"]),
}


@pytest.fixture
def workdir(chain, tmp_path):
    """networks/local.toml for the session chain in tmp_path (the keeper runs there: its journal too)."""
    write_network(network_document_with(chain, keeper={"max_backoff_s": 2.0}), tmp_path)
    return tmp_path


def done_cycle(line: dict) -> bool:
    """A cycle log line of a keeper with nothing left to do."""
    return line.get("msg") == "cycle" and line["verdict"] == "allow" and line["actions"] == 0


@pytest.mark.parametrize("step", CRASHES)
def test_a_keeper_killed_mid_cycle_and_restarted_sends_exactly_one_order_per_intent(chain, workdir, step):
    """The margin is deposited beforehand, so the first transaction of the first cycle is the BTC order:
    the kill lands after it was signed (not yet broadcast), after it was broadcast and mined, or after
    its receipt was recorded, with the ETH order still to come."""
    fund_margin(chain, DEMO, 40_000)
    killed = subprocess.run(
        KeeperProcess.command(["--interval", "0.05"]), env=cli_env(workdir, HEDGER_FAULT_INJECT=step),
        cwd=workdir, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    on_chain, first_cycle = CRASHES[step]
    assert [o["marketId"] for o in orders_of(chain)] == on_chain

    with keeper_process(["--interval", "0.05"], cli_env(workdir), workdir) as keeper:
        keeper.wait_for_log(done_cycle, 60, "the restarted keeper to reach its targets")
        assert keeper.stop() == 0
    assert keeper.cycles()[0]["outcomes"] == first_cycle

    orders = orders_of(chain)
    assert sorted(o["marketId"] for o in orders) == [1, 2]  # one ETH order, one BTC order: no more
    eth = next(o for o in orders if o["marketId"] == 1)  # ETH: the wallet's 11 ETH less gas
    assert position(chain, "ETH") == Decimal(eth["sizeDelta"]) / WAD and position(chain, "BTC") == Decimal("-0.5")
    journal = Journal(workdir / "journal.sqlite")
    intents = journal.intents(DEMO)
    assert [(i.kind, i.symbol, i.status) for i in intents] == [
        ("open", "BTC", IntentStatus.DONE),
        ("open", "ETH", IntentStatus.DONE),
    ]
    for intent in intents:
        assert [t.status for t in journal.txs(intent.id)] == [TxStatus.MINED]  # one transaction, mined once


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return float(re.search(rf"^{name}{{[^}}]*}} (\S+)$", text, re.MULTILINE).group(1))  # one account's series


def grew_eth_hedge(since_block: int):
    """A cycle log line, on `since_block` or later, in which the keeper grew the ETH hedge."""

    def check(line: dict) -> bool:
        return (
            line.get("msg") == "cycle"
            and line["block"] >= since_block
            and "done:increase:reference:ETH" in line["outcomes"]
        )

    return check


def _backing_off(line: dict) -> bool:
    return line.get("msg") == "rpc unavailable, backing off"


@pytest.mark.slow
def test_a_keeper_cut_off_from_its_rpc_for_30_s_backs_off_survives_and_resumes(chain, workdir):
    """A TCP proxy between the keeper and the node drops every connection for OUTAGE_S (30 s in CI;
    [keeper] max_backoff_s = 2). Meanwhile the chain moves on: the wallet receives 5 WETH. Once the RPC
    answers again the keeper plans on the new blocks and grows the ETH hedge; SIGTERM then ends it with
    exit code 0."""
    proxy, port = DroppingProxy(chain.node.port), free_port()
    args = ["--rpc-url", proxy.url, "--interval", "0.1", "--metrics-port", str(port)]
    try:
        with keeper_process(args, cli_env(workdir), workdir) as keeper:
            keeper.wait_for_log(done_cycle, 60, "the keeper to hedge the wallet")
            cut_at, started = time.time(), time.monotonic()
            proxy.cut()
            mint(chain, "WETH", 5)  # straight to the node: the keeper cannot see it
            moved_on = chain.w3.eth.block_number
            keeper.wait_for_log(_backing_off, max(OUTAGE_S, 30.0), "backoff")  # logged after the first failed read
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - started)))  # the outage lasts OUTAGE_S, by definition
            proxy.restore()
            restored_at = time.time()
            resumed = keeper.wait_for_log(grew_eth_hedge(moved_on), 60, "the keeper to resume")
            backoffs = keeper.logs("rpc unavailable, backing off")
            assert metric(port, "hedger_rpc_errors_total") == len(backoffs)
            assert keeper.process.poll() is None  # it survived
            assert keeper.stop() == 0
    finally:
        proxy.close()
    assert proxy.refused > 0  # the keeper kept knocking throughout
    expected_backoffs_s = [1.0] + [2.0] * (len(backoffs) - 1)  # 0.5 × 2^n, capped at 2
    assert [b["retry_in_s"] for b in backoffs] == pytest.approx(expected_backoffs_s)
    assert all(cut_at <= b["ts"] <= restored_at + 0.5 for b in backoffs)
    assert resumed["ts"] > restored_at and resumed["verdict"] == "allow"
    assert keeper.logs("keeper stopped")[0]["last_block"] >= resumed["block"]
    assert position(chain, "ETH") < Decimal(-15)  # 11 ETH hedged, then the 5 that arrived during the outage
