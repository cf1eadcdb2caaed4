"""`hedger rebalance --execute` killed (SIGKILL) at every journal step, then restarted: exactly one
order per intent, every record kept; and no log, output or journal ever holds the key."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from hedger.chain.universe import write_network_file
from hedger.execution.journal import IntentStatus, Journal, TxStatus
from tests.support.chain_helpers import WAD
from tests.support.keeper_helpers import DEMO_KEY, cli_env

pytestmark = pytest.mark.integration

STEPS = ["intent_recorded", "tx_signed", "tx_sent", "tx_mined", "receipt_recorded"]


@pytest.fixture
def cli(chain, tmp_path):
    write_network_file(chain.universe, tmp_path / "local.toml")
    env = cli_env(tmp_path, HEDGER_LOG_LEVEL="DEBUG")

    def run(*args: str, fault: str | None = None) -> subprocess.CompletedProcess:
        extra = {"HEDGER_FAULT_INJECT": fault} if fault else {}
        return subprocess.run([sys.executable, "-m", "hedger.app.cli", *args], env={**env, **extra}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    return run


def order_events(chain, account: str) -> list:
    event = chain.perp.events.PositionModified()
    logs = chain.w3.eth.get_logs({"address": chain.perp.address, "fromBlock": 0, "topics": [event.topic]})
    return [e for e in (event.process_log(log) for log in logs) if e["args"]["account"] == account]


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_journal_step_never_sends_an_order_twice(chain, cli, tmp_path, step):
    demo = chain.universe.demo_account
    crashed = cli("rebalance", "--execute", fault=step)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    finished = cli("rebalance", "--execute")
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]

    orders = order_events(chain, demo)
    assert sorted(e["args"]["marketId"] for e in orders) == [1, 2]  # one ETH order and one BTC order, no more
    eth_order = next(e for e in orders if e["args"]["marketId"] == 1)
    eth_size = chain.perp.functions.getPosition(demo, 1).call()[0]
    assert eth_size == eth_order["args"]["sizeDelta"] and abs(eth_size + 11 * WAD) < WAD // 1000  # 11 ETH less gas
    assert chain.perp.functions.getPosition(demo, 2).call()[0] == -WAD // 2
    deposits = chain.perp.events.MarginDeposited().get_logs(from_block=0, argument_filters={"account": demo})
    assert len(deposits) == 1

    journal = Journal(tmp_path / "journal.sqlite")
    intents = journal.intents(demo)
    assert all(i.status.final for i in intents)
    for intent in intents:
        mined_main = [t for t in journal.txs(intent.id) if t.purpose == "main" and t.status is TxStatus.MINED]
        assert len(mined_main) <= 1  # never two orders for one intent
        assert journal.events(intent.id)[0]["event"] == "intent_recorded"  # every record kept
    done = [i for i in intents if i.status is IntentStatus.DONE]
    assert sorted(i.kind for i in done) == ["add_collateral", "open", "open"]

    assert cli("rebalance", "--execute").returncode == 0  # a third run finds nothing left to do
    assert len(order_events(chain, demo)) == 2


def test_the_key_never_appears_in_output_logs_or_journal(chain, cli, tmp_path):
    result = cli("rebalance", "--execute")
    assert result.returncode == 0
    bad = cli("status", "--account", "0x0000000000000000000000000000000000000001", "--rpc-url", "http://127.0.0.1:1")
    secret = DEMO_KEY.removeprefix("0x").lower()
    journal_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("journal.sqlite*")).lower()
    for text in (result.stdout, result.stderr, bad.stdout, bad.stderr):
        assert secret not in text.lower()
    assert secret.encode() not in journal_bytes
    assert '"msg": "transaction sent"' in result.stderr  # the logs were on, at debug level


def test_an_invalid_key_is_refused_without_echoing_it(cli, monkeypatch):
    from hedger.execution.signer import SignerError, load_signer

    monkeypatch.setenv("HEDGER_PRIVATE_KEY", "0x" + "zz" * 32)
    with pytest.raises(SignerError) as error:
        load_signer()
    assert "zz" not in str(error.value) and error.value.__cause__ is None
