"""Benchmark: fail-over of real keepers at order level. How many blocks a standby `hedger keeper run`
needs to take an account's sender lease over after the active one stops, how many duplicate orders
that costs, and whether a fenced-off keeper ever sends.

    .venv/bin/python bench/failover.py [--trials 4] [--block-time 1] [--ttl-blocks 3]

One Anvil with the reference universe mines a block every `--block-time` seconds; a PostgreSQL
server (the pgserver wheel) holds the shared journal and the leases. Each trial, on a fresh
database and the chain reverted to its start, runs two keepers (`--holder host-a`, `host-b`) for
the demo account, with its margin deposited, so that host-a's first transaction is the BTC order
(the kill switch holds host-a back until host-b stands by). host-a stops itself at the worst
moment, right after journalling that order's signed bytes and before broadcasting them
(`HEDGER_FAULT_INJECT`): SIGSTOP in the 1st, 3rd, … trial (resumed with SIGCONT once host-b has
finished the hedge), SIGKILL in the others. Measured: blocks from host-a's
last renewal to host-b's acquisition, seconds from the stop to it, orders on chain against
journalled intents (the target: one BTC and one ETH order, the BTC one being host-a's very signed
bytes, rebroadcast by host-b), and broadcasts by a fenced-off keeper (any broadcast row outside its
token's tenure, and any by host-a after the takeover). Prints JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support: the helpers the tests use

from hedger.chain.nodes import Anvil
from hedger.chain.universe import deploy_universe
from hedger.execution.journal import Journal
from hedger.testing import LocalChain
from tests.support.chain_helpers import fund_margin
from tests.support.fleet import audit_orders, is_stopped
from tests.support.keeper_helpers import (
    DEMO,
    KeeperProcess,
    cli_env,
    network_document_with,
    orders_of,
    wait_until,
    write_network,
)


def _fresh_database(server_url: str) -> str:
    import psycopg

    name = f"failover_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    head, _, query = server_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def _keeper(workdir: Path, journal: str, holder: str, **env: str) -> KeeperProcess:
    environment = cli_env(workdir, HEDGER_JOURNAL=journal, **env)
    return KeeperProcess(["--interval", "0.1", "--holder", holder], environment, workdir)


def _msg(name: str):
    return lambda line: line.get("msg") == name


def trial(chain: LocalChain, journal_url: str, workdir: Path, kill: bool, ttl_blocks: int) -> dict[str, Any]:
    write_network(network_document_with(chain, keeper={"lease_ttl_blocks": ttl_blocks, "max_backoff_s": 1.0}), workdir)
    fund_margin(chain, DEMO, 40_000)
    nonce_before = chain.w3.eth.get_transaction_count(DEMO)
    kill_switch = workdir / ".hedger" / "STOP"  # until host-b stands by, host-a holds the lease and sends nothing
    kill_switch.parent.mkdir()
    kill_switch.touch()
    a = _keeper(workdir, journal_url, "host-a", HEDGER_FAULT_INJECT="tx_signed" if kill else "stop:tx_signed")
    b = None
    try:
        a.wait_for_log(_msg("lease_acquired"), 60, "host-a to take the lease")
        b = _keeper(workdir, journal_url, "host-b")
        b.wait_for_log(_msg("lease_standby"), 60, "host-b to stand by")
        kill_switch.unlink()  # host-a may hedge now: its first transaction, the BTC order, is where it stops
        wait_until(lambda: a.process.poll() is not None or is_stopped(a.process.pid), 120, "host-a to stop")
        stopped_at, stopped_block = time.monotonic(), chain.w3.eth.block_number
        journal = Journal(journal_url)
        ((renewed,),) = journal.db.execute("SELECT renewed_block FROM leases")
        ((signed_hash,),) = journal.db.execute("SELECT tx_hash FROM txs ORDER BY id LIMIT 1")
        taken = b.wait_for_log(_msg("lease_acquired"), 120, "host-b to take over")
        takeover_s = time.monotonic() - stopped_at  # an upper bound: when the test saw the log line
        b.wait_for_log(lambda line: line.get("msg") == "cycle" and line["actions"] == 0, 120, "host-b to hedge")
        refused = 0
        if not kill:
            os.kill(a.process.pid, signal.SIGCONT)
            a.wait_for_log(_msg("lease lost"), 60, "host-a to be fenced off")
            refused = len(a.logs("lease lost"))
            time.sleep(3)
        ((takeover_seq,),) = journal.db.execute(
            "SELECT seq FROM lease_events WHERE event = 'acquired' AND token = ?", (taken["token"],)
        )
        late = [r for r in journal.broadcasts() if r["holder"] == "host-a" and r["seq"] > takeover_seq]
        result = audit_orders(journal, chain, [DEMO], {DEMO: nonce_before})
        orders = orders_of(chain)
        journal.close()
    finally:
        for process in (a, b):
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.process.pid, signal.SIGCONT)
                process.kill()
    return {
        "stop": "SIGKILL" if kill else "SIGSTOP",
        "takeover_blocks_after_last_renewal": taken["block"] - renewed,
        "takeover_blocks_after_stop": taken["block"] - stopped_block,
        "takeover_s": round(takeover_s, 2),
        "orders_on_chain": result.orders,
        "intents_with_an_order": result.intents_with_orders,
        "duplicate_orders": result.orders - result.intents_with_orders,
        "signed_order_rebroadcast_by_standby": any(o["transactionHash"] == signed_hash for o in orders),
        "broadcasts": result.broadcasts,
        "broadcasts_by_fenced_off_keeper": result.fenced_off_broadcasts + len(late),
        "fenced_off_refusals": refused,
        "problems": result.problems,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument(
        "--block-time", type=int, default=1, help="seconds (Anvil's interval mining takes whole seconds)"
    )
    parser.add_argument("--ttl-blocks", type=int, default=3)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="hedger-failover-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(directory / "pg", cleanup_mode="stop")
    node = Anvil.launch()
    try:
        chain = LocalChain(node, deploy_universe(node))
        node.w3.provider.make_request("evm_setIntervalMining", [args.block_time])  # deployed; now timed blocks
        trials = []
        for index in range(args.trials):
            snapshot = node.snapshot()
            workdir = directory / f"trial-{index}"
            workdir.mkdir()
            trials.append(trial(chain, _fresh_database(server.get_uri()), workdir, index % 2 == 1, args.ttl_blocks))
            node.revert(snapshot)
    finally:
        node.stop()
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)
    blocks = [t["takeover_blocks_after_last_renewal"] for t in trials]
    summary = {
        "benchmark": "failover (order level: hedger keeper run x 2, PostgreSQL journal)",
        "block_time_s": args.block_time,
        "ttl_blocks": args.ttl_blocks,
        "trials": trials,
        "takeover_blocks_max": max(blocks),
        "takeover_blocks_mean": statistics.mean(blocks),
        "takeover_s_max": max(t["takeover_s"] for t in trials),
        "target_takeover_blocks": 3,
        "duplicate_orders": sum(t["duplicate_orders"] for t in trials),
        "broadcasts_by_fenced_off_keeper": sum(t["broadcasts_by_fenced_off_keeper"] for t in trials),
        "problems": sum(len(t["problems"]) for t in trials),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
