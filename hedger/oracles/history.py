"""Oracle price history: Chainlink round history read on-chain, cached, and price files, as price series.

On-chain (`ChainHistory`): every feed's rounds are walked back from the latest round for a configured number
of days, all feeds together, in batched `getRoundData` multicalls pinned to one block (one JSON-RPC batch per
step, `hedger.chain.multicall.run_steps`). A cold read of 30 days of hourly rounds for four feeds takes three
round trips: the latest rounds, then one batch sized from the heartbeat, then (only when a feed updates faster
than its heartbeat) one sized from the spacing seen. The rounds are cached in SQLite (`RoundCache`, beside the
journal), so a keeper cycle reads only new rounds: it asks for the latest round *and* the rounds expected since
the cache's newest, in one round trip.

Round ids are phase-aware, as a Chainlink proxy reports them: roundId = phaseId << 64 | aggregatorRoundId.
A walk back goes down the aggregator round ids of one phase; at a phase's first round the previous round is
*unknown* (it lives in the previous phase's aggregator), not broken. Where the feed is a proxy that says which
aggregator that was (EACAggregatorProxy's `phaseAggregators(phaseId − 1)`), the walk asks it for its latest
round (two more round trips, once: the cache remembers) and goes on through the proxy in that phase; otherwise
the history starts there and says so (`FeedHistory.phase_start`). A round that fails to read inside the walked
range is kept as a failed round (`Round.ok` False) and is a gap, never skipped silently.

Files (`read_price_file`): the Binance CSV layout `hedger backtest` reads, a plain price CSV (a time column
and one column per price), or Parquet (pyarrow) in either layout.

Both become prices on the estimation interval with gaps explicit (`FeedHistory.prices`, `resample_prices`):
an interval with no valid price is NaN, never filled.
"""

from __future__ import annotations

import itertools
import math
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hedger.chain.abi import encode as abi_encode
from hedger.chain.abi import selector
from hedger.chain.connect import Rpc
from hedger.chain.multicall import MULTICALL3_ADDRESS, Block, Call, CallResult, ReadStep, run_steps
from hedger.errors import DataError
from hedger.oracles.chainlink import latest_round_call, round_call
from hedger.settings import FeedConfig
from hedger.strategy.ratio import oracle_round_prices

PHASE_SHIFT = 64
AGGREGATOR_MASK = (1 << PHASE_SHIFT) - 1
MIN_BATCH = 32
"""Smallest backward batch: a walk never asks for fewer rounds than this at once (one multicall holds 400)."""
MAX_BATCH = 20_000
"""Largest backward batch per feed per round trip (50 aggregate3 calls in one JSON-RPC batch)."""
_PHASE_AGGREGATORS = selector("phaseAggregators(uint16)")
FORWARD_MARGIN = 1.5
"""A warm read asks for this many times the rounds expected since the cache's newest, plus 4."""


def split_round_id(round_id: int) -> tuple[int, int]:
    """(phaseId, aggregatorRoundId) of a proxy round id."""
    return round_id >> PHASE_SHIFT, round_id & AGGREGATOR_MASK


def make_round_id(phase: int, aggregator_round: int) -> int:
    return (phase << PHASE_SHIFT) | aggregator_round


@dataclass(frozen=True)
class Round:
    """One round as the feed reports it; `ok` False: the round id is in range but its read failed."""

    round_id: int
    answer: int | None
    started_at: int | None
    updated_at: int | None

    @property
    def ok(self) -> bool:
        return self.answer is not None and self.updated_at is not None and self.updated_at > 0


