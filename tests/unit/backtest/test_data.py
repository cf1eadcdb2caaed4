"""Loading, alignment and gap handling: nothing is filled, every gap is counted."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from hedger.backtest.cli import history_from_files
from hedger.backtest.data import align, load_binance, load_dydx_funding
from hedger.backtest.policies import estimated_ratio
from hedger.errors import DataError
from hedger.strategy.ratio import OLSRatio
from tests.support.data import data_file
from tests.unit.backtest.synthetic import random_walk, write_binance_csv


def test_binance_bars_are_stamped_at_their_close_and_funding_at_its_settlement(tmp_path):
    prices = random_walk(48)
    market = load_binance(write_binance_csv(tmp_path / "binance_synusdt_1h.csv", prices, prices))

    assert market.asset == "SYN"
    assert market.prices.index[0] == pd.Timestamp("2021-01-01 01:00", tz="UTC")
    assert market.funding.funding_interval_h == 8
    assert list(market.funding.rates.index.hour.unique()) == [0, 8, 16]
    history = align(market, market)
    settled = history.close_time[history.funding_rate != 0]
    assert list(settled.hour.unique()) == [8, 16, 0]
    assert history.funding_rate.sum() == pytest.approx(5 * 1e-4)  # 00:00 of the first day precedes the first close


def test_missing_rows_and_empty_prices_stay_on_the_grid_as_invalid(tmp_path):
    prices = random_walk(30)
    spot = prices.copy()
    spot[10] = np.nan
    path = write_binance_csv(tmp_path / "binance_synusdt_1h.csv", spot, prices)
    frame = pd.read_csv(path).drop(index=[20, 21])
    frame.to_csv(path, index=False)
    history = align(*(2 * [load_binance(path)]))

    assert len(history) == 30
    assert np.flatnonzero(~history.valid).tolist() == [10, 20, 21]
    assert np.isnan(history.spot_usd[[10, 20, 21]]).all()
    assert history.gaps.missing_spot_hours == 3
    returns = np.log(history.prices_frame()).diff()
    assert returns.iloc[[10, 11, 20, 21, 22]].isna().all().all()


def test_funding_settled_in_a_gap_is_booked_at_the_next_valid_hour(tmp_path):
    prices = random_walk(30)
    spot = prices.copy()
    spot[[7, 8]] = np.nan  # closes 08:00 and 09:00: the 08:00 funding falls in the gap
    market = load_binance(write_binance_csv(tmp_path / "binance_synusdt_1h.csv", spot, prices))
    history = align(market, market)

    assert history.funding_rate[9] == pytest.approx(1e-4)
    assert history.funding_rate[[7, 8]].tolist() == pytest.approx([0.0, 0.0], abs=1e-15)
    assert history.gaps.funding_events_deferred == 1


def test_a_perp_print_far_from_its_spot_is_counted_and_left_out_of_estimation(tmp_path):
    spot = random_walk(400, seed=3)
    perp = spot.copy()
    perp[[100, 101]] *= 0.91  # a listing-style print 9% under spot: no order could trade there
    perp[250] *= 1.03  # a 3% premium is a market, not a glitch
    history = align(*(2 * [load_binance(write_binance_csv(tmp_path / "binance_synusdt_1h.csv", spot, perp))]))

    assert history.gaps.basis_outlier_hours == 2
    assert history.gaps.first_basis_outlier_hours == tuple(t.isoformat() for t in history.close_time[[100, 101]])
    assert history.valid[[100, 101]].all()  # still marked to market: the filter is for estimation only
    assert history.describe()["gaps"]["basis_outlier_hours"] == 2
    assert not history.basis_outlier[250]  # the 3% hour is kept
    as_gaps = history.valid.copy()
    as_gaps[[100, 101]] = False
    gapped = dataclasses.replace(history, valid=as_gaps, basis_outlier=None)
    ratio = estimated_ratio(history, OLSRatio())
    # for the estimators, exactly a gap
    pd.testing.assert_series_equal(ratio, estimated_ratio(gapped, OLSRatio()), rtol=1e-12, atol=0)
    assert ratio.iloc[99:103].nunique() == 1  # the estimate holds across it


def test_shared_data_btc_gaps_are_counted_not_filled(btc_with_btc):
    history = btc_with_btc
    assert len(history) == 37_776
    assert history.gaps.invalid_hours == history.gaps.missing_spot_hours == 36
    assert history.gaps.missing_perp_hours == 0
    assert history.funding_interval_h == 8
    settled_hours = history.close_time[history.funding_rate != 0].hour
    off_schedule = ~np.isin(settled_hours, [0, 8, 16])
    assert off_schedule.sum() == history.gaps.funding_events_deferred == 4  # moved out of a gap, nowhere else


def test_cross_asset_history_spans_the_hours_both_files_cover(eth_with_btc):
    history = eth_with_btc
    assert (history.spot_asset, history.hedge_asset, history.funding_source) == ("ETH", "BTC", "binance:BTC")
    assert history.close_time[0] == pd.Timestamp("2019-11-27 08:00", tz="UTC")
    assert history.gaps.invalid_hours == 32


def test_dydx_funding_is_hourly_and_cuts_the_window_to_its_span(btc_market):
    funding = load_dydx_funding(data_file("dydx_btcusd_funding_1h_2022_2023.csv"))
    history = align(btc_market, btc_market, funding)

    assert (funding.asset, funding.funding_interval_h) == ("BTC", 1)
    assert history.funding_source == "dydx:BTC-USDT"
    assert history.close_time[0] == pd.Timestamp("2022-01-01 00:00", tz="UTC")
    assert history.close_time[-1] == pd.Timestamp("2023-12-31 23:00", tz="UTC")
    assert np.count_nonzero(history.funding_rate) > 0.99 * len(history)
    assert funding.rates.mean() * 8760 == pytest.approx((-0.0282 + 0.1206) / 2, abs=0.002)  # hedging.md, per year


def test_files_are_recognised_by_header_and_assets_by_name_or_prefix(tmp_path):
    eth, btc = random_walk(60, seed=1), random_walk(60, seed=2)
    eth_file = write_binance_csv(tmp_path / "binance_ethusdt_1h.csv", eth, eth)
    btc_file = write_binance_csv(tmp_path / "prices.csv", btc, btc)

    history = history_from_files([str(eth_file), f"btc={btc_file}"], spot="eth", hedge_with="btc")
    assert (history.spot_asset, history.hedge_asset) == ("ETH", "BTC")
    with pytest.raises(DataError, match="no price file for SOL"):
        history_from_files([str(eth_file)], spot="SOL")
    with pytest.raises(DataError, match="dYdX funding file of ETH"):
        history_from_files([str(eth_file)], funding="dydx")
    with pytest.raises(DataError, match="cannot tell the asset"):
        history_from_files([str(btc_file)])
