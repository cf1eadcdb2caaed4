"""Chainlink feeds as they are deployed: hedger's ChainlinkFeed behind Chainlink's own EACAggregatorProxy,
compiled from @chainlink/contracts in node_modules (contracts/dependencies.toml), read through a phase
change. Round ids are phase-aware (phaseId << 64 | aggregatorRoundId); the first round of a new phase has
no readable previous round, which is unknown, not a broken feed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedger.chain.connect import connect
from hedger.chain.contracts import at, deploy, load_artifact
from hedger.chain.multicall import latest_block, run_steps
from hedger.model import OracleReading
from hedger.oracles.chainlink import aggregator_round_id, phase_id, read_feed
from hedger.settings import FeedConfig
from hedger.strategy.guards import oracle_broken, round_jump
from hedger.strategy.parameters import GuardSettings

pytestmark = pytest.mark.integration

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
PHASE = 1 << 64


def usd(value: int) -> int:
    return value * 10**8


def feed_config(address: str) -> FeedConfig:
    return FeedConfig("ETH/USD proxy", address, "ETH", 8, 3600, Decimal(100), Decimal(100_000))


def read(chain, address: str) -> OracleReading:
    rpc = connect(chain.anvil.url, chain.w3.eth.chain_id).rpc
    block = latest_block(rpc)
    (reading,) = run_steps(rpc, [read_feed(feed_config(address), block)], block.number)
    return reading


@pytest.fixture
def proxied(chain):
    """Phase 1: a ChainlinkFeed at $3,000 then $3,010 (aggregator rounds 1, 2) behind a real EACAggregatorProxy
    with no access controller (open reads, as on the public feeds)."""
    owner = chain.universe.deployer
    first = deploy(chain.w3, "ChainlinkFeed", 8, "ETH / USD", usd(3000), sender=owner)
    chain.transact(first.functions.setAnswer(usd(3010)))
    proxy = deploy(chain.w3, "EACAggregatorProxy", first.address, ZERO_ADDRESS, sender=owner)
    return proxy, first


def change_phase(chain, proxy, answer: int):
    """Propose and confirm a new aggregator (phase 2), as Chainlink does when a feed is upgraded."""
    new = deploy(chain.w3, "ChainlinkFeed", 8, "ETH / USD", answer, sender=chain.universe.deployer)
    chain.transact(proxy.functions.proposeAggregator(new.address))
    chain.transact(proxy.functions.confirmAggregator(new.address))
    return new


def test_the_proxy_is_compiled_from_node_modules_by_its_own_compiler():
    artifact = load_artifact("EACAggregatorProxy")
    assert artifact.source == "@chainlink/contracts/src/v0.6/EACAggregatorProxy.sol"
    names = {entry.get("name") for entry in artifact.abi}
    assert {"proposeAggregator", "confirmAggregator", "phaseAggregators", "phaseId", "latestRoundData"} <= names


def test_round_ids_through_the_proxy_carry_the_phase(chain, proxied):
    proxy, _ = proxied
    reading = read(chain, proxy.address)
    assert reading.ok and reading.answer == usd(3010)
    assert reading.round_id == PHASE | 2
    assert (phase_id(reading.round_id), aggregator_round_id(reading.round_id)) == (1, 2)
    assert reading.previous_answer == usd(3000) and reading.previous_note is None  # PHASE | 1, same aggregator
    assert reading.answered_in_round == PHASE | 2


def test_the_first_round_of_a_new_phase_has_an_unknown_previous_round_not_a_broken_feed(chain, proxied):
    proxy, first = proxied
    change_phase(chain, proxy, usd(3020))
    assert proxy.functions.phaseId().call() == 2
    reading = read(chain, proxy.address)
    assert reading.round_id == 2 * PHASE | 1 and reading.answer == usd(3020)
    assert reading.previous_answer is None and reading.previous_updated_at is None
    assert "first of phase 2" in reading.previous_note
    assert oracle_broken(reading).code == "oracle_ok"
    assert round_jump(reading, GuardSettings(), None).code == "jump_unchecked"
    # the old phase's rounds stay readable through the proxy under their phase-1 ids
    assert proxy.functions.getRoundData(PHASE | 2).call()[1] == usd(3010)
    assert first.functions.latestRoundData().call()[0] == 2  # the aggregator's own id has no phase


def test_the_second_round_of_a_phase_reads_its_previous_round_again(chain, proxied):
    proxy, _ = proxied
    new = change_phase(chain, proxy, usd(3020))
    chain.transact(new.functions.setAnswer(usd(3030)))
    reading = read(chain, proxy.address)
    assert reading.round_id == 2 * PHASE | 2
    assert (reading.previous_answer, reading.previous_note) == (usd(3020), None)


def test_answered_in_round_apart_from_the_round_id_is_reported_not_judged(chain, proxied):
    proxy, first = proxied
    chain.transact(first.functions.setAnsweredInRound(2, 1))  # a carried-over answer, as old aggregators had
    round_id, *_, answered_in_round = proxy.functions.latestRoundData().call()
    assert (round_id, answered_in_round) == (PHASE | 2, PHASE | 1)  # the proxy adds the phase to both
    reading = read(chain, proxy.address)
    assert (reading.round_id, reading.answered_in_round) == (PHASE | 2, PHASE | 1)
    assert oracle_broken(reading).code == "oracle_ok"  # deprecated upstream: hedger does not rely on it


def test_a_bare_feed_at_its_first_round_asks_for_no_previous_round(chain):
    feed = deploy(chain.w3, "ChainlinkFeed", 8, "ETH / USD", usd(3000), sender=chain.universe.deployer)
    reading = read(chain, feed.address)
    assert reading.round_id == 1 and reading.previous_answer is None
    assert reading.previous_note == "round 1 has no previous round"
    assert at(chain.w3, "ChainlinkFeed", feed.address).functions.latestRound().call() == 1
