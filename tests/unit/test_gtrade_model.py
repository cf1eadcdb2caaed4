"""gTrade v10's holding-fee model (hedger.venues.gtrade, pure integers) on hand-worked numbers, and the Arbitrum
network file's gTrade facts checked against the Gains Network SDK installed under node_modules."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from hedger.chain.toolchain import project_root
from hedger.settings import load_network
from hedger.venues.gtrade import (
    FundingData,
    FundingParams,
    apr_multipliers,
    funding_per_hour,
    funding_rates,
    pending_acc_borrowing,
    pending_acc_funding,
    trade_fee,
    velocity_per_year,
)

YEAR = 365 * 86400
TOKEN, PRICE = 10**18, 10**10
SDK = project_root() / "node_modules" / "@gainsnetwork" / "sdk" / "lib"
# skew coefficient 1e19 (at 1e26: 1e-7 % per second per year per token), velocity cap 1 % per second per year,
# rate cap 1e-5 % per second, no theta threshold, multipliers on
PARAMS = FundingParams(10**19, 10**7, 10**5, 0, True, True)


def test_velocity_is_the_net_exposure_times_the_skew_coefficient_capped_and_signed():
    assert velocity_per_year(PARAMS, 80 * TOKEN, 2500 * PRICE) == 8 * 10**12  # 80 × 1e-7 = 8e-6 %/s per year
    assert velocity_per_year(PARAMS, -80 * TOKEN, 2500 * PRICE) == -8 * 10**12
    capped = FundingParams(10**19, 1, 10**5, 0, True, True)  # cap 1e-7 (at 1e7) = 1e11 at 1e18
    assert velocity_per_year(capped, 80 * TOKEN, 2500 * PRICE) == 10**11
    theta = FundingParams(10**19, 10**7, 10**5, 200_001, True, True)  # $200,001 > 80 × $2,500
    assert velocity_per_year(theta, 80 * TOKEN, 2500 * PRICE) == 0


def test_the_rate_moves_linearly_until_its_cap_and_the_average_accounts_for_time_at_the_cap():
    last, velocity = 2 * 10**11, 8 * 10**12
    average, current = funding_rates(PARAMS, last, velocity, 3600)
    assert current == last + 3600 * velocity // YEAR  # 913,242 more: 2.00000913242e-7 %/s
    assert average == (last + current) // 2
    cap = 10**5 * 10**8  # 1e-5 % per second at 1e18
    to_cap = (cap - last) * YEAR // velocity  # 38,631,600 s
    average, current = funding_rates(PARAMS, last, velocity, to_cap + 1000)
    assert current == cap
    assert average == ((last + cap) * to_cap // 2 + cap * 1000) // (to_cap + 1000)


def test_funding_accrues_at_the_average_rate_times_price_and_the_receiver_earns_the_oi_ratio():
    data = FundingData(0, 0, 2 * 10**11, 1_000_000)
    acc_long, acc_short, current = pending_acc_funding(PARAMS, data, 100 * TOKEN, 20 * TOKEN, 2500 * PRICE, 1_003_600)
    average = (2 * 10**11 + current) // 2
    delta = average * 3600 * 2500 * PRICE // 10**8
    assert (acc_long, acc_short) == (delta, -(delta * 5))  # shorts (20) earn the longs' 100 / 20 = 5×
    assert apr_multipliers(1, 100 * TOKEN, 20 * TOKEN, True) == (1, 5)
    assert apr_multipliers(1, 10_000 * TOKEN, 1 * TOKEN, True) == (1, 100)  # capped at 100
    assert apr_multipliers(-1, 100 * TOKEN, 20 * TOKEN, True) == (Decimal("0.2"), 1)
    assert apr_multipliers(1, 100 * TOKEN, 20 * TOKEN, False) == (1, 1)


def test_when_the_rate_changes_sign_the_period_is_split_at_zero():
    data = FundingData(0, 0, -(10**11), 0)  # shorts paying 1e-7 %/s, longs now the larger side
    velocity = velocity_per_year(PARAMS, 80 * TOKEN, 2500 * PRICE)
    to_zero = 10**11 * YEAR // velocity  # 394,200 s
    acc_long, acc_short, current = pending_acc_funding(PARAMS, data, 100 * TOKEN, 20 * TOKEN, 2500 * PRICE, 2 * to_zero)
    assert current == -(10**11) + 2 * to_zero * velocity // YEAR  # back up to about +1e-7
    first = -(10**11) // 2 * to_zero * 2500 * PRICE // 10**8  # longs receive while negative: × 20 / 100
    second = (current // 2) * (2 * to_zero - to_zero) * 2500 * PRICE // 10**8  # shorts receive 5× once positive
    assert acc_long == -(-first * 20 // 100) + second
    assert acc_short == -first - second * 5


def test_borrowing_v2_and_a_trades_fees_in_collateral():
    acc = pending_acc_borrowing(1000, 0, 0, 2500 * PRICE, 3600)  # 1e-7 % per second for an hour at $2,500
    assert acc == 9 * 10**19  # 0.9 (% × price) at 1e20
    # $9,940 of size (USDC units) opened at $2,490: 9,940 × 0.9 / 2,490 / 100 = 0.0359… USDC
    assert trade_fee(9940 * 10**6, acc, 2490 * PRICE) == 35927
    assert trade_fee(9940 * 10**6, -acc, 2490 * PRICE) == -35927  # truncated toward zero, as in Solidity


def test_funding_per_hour_is_the_percent_rate_as_a_fraction_with_the_receivers_multiplier():
    longs, shorts = funding_per_hour(2 * 10**11, 100 * TOKEN, 20 * TOKEN, True)
    assert longs == Decimal("0.0000072")  # 2e-7 % per second × 3,600 / 100
    assert shorts == Decimal("-0.000036")  # shorts receive 5× per token
    assert funding_per_hour(0, 100 * TOKEN, 20 * TOKEN, True) == (0, 0)


@pytest.mark.skipif(not SDK.is_dir(), reason="the Gains Network SDK is installed by `make setup` (npm)")
def test_the_arbitrum_network_file_agrees_with_the_sdk():
    network = load_network("arbitrum-one")
    venue = network.venues["gtrade"]
    addresses = json.loads((SDK / "contracts" / "addresses.json").read_text())
    assert venue.params["diamond"] == addresses[str(network.chain_id)]["global"]["gnsMultiCollatDiamond"]
    indices = dict(re.findall(r'PairIndex\["(\w+)"\] = (\d+)', (SDK / "trade" / "types.js").read_text()))
    assert {m.symbol: m.params["pair_index"] for m in venue.markets.values()} == {
        "XAU": int(indices["XAUUSD"]),
        "EUR": int(indices["EURUSD"]),
    }


def test_the_arbitrum_gold_and_euro_markets_keep_their_hours():
    from datetime import UTC, datetime

    from hedger.strategy.parameters import StrategySettings

    network = load_network("arbitrum-one")
    hours = StrategySettings.from_mapping(network.strategy, network.file).market_hours
    gold, euro = hours.for_asset("XAU"), hours.for_asset("EUR")

    def at(text: str) -> int:
        return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())

    assert gold.is_open(at("2026-12-02T12:00")) and not gold.is_open(at("2026-12-02T22:30"))  # the daily break
    assert not gold.is_open(at("2026-12-05T12:00")) and not euro.is_open(at("2026-12-05T12:00"))  # Saturday
    assert not gold.is_open(at("2026-04-03T15:00"))  # Good Friday
    assert euro.is_open(at("2026-12-06T22:30")) and not gold.is_open(at("2026-12-06T22:30"))  # Sunday evening
    assert hours.for_asset("ETH") is None  # crypto trades around the clock
