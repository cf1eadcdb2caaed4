"""Reports: metrics.json, one PNG per chart, one self-contained HTML page; the `hedger backtest` command."""

from __future__ import annotations

import json
import re

import pytest

from hedger.app.cli import main
from hedger.backtest.engine import run_backtest
from hedger.backtest.metrics import compute_metrics
from hedger.backtest.policies import policy_from_name
from hedger.backtest.report import CHARTS, write_report
from tests.unit.backtest.synthetic import random_walk, synthetic_history, write_binance_csv


@pytest.mark.slow  # renders every chart with matplotlib
def test_report_writes_metrics_charts_and_one_html_that_embeds_them(tmp_path):
    spot = random_walk(24 * 20, seed=1)
    history = synthetic_history(spot, spot * random_walk(24 * 20, seed=2, start=1.0, vol=0.001))
    results = [run_backtest(history, policy_from_name(name)) for name in ("unhedged", "one_to_one", "ewma_band_2")]
    metrics = {r.policy.name: compute_metrics(r) for r in results}

    files = write_report(results, metrics, tmp_path / "report")

    document = json.loads(files.metrics_json.read_text())
    assert list(document["policies"]) == ["unhedged", "one_to_one", "ewma_band_2"]
    assert document["policies"]["one_to_one"]["metrics"]["he_1h"] > 0.9
    assert document["policies"]["ewma_band_2"]["policy"]["rebalance"]["band_rel"] == pytest.approx(0.02)
    assert document["data"]["hours"] == len(history)
    assert sorted(p.name for p in files.charts) == sorted(f"{name}.png" for name, _ in CHARTS)
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in files.charts)
    html = files.html.read_text()
    assert html.count("src='data:image/png;base64,") == len(CHARTS)
    assert not re.search(r"(src|href)=['\"](?!data:)", html)  # nothing to fetch: self-contained


@pytest.mark.slow
def test_backtest_command_prints_a_summary_and_writes_the_report(tmp_path, capsys):
    eth, btc = random_walk(24 * 15, seed=3), random_walk(24 * 15, seed=4, start=1000.0)
    eth_file = write_binance_csv(tmp_path / "binance_ethusdt_1h.csv", eth, eth)
    btc_file = write_binance_csv(tmp_path / "binance_btcusdt_1h.csv", btc, btc)
    out = tmp_path / "out"

    arguments = ["backtest", "--data", f"{eth_file},{btc_file}", "--spot", "ETH", "--hedge-with", "BTC"]
    code = main([*arguments, "--policy", "unhedged,one_to_one,band_10", "--out", str(out), "--leverage", "5"])

    printed = capsys.readouterr().out
    assert code == 0
    assert "ETH spot hedged with the BTC perp" in printed
    assert re.search(r"^band_10\s", printed, re.MULTILINE)
    assert (out / "metrics.json").exists() and (out / "report.html").exists()
    config = json.loads((out / "metrics.json").read_text())["config"]
    assert config["margin"]["leverage"] == pytest.approx(5.0)


def test_backtest_command_reports_a_bad_file_as_an_error(tmp_path, capsys):
    code = main(["backtest", "--data", str(tmp_path / "binance_ethusdt_missing.csv"), "--out", str(tmp_path)])
    assert code == 1
    assert "no such file" in capsys.readouterr().err