@dataclass(frozen=True)
class FeedHistory:
    """A feed's rounds from `since_s` to the block it was read at, oldest first.

    - `phase_start`: the walk reached the first round of the oldest phase it read: rounds before it are unknown
      (not broken), so the history may start after `since_s`.
    - `failed`: round ids inside the range whose read failed (gaps).
    - `round_trips`: RPC round trips this read cost (shared by every feed read together).
    """

    feed: str
    asset: str
    address: str
    decimals: int
    heartbeat_s: int
    since_s: int
    as_of_s: int
    rounds: tuple[Round, ...]
    phase_start: bool
    source: str

    @property
    def failed(self) -> tuple[int, ...]:
        return tuple(r.round_id for r in self.rounds if not r.ok)

    @property
    def start_s(self) -> int | None:
        good = [r.updated_at for r in self.rounds if r.ok and r.updated_at is not None]
        return min(good) if good else None

    def prices(self, interval: str = "1h") -> pd.Series:
        """One price per `interval` bucket (labelled by its start) from `since_s` to the last complete bucket
        before `as_of_s`: the latest answer updated inside the bucket's heartbeat window, else NaN (a gap)."""
        good = [r for r in self.rounds if r.ok and r.updated_at is not None and r.updated_at >= self.since_s]
        if not good:
            return pd.Series(dtype=float, name=self.asset)
        prices = oracle_round_prices(
            [r.updated_at for r in good],  # type: ignore[misc]
            [r.answer for r in good],  # type: ignore[misc]
            self.decimals,
            self.heartbeat_s,
            interval,
        )
        step = pd.Timedelta(interval)
        as_of = pd.Timestamp(self.as_of_s, unit="s", tz="UTC")
        start = pd.Timestamp(self.since_s, unit="s", tz="UTC").ceil(interval)
        grid = pd.date_range(start, as_of - step, freq=interval) if as_of - step >= start else pd.DatetimeIndex([])
        return prices.reindex(grid).rename(self.asset)


class RoundCache:
    """Rounds read before, per (chain id, feed address), in SQLite. A walk only ever extends the rounds it has
    contiguously (forward to the latest, backward from the oldest), so the cache holds no holes of its own."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS rounds (
                chain_id INTEGER NOT NULL, feed TEXT NOT NULL, round_id TEXT NOT NULL, sort_key BLOB NOT NULL,
                answer TEXT, started_at INTEGER, updated_at INTEGER,
                PRIMARY KEY (chain_id, feed, round_id));
            CREATE INDEX IF NOT EXISTS rounds_order ON rounds (chain_id, feed, sort_key);
            """
        )

    @staticmethod
    def beside(journal_path: str | Path) -> RoundCache:
        """The cache next to a journal file: `<journal stem>-history.sqlite` in the same directory."""
        journal = Path(journal_path)
        return RoundCache(journal.with_name(f"{journal.stem.removesuffix('-journal')}-history.sqlite"))

    def rounds(self, chain_id: int, feed: str) -> list[Round]:
        rows = self.db.execute(
            "SELECT round_id, answer, started_at, updated_at FROM rounds WHERE chain_id = ? AND feed = ? "
            "ORDER BY sort_key",
            (chain_id, feed.lower()),
        ).fetchall()
        return [Round(int(r), None if a is None else int(a), s, u) for r, a, s, u in rows]

    def store(self, chain_id: int, feed: str, rounds: Sequence[Round]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        chain_id,
                        feed.lower(),
                        str(r.round_id),
                        r.round_id.to_bytes(10, "big"),
                        None if r.answer is None else str(r.answer),
                        r.started_at,
                        r.updated_at,
                    )
                    for r in rounds
                ],
            )

    def close(self) -> None:
        self.db.close()


class ChainHistory:
    """Round history of a network's feeds, read through Multicall3 and cached."""

    def __init__(self, rpc: Rpc, chain_id: int, cache: RoundCache | None = None, multicall: str = MULTICALL3_ADDRESS):
        self.rpc, self.chain_id, self.cache, self.multicall = rpc, chain_id, cache, multicall

    def read(self, feeds: Sequence[FeedConfig], days: float, block: Block) -> dict[str, FeedHistory]:
        """Each feed's rounds from `days` before `block` to `block`, by feed name (all feeds walked together)."""
        if days <= 0:
            raise DataError(f"history lookback must be more than 0 days, got {days}")
        since = block.timestamp - math.ceil(days * 86_400)
        steps = [_walk(f, self._cached(f), since, block.timestamp) for f in feeds]
        walks: list[_Walked] = run_steps(self.rpc, steps, block.number, self.multicall)
        out = {}
        for feed, walked in zip(feeds, walks, strict=True):
            if self.cache is not None and walked.new:
                # the latest round is read afresh every time (a test feed can still re-date it)
                top = walked.rounds[-1].round_id if walked.rounds else None
                self.cache.store(self.chain_id, feed.address, [r for r in walked.new if r.round_id != top])
            source = f"chain {self.chain_id} feed {feed.address} ({len(walked.rounds) - len(walked.new)} cached)"
            out[feed.name] = FeedHistory(
                feed.name, feed.asset, feed.address, feed.decimals, feed.heartbeat_s, since, block.timestamp,
                _in_range(walked.rounds, since), walked.phase_start, source,
            )  # fmt: skip
        return out

    def _cached(self, feed: FeedConfig) -> list[Round]:
        return [] if self.cache is None else self.cache.rounds(self.chain_id, feed.address)


