# ruff: noqa: RUF009  (`setting(...)` returns a dataclasses.field carrying the docs; its defaults are immutable)
"""Every threshold of the hedge engine, in one object, each with a documented default and its source.

`StrategySettings.from_mapping(doc["strategy"], file)` builds it from a TOML `[strategy]` table:

    [strategy.guards]
    max_round_jump_rel = 0.5
    [strategy.sizing]
    default_ratio = 1
    hedge_with = { stETH = "ETH" }
    [strategy.policy]
    band_rel = 0.05

Numbers are read as exact Decimals (a TOML float goes through its shortest text form). A wrong key, type
or range raises `ConfigError(file, "strategy.<table>.<key>", problem)`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from hedger.errors import ConfigError
from hedger.model import Verdict
from hedger.strategy.calendar import MarketHours
from hedger.strategy.fields import check_ranges, require, setting
from hedger.strategy.policy import RebalancePolicy


@dataclass(frozen=True)
class GuardSettings:
    """Thresholds of the guards (allow / reduce-only / halt)."""

    oracle_staleness_buffer_rel: Decimal = setting(
        Decimal("0.05"),
        "a feed is stale when now − updatedAt > heartbeat × (1 + this); the heartbeat is per feed (network file)",
        "Chainlink: compare updatedAt with the heartbeat; safeguards checklist 1: buffer ~5–10%; GMX allows 25 h "
        "on 24 h feeds",
        minimum=0,
        maximum=1,
    )
    max_round_jump_rel: Decimal = setting(
        Decimal("0.5"),
        "|answer − previous| / max(answer, previous) above this is distrusted without a second source "
        "(exactly halving or doubling passes)",
        "Liquity PriceFeed MAX_PRICE_DEVIATION_FROM_PREVIOUS_ROUND",
        minimum=0,
        maximum=1,
    )
    max_source_divergence_rel: Decimal = setting(
        Decimal("0.05"),
        "two sources further apart than this, relative to the lower price, trust neither",
        "Liquity PriceFeed MAX_PRICE_DIFFERENCE_BETWEEN_ORACLES",
        minimum=0,
    )
    mark_block_rel: Decimal = setting(
        Decimal("0.015"),
        "venue mark further than this from the oracle: no order on that market except risk reduction",
        "Lyra GMXAdapter priceVarianceCBPercent (1.5% in production)",
        minimum=0,
    )
    mark_worse_price_rel: Decimal = setting(
        Decimal("0.004"),
        "above this (and up to mark_block_rel) orders are priced at the worse of mark and oracle",
        "Lyra GMXAdapter gmxUsageThreshold (0.4%)",
        minimum=0,
    )
    sequencer_grace_period_s: int = setting(
        3600,
        "after the L2 sequencer comes back up, risk-adding actions wait this long (at least; a longer "
        "grace period from the network file wins); exactly at the grace period is still inside it",
        "Chainlink DataConsumerWithSequencerCheck GRACE_PERIOD_TIME; Aave PriceOracleSentinel",
        minimum=0,
    )
    sequencer_verdict: Verdict = setting(
        Verdict.REDUCE_ONLY,
        "verdict while the sequencer is down, in grace or uninitialised (startedAt 0): reduce_only or halt",
        "Aave PriceOracleSentinel: risk-reducing actions stay allowed while down or in grace",
    )
    stable_pause_rel: Decimal = setting(
        Decimal("0.02"),
        "a stablecoin this far below 1: no new risk (reduce-only), margin valued at the feed price",
        "safeguards checklist 10 (Lyra worstStableRate)",
        minimum=0,
        maximum=1,
    )
    stable_reduce_rel: Decimal = setting(
        Decimal("0.05"),
        "a stablecoin this far below 1: reduce-only and alert",
        "safeguards checklist 10",
        minimum=0,
        maximum=1,
    )
    stable_price_cap: Decimal = setting(
        Decimal("1.04"),
        "a stablecoin is never valued above this (no premium credited)",
        "Aave CAPO PriceCapAdapterStable (cap 1.04 for USDC/USDT)",
        minimum=1,
    )
    min_liquidation_buffer: Decimal = setting(
        Decimal(2),
        "equity / maintenance requirement below this: no increase, and the plan adds collateral or reduces",
        "hedger (Aave liquidates below health factor 1 and lets liquidations through below 0.95)",
        minimum=1,
    )
    max_funding_paid_per_hour: Decimal = setting(
        Decimal("0.0001"),
        "funding + borrowing the hedge side pays per hour (fraction of notional) above which the hedge may "
        "not grow (0.01%/h ≈ 88% a year; decreases stay allowed)",
        "Lyra canHedge maximumFundingRate",
        minimum=0,
    )
    unknown_funding_verdict: Verdict = setting(
        Verdict.REDUCE_ONLY,
        "verdict for a market whose funding rate is unknown (e.g. no funding source)",
        "hedger: never grow a position whose carry is unknown",
    )
    last_good_price_max_age_s: int = setting(
        86400,
        "when the oracles fail, risk-reducing orders are bounded by the last good price if it is this recent",
        "Liquity (falls back to the last good price)",
        minimum=0,
    )

    def __post_init__(self) -> None:
        check_ranges(self)
        require(
            self.mark_worse_price_rel <= self.mark_block_rel, "mark_worse_price_rel", "must not exceed mark_block_rel"
        )
        require(
            self.stable_pause_rel <= self.stable_reduce_rel, "stable_pause_rel", "must not exceed stable_reduce_rel"
        )
        require(self.sequencer_verdict is not Verdict.ALLOW, "sequencer_verdict", "must be reduce_only or halt")


@dataclass(frozen=True)
class SizingSettings:
    """How big the hedge is, where it goes, and the caps it stays within."""

    default_ratio: Decimal = setting(
        Decimal(1),
        "hedge ratio for an asset the caller gives none for (1: full hedge; 0.5: partial)",
        "hedging.md: same-asset OLS ratios are 0.988–0.995, within hundredths of 1:1",
        minimum=0,
    )
    hedge_with: Mapping[str, str] = setting(
        {},
        "cross hedges: asset → the asset whose perp hedges it (e.g. stETH = ETH); default: its own perp",
        "hedger",
    )
    carry_horizon_h: Decimal = setting(
        Decimal(168),
        "horizon over which funding, borrowing and fees are compared between venues (one week)",
        "hedger",
        minimum=0,
    )
    carry_budget_rel: Decimal | None = setting(
        None,
        "funding-aware sizing: if the hedge's expected carry cost over the horizon exceeds this fraction of "
        "its notional, shrink it (never flip it) until the cost equals the budget; unset: off",
        "hedger",
        minimum=0,
    )
    max_notional_usd: Decimal = setting(
        Decimal(1_000_000), "largest position per market, USD", "Lyra hedgeCap; Rage Trade", minimum=0
    )
    max_leverage: Decimal = setting(
        Decimal(3),
        "largest leverage (notional / equity) of a margin pool (a cross account or an isolated position) an "
        "increase may leave; the venue's 1/IMR caps it too",
        "Alexander, Deng & Zou: leverage mostly under 5x keeps liquidation probability < 1%; Lyra maxLeverage",
        minimum=Decimal("0.01"),
    )
    target_leverage: Decimal = setting(
        Decimal(2),
        "when a hedge must grow and its margin is short, add wallet collateral to bring its margin pool (a "
        "cross-margin account, or an isolated position through the growing order) to this leverage",
        "Lyra GMX hedger targetLeverage (1.1; a perp hedge can afford more)",
        minimum=Decimal("0.01"),
    )
    liquidation_buffer_target: Decimal = setting(
        Decimal(3),
        "when the buffer falls below guards.min_liquidation_buffer, add collateral (or reduce) back to this",
        "hedger",
        minimum=1,
    )
    slippage_rel: Decimal = setting(
        Decimal("0.01"),
        "acceptable price: the worse of mark and oracle, moved this much against the order",
        "hedger; Lyra's GMX hedger uses acceptableSpotSlippage 1.05 (5%), far wider",
        minimum=0,
        maximum=1,
    )
    min_collateral_update_usd: Decimal = setting(
        Decimal(10), "collateral moves smaller than this are skipped", "Lyra minCollateralUpdate", minimum=0
    )

    def __post_init__(self) -> None:
        check_ranges(self)
        require(self.target_leverage <= self.max_leverage, "target_leverage", "must not exceed max_leverage")
        for asset, perp_asset in self.hedge_with.items():
            require(isinstance(perp_asset, str) and perp_asset != "", f"hedge_with.{asset}", "must name an asset")


@dataclass(frozen=True)
class StrategySettings:
    """The whole strategy's settings: guards, sizing, rebalancing policy."""

    guards: GuardSettings = dataclasses.field(default_factory=GuardSettings)
    sizing: SizingSettings = dataclasses.field(default_factory=SizingSettings)
    policy: RebalancePolicy = dataclasses.field(default_factory=RebalancePolicy)
    market_hours: MarketHours = dataclasses.field(default_factory=MarketHours)  # calendars of non-24/7 markets

    def __post_init__(self) -> None:
        require(
            self.sizing.liquidation_buffer_target >= self.guards.min_liquidation_buffer,
            "sizing.liquidation_buffer_target",
            "must be at least guards.min_liquidation_buffer",
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, file: str = "strategy settings") -> StrategySettings:
        """Settings from a `[strategy]` table; missing keys keep their defaults."""
        data = dict(data or {})
        market_hours = MarketHours.from_mapping(data.pop("market_hours", None), file)
        tables = {"guards": GuardSettings, "sizing": SizingSettings, "policy": RebalancePolicy}
        _reject_unknown(data, tables, file, "strategy")
        parts: dict[str, Any] = {}  # one settings dataclass per table, each its own type
        for name, part in tables.items():
            table = data.get(name, {})
            if not isinstance(table, Mapping):
                raise ConfigError(file, f"strategy.{name}", f"must be a table, got {type(table).__name__}")
            parts[name] = _build(part, table, file, f"strategy.{name}")
        return _located(lambda: cls(**parts, market_hours=market_hours), file, "strategy")


