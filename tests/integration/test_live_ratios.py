"""Estimated hedge ratios live: [strategy.ratio] on seeded feeds, shown by plan/status/ratio, re-estimated on
schedule, with the --ratio override and the fallback when data is short."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from decimal import Decimal

import pytest
import tomli_w

from hedger.app.cli import EXIT_ERROR, EXIT_OK, main
from hedger.app.session import Session
from hedger.chain.history_seed import HOUR_S, load_seed, write_history
from hedger.chain.nodes import LocalNode
from hedger.chain.universe import network_document
from hedger.testing import LocalChain, chain_state_for

pytestmark = pytest.mark.integration

DAYS = 10


@pytest.fixture(scope="module")
def seeded(node: LocalNode, universe) -> Iterator[LocalChain]:
    with chain_state_for(node, universe) as chain:
        spec = {f.name: f for f in universe.spec.feeds}
        names = ("ETH/USD", "BTC/USD", "ETH/USD-2", "BTC/USD-2")
        feeds = {n: (chain.feed(n), spec[n].asset, spec[n].price) for n in names}
        write_history(chain.w3, feeds, load_seed(DAYS), universe.deployer)
        yield chain


def _network(chain: LocalChain, tmp_path, monkeypatch, **eth_spec) -> str:
    strategy = {
        "sizing": {"hedge_with": {"ETH": "BTC"}},
        "ratio": {"lookback_days": 7, "ETH": {"method": "ewma", "hedge_with": "BTC", "min_observations": 48,
                                              **eth_spec}},
    }  # fmt: skip
    path = tmp_path / "local.toml"
    path.write_text(tomli_w.dumps({**network_document(chain.universe), "strategy": strategy}))
    for variable in ("HEDGER_ACCOUNT", "HEDGER_PRIVATE_KEY", "HEDGER_KEYSTORE", "HEDGER_RPC_LOCAL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HEDGER_JOURNAL", str(tmp_path / "local-journal.sqlite"))
    monkeypatch.chdir(tmp_path)
    return str(path)


def test_plan_sizes_with_the_estimated_ratio_and_shows_where_it_came_from(seeded, tmp_path, monkeypatch, capsys):
    network = _network(seeded, tmp_path, monkeypatch)
    assert main(["plan", "--network", network, "--json"]) in (EXIT_OK, 3)
    estimated = json.loads(capsys.readouterr().out)
    (eth,) = estimated["ratios"]
    assert (eth["asset"], eth["hedge_with"], eth["method"], eth["fallback"]) == ("ETH", "BTC", "ewma", None)
    assert 0.3 < float(eth["ratio"]) < 2 and eth["std_error"] > 0 and 0 < eth["r_squared"] < 1
    assert 7 * 24 - 3 <= eth["observations"] <= 7 * 24 and eth["source"].startswith("chain: ETH/USD and BTC/USD")
    assert (tmp_path / "local-history.sqlite").exists()  # the round cache beside the journal
    # the same plan as with that ratio given by hand: the estimate is what sizing used
    assert main(["plan", "--network", network, "--json", "--ratio", f"ETH={eth['ratio']}"]) in (EXIT_OK, 3)
    by_hand = json.loads(capsys.readouterr().out)
    assert by_hand["actions"] == estimated["actions"] and by_hand["actions"]
    # and a different hand-given ratio wins over the estimate
    assert main(["plan", "--network", network, "--json", "--ratio", "ETH=0.1"]) in (EXIT_OK, 3)
    assert json.loads(capsys.readouterr().out)["actions"] != estimated["actions"]


def test_status_table_and_the_ratio_command_show_the_estimate_and_a_walk_forward(seeded, tmp_path, monkeypatch, capsys):
    network = _network(seeded, tmp_path, monkeypatch)
    assert main(["status", "--network", network]) == EXIT_OK
    out = capsys.readouterr().out
    assert "Hedge ratios" in out and "ewma" in out and "std error" in out
    assert main(["ratio", "ETH", "--network", network, "--json"]) == EXIT_OK
    (row,) = json.loads(capsys.readouterr().out)
    walk = row["walk_forward"]
    assert walk["estimator"]["observations"] > 24 and walk["one_to_one"]["method"] == "one_to_one"
    assert -1 < walk["estimator"]["he_out_of_sample"] < 1
    assert main(["ratio", "ETH", "--hedge-with", "ETH", "--network", network]) == EXIT_OK
    text = capsys.readouterr().out
    assert "Walk-forward" in text and "vs 1:1" in text


def test_the_ratio_command_refuses_an_unknown_asset_and_defaults_to_the_hedgeable_ones(
    seeded, tmp_path, monkeypatch, capsys
):
    network = _network(seeded, tmp_path, monkeypatch)
    assert main(["ratio", "XYZ", "--network", network]) == EXIT_ERROR
    assert "unknown asset" in capsys.readouterr().err
    assert main(["ratio", "ETH", "--hedge-with", "DOGE", "--network", network]) == EXIT_ERROR
    assert "unknown asset" in capsys.readouterr().err
    path = tmp_path / "no-specs.toml"
    path.write_text(tomli_w.dumps(network_document(seeded.universe)))  # no [strategy.ratio] tables
    assert main(["ratio", "--network", str(path), "--json"]) == EXIT_OK
    assert {row["asset"] for row in json.loads(capsys.readouterr().out)} == {"BTC", "ETH"}


def test_keeper_cycles_re_estimate_on_schedule_only(seeded, tmp_path, monkeypatch):
    network = _network(seeded, tmp_path, monkeypatch, reestimate_s=2 * HOUR_S)
    session = Session.open(network)
    try:
        first = session.snapshot()
        ratios = session.hedge_ratios(first)
        estimated_at = session.ratio_book.live["ETH"].estimated_at
        before = session.reader.rpc.round_trips
        assert session.hedge_ratios(first) == ratios  # not due: no RPC at all
        assert session.reader.rpc.round_trips == before
        seeded.node.increase_time(HOUR_S)
        seeded.transact(seeded.feed("ETH/USD").functions.setAnswer(2500 * 10**8))
        session.hedge_ratios(session.snapshot())
        assert session.ratio_book.live["ETH"].estimated_at == estimated_at  # one hour: still not due
        seeded.node.increase_time(HOUR_S)
        seeded.transact(seeded.feed("BTC/USD").functions.setAnswer(61_000 * 10**8))
        later = session.snapshot()
        before = session.reader.rpc.round_trips
        session.hedge_ratios(later)
        assert session.reader.rpc.round_trips - before == 1  # due: one warm history read
        assert session.ratio_book.live["ETH"].estimated_at == later.block_timestamp
    finally:
        session.close()


def test_short_history_falls_back_and_says_why(seeded, tmp_path, monkeypatch, capsys):
    network = _network(seeded, tmp_path, monkeypatch, min_observations=5000, fallback=0.8)
    assert main(["plan", "--network", network, "--json"]) in (EXIT_OK, 3)
    (eth,) = json.loads(capsys.readouterr().out)["ratios"]
    assert Decimal(eth["ratio"]) == Decimal("0.8") and "fewer than min_observations 5000" in eth["fallback"]


def test_a_file_source_estimates_from_binance_csvs(seeded, tmp_path, monkeypatch, capsys):
    from tests.unit.backtest.synthetic import random_walk, write_binance_csv

    btc = random_walk(24 * 20, seed=8, start=40_000.0)
    eth = 0.05 * btc * random_walk(24 * 20, seed=9, start=1.0, vol=0.004)
    eth_file = write_binance_csv(tmp_path / "binance_ethusdt_1h.csv", eth, eth)
    btc_file = write_binance_csv(tmp_path / "binance_btcusdt_1h.csv", btc, btc * 1.0001)
    network = _network(seeded, tmp_path, monkeypatch)
    path = tmp_path / "local.toml"
    document = tomllib.loads(path.read_text())
    files = {"ETH": str(eth_file), "BTC": str(btc_file)}
    document["strategy"]["ratio"].update(source="file", lookback_days=14, files=files)
    path.write_text(tomli_w.dumps(document))
    assert main(["ratio", "ETH", "--network", network, "--json"]) == EXIT_OK
    (row,) = json.loads(capsys.readouterr().out)
    assert row["source"].startswith("files: ") and row["fallback"] is None
    assert float(row["ratio"]) == pytest.approx(1.0, abs=0.1)  # ETH moves with BTC one for one, plus noise
    assert 14 * 24 - 2 <= row["observations"] <= 14 * 24 + 1


def test_the_dashboard_plans_with_the_estimate_and_shows_its_uncertainty(seeded, tmp_path, monkeypatch, capsys):
    from hedger.app.dashboard.live import Live, open_session
    from hedger.app.display import number

    network = _network(seeded, tmp_path, monkeypatch)
    assert main(["plan", "--network", network, "--json"]) in (EXIT_OK, 3)
    cli_plan = json.loads(capsys.readouterr().out)
    live = Live(open_session(network, seeded.node.url))
    try:
        document = live.refresh()
    finally:
        live.session.close()
    rows = {r["id"]: r["cells"] for r in document["panels"]["exposure"]["table"]["rows"]}
    (eth,) = cli_plan["ratios"]
    assert rows["ETH"]["estimate"].startswith(f"{eth['estimated']:.3f} ± {eth['std_error']:.3f} (ewma on BTC")
    assert document["verdict"] == cli_plan["verdict"]
    sizes = [r["cells"]["size"] for r in document["panels"]["plan"]["actions"]["rows"]]
    assert sizes and sizes == [number(Decimal(a["size_delta"]), 6) if a["size_delta"] != "0" else ""
                               for a in cli_plan["actions"]]  # fmt: skip
