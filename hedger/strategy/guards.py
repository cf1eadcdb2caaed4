"""Guards: small pure functions that judge one reading each and say allow, reduce-only or halt.

Each returns a `GuardResult`: the verdict, a stable reason code, a sentence, the numbers that decided
it, and its scope (the whole account, one asset, one venue or one market). `most_severe` combines them.
The planner applies them: reduce-only keeps only risk-reducing actions; halt keeps nothing but
risk-reducing actions that a trusted price (the anchor, see `resolve_price`) can bound.

Oracle readings are judged as Chainlink, Liquity, GMX and Lyra judge them (docs/strategy.md has the
table): broken, stale, out of bounds, an unconfirmed jump, two sources apart. When the oracles of an
asset fail, risk-reducing orders are priced on the last good price, which the caller keeps in a
`PriceMemory` and passes in: nothing here remembers anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from hedger.model import FundingRate, MarginAccount, OracleReading, Reason, SequencerStatus, Side, Verdict
from hedger.strategy.calendar import MarketCalendar
from hedger.strategy.parameters import GuardSettings
from hedger.strategy.state import PlannerState

GLOBAL = "global"
_SEVERITY = {Verdict.ALLOW: 0, Verdict.REDUCE_ONLY: 1, Verdict.HALT: 2}


@dataclass(frozen=True)
class GuardResult:
    verdict: Verdict
    code: str
    message: str
    values: Mapping[str, Any] = field(default_factory=dict)
    scope: str = GLOBAL

    @property
    def reason(self) -> Reason:
        return Reason(self.code, self.message, {"scope": self.scope, "verdict": self.verdict.value, **self.values})

    def scoped(self, scope: str) -> GuardResult:
        return GuardResult(self.verdict, self.code, self.message, self.values, scope)


ASSET_SCOPE = "asset:"


def asset_scope(asset: str) -> str:
    return f"{ASSET_SCOPE}{asset}"


def venue_scope(venue: str) -> str:
    return f"venue:{venue}"


def market_scope(market_key: str) -> str:
    return f"market:{market_key}"


def allow(code: str, message: str = "", /, **values: Any) -> GuardResult:
    return GuardResult(Verdict.ALLOW, code, message, values)


def _result(verdict: Verdict, code: str, message: str, /, **values: Any) -> GuardResult:
    return GuardResult(verdict, code, message, values)


def most_severe(results: Iterable[GuardResult]) -> Verdict:
    """The strictest verdict among the results (allow when there are none)."""
    return max((r.verdict for r in results), key=_SEVERITY.__getitem__, default=Verdict.ALLOW)


def _relative_gap(a: Decimal, b: Decimal, base: Decimal) -> Decimal:
    """|a − b| / base, exactly (oracle answers can carry more digits than Decimal's default precision)."""
    with localcontext() as context:
        context.prec = 80
        return abs(a - b) / base


# --- Oracle health -----------------------------------------------------------------------------------


def oracle_broken(reading: OracleReading) -> GuardResult:
    """Liquity's "broken": the call failed, round 0, updatedAt 0 or in the future, answer ≤ 0 (current or
    previous round). Chainlink's deprecated answeredInRound is not used."""
    now = reading.source.block_timestamp
    problem = None
    if reading.error is not None or reading.answer is None:
        problem = f"the call failed: {reading.error or 'no answer'}"
    elif not reading.round_id:
        problem = "round id 0"
    elif not reading.updated_at:
        problem = "updatedAt is 0"
    elif reading.updated_at > now:
        problem = f"updatedAt {reading.updated_at} is in the future (block time {now})"
    elif reading.answer <= 0:
        problem = f"answer {reading.answer} ≤ 0"
    elif reading.previous_answer is not None and reading.previous_answer <= 0:
        problem = f"previous round's answer {reading.previous_answer} ≤ 0"
    if problem is None:
        return allow("oracle_ok", feed=reading.feed)
    values = {"feed": reading.feed, "answer": reading.answer, "round_id": reading.round_id}
    return _result(Verdict.HALT, "oracle_broken", f"{reading.feed}: {problem}", **values, updated_at=reading.updated_at)


def oracle_stale(
    reading: OracleReading, settings: GuardSettings, calendar: MarketCalendar | None = None
) -> GuardResult:
    """Stale when now − updatedAt > heartbeat × (1 + buffer): exactly at the limit is still fresh. For an asset
    whose market keeps hours, the age counts only the seconds the market was open (its feed is expected to
    be silent while it is closed): a Friday price read on Sunday is not stale, one that stopped before the
    close is."""
    limit_s = reading.heartbeat_s * (1 + settings.oracle_staleness_buffer_rel)
    age_s = reading.age_s
    values: dict[str, Any] = {
        "feed": reading.feed,
        "age_s": age_s,
        "heartbeat_s": reading.heartbeat_s,
        "limit_s": limit_s,
    }
    if calendar is not None and reading.updated_at is not None and age_s is not None:
        open_age_s = calendar.open_seconds(reading.updated_at, reading.source.block_timestamp)
        values |= {"open_age_s": open_age_s, "calendar": calendar.name}
        if age_s > limit_s >= open_age_s:
            message = f"{reading.feed}: {age_s} s old but only {open_age_s} s of it with {calendar.name} open"
            return allow("oracle_quiet_market_closed", message, **values)
        age_s = open_age_s
    if age_s is not None and age_s > limit_s:
        return _result(Verdict.HALT, "oracle_stale", f"{reading.feed}: {age_s} s old, limit {limit_s} s", **values)
    return allow("oracle_fresh", **values)


def oracle_out_of_bounds(reading: OracleReading) -> GuardResult:
    """Our own bounds per feed (Chainlink's min/maxAnswer no longer stop a read)."""
    price = reading.price
    values = {"feed": reading.feed, "price": price, "min_price": reading.min_price, "max_price": reading.max_price}
    if price is not None and not reading.min_price <= price <= reading.max_price:
        return _result(Verdict.HALT, "oracle_out_of_bounds", f"{reading.feed}: {price} outside its bounds", **values)
    return allow("oracle_in_bounds", **values)


def round_jump(
    reading: OracleReading,
    settings: GuardSettings,
    confirmed_by: OracleReading | None,
    calendar: MarketCalendar | None = None,
) -> GuardResult:
    """A move beyond `max_round_jump_rel` between two rounds halts unless a second, healthy source confirms
    the new price within `max_source_divergence_rel` (Liquity). Measured |cur − prev| / max(cur, prev).
    Across a closure of the asset's market (a weekend, a holiday, a daily break) the limit is the calendar's
    `reopen_jump_rel` instead: a reopening gap is a fault only beyond it."""
    if reading.previous_answer is None or reading.answer is None or reading.previous_answer <= 0:
        return allow("jump_unchecked", feed=reading.feed)
    current, previous = Decimal(reading.answer), Decimal(reading.previous_answer)
    jump = _relative_gap(current, previous, max(current, previous))
    values: dict[str, Any] = {
        "feed": reading.feed, "price": reading.price, "previous": reading.previous_price, "jump_rel": jump,
    }  # fmt: skip
    before, after = reading.previous_updated_at, reading.updated_at
    if calendar is not None and before is not None and after is not None and calendar.closed_between(before, after):
        values |= {"limit_rel": calendar.reopen_jump_rel, "calendar": calendar.name}
        if jump <= calendar.reopen_jump_rel:
            return allow("reopening_gap_ok", f"{reading.feed}: a {jump:.4%} gap across a closure", **values)
        limit = calendar.reopen_jump_rel
        message = f"{reading.feed}: a {jump:.4%} gap across a closure of {calendar.name}, beyond {limit:.2%}"
        return _result(Verdict.HALT, "oracle_reopening_gap", message, **values)
    if jump <= settings.max_round_jump_rel:
        return allow("jump_ok", **values)
    if confirmed_by is not None and sources_apart(reading, confirmed_by, settings).verdict is Verdict.ALLOW:
        return allow("jump_confirmed", f"{reading.feed}: jump confirmed by {confirmed_by.feed}", **values)
    message = f"{reading.feed}: moved {jump:.4%} in one round, no second source confirms it"
    return _result(Verdict.HALT, "oracle_jump", message, **values, limit_rel=settings.max_round_jump_rel)


def sources_apart(primary: OracleReading, secondary: OracleReading, settings: GuardSettings) -> GuardResult:
    """Two sources more than `max_source_divergence_rel` apart, relative to the lower price, trust neither."""
    a, b = primary.price, secondary.price
    if a is None or b is None or min(a, b) <= 0:
        return allow("sources_unchecked", primary=primary.feed, secondary=secondary.feed)
    gap = _relative_gap(a, b, min(a, b))
    values = {"primary": a, "secondary": b, "gap_rel": gap, "limit_rel": settings.max_source_divergence_rel}
    if gap > settings.max_source_divergence_rel:
        message = f"{primary.feed} and {secondary.feed} are {gap:.4%} apart"
        return _result(Verdict.HALT, "oracle_sources_apart", message, **values)
    return allow("sources_agree", **values)


def oracle_health(
    reading: OracleReading, settings: GuardSettings, calendar: MarketCalendar | None = None
) -> tuple[GuardResult, ...]:
    """Broken first (nothing else can be judged then), else stale (in open seconds, with a calendar) and out
    of bounds."""
    broken = oracle_broken(reading)
    if broken.verdict is not Verdict.ALLOW:
        return (broken,)
    return (oracle_stale(reading, settings, calendar), oracle_out_of_bounds(reading))


def healthy(reading: OracleReading | None, settings: GuardSettings, calendar: MarketCalendar | None = None) -> bool:
    return reading is not None and most_severe(oracle_health(reading, settings, calendar)) is Verdict.ALLOW


# --- Market hours -----------------------------------------------------------------------------------

MARKET_HOURS_BLOCKING = frozenset({"market_closed", "awaiting_fresh_price"})


def market_hours(asset: str, calendar: MarketCalendar, reading: OracleReading | None, now: int) -> GuardResult:
    """Whether orders on `asset`'s markets may go out now. Closed (weekend, holiday, daily break): no orders,
    and no halt either (the venue would not fill them; the quiet feed is expected). Just reopened but the feed
    has not printed since: no orders until it does (the last price is the previous session's). Both are
    ALLOW verdicts (nothing is wrong) whose codes, `MARKET_HOURS_BLOCKING`, keep the planner off the market."""
    values: dict[str, Any] = {"asset": asset, "calendar": calendar.name}
    if not calendar.is_open(now):
        values["opens_at"] = calendar.next_open_at(now)
        return allow("market_closed", f"{asset}: {calendar.name} is closed, no orders until it reopens", **values)
    opened_at = calendar.last_open_at(now)
    updated_at = None if reading is None else reading.updated_at
    values |= {"opened_at": opened_at, "updated_at": updated_at}
    if opened_at is not None and updated_at is not None and updated_at < opened_at:
        message = f"{asset}: {calendar.name} reopened at {opened_at}; waiting for a price newer than that"
        return allow("awaiting_fresh_price", message, **values)
    return allow("market_open", **values)


# --- Venue mark, sequencer, stablecoins ----------------------------------------------------------------


def mark_vs_oracle(mark: Decimal | None, oracle: Decimal | None, settings: GuardSettings) -> GuardResult:
    """Venue mark vs oracle (Lyra): beyond `mark_block_rel` halt (risk-reducing orders stay possible);
    beyond `mark_worse_price_rel` allow, pricing orders at the worse of the two (code mark_worse_price)."""
    if mark is None or oracle is None or oracle <= 0:
        return allow("mark_unchecked", mark=mark, oracle=oracle)
    gap = _relative_gap(mark, oracle, oracle)
    values = {"mark": mark, "oracle": oracle, "gap_rel": gap}
    if gap > settings.mark_block_rel:
        message = f"venue mark {mark} is {gap:.4%} from the oracle {oracle}"
        return _result(Verdict.HALT, "mark_oracle_apart", message, **values, limit_rel=settings.mark_block_rel)
    if gap > settings.mark_worse_price_rel:
        return allow("mark_worse_price", f"mark {gap:.4%} from the oracle: orders priced at the worse", **values)
    return allow("mark_ok", **values)


def sequencer(status: SequencerStatus | None, settings: GuardSettings) -> GuardResult:
    """L2 sequencer uptime (Chainlink): down, within the grace period after coming up (exactly at the grace
    period is still inside it), or startedAt 0 (uninitialised) → `sequencer_verdict`; unreadable → halt."""
    if status is None:
        return allow("no_sequencer_feed")
    grace_s = max(status.grace_period_s, settings.sequencer_grace_period_s)
    values = {"answer": status.answer, "started_at": status.started_at, "since_s": status.since_change_s}
    if status.error is not None or status.answer is None:
        return _result(Verdict.HALT, "sequencer_unreadable", f"sequencer feed failed: {status.error}", **values)
    if not status.started_at:
        return _result(settings.sequencer_verdict, "sequencer_uninitialised", "sequencer feed startedAt is 0", **values)
    if not status.up:
        return _result(settings.sequencer_verdict, "sequencer_down", "the L2 sequencer is down", **values)
    since_s = status.source.block_timestamp - status.started_at
    if since_s <= grace_s:
        message = f"sequencer up for {since_s} s, grace period {grace_s} s"
        return _result(settings.sequencer_verdict, "sequencer_grace", message, **values, grace_period_s=grace_s)
    return allow("sequencer_up", **values)


def stablecoin_depeg(reading: OracleReading, settings: GuardSettings) -> GuardResult:
    """Below 1 by `stable_pause_rel`: no new risk; by `stable_reduce_rel`: reduce-only and alert. Either way
    margin is valued at `stable_value` (the feed price, capped above at `stable_price_cap`)."""
    price = reading.price
    if price is None:
        return allow("stable_unpriced", feed=reading.feed)
    values = {"feed": reading.feed, "price": price, "valued_at": stable_value(price, settings)}
    if price <= 1 - settings.stable_reduce_rel:
        message = f"{reading.asset} at {price}: depegged, reduce-only"
        return _result(Verdict.REDUCE_ONLY, "stable_depeg_reduce", message, **values, alert=True)
    if price <= 1 - settings.stable_pause_rel:
        message = f"{reading.asset} at {price}: no new risk, margin valued at {price}"
        return _result(Verdict.REDUCE_ONLY, "stable_depeg_pause", message, **values)
    if price > settings.stable_price_cap:
        return allow("stable_premium_capped", f"{reading.asset} at {price}: valued at the cap", **values)
    return allow("stable_ok", **values)


def stablecoin(reading: OracleReading, settings: GuardSettings) -> GuardResult:
    """A stablecoin's feed: when it cannot be used, margin cannot be valued: reduce-only; else the depeg bands."""
    problems = [r for r in oracle_health(reading, settings) if r.verdict is not Verdict.ALLOW]
    if problems:
        codes = [r.code for r in problems]
        message = f"{reading.asset}: its feed is unusable ({', '.join(codes)}), margin cannot be valued"
        return _result(Verdict.REDUCE_ONLY, "stable_unpriced", message, feed=reading.feed, problems=codes)
    return stablecoin_depeg(reading, settings)


def stable_value(price: Decimal, settings: GuardSettings) -> Decimal:
    """What one stablecoin is worth to hedger: the feed price, never more than the cap (CAPO)."""
    return min(price, settings.stable_price_cap)


# --- Margin, leverage, size, funding ---------------------------------------------------------------------


def liquidation_distance(
    margin: MarginAccount, settings: GuardSettings, equity_usd: Decimal | None = None
) -> GuardResult:
    """A cross-margin account: equity / maintenance requirement under `min_liquidation_buffer` → reduce-only
    (the planner adds collateral or reduces). `equity_usd` overrides the venue's figure (e.g. margin at a
    depegged price)."""
    equity = margin.equity_usd if equity_usd is None else equity_usd
    return margin_buffer(margin.venue, equity, margin.maintenance_requirement_usd, settings)


def margin_buffer(where: str, equity_usd: Decimal, maintenance_usd: Decimal, settings: GuardSettings) -> GuardResult:
    """Equity / maintenance requirement of one margin pool (a cross account, or an isolated position named
    by its market) under `min_liquidation_buffer` → reduce-only; the planner adds collateral or reduces."""
    if maintenance_usd <= 0:
        return allow("no_margin_requirement", venue=where)
    buffer = equity_usd / maintenance_usd
    values = {"equity_usd": equity_usd, "maintenance_usd": maintenance_usd, "buffer": buffer}
    if buffer < settings.min_liquidation_buffer:
        message = f"{where}: equity is {buffer:.3f}× the maintenance margin"
        return _result(
            Verdict.REDUCE_ONLY, "near_liquidation", message, **values, min_buffer=settings.min_liquidation_buffer
        )
    return allow("margin_ok", **values)


def margin_unknown(where: str) -> GuardResult:
    """An isolated position whose equity cannot be valued (no PnL or no collateral price) → reduce-only."""
    message = f"{where}: the position's equity cannot be valued (no PnL or collateral price)"
    return _result(Verdict.REDUCE_ONLY, "margin_unknown", message)


def leverage(notional_usd: Decimal, equity_usd: Decimal, max_leverage: Decimal, where: str) -> GuardResult:
    """Account leverage above the maximum (or equity ≤ 0 with positions) → reduce-only."""
    values = {"notional_usd": notional_usd, "equity_usd": equity_usd, "max_leverage": max_leverage}
    if notional_usd > 0 and (equity_usd <= 0 or notional_usd > equity_usd * max_leverage):
        return _result(Verdict.REDUCE_ONLY, "leverage_above_max", f"{where}: leverage above {max_leverage}", **values)
    return allow("leverage_ok", **values)


def notional_cap(notional_usd: Decimal, max_notional_usd: Decimal, where: str) -> GuardResult:
    """A position already above the per-market cap → reduce-only."""
    values = {"notional_usd": notional_usd, "max_notional_usd": max_notional_usd}
    if notional_usd > max_notional_usd:
        return _result(Verdict.REDUCE_ONLY, "notional_above_max", f"{where}: position above the cap", **values)
    return allow("notional_ok", **values)


def funding_known(funding: FundingRate | None, settings: GuardSettings) -> GuardResult:
    """A market whose funding is unknown gets `unknown_funding_verdict`."""
    if funding is not None and funding.known:
        return allow("funding_known")
    where = "no funding reading" if funding is None else f"{funding.venue}:{funding.symbol} funding unknown"
    return _result(settings.unknown_funding_verdict, "funding_unknown", where)


def punitive_funding(funding: FundingRate, hedge_side: Side, settings: GuardSettings) -> GuardResult:
    """Funding (plus borrowing) the hedge side pays per hour above the cap blocks increases (Lyra)."""
    paid = funding.paid_per_hour(hedge_side)
    values = {
        "side": hedge_side.value,
        "paid_per_hour": paid,
        "rate": funding.rate,
        "interval_s": funding.interval_s,
        "limit_per_hour": settings.max_funding_paid_per_hour,
        "sign_convention": funding.sign_convention,
    }
    if paid is not None and paid > settings.max_funding_paid_per_hour:
        message = f"{funding.venue}:{funding.symbol}: {hedge_side.value} pays {paid:.6%} per hour"
        return _result(Verdict.REDUCE_ONLY, "funding_punitive", message, **values)
    return allow("funding_ok", **values)


# --- One asset's price: the oracle guards together, with the last good price as the fallback anchor ---------


@dataclass(frozen=True)
class PriceView:
    """What the guards make of an asset's oracles.

    - `price`: the price to act on, or None when the oracles cannot be trusted now;
    - `anchor`: the price that bounds risk-reducing orders: `price`, else a healthy second source,
      else the last good price if recent enough; None when there is nothing to trust;
    - `trusted_pair`: both sources healthy and within the divergence bound (recovery needs this);
    - `results`: every oracle guard's result, scoped to the asset.
    """

    asset: str
    price: Decimal | None
    anchor: Decimal | None
    anchor_source: str | None
    trusted_pair: bool
    both_failed: bool
    results: tuple[GuardResult, ...]

    @property
    def verdict(self) -> Verdict:
        return most_severe(self.results)


def resolve_price(
    asset: str,
    primary: OracleReading | None,
    secondary: OracleReading | None,
    settings: GuardSettings,
    state: PlannerState,
    now: int,
    calendar: MarketCalendar | None = None,
) -> PriceView:
    """Judge an asset's primary (and optional secondary) source; see PriceView. Pure: `state` is read only.
    With the asset's market calendar, staleness counts open seconds and a gap across a closure is judged
    against the calendar's reopening threshold."""
    results = list(oracle_health(primary, settings, calendar)) if primary else [_missing_oracle(asset)]
    good_primary = primary if primary is not None and most_severe(results) is Verdict.ALLOW else None
    good_secondary = secondary if healthy(secondary, settings, calendar) else None
    primary_ok, secondary_ok = good_primary is not None, good_secondary is not None
    if good_primary is not None:
        results.append(round_jump(good_primary, settings, good_secondary, calendar))
    trusted_pair = False
    if good_primary is not None and good_secondary is not None:
        agreement = sources_apart(good_primary, good_secondary, settings)
        results.append(agreement)
        trusted_pair = agreement.verdict is Verdict.ALLOW
    if asset in state.distrusted and secondary is not None and not trusted_pair:
        message = f"{asset}: both sources failed; waiting until both are healthy and agree"
        results.append(_result(Verdict.HALT, "oracle_recovering", message))
    scoped = tuple(r.scoped(asset_scope(asset)) for r in results)
    price = good_primary.price if good_primary is not None and most_severe(scoped) is Verdict.ALLOW else None
    anchor, anchor_source = _anchor(
        asset, price, secondary if secondary_ok and not primary_ok else None, settings, state, now
    )
    both_failed = secondary is not None and not primary_ok and not secondary_ok
    return PriceView(asset, price, anchor, anchor_source, trusted_pair, both_failed, scoped)


def _missing_oracle(asset: str) -> GuardResult:
    return _result(Verdict.HALT, "oracle_missing", f"no primary oracle for {asset}")


def _anchor(
    asset: str,
    price: Decimal | None,
    healthy_secondary: OracleReading | None,
    settings: GuardSettings,
    state: PlannerState,
    now: int,
) -> tuple[Decimal | None, str | None]:
    if price is not None:
        return price, "oracle"
    if healthy_secondary is not None:
        return healthy_secondary.price, f"secondary:{healthy_secondary.feed}"
    point = state.last_good(asset, now, settings.last_good_price_max_age_s)
    return (point.price, "last_good_price") if point else (None, None)
