"""TestToken, ChainlinkFeed, SequencerUptimeFeed and the Multicall3-compatible batcher on Anvil."""

from __future__ import annotations

import pytest
from eth_abi import decode

from hedger.chain.contracts import at, load_artifact
from hedger.chain.nodes import DEV_ACCOUNTS
from hedger.chain.universe import MULTICALL3_ADDRESS
from tests.support.chain_helpers import revert_of

pytestmark = pytest.mark.integration

ALICE, BOB = DEV_ACCOUNTS[2][0], DEV_ACCOUNTS[3][0]


@pytest.mark.parametrize(("symbol", "decimals"), [("USDC", 6), ("WETH", 18), ("WBTC", 8)])
def test_tokens_have_their_decimals_and_a_test_mint(chain, symbol, decimals):
    token = chain.token(symbol)
    assert token.functions.decimals().call() == decimals
    supply = token.functions.totalSupply().call()
    chain.transact(token.functions.mint(ALICE, 5 * 10**decimals))
    assert token.functions.balanceOf(ALICE).call() == 5 * 10**decimals
    assert token.functions.totalSupply().call() == supply + 5 * 10**decimals


def test_token_transfer_allowance_and_typed_errors(chain):
    token = chain.token("USDC")
    chain.transact(token.functions.mint(ALICE, 100))
    reason = revert_of(token.functions.transfer(BOB, 101), ALICE)
    assert reason.name == "InsufficientBalance" and reason.args == {"account": ALICE, "balance": 100, "needed": 101}
    chain.transact(token.functions.approve(BOB, 60), ALICE)
    chain.transact(token.functions.transferFrom(ALICE, BOB, 60), BOB)
    assert token.functions.allowance(ALICE, BOB).call() == 0
    assert revert_of(token.functions.transferFrom(ALICE, BOB, 1), BOB).name == "InsufficientAllowance"
    assert (token.functions.balanceOf(ALICE).call(), token.functions.balanceOf(BOB).call()) == (40, 60)


def test_feed_keeps_round_history_and_dates_rounds_at_the_block(chain):
    feed = chain.feed("ETH/USD")
    assert (feed.functions.decimals().call(), feed.functions.description().call()) == (8, "ETH/USD")
    first_round, first_answer, *_ = feed.functions.latestRoundData().call()
    receipt = chain.transact(feed.functions.setAnswer(3100 * 10**8))
    block_time = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    round_id, answer, started, updated, answered_in = feed.functions.latestRoundData().call()
    assert (round_id, answer, started, updated, answered_in) == (
        first_round + 1,
        3100 * 10**8,
        block_time,
        block_time,
        round_id,
    )
    assert feed.functions.getRoundData(first_round).call()[1] == first_answer
    assert revert_of(feed.functions.getRoundData(round_id + 1), ALICE).name == "NoDataPresent"


def test_feed_can_be_made_stale_broken_or_failing(chain):
    feed = chain.feed("ETH/USD")
    chain.transact(feed.functions.setRoundData(0, -5, 0, 0))
    assert feed.functions.latestRoundData().call()[:4] == [0, -5, 0, 0]
    chain.transact(feed.functions.setUpdatedAt(123))
    assert feed.functions.latestRoundData().call()[3] == 123
    chain.transact(feed.functions.setReverting(True))
    assert revert_of(feed.functions.latestRoundData(), ALICE).name == "FeedUnavailable"
    chain.transact(feed.functions.setReverting(False))
    assert feed.functions.latestRoundData().call()[1] == -5
    assert revert_of(feed.functions.setAnswer(1), ALICE).name == "NotOwner"


def test_sequencer_feed_reports_status_and_when_it_changed(chain):
    sequencer = chain.sequencer
    assert sequencer.functions.latestRoundData().call()[1] == 0
    receipt = chain.transact(sequencer.functions.setDown(True))
    block_time = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    _, answer, started_at, *_ = sequencer.functions.latestRoundData().call()
    assert (answer, started_at) == (1, block_time)
    chain.transact(sequencer.functions.setStatusAt(0, 0))  # up, but never initialised
    assert sequencer.functions.latestRoundData().call()[1:3] == [0, 0]
    assert revert_of(sequencer.functions.setStatusAt(2, 0), chain.universe.deployer).name == "InvalidStatus"


def test_batcher_lives_at_the_canonical_multicall3_address(chain):
    code = chain.w3.eth.get_code(MULTICALL3_ADDRESS)
    assert code.hex().removeprefix("0x") == load_artifact("Batcher").deployed_bytecode.removeprefix("0x")


def test_aggregate3_isolates_a_failing_call(chain):
    batcher = at(chain.w3, "Batcher", MULTICALL3_ADDRESS)
    eth, btc = chain.feed("ETH/USD"), chain.feed("BTC/USD")
    chain.transact(btc.functions.setReverting(True))
    latest = eth.functions.latestRoundData()._encode_transaction_data()
    calls = [(eth.address, True, latest), (btc.address, True, latest), (eth.address, True, latest)]
    results = batcher.functions.aggregate3(calls).call()
    assert [ok for ok, _ in results] == [True, False, True]
    assert decode(["uint80", "int256", "uint256", "uint256", "uint80"], results[0][1])[1] == 3000 * 10**8
    strict = [(eth.address, False, latest), (btc.address, False, latest)]
    assert revert_of(batcher.functions.aggregate3(strict), ALICE).name == "CallFailed"


def test_try_block_and_aggregate_reports_the_block_and_chain_facts(chain):
    batcher = at(chain.w3, "Batcher", MULTICALL3_ADDRESS)
    block = chain.w3.eth.get_block("latest")
    calls = [
        (MULTICALL3_ADDRESS, batcher.functions.getCurrentBlockTimestamp()._encode_transaction_data()),
        (MULTICALL3_ADDRESS, batcher.functions.getEthBalance(ALICE)._encode_transaction_data()),
        (MULTICALL3_ADDRESS, batcher.functions.getChainId()._encode_transaction_data()),
    ]
    number, _, results = batcher.functions.tryBlockAndAggregate(False, calls).call(block_identifier=block["number"])
    assert number == block["number"] == batcher.functions.getBlockNumber().call(block_identifier=block["number"])
    values = [decode(["uint256"], data)[0] for _, data in results]
    assert values == [block["timestamp"], chain.w3.eth.get_balance(ALICE, block["number"]), 31337]
