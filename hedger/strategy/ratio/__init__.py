"""Hedge-ratio estimators over log returns.

Sign and unit: a ratio h > 0 means *short* h of perp value per unit of spot value held. Returns are
relative, so h is value-for-value; for a same-asset hedge (ETH spot, ETH perp) that is also units for
units, and sizing converts a cross-asset ratio to perp units with the two prices.

Every estimator takes two aligned return series (spot, perp) and offers
- `estimate(spot_returns, perp_returns) -> RatioEstimate`: one estimate from all the data given;
- `series(spot_returns, perp_returns)`: the estimate at each time t from returns up to and including t
  only (no look-ahead), vectorised; NaN until there is enough data. Its last value equals `estimate`.

Cross-asset beta (an asset with no perp of its own, hedged with another asset's perp) is not a separate
estimator: give any estimator the spot returns of one asset and the perp returns of the other
(`paired_returns(eth_spot, btc_perp)`). A basket of spot assets hedged with K perps is `BasketHedge`.

Gaps: a missing price is never filled. `log_returns` turns it into NaN returns; estimators use only
rows where both legs have a return and report how many they dropped (`RatioEstimate.gaps`).

Data hygiene: `basis_outliers` flags closes where a perp and its own asset's spot disagree by more than
`MAX_BASIS` (a listing glitch, an outage print); `paired_returns(..., exclude=...)` treats them like gaps
for estimation and counts them (`attrs["excluded"]`).

Horizon and prior: every estimator can estimate the ratio for a longer holding horizon from overlapping
sums of `horizon` returns (`aggregate_returns`), and `ShrunkRatio` pulls any of them toward a prior ratio
(1 for a same-asset hedge) with an empirical-Bayes weight built on a robust standard error.

Layout: `returns.py` prepares the returns, `stats.py` holds the statistics, `estimators.py` the estimators.
Reading price files is I/O and lives in `hedger.backtest.data.read_price_history`.
"""

from hedger.strategy.ratio.estimators import (
    BURN_IN_PERIODS,
    BasketHedge,
    EWMARatio,
    FixedRatio,
    OLSRatio,
    RatioEstimate,
    RatioEstimator,
    RollingOLSRatio,
    ShrunkRatio,
)
from hedger.strategy.ratio.returns import (
    MAX_BASIS,
    aggregate_returns,
    basis_outliers,
    log_returns,
    oracle_round_prices,
    paired_returns,
)
from hedger.strategy.ratio.stats import (
    MIN_OLS_OBSERVATIONS,
    SHRINKAGE_C,
    hac_factor,
    hedge_effectiveness,
    shrinkage_weight,
)

__all__ = [
    "BURN_IN_PERIODS",
    "MAX_BASIS",
    "MIN_OLS_OBSERVATIONS",
    "SHRINKAGE_C",
    "BasketHedge",
    "EWMARatio",
    "FixedRatio",
    "OLSRatio",
    "RatioEstimate",
    "RatioEstimator",
    "RollingOLSRatio",
    "ShrunkRatio",
    "aggregate_returns",
    "basis_outliers",
    "hac_factor",
    "hedge_effectiveness",
    "log_returns",
    "oracle_round_prices",
    "paired_returns",
    "shrinkage_weight",
]
