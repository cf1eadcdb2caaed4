"""Cross-asset backtests on daily closes of markets that keep hours: synthetic data with a known beta, then the
real data sets shipped in the arch and backtesting wheels (read in place, never copied)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hedger.app.cli import main
from hedger.backtest.cross_asset import CloseSeries, CrossConfig, cross_backtest, load_closes
from hedger.errors import DataError

ROOT = Path(__file__).resolve().parents[3]


def weekday_closes(beta: float, days: int = 1500, seed: int = 7) -> tuple[CloseSeries, CloseSeries]:
    """An index on business days and a stock with `beta` to it plus its own noise (log returns)."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2010-01-04", periods=days)
    market = rng.normal(0, 0.01, days)
    stock = beta * market + rng.normal(0, 0.01, days)
    return (
        CloseSeries("STOCK", pd.Series(100 * np.exp(np.cumsum(stock)), index=index), "synthetic"),
        CloseSeries("INDEX", pd.Series(1000 * np.exp(np.cumsum(market)), index=index), "synthetic"),
    )


def test_a_known_beta_is_found_with_its_uncertainty_and_weekends_are_not_gaps():
    stock, index = weekday_closes(1.5)
    result = cross_backtest(stock, [index], CrossConfig(funding_apr=0.05))
    fit = result.in_sample_ratio
    low, high = fit["ci95"]["INDEX"]
    assert high - low == pytest.approx(2 * 1.96 * fit["std_error"]["INDEX"])
    assert abs(fit["ratio"]["INDEX"] - 1.5) < 3 * fit["std_error"]["INDEX"]  # within 3 standard errors
    assert result.gaps == 0 and result.periods == 1499  # Friday → Monday is one return, not a gap
    # about half the variance is the index's (1.5² × 1e-4 against 1e-4 of own noise): HE near 0.69
    ceiling = result.policies["ceiling_static_on_test"]["effectiveness"]
    assert ceiling == pytest.approx(2.25 / 3.25, abs=0.04)
    for name, metrics in result.policies.items():
        assert metrics["effectiveness"] <= ceiling + 1e-12, name  # no fixed or estimated ratio beats the ceiling
    # modelled funding: 5 % a year on the ratio held, over calendar days (weekends included)
    ones = result.policies["one_to_one"]
    assert ones["funding_cost_per_year_modelled"] == pytest.approx(0.05, rel=1e-9)


def test_a_long_silence_is_a_gap_and_dates_only_one_market_has_drop_out():
    stock, index = weekday_closes(1.0, days=400)
    silent = stock.closes.drop(stock.closes.index[200:210])  # two weeks without a close
    holiday = index.closes.drop(index.closes.index[300])  # the index closed one day the stock traded
    result = cross_backtest(CloseSeries("STOCK", silent, "x"), [CloseSeries("INDEX", holiday, "x")])
    assert result.gaps == 1 and result.periods == 400 - 10 - 1 - 1 - 1  # first row, the gap, the holiday


def test_a_basket_is_hedged_with_the_multivariate_minimum_variance_vector():
    rng = np.random.default_rng(3)
    index = pd.bdate_range("2012-01-02", periods=1200)
    a, b = rng.normal(0, 0.01, 1200), rng.normal(0, 0.012, 1200)
    basket = 0.6 * a + 0.3 * b + rng.normal(0, 0.004, 1200)

    def closes(name, r):
        return CloseSeries(name, pd.Series(np.exp(np.cumsum(r)), index=index), "synthetic")

    result = cross_backtest(closes("BASKET", basket), [closes("A", a), closes("B", b)])
    ratio, se = result.in_sample_ratio["ratio"], result.in_sample_ratio["std_error"]
    assert abs(ratio["A"] - 0.6) < 3 * se["A"] and abs(ratio["B"] - 0.3) < 3 * se["B"]
    assert result.policies["expanding_basket"]["effectiveness"] > result.policies["equal_weights"]["effectiveness"]


def test_sources_are_checked():
    with pytest.raises(DataError, match="arch sets"):
        load_closes("nasdaq")
    with pytest.raises(DataError, match="unknown arch data set"):
        load_closes("arch:ftse")
    with pytest.raises(DataError, match="no such file"):
        load_closes("GOOG=/nonexistent.csv")


# ---------------------------------------------------------------------- the real data in the wheels


def goog_path() -> str:
    """The backtesting wheel's GOOG file, found by path (the package is AGPL: it is never imported)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "wheel_data.py"), "backtesting", "test/GOOG.csv"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("backtesting") is None, reason="backtesting wheel (dev) not installed")
def test_goog_is_hedged_out_of_sample_with_a_nasdaq_perp_close_to_its_ceiling(tmp_path):
    assert (
        main(["backtest", "--cross", f"GOOG={goog_path()}", "--hedge-with", "arch:nasdaq", "--out", str(tmp_path)]) == 0
    )
    result = json.loads((tmp_path / "cross_asset.json").read_text())
    assert (result["periods"], result["train"][0], result["test"][1]) == (2147, "2004-08-20", "2013-03-01")
    beta = result["in_sample_ratio"]["ratio"]["NASDAQ"]
    assert beta == pytest.approx(1.008, abs=0.005)  # measured: GOOG's beta to the NASDAQ, 2004–2008
    ceiling = result["policies"]["ceiling_static_on_test"]["effectiveness"]
    rolling = result["policies"]["rolling_ols_250"]["effectiveness"]
    assert 0.45 < rolling < ceiling and ceiling - rolling < 0.02  # within 2 points of the hindsight ceiling
    assert "arch wheel" in result["sources"]["NASDAQ"] and "GOOG.csv" in result["sources"]["GOOG"]


def test_wti_is_hedged_with_brent_on_monthly_closes(tmp_path, capsys):
    argv = ["backtest", "--cross", "arch:crude.WTI", "--hedge-with", "arch:crude.Brent", "--max-gap", "40D",
            "--window", "60", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    assert "funding modelled at 5.0% a year" in capsys.readouterr().out
    result = json.loads((tmp_path / "cross_asset.json").read_text())
    assert result["gaps"] == 0 and result["periods"] == 392
    assert result["policies"]["rolling_ols_60"]["effectiveness"] == pytest.approx(0.865, abs=0.005)
    assert result["ceiling"]["effectiveness"] == pytest.approx(0.868, abs=0.005)
