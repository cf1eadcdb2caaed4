"""Every entry point goes through `Session.run_once`, so the kill switch (environment or file) holds on
each: `hedger rebalance --execute`, `hedger plan`, `hedger keeper run`, the in-process keeper,
scripts/hedge_once.py and scripts/keeper.py. With the switch on, a fresh account (nothing hedged: every
order would open a hedge, which adds venue risk) sends no transaction at all."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from hedger.app.cli import EXIT_OK, main
from hedger.chain.universe import write_network_file
from tests.support.keeper_helpers import DEMO, DEMO_KEY, network_with, open_keeper

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(chain, tmp_path, monkeypatch):
    write_network_file(chain.universe, tmp_path / "local.toml")
    for variable in ("HEDGER_ACCOUNT", "HEDGER_KEYSTORE", "HEDGER_KILL_SWITCH"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HEDGER_NETWORKS_DIR", str(tmp_path))
    monkeypatch.setenv("HEDGER_RPC_LOCAL", chain.node.url)
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", DEMO_KEY)
    monkeypatch.setenv("HEDGER_JOURNAL", str(tmp_path / "journal.sqlite"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(params=["env", "file"])
def kill_switch(request, workdir, monkeypatch):
    if request.param == "env":
        monkeypatch.setenv("HEDGER_KILL_SWITCH", "1")
    else:
        (workdir / ".hedger").mkdir(exist_ok=True)
        (workdir / ".hedger" / "STOP").touch()
    return request.param


@pytest.fixture
def signals_restored():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def untouched(chain, nonce: int) -> None:
    assert chain.w3.eth.get_transaction_count(DEMO) == nonce, "a transaction was sent under the kill switch"
    assert chain.perp.functions.openMarkets(DEMO).call() == []


def test_rebalance_execute_sends_nothing_risk_adding(chain, kill_switch, capsys):
    nonce = chain.w3.eth.get_transaction_count(DEMO)
    assert main(["rebalance", "--execute", "--json"]) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["plan"]["verdict"] == "reduce_only" and out["plan"]["actions"] == []
    assert any(r["code"] == "operator_gate" and "kill switch" in r["message"] for r in out["plan"]["reasons"])
    untouched(chain, nonce)


def test_plan_shows_the_gate(chain, kill_switch, capsys):
    assert main(["plan", "--json"]) == EXIT_OK
    plan = json.loads(capsys.readouterr().out)
    assert plan["verdict"] == "reduce_only" and plan["actions"] == []


def test_keeper_run_sends_nothing_risk_adding(chain, kill_switch, signals_restored):
    nonce = chain.w3.eth.get_transaction_count(DEMO)
    assert main(["keeper", "run", "--max-cycles", "1", "--interval", "0.05"]) == EXIT_OK
    untouched(chain, nonce)


def test_in_process_keeper_sends_nothing_risk_adding(chain, kill_switch, workdir):
    keeper = open_keeper(chain, network_with(chain), workdir / "journal.sqlite",
                         kill_switch_file=Path(".hedger") / "STOP")  # fmt: skip
    nonce = chain.w3.eth.get_transaction_count(DEMO)
    result = keeper.cycle()
    assert result.report is not None and result.report.sent == ()
    untouched(chain, nonce)


def test_scripts_send_nothing_risk_adding(chain, kill_switch, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    for name in ("hedge_once", "keeper"):
        sys.modules.pop(name, None)
    import hedge_once
    import keeper as keeper_script

    nonce = chain.w3.eth.get_transaction_count(DEMO)
    report = hedge_once.main()
    assert report.sent == ()
    assert keeper_script.main("2") == 2
    untouched(chain, nonce)
