"""Reports: metrics.json, one PNG per chart, one self-contained HTML page; the `hedger backtest` command."""

from __future__ import annotations

import ast
import json
import re

import numpy as np
import pandas as pd
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


@pytest.mark.slow
def test_backtest_command_with_the_plan_engine_reports_what_the_planner_said(tmp_path, capsys):
    eth, btc = random_walk(24 * 10, seed=5), random_walk(24 * 10, seed=6, start=1000.0)
    eth_file = write_binance_csv(tmp_path / "binance_ethusdt_1h.csv", eth, eth)
    btc_file = write_binance_csv(tmp_path / "binance_btcusdt_1h.csv", btc, btc)
    out = tmp_path / "out"
    arguments = ["backtest", "--data", f"{eth_file},{btc_file}", "--spot", "ETH", "--hedge-with", "BTC"]
    code = main([*arguments, "--engine", "plan", "--policy", "one_to_one,ewma", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    line = re.search(r"^one_to_one: plan verdicts (\{.*?\}); (\d+) halted closes; guards (\{.*?\})", printed, re.M)
    assert line is not None, printed
    verdicts, guards = ast.literal_eval(line.group(1)), ast.literal_eval(line.group(3))  # the printed dicts
    # until the first funding settlement the rate is unknown: the live guard keeps those closes reduce-only
    assert verdicts["allow"] > 200 and verdicts.get("reduce_only") == 7 and guards.get("funding_unknown") == 7
    assert "fills rejected" in printed and (out / "report.html").exists()
    assert {"one_to_one", "ewma"} <= set(json.loads((out / "metrics.json").read_text())["policies"])


@pytest.mark.slow  # writes the report's charts
def test_a_history_shorter_than_a_day_warns_on_stderr_in_the_json_and_on_the_page(tmp_path, capsys):
    eth = random_walk(12, seed=7)
    eth_file = write_binance_csv(tmp_path / "binance_ethusdt_1h.csv", eth, eth)
    out = tmp_path / "out"
    assert main(["backtest", "--data", str(eth_file), "--policy", "one_to_one", "--out", str(out)]) == 0
    assert "warning: the history spans 11 h, less than a day" in capsys.readouterr().err
    (warning,) = json.loads((out / "metrics.json").read_text())["data"]["warnings"]
    assert warning.startswith("the history spans 11 h")
    assert "<p class='warning'>Warning: the history spans 11 h" in (out / "report.html").read_text()


def test_a_day_or_more_of_history_has_no_warning():
    spot = random_walk(25, seed=8)
    assert synthetic_history(spot, spot).warnings == ()
    assert synthetic_history(spot[:24], spot[:24]).warnings != ()  # 23 h between the first and last close


def test_a_history_with_fewer_than_half_its_hours_valid_warns():
    spot = random_walk(200, seed=9)
    spot[::3] = spot[1::3] = np.nan  # a third of the hours valid
    (warning,) = synthetic_history(spot, spot).warnings
    assert warning.startswith("only 66 of 200 hours are valid (33%)")


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [("perp_close", 1e308, "beyond 1e+12, not a price"), ("funding_rate", "inf", "not a rate")],
)
def test_a_corrupt_price_or_rate_is_refused_not_run(tmp_path, capsys, column, value, message):
    eth = random_walk(48, seed=7)
    path = write_binance_csv(tmp_path / "binance_ethusdt_1h.csv", eth, eth)
    frame = pd.read_csv(path)
    frame[column] = frame[column].astype(object)
    frame.loc[16, column] = value
    frame.to_csv(path, index=False)
    code = main(["backtest", "--data", str(path), "--policy", "one_to_one", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err
