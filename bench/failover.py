"""Benchmark: how many blocks a standby keeper needs to take the sender lease over, and whether a
fenced-off keeper ever writes.

    .venv/bin/python bench/failover.py [--trials 4] [--block-time 1] [--ttl-blocks 3]

A local Anvil mines a block every `--block-time` seconds; a PostgreSQL server (the pgserver wheel)
holds the leases. Each trial, in a fresh database, starts two lease contenders as real processes
(`python -m hedger.execution.lease drill`, one fenced write per block while holding), lets the
first one hold for a few blocks, then stops it between its renewal and its write: SIGSTOP on odd
trials (then SIGCONT once the standby holds: its write must be refused), SIGKILL on even ones.
Takeover is counted in blocks from the block current when the holder stopped to the block the
standby acquired at. Writes by a fenced-off holder are the rows the stopped holder wrote under its
old token after the standby's acquisition (the lock-ordered sequence numbers say which came
first); if the resumed holder later takes the lease back legitimately, under a new token (a lapse
of the standby's lease on a loaded machine), that is reported but not counted. The lease log and
the writes are audited afterwards (tests/support/fleet.py): duplicate holders of one token, writes
outside their token's tenure. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support: the helpers the tests use

from hedger.chain.nodes import DEV_ACCOUNTS, Anvil, NodeConfig
from hedger.execution.lease import open_leases
from tests.support.fleet import Contender, audit

ACCOUNT = DEV_ACCOUNTS[1][0].lower()


def _fresh_database(server_url: str) -> str:
    import psycopg

    name = f"failover_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    head, _, query = server_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def trial(node: Anvil, journal: str, kill: bool, ttl_blocks: int, block_time: float) -> dict[str, Any]:
    a = Contender("host-a", journal, node.url, [ACCOUNT], ttl_blocks=ttl_blocks, ttl_s=60 * block_time, work_s=0.3)
    b: Contender | None = None
    try:
        a.wait_for(lambda e: e["event"] == "acquired", timeout_s=30)
        b = Contender("host-b", journal, node.url, [ACCOUNT], ttl_blocks=ttl_blocks, ttl_s=60 * block_time, work_s=0.3)
        b.wait_for(lambda e: e["event"] == "started", timeout_s=30)
        first = a.wait_for(lambda e: e["event"] == "wrote", timeout_s=30)
        a.wait_for(lambda e: e["event"] == "wrote" and e["block"] >= first["block"] + 2, timeout_s=30)
        mark = a.mark()
        a.wait_for(lambda e: e["event"] == "cycle" and e["due"] == [ACCOUNT], after=mark, timeout_s=30)
        (a.kill if kill else a.pause)()
        stopped_block, stopped_at = node.w3.eth.block_number, time.monotonic()
        taken = b.wait_for(lambda e: e["event"] == "acquired", timeout_s=30 + 10 * ttl_blocks * block_time)
        takeover_s = taken["seen_at"] - stopped_at
        b.wait_for(lambda e: e["event"] == "wrote" and e["token"] == taken["token"], timeout_s=30)
        if not kill:
            a.resume()
            a.wait_for(lambda e: e["event"] in ("fenced_out", "standby", "db_error"), after=mark, timeout_s=30)
            time.sleep(2 * block_time)
    finally:
        for contender in (a, b):
            if contender is not None:
                contender.stop()
    with open_leases(journal) as db:
        result = audit(db)
        # writes the stopped holder made under its old token after the standby's acquisition
        ((takeover_seq,),) = db.execute(
            "SELECT seq FROM lease_events WHERE token = ? AND event = 'acquired'", (taken["token"],)
        )
        ((fenced_writes,),) = db.execute(
            "SELECT count(*) FROM lease_drill_writes WHERE holder = ? AND token < ? AND seq > ?",
            ("host-a", taken["token"], takeover_seq),
        )
    return {
        "stop": "SIGKILL" if kill else "SIGSTOP",
        "takeover_blocks": taken["block"] - stopped_block,
        "takeover_s": round(takeover_s, 3),
        "fenced_writes_by_fenced_off_holder": fenced_writes,
        "refused": a.count("fenced_out"),
        "resumed_holder_took_the_lease_again": a.count("acquired") > 1,
        "duplicate_holders": result.duplicate_holders,
        "stale_writes": result.stale_writes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--block-time", type=float, default=1.0)
    parser.add_argument("--ttl-blocks", type=int, default=3)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="hedger-failover-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(directory / "pg", cleanup_mode="stop")
    node = Anvil.launch(NodeConfig(block_time=args.block_time))
    try:
        trials = [
            trial(node, _fresh_database(server.get_uri()), kill=index % 2 == 1, ttl_blocks=args.ttl_blocks,
                  block_time=args.block_time)
            for index in range(args.trials)
        ]  # fmt: skip
    finally:
        node.stop()
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)
    blocks = [t["takeover_blocks"] for t in trials]
    print(
        json.dumps(
            {
                "benchmark": "failover",
                "block_time_s": args.block_time,
                "ttl_blocks": args.ttl_blocks,
                "trials": trials,
                "takeover_blocks_max": max(blocks),
                "takeover_blocks_mean": statistics.mean(blocks),
                "takeover_s_max": max(t["takeover_s"] for t in trials),
                "target_takeover_blocks": 3,
                "fenced_writes_by_fenced_off_holder": sum(t["fenced_writes_by_fenced_off_holder"] for t in trials),
                "duplicate_holders": sum(t["duplicate_holders"] for t in trials),
                "stale_writes": sum(t["stale_writes"] for t in trials),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
