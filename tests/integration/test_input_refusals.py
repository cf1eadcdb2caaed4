"""Inputs that would flip or inflate the hedge are refused with a clear error and nothing sent: hedge ratios
on the command line, a network file whose token decimals disagree with the chain, and dust orders."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from hedger.app.cli import EXIT_ERROR, EXIT_OK, main
from hedger.app.session import Session
from hedger.chain.connect import connect
from hedger.chain.universe import write_network_file
from hedger.model import Verdict
from tests.support.keeper_helpers import DEMO, DEMO_KEY, network_document_with, write_network

pytestmark = pytest.mark.integration


@pytest.fixture
def workdir(chain, tmp_path, monkeypatch):
    write_network_file(chain.universe, tmp_path / "local.toml")
    for variable in ("HEDGER_ACCOUNT", "HEDGER_KEYSTORE", "HEDGER_KILL_SWITCH", "HEDGER_RPC_LOCAL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HEDGER_NETWORKS_DIR", str(tmp_path))
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", DEMO_KEY)
    monkeypatch.setenv("HEDGER_JOURNAL", str(tmp_path / "journal.sqlite"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("ratio", "message"),
    [
        ("ETH=-1", "outside [0, 2]"),
        ("ETH=1e9", "outside [0, 2]"),
        ("ETH=Infinity", "not a finite number"),
        ("ETH=NaN", "not a finite number"),
        ("DOGE=1", "known assets: BTC, ETH, USDC"),
    ],
)
def test_a_bad_ratio_exits_1_with_the_reason_and_sends_nothing(chain, workdir, capsys, ratio, message):
    nonce = chain.w3.eth.get_transaction_count(DEMO)
    assert main(["rebalance", "--execute", "--ratio", ratio]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert chain.w3.eth.get_transaction_count(DEMO) == nonce


def test_a_lowercase_asset_is_the_asset(chain, workdir, capsys):
    assert main(["plan", "--json", "--ratio", "eth=0.5"]) == EXIT_OK
    assert '"size_delta": "-5.5"' in capsys.readouterr().out  # half of 11 ETH


def test_token_decimals_that_disagree_with_the_chain_halt_that_asset(chain, workdir, capsys):
    doc = network_document_with(chain)
    doc["tokens"]["WETH"]["decimals"] = 6  # WETH has 18: believed, 10 WETH would read as 10^13
    write_network(doc, workdir)
    nonce = chain.w3.eth.get_transaction_count(DEMO)
    assert main(["rebalance", "--execute", "--json"]) == 3  # halted
    out = capsys.readouterr().out
    assert "token_mismatch" in out and "says 6 decimals, the token on chain has 18" in out
    assert chain.w3.eth.get_transaction_count(DEMO) == nonce


def test_no_dust_order_is_sent(chain, workdir):
    session = Session(chain.network, connect(chain.node.url, 31337), DEMO, chain.node.url,
                      workdir / "journal.sqlite")  # fmt: skip
    snapshot = session.snapshot()
    plan = session.plan(snapshot)
    assert plan.verdict is Verdict.ALLOW
    btc = next(a for a in plan.actions if a.symbol == "BTC")
    dust = dataclasses.replace(btc, size_delta=Decimal("-3.4E-11"))
    nonce = chain.w3.eth.get_transaction_count(DEMO)
    report = session.executor().execute(dataclasses.replace(plan, actions=(dust,)), snapshot)
    (outcome,) = report.outcomes
    assert outcome.status == "skipped" and outcome.detail.startswith("dust:")
    assert chain.w3.eth.get_transaction_count(DEMO) == nonce