def _in_range(rounds: Sequence[Round], since: int) -> tuple[Round, ...]:
    """Rounds from the last good one at or before `since` (the price standing then) onward; failed reads inside."""
    ordered = sorted(rounds, key=lambda r: r.round_id)
    first = 0
    for index, r in enumerate(ordered):
        if r.ok and r.updated_at is not None and r.updated_at <= since:
            first = index
    return tuple(ordered[first:])


@dataclass
class _Walked:
    rounds: list[Round]
    new: list[Round]
    phase_start: bool


def _walk(feed: FeedConfig, cached: list[Round], since: int, now: int) -> ReadStep[_Walked]:
    """A read step: the latest round (and, warm, the rounds expected since the cache's newest), the rest of the
    rounds since the cache's newest if more came, then backward batches in the latest round's phase until a good
    round at or before `since`, the phase's first round, or a failed read."""
    known = {r.round_id: r for r in cached}
    forward: list[int] = []
    if known:
        newest = max(known)
        phase, aggregator = split_round_id(newest)
        expected = _expected_rounds(cached, now - (known[newest].updated_at or now), feed.heartbeat_s)
        forward = [make_round_id(phase, aggregator + i) for i in range(1, expected + 1)]
    results = yield [latest_round_call(feed.address, feed.name)] + [
        round_call(feed.address, rid, feed.name) for rid in forward
    ]
    latest = results[0]
    if not latest.ok:
        return _Walked(sorted(known.values(), key=lambda r: r.round_id), [], False)
    top = _round(latest.value[0], latest)
    new = [_round(rid, result) for rid, result in zip(forward, results[1:], strict=True) if rid < top.round_id]
    new.append(top)
    rounds = {**known, **{r.round_id: r for r in new}}
    phase, top_aggregator = split_round_id(top.round_id)
    in_phase = [split_round_id(rid)[1] for rid in known if split_round_id(rid)[0] == phase]
    if in_phase:  # more rounds came than expected: read the rest since the cache's newest
        missing = [make_round_id(phase, a) for a in range(max(in_phase) + 1, top_aggregator)]
        missing = [rid for rid in missing if rid not in rounds]
        if missing:
            results = yield [round_call(feed.address, rid, feed.name) for rid in missing]
            fetched = [_round(rid, result) for rid, result in zip(missing, results, strict=True)]
            new += fetched
            rounds.update({r.round_id: r for r in fetched})
    ceiling = None  # in a phase entered from a newer one: its last aggregator round + 1
    while True:
        in_phase = [rid for rid in rounds if split_round_id(rid)[0] == phase]
        if in_phase:
            lowest = min(in_phase)
            oldest, aggregator = rounds[lowest], split_round_id(lowest)[1]
            covered = oldest.ok and oldest.updated_at is not None and oldest.updated_at <= since
            if covered or not oldest.ok:  # far enough back, or a failed read that cannot be dated
                phase_start = False
                break
            span = (oldest.updated_at or now) - since
        else:
            aggregator, span = ceiling or 1, now - since
        if aggregator <= 1:
            # a phase's first round: the previous round is in the previous phase's aggregator. Across it only
            # through a proxy that says where that is (EACAggregatorProxy.phaseAggregators); else history starts
            older = phase - 1
            if older < 1:
                phase_start = True
                break
            if any(split_round_id(rid)[0] == older for rid in rounds):  # crossed before: the cache has it
                phase, ceiling = older, None
                continue
            (found,) = yield [_phase_aggregator_call(feed, older)]
            address = found.value if found.ok else None
            if not address or int(address, 16) == 0:
                phase_start = True
                break
            (last,) = yield [latest_round_call(address, f"{feed.name}.phase{older}")]
            if not last.ok:
                phase_start = True
                break
            phase, ceiling = older, split_round_id(last.value[0])[1] + 1
            continue
        count = _backward_count(list(rounds.values()), span, feed.heartbeat_s)
        ids = [make_round_id(phase, a) for a in range(max(1, aggregator - count), aggregator)]
        results = yield [round_call(feed.address, rid, feed.name) for rid in ids]
        fetched = [_round(rid, result) for rid, result in zip(ids, results, strict=True)]
        new += fetched
        rounds.update({r.round_id: r for r in fetched})
    return _Walked(sorted(rounds.values(), key=lambda r: r.round_id), new, phase_start)


