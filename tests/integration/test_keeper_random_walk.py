"""1,000 blocks of random-walk ETH prices through the keeper, with guard trips mixed in, every block checked:
after every cycle the guards allowed, the ETH hedge is inside the band around its target; under halt not
one transaction is sent; under reduce-only nothing risk-adding is."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from hedger.model import ActionKind, Verdict
from hedger.strategy.sizing import toward_zero
from tests.support.keeper_helpers import (
    DEMO_KEY,
    FEED_UNIT,
    in_one_block,
    network_with,
    nonce,
    open_keeper,
    position,
)
from tests.support.sizes import WALK_BLOCKS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BLOCKS = WALK_BLOCKS  # 1,000 in CI (tests/support/sizes.py)
SEED = 6
SIGMA = 0.01  # per block
LOW, HIGH = 2_300.0, 4_000.0  # the walk reflects here: the $22,500 cap binds the ETH hedge throughout
CAP_USD = Decimal(22_500)
BAND = Decimal("0.05")
STEP = Decimal("1e-18")
# The notional cap makes the unit target move with the price (22,500 / price ETH); no cooldown, so the
# band alone decides when to trade (both documented settings, docs/strategy.md).
STRATEGY = {"sizing": {"max_notional_usd": 22_500}, "policy": {"cooldown_s": 0, "band_rel": 0.05}}
# Guard trips: which block-long states, with the verdict each must give.
EVENTS = {
    "sources_apart": (1, Verdict.HALT),  # the primary alone prints 8% higher: trust neither source
    "primary_reverts": (1, Verdict.HALT),  # latestRoundData reverts on the primary (and the venue's reads)
    "usdc_depeg": (2, Verdict.REDUCE_ONLY),  # USDC at 0.97: no new risk
}


def schedule(rng: random.Random) -> dict[int, str]:
    """Block index → guard trip; one trip roughly every 40 blocks."""
    events: dict[int, str] = {}
    for start in range(20, BLOCKS - 5, 40):
        kind = rng.choice(sorted(EVENTS))
        first = start + rng.randrange(10)
        events.update({first + k: kind for k in range(EVENTS[kind][0])})
    return events


@dataclass
class Feeds:
    """The block's feed transactions, given the state the previous block left."""

    chain: object
    contracts: dict = field(init=False)
    state: str | None = None

    def __post_init__(self) -> None:
        self.contracts = {name: self.chain.feed(name) for name in ("ETH/USD", "ETH/USD-2", "USDC/USD")}

    def calls(self, price: Decimal, event: str | None) -> list:
        primary, secondary, usdc = (self.contracts[n].functions for n in ("ETH/USD", "ETH/USD-2", "USDC/USD"))
        calls = [secondary.setAnswer(_answer(price))]
        if self.state == "primary_reverts" and event != "primary_reverts":
            calls.append(primary.setReverting(False))
        if event == "primary_reverts":
            calls.append(primary.setReverting(True))
        else:
            calls.append(primary.setAnswer(_answer(price * Decimal("1.08") if event == "sources_apart" else price)))
        if (event == "usdc_depeg") != (self.state == "usdc_depeg"):
            calls.append(usdc.setAnswer(_answer(Decimal("0.97") if event == "usdc_depeg" else Decimal(1))))
        self.state = event
        return calls


def _answer(price: Decimal) -> int:
    return int((price * FEED_UNIT).to_integral_value())


def walk(rng: random.Random, start: float = 3_000.0):
    price = start
    while True:
        price *= math.exp(rng.gauss(0, SIGMA))
        price = LOW * LOW / price if price < LOW else HIGH * HIGH / price if price > HIGH else price
        yield Decimal(f"{price:.2f}")


@dataclass
class Tally:
    verdicts: dict[Verdict, int] = field(default_factory=lambda: dict.fromkeys(Verdict, 0))
    above_cap: int = 0
    rebalances: int = 0
    sent_under_reduce_only: int = 0


def expected_verdict(chain, event: str | None, price: Decimal) -> Verdict:
    """A guard trip's verdict; else reduce-only while the position is above the notional cap (a price rise
    lifts it there: only a decrease may follow), else allow."""
    if event is not None:
        return EVENTS[event][1]
    return Verdict.REDUCE_ONLY if abs(position(chain, "ETH")) * price > CAP_USD else Verdict.ALLOW


def check_block(chain, result, event: str | None, expected: Verdict, price: Decimal, nonce_before: int, tally: Tally):
    plan, report = result.plan, result.report
    assert plan.verdict is expected, (result.block_number, event, plan.reasons)
    assert not report.failed, report
    tally.verdicts[plan.verdict] += 1
    sent = report.sent
    if expected is Verdict.HALT:
        assert report.halted and report.outcomes == () and nonce(chain) == nonce_before
    if expected is Verdict.REDUCE_ONLY:
        assert all(o.action.reduces_risk for o in sent), sent
        tally.sent_under_reduce_only += len(sent)
    if event is None:  # the guards allowed every move the band asked for: the hedge is inside the band
        target = -toward_zero(CAP_USD / price, STEP)
        assert abs(position(chain, "ETH") - target) < BAND * abs(target), (result.block_number, price)
        tally.above_cap += expected is Verdict.REDUCE_ONLY
    tally.rebalances += any(o.action.symbol == "ETH" and o.action.kind is not ActionKind.ADD_COLLATERAL for o in sent)


@pytest.mark.anvil_only("counts blocks exactly: on Ganache turning automine back on (miner_start) always mines a block")
def test_a_thousand_blocks_of_random_walk_prices(chain, tmp_path, monkeypatch):
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", DEMO_KEY)
    rng = random.Random(SEED)
    network = network_with(chain, strategy=STRATEGY, execution={"poll_interval_s": 0.005})
    keeper = open_keeper(chain, network, tmp_path / "journal.sqlite")
    assert keeper.cycle().report.sent  # the first hedge, at $3,000
    events, feeds, prices, tally = schedule(rng), Feeds(chain), walk(rng), Tally()
    for index in range(BLOCKS):
        price, event = next(prices), events.get(index)
        block = in_one_block(chain, feeds.calls(price, event))
        expected, before = expected_verdict(chain, event, price), nonce(chain)
        result = keeper.cycle()
        assert result.block_number == block
        check_block(chain, result, event, expected, price, before, tally)
    halts = sum(1 for kind in events.values() if EVENTS[kind][1] is Verdict.HALT)
    assert tally.verdicts[Verdict.HALT] == halts > 0
    assert tally.verdicts[Verdict.REDUCE_ONLY] == len(events) - halts + tally.above_cap
    assert tally.rebalances >= BLOCKS // 50 and tally.above_cap > 0, tally
