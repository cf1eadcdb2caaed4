"""`hedger status` with one asset's oracle stale still shows everything it can: the other asset's mark and
P&L, every oracle with its status, and says why the venue's margin is missing instead of "(none)"."""

from __future__ import annotations

import pytest

from hedger.app.cli import EXIT_OK, main
from tests.support.keeper_helpers import DEMO_KEY, network_document_with, write_network

pytestmark = pytest.mark.integration


def test_status_with_one_stale_oracle(chain, tmp_path, monkeypatch, capsys):
    write_network(network_document_with(chain), tmp_path)
    for variable in ("HEDGER_ACCOUNT", "HEDGER_KEYSTORE", "HEDGER_KILL_SWITCH", "HEDGER_RPC_LOCAL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HEDGER_NETWORKS_DIR", str(tmp_path))
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", DEMO_KEY)
    monkeypatch.setenv("HEDGER_JOURNAL", str(tmp_path / "journal.sqlite"))
    monkeypatch.chdir(tmp_path)
    assert main(["rebalance", "--execute"]) == EXIT_OK
    chain.node.increase_time(3_900)
    for name in chain.universe.feeds:
        if not name.startswith("ETH/"):
            feed = chain.feed(name)
            chain.transact(feed.functions.setAnswer(feed.functions.latestAnswer().call()))
    capsys.readouterr()
    assert main(["status"]) == EXIT_OK
    out = capsys.readouterr().out
    btc = next(line for line in out.splitlines() if line.strip().startswith("reference:BTC  short"))
    assert "60,000.00" in btc  # BTC's mark, though ETH's oracle is stale
    assert "past heartbeat" in out and "within heartbeat" in out
    assert "unavailable: the venue could not value the account" in out
