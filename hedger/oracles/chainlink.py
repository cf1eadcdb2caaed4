"""Chainlink AggregatorV3 feeds and L2 sequencer uptime feeds, read in batched steps.

No judging here: a reading carries round id, answer, startedAt, updatedAt, decimals, the previous
round (for jump checks), the feed's configured heartbeat and price bounds, and the block it was read
at; a reverted or garbled call becomes a reading with `error` set. hedger.strategy.guards decides.

Real feeds are Chainlink EACAggregatorProxy contracts: a round id is `phaseId << 64 | aggregatorRoundId`,
and a new phase (a new aggregator behind the proxy) starts again at aggregator round 1, whose id − 1
names no round. The previous round of a phase's first round is then reported unknown, with the reason,
never a failure: walking to the previous phase's last round would take two more RPC round trips
(the proxy's phaseAggregators, then that aggregator), over the snapshot's budget.
"""

from __future__ import annotations

from functools import partial

from hedger.chain.abi import encode as abi_encode
from hedger.chain.abi import selector
from hedger.chain.multicall import Block, Call, CallResult, ReadStep
from hedger.model import OracleReading, SequencerStatus, Source
from hedger.settings import FeedConfig, SequencerConfig

_ROUND = ("uint80", "int256", "uint256", "uint256", "uint80")
_LATEST_ROUND_DATA = selector("latestRoundData()")
_GET_ROUND_DATA = selector("getRoundData(uint80)")
_DECIMALS = selector("decimals()")
PHASE_OFFSET = 64  # AggregatorProxy: roundId = phaseId << 64 | aggregatorRoundId


def phase_id(round_id: int) -> int:
    """The proxy phase of a round id (0 for a bare aggregator's ids, which stay below 2^64)."""
    return round_id >> PHASE_OFFSET


def aggregator_round_id(round_id: int) -> int:
    """The round id inside its phase's aggregator."""
    return round_id & ((1 << PHASE_OFFSET) - 1)


def latest_round_call(address: str, label: str) -> Call:
    return Call(address, _LATEST_ROUND_DATA, _ROUND, label=f"{label}.latestRoundData")


def round_call(address: str, round_id: int, label: str) -> Call:
    return Call(address, _GET_ROUND_DATA + abi_encode(["uint80"], [round_id]), _ROUND, label=f"{label}.getRoundData")


def read_feed(feed: FeedConfig, block: Block) -> ReadStep[OracleReading]:
    """Latest round and decimals, then the previous round when there is one."""
    latest, decimals = yield [
        latest_round_call(feed.address, feed.name),
        Call(feed.address, _DECIMALS, ("uint8",), label=f"{feed.name}.decimals"),
    ]
    source = Source(feed.address, block.number, block.timestamp)
    reading = partial(
        OracleReading, feed=feed.name, asset=feed.asset, source=source, decimals=feed.decimals,
        heartbeat_s=feed.heartbeat_s, min_price=feed.min_price, max_price=feed.max_price, role=feed.role,
    )  # fmt: skip
    error = _problem(latest, decimals, feed)
    if error:
        return reading(error=error)
    round_id, answer, started_at, updated_at, answered_in_round = latest.value
    previous, note = CallResult(False), _no_previous(round_id)
    if note is None:
        (previous,) = yield [round_call(feed.address, round_id - 1, feed.name)]
        if not previous.ok:
            note = f"round {round_id - 1} could not be read: {previous.error or 'call failed'}"
    return reading(
        answer=answer,
        round_id=round_id,
        started_at=started_at,
        updated_at=updated_at,
        previous_answer=previous.value[1] if previous.ok else None,
        previous_updated_at=previous.value[3] if previous.ok else None,
        answered_in_round=answered_in_round,
        previous_note=note,
    )


def _no_previous(round_id: int) -> str | None:
    """Why the round before `round_id` is not asked for, or None when it is."""
    if aggregator_round_id(round_id) > 1:
        return None
    phase = phase_id(round_id)
    if phase > 0:
        return (
            f"round {round_id} is the first of phase {phase}: the previous round is the last of phase {phase - 1}, "
            "in another aggregator (not read)"
        )
    return f"round {round_id} has no previous round"


def _problem(latest: CallResult, decimals: CallResult, feed: FeedConfig) -> str | None:
    if not latest.ok:
        return latest.error or "latestRoundData failed"
    if decimals.ok and decimals.value != feed.decimals:
        return f"feed reports {decimals.value} decimals, the network file says {feed.decimals}"
    return None


def read_sequencer(config: SequencerConfig, block: Block) -> ReadStep[SequencerStatus]:
    (latest,) = yield [latest_round_call(config.address, "sequencer")]
    source = Source(config.address, block.number, block.timestamp)
    if not latest.ok:
        return SequencerStatus(source, config.grace_period_s, error=latest.error or "latestRoundData failed")
    _, answer, started_at, _, _ = latest.value
    return SequencerStatus(source, config.grace_period_s, answer=answer, started_at=started_at)
