"""`hedger status` against the session chain: tables and JSON from one block."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from hedger.app.cli import EXIT_ERROR, EXIT_OK, main
from hedger.chain.universe import write_network_file
from tests.support.chain_helpers import WAD, fund_margin

pytestmark = pytest.mark.integration


@pytest.fixture
def network_file(chain, tmp_path, monkeypatch):
    path = tmp_path / "local.toml"
    write_network_file(chain.universe, path)
    for variable in ("HEDGER_ACCOUNT", "HEDGER_PRIVATE_KEY", "HEDGER_KEYSTORE", "HEDGER_RPC_LOCAL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return path


def test_status_json_is_one_block_of_exact_values(chain, network_file, capsys):
    demo = chain.universe.demo_account
    fund_margin(chain, demo, 5_000)
    chain.transact(chain.perp.functions.modifyPosition(1, -8 * WAD, 0), demo)
    for name in chain.universe.feeds:  # a second round on every feed: its previous round is read too
        feed = chain.feed(name)
        chain.transact(feed.functions.setAnswer(feed.functions.latestRoundData().call()[1]))
    assert main(["status", "--network", str(network_file), "--json"]) == EXIT_OK
    snapshot = json.loads(capsys.readouterr().out)
    assert snapshot["account"] == demo and snapshot["rpc_round_trips"] == 3
    (position,) = snapshot["positions"]
    assert (position["side"], position["contracts"]) == ("short", "8")
    eth = next(e for e in snapshot["exposures"] if e["asset"] == "ETH")
    assert eth["perp"] == "-8"
    funding = snapshot["funding"][0]
    assert funding["interval_s"] == 3600 and funding["sign_convention"] == "positive: longs pay shorts"
    assert Decimal(funding["annualized"]) == Decimal(funding["per_hour"]) * 8760


def test_status_table_names_every_section(chain, network_file, capsys):
    assert main(["status", "--network", str(network_file), "--account", chain.universe.deployer]) == EXIT_OK
    out = capsys.readouterr().out
    for section in ("Exposure", "Positions", "Funding", "Oracles", "Sequencer", "Pending orders", "Margin"):
        assert f"\n{section}" in out
    assert chain.universe.deployer in out


def test_a_bad_account_is_a_clear_error(network_file, capsys):
    assert main(["status", "--network", str(network_file), "--account", "0x1234"]) == EXIT_ERROR
    assert "is not an address" in capsys.readouterr().err
