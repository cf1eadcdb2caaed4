"""Each guard on both sides of its threshold (safeguards.md, "Adversarial scenarios" 1–13 and 19)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hedger.model import Side, Verdict
from hedger.strategy import guards as g
from hedger.strategy.parameters import GuardSettings
from hedger.strategy.state import PlannerState, PricePoint
from tests.unit.strategy.factory import NOW, funding, margin, market, reading, sequencer

DEFAULTS = GuardSettings()
NO_BUFFER = GuardSettings(oracle_staleness_buffer_rel=D(0))
ALLOW, REDUCE_ONLY, HALT = Verdict.ALLOW, Verdict.REDUCE_ONLY, Verdict.HALT
EMPTY_STATE = PlannerState()


# --- 1. staleness ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("age_s", "verdict"), [(3599, ALLOW), (3600, ALLOW), (3601, HALT)])
def test_stale_at_heartbeat_plus_one_without_buffer(age_s, verdict):
    result = g.oracle_stale(reading(age_s=age_s), NO_BUFFER)
    assert result.verdict is verdict
    assert result.values["age_s"] == age_s


@pytest.mark.parametrize(("age_s", "verdict"), [(3601, ALLOW), (3780, ALLOW), (3781, HALT)])
def test_default_buffer_is_five_percent_of_the_heartbeat(age_s, verdict):
    result = g.oracle_stale(reading(age_s=age_s), DEFAULTS)
    assert result.verdict is verdict
    assert result.values["limit_s"] == D(3780)


def test_heartbeat_is_per_feed():
    usdc = reading("USDC", 1, heartbeat_s=86_400, age_s=86_401)
    assert g.oracle_stale(usdc, NO_BUFFER).code == "oracle_stale"
    assert g.oracle_stale(usdc, DEFAULTS).verdict is ALLOW


# --- 2–4. broken -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"updated_at": NOW + 1}, "in the future"),
        ({"updated_at": 0}, "updatedAt is 0"),
        ({"answer": 0}, "≤ 0"),
        ({"answer": -1}, "≤ 0"),
        ({"round_id": 0}, "round id 0"),
        ({"previous_answer": 0}, "previous round"),
        ({"error": "execution reverted", "answer": None}, "the call failed"),
    ],
)
def test_broken_readings_halt(fields, fragment):
    result = g.oracle_broken(reading(**fields))
    assert (result.verdict, result.code) == (HALT, "oracle_broken")
    assert fragment in result.message


def test_a_reading_at_block_time_is_not_in_the_future():
    assert g.oracle_broken(reading(updated_at=NOW)).verdict is ALLOW


def test_broken_reading_is_not_judged_further():
    results = g.oracle_health(reading(error="reverted", answer=None, updated_at=None), DEFAULTS)
    assert [r.code for r in results] == ["oracle_broken"]


@pytest.mark.parametrize(
    ("price", "verdict"), [("0.01", ALLOW), ("0.0099", HALT), ("10000000", ALLOW), ("10000001", HALT)]
)
def test_own_price_bounds(price, verdict):
    assert g.oracle_out_of_bounds(reading(price=price)).verdict is verdict


# --- 8. round-to-round jump -----------------------------------------------------------------------------


@pytest.mark.parametrize(("previous", "price"), [(2000, 1000), (1000, 2000)])
def test_exactly_halving_or_doubling_passes(previous, price):
    result = g.round_jump(reading(price=price, previous=previous), DEFAULTS, confirmed_by=None)
    assert (result.verdict, result.code) == (ALLOW, "jump_ok")


def test_half_plus_one_wei_halts_without_a_second_source():
    jumped = reading(price=1000, previous=2000, answer=1000 * 10**8 - 1)
    result = g.round_jump(jumped, DEFAULTS, confirmed_by=None)
    assert (result.verdict, result.code) == (HALT, "oracle_jump")
    assert result.values["jump_rel"] > D("0.5")


def test_a_jump_confirmed_by_a_second_source_within_five_percent_passes():
    jumped = reading(price=1000, previous=2000, answer=1000 * 10**8 - 1)
    close = reading(price=1040, role="secondary")
    far = reading(price=1060, role="secondary")
    assert g.round_jump(jumped, DEFAULTS, confirmed_by=close).code == "jump_confirmed"
    assert g.round_jump(jumped, DEFAULTS, confirmed_by=far).verdict is HALT


def test_jump_is_exact_for_answers_beyond_default_decimal_precision():
    previous = 2 * 10**40
    jumped = reading(answer=10**40 - 1, previous_answer=previous, decimals=36)
    exact = reading(answer=10**40, previous_answer=previous, decimals=36)
    assert g.round_jump(jumped, DEFAULTS, None).verdict is HALT
    assert g.round_jump(exact, DEFAULTS, None).verdict is ALLOW


# --- 9. two sources ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("secondary", "verdict"), [("3147", ALLOW), ("3150", ALLOW), ("3153", HALT)])
def test_two_sources_apart_relative_to_the_lower(secondary, verdict):
    # 3147 is 4.9%, 3150 exactly 5%, 3153 5.1% above 3000
    result = g.sources_apart(reading(price=3000), reading(price=secondary, role="secondary"), DEFAULTS)
    assert result.verdict is verdict


# --- 10. venue mark vs oracle -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mark", "verdict", "code"),
    [("3048", HALT, "mark_oracle_apart"), ("3045", ALLOW, "mark_worse_price"), ("3015", ALLOW, "mark_worse_price"),
     ("3012", ALLOW, "mark_ok"), ("2952", HALT, "mark_oracle_apart")],
)  # fmt: skip
def test_mark_vs_oracle(mark, verdict, code):
    # 3048 is 1.6% above 3000, 3045 exactly 1.5%, 3015 is 0.5%, 3012 exactly 0.4%, 2952 is 1.6% below
    result = g.mark_vs_oracle(D(mark), D(3000), DEFAULTS)
    assert (result.verdict, result.code) == (verdict, code)


# --- 5–7. sequencer ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "verdict", "code"),
    [
        (sequencer(up=False), REDUCE_ONLY, "sequencer_down"),
        (sequencer(since_s=1800), REDUCE_ONLY, "sequencer_grace"),
        (sequencer(since_s=3600), REDUCE_ONLY, "sequencer_grace"),
        (sequencer(since_s=3601), ALLOW, "sequencer_up"),
        (sequencer(started_at=0), REDUCE_ONLY, "sequencer_uninitialised"),
        (sequencer(answer=None, error="reverted"), HALT, "sequencer_unreadable"),
        (None, ALLOW, "no_sequencer_feed"),
    ],
)
def test_sequencer(status, verdict, code):
    result = g.sequencer(status, DEFAULTS)
    assert (result.verdict, result.code) == (verdict, code)


def test_sequencer_verdict_can_be_halt():
    strict = GuardSettings(sequencer_verdict=HALT)
    assert g.sequencer(sequencer(up=False), strict).verdict is HALT


def test_the_longer_grace_period_wins():
    assert g.sequencer(sequencer(since_s=5000, grace_period_s=7200), DEFAULTS).code == "sequencer_grace"
    assert g.sequencer(sequencer(since_s=3000, grace_period_s=300), DEFAULTS).code == "sequencer_grace"


# --- 11–12. stablecoins ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "verdict", "code", "valued_at"),
    [
        ("0.981", ALLOW, "stable_ok", "0.981"),
        ("0.98", REDUCE_ONLY, "stable_depeg_pause", "0.98"),
        ("0.951", REDUCE_ONLY, "stable_depeg_pause", "0.951"),
        ("0.95", REDUCE_ONLY, "stable_depeg_reduce", "0.95"),
        ("1.04", ALLOW, "stable_ok", "1.04"),
        ("1.06", ALLOW, "stable_premium_capped", "1.04"),
    ],
)
def test_stablecoin_bands(price, verdict, code, valued_at):
    result = g.stablecoin_depeg(reading("USDC", price, heartbeat_s=86_400), DEFAULTS)
    assert (result.verdict, result.code) == (verdict, code)
    assert result.values["valued_at"] == D(valued_at)
    assert result.values.get("alert", False) is (code == "stable_depeg_reduce")


# --- 13. funding ------------------------------------------------------------------------------------


def test_funding_at_150_percent_of_the_cap_blocks_growth():
    eth = market()
    cap = DEFAULTS.max_funding_paid_per_hour
    shorts_pay = funding(eth, rate=-cap * D("1.5"))
    result = g.punitive_funding(shorts_pay, Side.SHORT, DEFAULTS)
    assert (result.verdict, result.code) == (REDUCE_ONLY, "funding_punitive")
    assert result.values["paid_per_hour"] == cap * D("1.5")
    assert g.punitive_funding(funding(eth, rate=-cap), Side.SHORT, DEFAULTS).verdict is ALLOW
    assert g.punitive_funding(shorts_pay, Side.LONG, DEFAULTS).verdict is ALLOW


def test_borrowing_counts_toward_the_funding_cap():
    borrowing = funding(market(), rate="0", borrowing_short_per_hour=D("0.0002"))
    assert g.punitive_funding(borrowing, Side.SHORT, DEFAULTS).verdict is REDUCE_ONLY


def test_funding_over_a_native_eight_hour_interval_is_converted():
    eight_hourly = funding(market(), rate="-0.0012", interval_s=8 * 3600)  # 0.015%/h for shorts
    assert g.punitive_funding(eight_hourly, Side.SHORT, DEFAULTS).values["paid_per_hour"] == D("0.00015")


@pytest.mark.parametrize("verdict", [REDUCE_ONLY, HALT, ALLOW])
def test_unknown_funding_follows_the_policy(verdict):
    settings = GuardSettings(unknown_funding_verdict=verdict)
    assert g.funding_known(funding(market(), rate=None), settings).verdict is verdict
    assert g.funding_known(funding(market()), settings).verdict is ALLOW


# --- margin, leverage, notional ------------------------------------------------------------------------


@pytest.mark.parametrize(("equity", "verdict"), [(3000, ALLOW), (2999, REDUCE_ONLY)])
def test_liquidation_distance(equity, verdict):
    account = margin(equity=equity, notional=30_000)  # maintenance 1500: buffer 2 at 3000
    assert g.liquidation_distance(account, DEFAULTS).verdict is verdict


def test_liquidation_distance_uses_the_equity_given():
    account = margin(equity=3000, notional=30_000)
    assert g.liquidation_distance(account, DEFAULTS, equity_usd=D(2900)).code == "near_liquidation"


@pytest.mark.parametrize(("notional", "verdict"), [(30_000, ALLOW), (30_001, REDUCE_ONLY)])
def test_leverage(notional, verdict):
    assert g.leverage(D(notional), D(10_000), D(3), "ref").verdict is verdict


def test_notional_cap():
    assert g.notional_cap(D(1_000_000), D(1_000_000), "ref:ETH").verdict is ALLOW
    assert g.notional_cap(D(1_000_001), D(1_000_000), "ref:ETH").verdict is REDUCE_ONLY


def test_most_severe():
    results = [g.allow("a"), g.GuardResult(REDUCE_ONLY, "b", ""), g.GuardResult(HALT, "c", "")]
    assert g.most_severe(results) is HALT
    assert g.most_severe(results[:2]) is REDUCE_ONLY
    assert g.most_severe([]) is ALLOW


# --- 19. one asset's price: fallbacks and recovery -------------------------------------------------------


def resolve(primary, secondary=None, state=EMPTY_STATE):
    return g.resolve_price("ETH", primary, secondary, DEFAULTS, state, NOW)


def test_healthy_agreeing_sources_give_a_trusted_price():
    view = resolve(reading(price=3000), reading(price=3010, role="secondary"))
    assert (view.price, view.anchor, view.trusted_pair, view.verdict) == (D(3000), D(3000), True, ALLOW)


def test_a_failed_primary_falls_back_to_the_healthy_secondary_as_anchor_only():
    view = resolve(reading(error="reverted", answer=None), reading(price=3010, role="secondary"))
    assert view.verdict is HALT and view.price is None
    assert (view.anchor, view.anchor_source) == (D(3010), "secondary:ETH/USD-2")


def test_both_failed_fall_back_to_a_recent_last_good_price():
    state = PlannerState(last_good_prices={"ETH": PricePoint(D(2990), NOW - 86_400)})
    view = resolve(reading(age_s=10_000), reading(error="reverted", answer=None, role="secondary"), state)
    assert view.both_failed and view.verdict is HALT
    assert (view.anchor, view.anchor_source) == (D(2990), "last_good_price")


def test_a_last_good_price_older_than_the_limit_is_no_anchor():
    state = PlannerState(last_good_prices={"ETH": PricePoint(D(2990), NOW - 86_401)})
    view = resolve(reading(age_s=10_000), None, state)
    assert view.anchor is None


def test_disagreeing_sources_trust_neither():
    view = resolve(reading(price=3000), reading(price=3200, role="secondary"))
    assert view.verdict is HALT and view.price is None and not view.trusted_pair


def test_a_distrusted_asset_recovers_only_when_both_sources_agree():
    state = PlannerState(distrusted=frozenset({"ETH"}))
    alone = resolve(reading(), reading(error="reverted", answer=None, role="secondary"), state)
    assert alone.verdict is HALT and "oracle_recovering" in {r.code for r in alone.results}
    assert resolve(reading(), reading(role="secondary"), state).verdict is ALLOW


def test_a_missing_primary_halts():
    assert resolve(None).results[0].code == "oracle_missing"


def test_results_are_scoped_to_the_asset():
    assert {r.scope for r in resolve(reading()).results} == {"asset:ETH"}