def _phase_aggregator_call(feed: FeedConfig, phase: int) -> Call:
    data = _PHASE_AGGREGATORS + abi_encode(["uint16"], [phase])
    return Call(feed.address, data, ("address",), label=f"{feed.name}.phaseAggregators")


def _round(round_id: int, result: CallResult) -> Round:
    if not result.ok:
        return Round(round_id, None, None, None)
    _, answer, started_at, updated_at, _ = result.value
    return Round(round_id, answer, started_at, updated_at)


def _spacing_s(rounds: Sequence[Round]) -> float | None:
    """Median seconds between consecutive good rounds, when there are enough to tell."""
    times = sorted(r.updated_at for r in rounds if r.ok and r.updated_at)
    gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
    if len(gaps) < 8:
        return None
    gaps.sort()
    return float(gaps[len(gaps) // 2])


def _expected_rounds(cached: Sequence[Round], elapsed_s: int, heartbeat_s: int) -> int:
    spacing = _spacing_s(cached) or float(heartbeat_s)
    return min(MAX_BATCH, math.ceil(max(elapsed_s, 0) / max(spacing, 1.0) * FORWARD_MARGIN) + 4)


def _backward_count(rounds: Sequence[Round], span_s: int, heartbeat_s: int) -> int:
    """How many rounds to ask for to cover `span_s` more: a feed updates at least once per heartbeat, so the first
    batch assumes that; later ones use the spacing seen, with 10% to spare."""
    spacing = min(_spacing_s(rounds) or float(heartbeat_s), float(heartbeat_s))
    return max(MIN_BATCH, min(MAX_BATCH, math.ceil(span_s / max(spacing, 1.0) * 1.1) + 1))


# --- files -------------------------------------------------------------------------------------------------

BINANCE_PRICE_COLUMN = "spot_close"
TIME_COLUMNS = ("timestamp_utc", "timestamp", "time", "date")


def read_price_file(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Prices from a file, indexed by UTC time, sorted, one column per price: CSV or Parquet (by extension).

    - Binance layout (`timestamp_utc, perp_close, spot_close, …`, as `hedger backtest` reads): the spot close
      (an oracle tracks the spot index), in a column named after the asset in the file name (`binance_ethusdt…`
      → ETH) unless `columns` maps file columns to names.
    - Any other layout: a time column (timestamp_utc, timestamp, time or date; or a Parquet DatetimeIndex) and
      one numeric column per price, renamed by `columns` if given.
    Empty cells stay NaN (gaps), rows are never filled.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such price file", "give the path of a CSV or Parquet price history")
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable price file ({error})") from None
    if not isinstance(frame.index, pd.DatetimeIndex):
        time = next((c for c in TIME_COLUMNS if c in frame.columns), None)
        if time is None:
            raise DataError(
                f"{path}: no time column (one of {', '.join(TIME_COLUMNS)}); columns: {list(frame.columns)}"
            )
        frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop(time), utc=True), name="time")
    elif frame.index.tz is None:
        frame.index = frame.index.tz_localize("UTC")
    if BINANCE_PRICE_COLUMN in frame.columns and columns is None:
        asset = _asset_from_name(path)
        frame = frame[[BINANCE_PRICE_COLUMN]].rename(columns={BINANCE_PRICE_COLUMN: asset})
    elif columns is not None:
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise DataError(f"{path}: no column(s) {absent}; columns: {list(frame.columns)}")
        frame = frame[list(columns)].rename(columns=dict(columns))
    frame = frame.apply(pd.to_numeric, errors="coerce")
    return frame.sort_index()


def _asset_from_name(path: Path) -> str:
    stem = path.stem.lower()
    for quote in ("usdt", "usdc", "usd"):
        for part in stem.split("_"):
            if part.endswith(quote) and len(part) > len(quote):
                return part.removesuffix(quote).upper()
    raise DataError(f"{path}: cannot tell the asset from the file name", "name the columns with `columns`")


def resample_prices(prices: pd.DataFrame | pd.Series, interval: str) -> pd.DataFrame | pd.Series:
    """The last valid price in each `interval` bucket (labelled by its start); a bucket with none is NaN."""
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise DataError("prices need a DatetimeIndex")
    return prices.resample(interval).last()
