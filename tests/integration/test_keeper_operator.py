"""`hedger keeper run` for an operator: one human line per cycle on stdout by default (JSON lines with
--json), and SIGTERM honoured within 5 s even while it waits for a receipt, the transaction left in flight
in the journal for the next run to reconcile."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from hedger.execution.journal import Journal, TxStatus
from tests.support.keeper_helpers import (
    DEMO,
    cli_env,
    network_document_with,
    orders_of,
    wait_until,
    write_network,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def workdir(chain, tmp_path):
    write_network(network_document_with(chain), tmp_path)
    return tmp_path


def keeper(workdir, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "hedger.app.cli", "keeper", "run", "--interval", "0.1", *args]
    return subprocess.Popen(command, env=cli_env(workdir), cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_one_human_line_per_cycle(chain, workdir):
    proc = keeper(workdir, "--max-cycles", "1")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    lines = out.strip().splitlines()
    assert lines[0].split(" ", 1)[1].startswith("keeper started: " + DEMO)
    (cycle,) = [line for line in lines if re.search(r" block \d+: ", line)]
    assert lines[-1].split(" ", 1)[1].startswith("keeper stopped after 1 cycles")
    assert ": allow; " in cycle and "done open ETH -11" in cycle and "done open BTC -0.5" in cycle
    assert cycle.endswith(" ms")


def test_json_lines_with_the_flag(chain, workdir):
    proc = keeper(workdir, "--max-cycles", "1", "--json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    entries = [json.loads(line) for line in out.strip().splitlines()]
    (cycle,) = [e for e in entries if e["event"] == "cycle"]
    assert cycle["verdict"] == "allow" and cycle["actions"] == 3 and cycle["latency_ms"] > 0


def test_sigterm_mid_receipt_wait_exits_within_5_s_leaving_the_tx_in_flight(chain, workdir):
    chain.node.set_automine(False)  # nothing gets mined: the keeper waits for its first receipt
    try:
        proc = keeper(workdir)
        errors: list[str] = []
        reader = threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True)
        reader.start()
        wait_until(lambda: any("transaction sent" in line for line in errors), 60, "the keeper to send")
        time.sleep(0.5)  # well inside the receipt wait
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert time.monotonic() - asked < 5
    finally:
        chain.node.set_automine(True)
    journal = Journal(workdir / "journal.sqlite")
    in_flight = [t for i in journal.unfinished(DEMO, "local") for t in journal.txs(i.id) if t.status is TxStatus.SENT]
    assert len(in_flight) == 1  # kept for the next run
    journal.close()
    chain.node.mine()
    proc = keeper(workdir, "--max-cycles", "2")  # reconciles it, then hedges
    chain.node.mine()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert sorted(e["marketId"] for e in orders_of(chain)) == [1, 2]
