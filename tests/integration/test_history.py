"""Chainlink round history on Anvil: seeded feeds, phase-aware batched walks, the SQLite cache, gaps."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from hedger.chain.anvil import Anvil
from hedger.chain.connect import Rpc, connect
from hedger.chain.contracts import at, deploy
from hedger.chain.history_seed import HOUR_S, fixture_seed, write_history
from hedger.chain.multicall import latest_block
from hedger.oracles.history import ChainHistory, RoundCache, make_round_id, split_round_id
from hedger.settings import FeedConfig
from hedger.testing import LocalChain, chain_state_for

pytestmark = pytest.mark.integration

DAYS = 6


@pytest.fixture(scope="module")
def seeded(anvil: Anvil, universe) -> Iterator[LocalChain]:
    """The session chain with DAYS of hourly fixture rounds in the four ETH and BTC feeds."""
    with chain_state_for(anvil, universe) as chain:
        spec = {f.name: f for f in universe.spec.feeds}
        names = ("ETH/USD", "BTC/USD", "ETH/USD-2", "BTC/USD-2")
        feeds = {n: (chain.feed(n), spec[n].asset, spec[n].price) for n in names}
        write_history(chain.w3, feeds, fixture_seed(DAYS), universe.deployer)
        yield chain


def _rpc(chain: LocalChain) -> Rpc:
    """An Rpc over a connection that counts HTTP round trips."""
    return connect(chain.anvil.url, chain.network.chain_id).rpc


def _feeds(chain: LocalChain) -> list[FeedConfig]:
    return [f for f in chain.network.feeds.values() if f.asset in ("ETH", "BTC")]


def test_cold_walk_reads_the_days_asked_for_in_few_round_trips_and_a_warm_one_in_one(seeded, tmp_path):
    rpc = _rpc(seeded)
    cache = RoundCache(tmp_path / "local-history.sqlite")
    history = ChainHistory(rpc, seeded.network.chain_id, cache)
    block = latest_block(rpc)
    before = rpc.round_trips
    cold = history.read(_feeds(seeded), days=4, block=block)
    cold_trips = rpc.round_trips - before
    assert 2 <= cold_trips <= 3
    eth = cold["ETH/USD"]
    assert not eth.failed and not eth.phase_start
    assert eth.start_s is not None and eth.start_s <= block.timestamp - 4 * 86_400
    assert {split_round_id(r.round_id)[0] for r in eth.rounds} == {1}  # the seeded phase
    prices = eth.prices("1h")
    assert 4 * 24 - 1 <= len(prices) <= 4 * 24 and prices.notna().all()
    assert prices.iloc[-1] == pytest.approx(3000, rel=0.05)
    # new rounds arrive: a warm read asks for them together with the latest round
    seeded.anvil.increase_time(2 * HOUR_S)
    for name in ("ETH/USD", "BTC/USD"):
        seeded.transact(seeded.feed(name).functions.setAnswer(3010 * 10**8 if "ETH" in name else 60_100 * 10**8))
    block = latest_block(rpc)
    before = rpc.round_trips
    warm = history.read(_feeds(seeded), days=4, block=block)
    assert rpc.round_trips - before == 1
    assert warm["ETH/USD"].rounds[-1].answer == 3010 * 10**8
    assert len(warm["ETH/USD"].rounds) == len(eth.rounds) + 1 - _dropped(eth.rounds, block.timestamp - 4 * 86_400)


def _dropped(rounds, since: int) -> int:
    """Rounds of the old read that the newer window no longer needs (only the last one at or before `since` stays)."""
    before = [r for r in rounds if r.updated_at <= since]
    return max(len(before) - 1, 0)


def test_walk_stops_at_the_first_round_of_a_phase_as_unknown_not_broken(seeded, tmp_path):
    history = ChainHistory(_rpc(seeded), seeded.network.chain_id)
    block = latest_block(history.rpc)
    feeds = history.read(_feeds(seeded), days=DAYS + 3, block=block)
    eth = feeds["ETH/USD"]
    assert eth.phase_start and not eth.failed
    assert split_round_id(eth.rounds[0].round_id) == (1, 1)
    prices = eth.prices("1h")
    first_priced = prices.first_valid_index()
    assert prices.loc[:first_priced].iloc[:-1].isna().all()  # before the phase: explicit gaps, not prices
    assert prices.notna().sum() == pytest.approx(DAYS * 24, abs=1)


def test_gaps_in_rounds_stay_gaps_at_the_estimation_interval(seeded):
    """A feed whose rounds skip six hours: those buckets are NaN (the answer stands only for its heartbeat)."""
    w3, deployer = seeded.w3, seeded.universe.deployer
    feed = deploy(w3, "ChainlinkFeed", 8, "GAP/USD", 100 * 10**8, sender=deployer)
    now = w3.eth.get_block("latest")["timestamp"]
    hours = [h for h in range(48) if not 20 <= h < 26]
    ids = [make_round_id(2, k + 1) for k in range(len(hours))]
    answers = [(100 + h) * 10**8 for h in hours]
    times = [now - (47 - h) * HOUR_S for h in hours]
    seeded.transact(at(w3, "ChainlinkFeed", feed.address).functions.writeRounds(ids, answers, times))
    config = FeedConfig("GAP/USD", feed.address, "GAP", 8, 3600, 1, 10**6)  # type: ignore[arg-type]
    history = ChainHistory(_rpc(seeded), seeded.network.chain_id)
    read = history.read([config], days=1.9, block=latest_block(history.rpc))["GAP/USD"]
    prices = read.prices("1h")
    missing = prices[prices.isna()]
    assert 4 <= len(missing) <= 6  # the hours with no round within a heartbeat
    returns = np.log(prices).diff()
    assert returns.isna().sum() >= len(missing) + 1  # never a zero return across the gap
    # the round at the read block sits in a bucket not yet complete: the last complete bucket holds 146
    assert math.isclose(prices.dropna().iloc[-1], 146.0, rel_tol=1e-12)


def test_a_proxy_walk_crosses_into_the_previous_phase_and_a_warm_read_does_not_again(seeded, tmp_path):
    """Chainlink's EACAggregatorProxy (compiled from @chainlink/contracts): phase 1's aggregator wrote 49 hourly
    rounds, then phase 2's 24 more; the walk reads both, through the proxy, with no gap at the upgrade."""
    w3, deployer = seeded.w3, seeded.universe.deployer
    now = w3.eth.get_block("latest")["timestamp"]
    old = deploy(w3, "ChainlinkFeed", 8, "PHX/USD", 100 * 10**8, sender=deployer)
    new = deploy(w3, "ChainlinkFeed", 8, "PHX/USD", 100 * 10**8, sender=deployer)
    for feed, hours in ((old, range(72, 23, -1)), (new, range(23, -1, -1))):
        rounds = list(hours)
        ids = list(range(1, len(rounds) + 1))
        seeded.transact(feed.functions.writeRounds(ids, [(200 - h) * 10**8 for h in rounds],
                                                   [now - h * HOUR_S for h in rounds]))  # fmt: skip
    proxy = deploy(w3, "EACAggregatorProxy", old.address, "0x" + "00" * 20, sender=deployer)  # Chainlink's own
    seeded.transact(proxy.functions.proposeAggregator(new.address))
    seeded.transact(proxy.functions.confirmAggregator(new.address))
    assert split_round_id(proxy.functions.latestRoundData().call()[0]) == (2, 24)
    config = FeedConfig("PHX/USD", proxy.address, "PHX", 8, 3600, 1, 10**6)  # type: ignore[arg-type]
    rpc = _rpc(seeded)
    history = ChainHistory(rpc, seeded.network.chain_id, RoundCache(tmp_path / "h.sqlite"))
    block = latest_block(rpc)
    before = rpc.round_trips
    read = history.read([config], days=2.5, block=block)["PHX/USD"]
    assert rpc.round_trips - before <= 5
    assert not read.phase_start and not read.failed
    phases = [split_round_id(r.round_id)[0] for r in read.rounds]
    assert set(phases) == {1, 2} and phases == sorted(phases)
    prices = read.prices("1h")
    assert prices.notna().all() and prices.iloc[0] == pytest.approx(200 - 59, abs=1)  # 2.5 days back: phase 1
    before = rpc.round_trips
    again = history.read([config], days=2.5, block=block)["PHX/USD"]
    assert rpc.round_trips - before == 1 and len(again.rounds) == len(read.rounds)
