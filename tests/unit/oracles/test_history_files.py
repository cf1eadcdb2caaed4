"""Price files (Binance CSV, plain CSV, Parquet), resampling with explicit gaps, phase-aware round ids, the cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hedger.errors import DataError
from hedger.oracles.history import (
    Round,
    RoundCache,
    make_round_id,
    read_price_file,
    resample_prices,
    split_round_id,
)


def test_round_ids_carry_the_phase_in_the_top_bits():
    rid = make_round_id(3, 42)
    assert rid == (3 << 64) | 42
    assert split_round_id(rid) == (3, 42)
    assert split_round_id(18446744073709551617) == (1, 1)  # a real proxy's id: phase 1, aggregator round 1


def test_binance_layout_gives_the_spot_close_named_after_the_asset(tmp_path):
    path = tmp_path / "binance_ethusdt_1h.csv"
    path.write_text(
        "timestamp_utc,perp_close,spot_close,mark_close,funding_rate\n"
        "2023-01-01 00:00:00+00:00,1201,1200,,0.0001\n"
        "2023-01-01 01:00:00+00:00,1211,,,\n"
        "2023-01-01 02:00:00+00:00,1221,1220,,\n"
    )
    prices = read_price_file(path)
    assert list(prices.columns) == ["ETH"]
    assert prices["ETH"].isna().sum() == 1  # the missing close stays missing
    assert prices.index.tz is not None and prices.index.is_monotonic_increasing


def test_plain_csv_and_parquet_read_the_same(tmp_path):
    index = pd.date_range("2023-01-01", periods=5, freq="h", tz="UTC")
    frame = pd.DataFrame({"eth": [1.0, 2.0, np.nan, 4.0, 5.0], "btc": [10.0, 11, 12, 13, 14]}, index=index)
    frame.index.name = "timestamp"
    frame.reset_index().to_csv(tmp_path / "prices.csv", index=False)
    frame.to_parquet(tmp_path / "prices.parquet")
    rename = {"eth": "ETH", "btc": "BTC"}
    from_csv = read_price_file(tmp_path / "prices.csv", rename)
    from_parquet = read_price_file(tmp_path / "prices.parquet", rename)
    pd.testing.assert_frame_equal(from_csv, from_parquet, check_freq=False, check_names=False)
    assert from_csv["ETH"].isna().sum() == 1


def test_unreadable_files_say_what_is_wrong(tmp_path):
    with pytest.raises(DataError, match="no such price file"):
        read_price_file(tmp_path / "absent.csv")
    (tmp_path / "no_time.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="no time column"):
        read_price_file(tmp_path / "no_time.csv")


def test_resampling_keeps_empty_buckets_as_gaps():
    index = pd.DatetimeIndex(["2023-01-01 00:10", "2023-01-01 00:50", "2023-01-01 03:20"], tz="UTC")
    prices = pd.Series([1.0, 2.0, 3.0], index=index)
    hourly = resample_prices(prices, "1h")
    assert (hourly.iloc[0], hourly.iloc[-1]) == pytest.approx((2.0, 3.0), abs=0)  # picked, not computed
    assert hourly.isna().sum() == 2  # 01:00 and 02:00 had no price: NaN, not the 00:50 price


def test_cache_keeps_rounds_per_chain_and_feed_in_round_order(tmp_path):
    cache = RoundCache.beside(tmp_path / "local-journal.sqlite")
    assert cache.path.name == "local-history.sqlite"
    rounds = [Round(make_round_id(1, n), 100 + n, 1000 + n, 1000 + n) for n in (3, 1, 2)]
    cache.store(31337, "0xAbC", [*rounds, Round(make_round_id(0, 9), None, None, None)])
    cache.store(1, "0xabc", rounds[:1])
    stored = cache.rounds(31337, "0xabc")
    assert [split_round_id(r.round_id) for r in stored] == [(0, 9), (1, 1), (1, 2), (1, 3)]
    assert not stored[0].ok and stored[1].answer == 101
    assert len(cache.rounds(1, "0xABC")) == 1
    cache.close()
