"""The dashboard's backtest listing (/api/backtests) from a real metrics.json: each report's assets and span."""

from __future__ import annotations

import json

from hedger.app.dashboard.server import list_reports
from hedger.backtest.data import align, load_binance
from hedger.backtest.engine import run_backtest
from hedger.backtest.metrics import compute_metrics
from hedger.backtest.policies import policy_from_name
from hedger.backtest.report import metrics_document
from tests.unit.backtest.synthetic import random_walk, write_binance_csv


def test_a_report_is_listed_with_its_assets_and_its_first_and_last_close(tmp_path):
    eth = random_walk(24 * 3, seed=3)
    market = load_binance(write_binance_csv(tmp_path / "binance_ethusdt_1h.csv", eth, eth))
    result = run_backtest(align(market, market), policy_from_name("one_to_one"))
    report = tmp_path / "reports" / "eth"
    report.mkdir(parents=True)
    document = metrics_document([result], {"one_to_one": compute_metrics(result)})
    (report / "metrics.json").write_text(json.dumps(document))

    (listed,) = list_reports([tmp_path / "reports"])

    # the synthetic file's bars open 2021-01-01 00:00 … 2021-01-03 23:00 UTC: closes one hour later
    assert listed == {
        "name": "eth",
        "spot": "ETH",
        "hedge": "ETH",
        "start": "2021-01-01T01:00:00+00:00",
        "end": "2021-01-04T00:00:00+00:00",
    }
