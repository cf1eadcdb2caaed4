"""Estimated hedge ratios for the live cycle: `[strategy.ratio]` specs, price history from the chain (cached beside
the journal) or from files, re-estimated on each spec's schedule.

The session asks `RatioBook.refresh(snapshot)` every cycle: an asset whose last estimate is younger than its
`reestimate_s` keeps it (no RPC at all); the others are re-estimated together from one history read pinned to the
snapshot's block. A changed ratio only moves the target: the planner's band, cooldown and worth-it rules decide
whether it trades. When history cannot be read, the last estimate stands (or the fallback, before the first).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from hedger.chain.connect import Rpc
from hedger.chain.multicall import Block
from hedger.errors import ConfigError, HedgerError
from hedger.model import Snapshot
from hedger.settings import FeedConfig, NetworkConfig
from hedger.strategy.parameters import RatioSpec, StrategySettings

if TYPE_CHECKING:  # pandas, numpy and the estimators load when a ratio is first estimated, not per command
    import pandas as pd

    from hedger.oracles.history import RoundCache
    from hedger.strategy.ratio.live import LiveRatio, WalkForward

log = logging.getLogger("hedger.ratios")


@dataclass(frozen=True)
class PricePair:
    """The two price series an estimate was made from, and where they came from."""

    spot: pd.Series
    perp: pd.Series
    source: str


class RatioBook:
    """The live ratio of every asset with a `[strategy.ratio.<ASSET>]` table, kept between cycles."""

    def __init__(self, network: NetworkConfig, settings: StrategySettings, rpc: Rpc, journal_path: str | Path):
        self.network, self.settings, self.rpc = network, settings, rpc
        self.journal_path = Path(journal_path)
        self.live: dict[str, LiveRatio] = {}
        self.prices: dict[str, PricePair] = {}
        self._cache: RoundCache | None = None

    @property
    def specs(self) -> dict[str, RatioSpec]:
        return dict(self.settings.ratio.assets)

    def hedge_with(self, asset: str, override: str | None = None) -> str:
        spec = self.specs.get(asset)
        return (
            override
            or (spec.hedge_with if spec and spec.hedge_with else None)
            or (self.settings.sizing.hedge_with.get(asset, asset))
        )

    def refresh(self, snapshot: Snapshot, force: bool = False) -> dict[str, Decimal]:
        """Re-estimate the assets that are due at the snapshot's time; return every asset's current ratio."""
        now = snapshot.block_timestamp
        due = [
            a
            for a, s in self.specs.items()
            if force or a not in self.live or now - self.live[a].estimated_at >= s.reestimate_s
        ]
        if due:
            block = Block(snapshot.block_number, snapshot.block_timestamp, "")
            for asset, ratio in self.estimate(due, block).items():
                previous = self.live.get(asset)
                self.live[asset] = ratio
                if previous is None or previous.ratio != ratio.ratio:
                    log.info(
                        "hedge ratio estimated",
                        extra={"asset": asset, "ratio": str(ratio.ratio), "method": ratio.method,
                               "previous": None if previous is None else str(previous.ratio),
                               "observations": ratio.observations, "fallback": ratio.fallback},
                    )  # fmt: skip
        return {asset: ratio.ratio for asset, ratio in self.live.items()}

    def estimate(
        self, assets: list[str], block: Block, hedge_with: str | None = None, spec: RatioSpec | None = None
    ) -> dict[str, LiveRatio]:
        """Estimate `assets` now (all from one history read); `hedge_with` / `spec` override the configured ones."""
        import pandas as pd

        from hedger.strategy.ratio.live import estimate_live

        pairs = {a: self.hedge_with(a, hedge_with) for a in assets}
        try:
            prices = self._read(pairs, block)
        except HedgerError as error:
            log.warning("price history unavailable", extra={"error": str(error)})
            prices = {}
        out = {}
        for asset, perp_asset in pairs.items():
            asset_spec = spec or self.specs.get(asset) or RatioSpec()
            pair = prices.get(asset)
            if pair is None:
                if asset in self.live:
                    out[asset] = self.live[asset]
                    continue
                empty = pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
                pair = PricePair(empty, empty, "no history")
            self.prices[asset] = pair
            out[asset] = estimate_live(
                asset, perp_asset, asset_spec, pair.spot, pair.perp, interval=self.settings.ratio.interval,
                source=pair.source, now_s=block.timestamp, fallback_ratio=self.settings.sizing.default_ratio,
            )  # fmt: skip
        return out

    def walk_forward(self, asset: str, spec: RatioSpec | None = None) -> tuple[WalkForward, WalkForward]:
        """The estimator's out-of-sample walk over the history of its last estimate, and 1:1's on the same rows."""
        from hedger.strategy.ratio.live import WalkForward, estimator_for, walk_forward
        from hedger.strategy.ratio.returns import paired_returns

        pair = self.prices[asset]
        spot, perp = paired_returns(pair.spot, pair.perp, self.settings.ratio.interval)
        estimator = estimator_for(spec or self.specs.get(asset) or RatioSpec(), self.settings.sizing.default_ratio)
        result = walk_forward(estimator, spot, perp)
        return result, WalkForward("one_to_one", result.observations, result.he_one_to_one, result.he_one_to_one, 1.0)

    def _read(self, pairs: dict[str, str], block: Block) -> dict[str, PricePair]:
        from hedger.oracles.history import ChainHistory

        ratio = self.settings.ratio
        assets = sorted(set(pairs) | set(pairs.values()))
        if ratio.source == "file":
            return self._read_files(pairs)
        feeds = {a: self._feed(a) for a in assets}
        history = ChainHistory(self.rpc, self.network.chain_id, self.cache, self.network.multicall)
        read = history.read(list(feeds.values()), ratio.lookback_days, block)
        series = {a: read[f.name].prices(ratio.interval) for a, f in feeds.items()}
        return {
            a: PricePair(series[a], series[p], f"chain: {feeds[a].name} and {feeds[p].name} rounds, "
                         f"{ratio.lookback_days} days to block {block.number}")
            for a, p in pairs.items()
        }  # fmt: skip

    def _read_files(self, pairs: dict[str, str]) -> dict[str, PricePair]:
        import pandas as pd

        from hedger.oracles.history import read_price_file

        ratio, out = self.settings.ratio, {}
        for asset, perp_asset in pairs.items():
            for needed in (asset, perp_asset):
                if needed not in ratio.files:
                    raise ConfigError(self.network.file, f"strategy.ratio.files.{needed}", "no price file")
            spot = read_price_file(ratio.files[asset]).iloc[:, 0]
            perp_frame = read_price_file(ratio.files[perp_asset])
            try:
                perp = read_price_file(ratio.files[perp_asset], {"perp_close": perp_asset}).iloc[:, 0]
            except HedgerError:
                perp = perp_frame.iloc[:, 0]
            end = min(spot.index.max(), perp.index.max())
            start = end - pd.Timedelta(days=ratio.lookback_days)
            source = f"files: {ratio.files[asset]}, {ratio.files[perp_asset]} ({start:%Y-%m-%d} → {end:%Y-%m-%d})"
            out[asset] = PricePair(spot.loc[start:end], perp.loc[start:end], source)
        return out

    def _feed(self, asset: str) -> FeedConfig:
        feeds = [f for f in self.network.feeds.values() if f.asset == asset]
        primary = [f for f in feeds if f.role == "primary"] or feeds
        if not primary:
            raise ConfigError(self.network.file, "feeds", f"no price feed for {asset}: its ratio cannot be estimated")
        return primary[0]

    @property
    def cache(self) -> RoundCache:
        from hedger.oracles.history import RoundCache

        if self._cache is None:
            self._cache = RoundCache.beside(self.journal_path)
        return self._cache

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
