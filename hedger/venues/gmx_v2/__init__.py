"""GMX v2 (gmx-synthetics) on Arbitrum: positions, markets, funding and pending orders from the Reader and
DataStore, and orders encoded for ExchangeRouter.multicall. See docs/venues.md.

One module per concern: `keys` (DataStore keys, hashing, event topics), `units` (prices, USD, funding,
liquidation math), `config` (GmxToken/GmxMarket from the network file), `read` (the reading half),
`orders` (order planning and encoding, outcomes) and `venue` (GmxV2Venue, both halves together)."""

from hedger.venues.gmx_v2.config import GmxMarket, GmxToken
from hedger.venues.gmx_v2.keys import (
    EVENT_LOG2_TOPIC,
    MIN_POSITION_SIZE_USD,
    datastore_key,
    market_factor_keys,
    open_interest_key,
)
from hedger.venues.gmx_v2.units import (
    FLOAT_DECIMALS,
    CollateralBacking,
    closing_costs_usd,
    funding_per_hour,
    liquidation_price,
    price_per_unit,
    usd_per_token,
    usd_value,
)
from hedger.venues.gmx_v2.venue import GmxV2Venue

__all__ = [
    "EVENT_LOG2_TOPIC",
    "FLOAT_DECIMALS",
    "MIN_POSITION_SIZE_USD",
    "CollateralBacking",
    "GmxMarket",
    "GmxToken",
    "GmxV2Venue",
    "closing_costs_usd",
    "datastore_key",
    "funding_per_hour",
    "liquidation_price",
    "market_factor_keys",
    "open_interest_key",
    "price_per_unit",
    "usd_per_token",
    "usd_value",
]
