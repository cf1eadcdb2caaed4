"""pytest fixtures for a ready local chain: one Anvil per test session with the reference universe
deployed once, and a snapshot taken before each test and reverted after it.

Use from a conftest.py:  ``pytest_plugins = ["hedger.testing"]``.

With pytest-xdist each worker process gets its own node (ports never collide).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from hedger.chain.anvil import Anvil
from hedger.chain.contracts import at
from hedger.chain.universe import Universe, deploy_universe, network_document
from hedger.settings import NetworkConfig, parse_network


@dataclass
class LocalChain:
    """A node with the reference universe, as a test sees it."""

    anvil: Anvil
    universe: Universe

    @property
    def w3(self) -> Web3:
        return self.anvil.w3

    @property
    def perp(self) -> Contract:
        return at(self.w3, "PerpMarket", self.universe.perp_market)

    def token(self, symbol: str) -> Contract:
        return at(self.w3, "TestToken", self.universe.tokens[symbol])

    def feed(self, name: str) -> Contract:
        return at(self.w3, "ChainlinkFeed", self.universe.feeds[name])

    @property
    def sequencer(self) -> Contract:
        return at(self.w3, "SequencerUptimeFeed", self.universe.sequencer_feed)

    def transact(self, call: ContractFunction, sender: str | None = None) -> TxReceipt:
        """Send a contract call from a dev account and return its receipt (reverts raise)."""
        tx_hash = call.transact({"from": sender or self.universe.deployer})
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    @property
    def network(self) -> NetworkConfig:
        """The universe as a validated network configuration (what networks/local.toml holds)."""
        return parse_network(network_document(self.universe), "<local universe>")


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    node = Anvil.launch()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def universe(anvil: Anvil) -> Universe:
    return deploy_universe(anvil)


@contextlib.contextmanager
def chain_state_for(anvil: Anvil, universe: Universe) -> Iterator[LocalChain]:
    """The session's chain for a wider scope (a module that deploys extra contracts once), reverted to
    what it was when the scope ends."""
    snapshot = anvil.snapshot()
    yield LocalChain(anvil, universe)
    anvil.revert(snapshot)


@pytest.fixture
def chain(anvil: Anvil, universe: Universe) -> Iterator[LocalChain]:
    """The session's chain, reverted to its pristine state after the test."""
    with chain_state_for(anvil, universe) as local:
        yield local
