"""pytest fixtures for a ready local chain: one node per test session with the reference universe
deployed once, and a snapshot taken before each test and reverted after it.

Use from a conftest.py:  ``pytest_plugins = ["hedger.testing"]``.

The node kind is Anvil unless ``pytest --node ganache``; a test that needs what only Anvil does is
marked ``@pytest.mark.anvil_only("why")`` and skipped, with that reason, on any other node.
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

from hedger.chain.contracts import at
from hedger.chain.nodes import DEFAULT_NODE, NODE_KINDS, LocalNode
from hedger.chain.universe import Universe, deploy_universe, network_document
from hedger.settings import NetworkConfig, parse_network


@dataclass
class LocalChain:
    """A node with the reference universe, as a test sees it."""

    node: LocalNode
    universe: Universe

    @property
    def w3(self) -> Web3:
        return self.node.w3

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--node",
        choices=sorted(NODE_KINDS),
        default=DEFAULT_NODE,
        help=f"the local node kind the chain fixtures launch (default {DEFAULT_NODE})",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "anvil_only(reason): needs what only Anvil does; skipped on other nodes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kind = config.getoption("--node")
    if kind == "anvil":
        return
    for item in items:
        marker = item.get_closest_marker("anvil_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "Anvil only")
            item.add_marker(pytest.mark.skip(reason=f"Anvil only, not on {kind}: {reason}"))


@pytest.fixture(scope="session")
def node_kind(request: pytest.FixtureRequest) -> type[LocalNode]:
    """The node kind chosen with --node: what tests launch nodes of their own with."""
    return NODE_KINDS[request.config.getoption("--node")]


@pytest.fixture(scope="session")
def node(node_kind: type[LocalNode]) -> Iterator[LocalNode]:
    launched = node_kind.launch()
    yield launched
    launched.stop()


@pytest.fixture(scope="session")
def universe(node: LocalNode) -> Universe:
    return deploy_universe(node)


@contextlib.contextmanager
def chain_state_for(node: LocalNode, universe: Universe) -> Iterator[LocalChain]:
    """The session's chain for a wider scope (a module that deploys extra contracts once), reverted to
    what it was when the scope ends."""
    snapshot = node.snapshot()
    yield LocalChain(node, universe)
    node.revert(snapshot)


@pytest.fixture
def chain(node: LocalNode, universe: Universe) -> Iterator[LocalChain]:
    """The session's chain, reverted to its pristine state after the test."""
    with chain_state_for(node, universe) as local:
        yield local