T = TypeVar("T")


def _build(cls: type[T], table: Mapping[str, Any], file: str, prefix: str) -> T:
    hints = typing.get_type_hints(cls)
    _reject_unknown(table, hints, file, prefix)
    values = {name: _coerce(hints[name], value, file, f"{prefix}.{name}") for name, value in table.items()}
    return _located(lambda: cls(**values), file, prefix)


def _located(build: typing.Callable[[], T], file: str, prefix: str) -> T:
    """Re-raise a validation error with the real file and the full key."""
    try:
        return build()
    except ConfigError as error:
        key = error.key if error.key.startswith("strategy") else f"{prefix}.{error.key}"
        raise ConfigError(file, key, error.problem) from None


def _reject_unknown(table: Mapping[str, Any], known: Mapping[str, Any], file: str, prefix: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(file, f"{prefix}.{key}", "unknown setting", f"known keys: {', '.join(sorted(known))}")


def _coerce(kind: Any, value: Any, file: str, key: str) -> Any:
    if isinstance(kind, types.UnionType):
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    origin = typing.get_origin(kind) or kind
    if kind is Decimal:
        return _decimal(value, file, key)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(file, key, f"must be an integer, got {value!r}")
        return value
    if kind is Verdict:
        try:
            return Verdict(value)
        except ValueError:
            raise ConfigError(file, key, f"must be one of {[v.value for v in Verdict]}, got {value!r}") from None
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(file, key, f"must be a table, got {value!r}")
        return dict(value)
    raise ConfigError(file, key, f"unsupported setting type {kind}")


def _decimal(value: Any, file: str, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ConfigError(file, key, f"must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(file, key, f"must be a number, got {value!r}") from None
    if not number.is_finite():
        raise ConfigError(file, key, f"must be finite, got {value!r}")
    return number
