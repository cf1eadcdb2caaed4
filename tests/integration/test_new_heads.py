"""The keeper follows new blocks over Anvil's newHeads websocket, and polls when there is none or it drops.

Each keeper is the real one (`Keeper.run()` in a thread, dry run) on the session's Anvil; the node is reached
directly (Anvil serves ws on its HTTP port), through an HTTP-only forwarder (no websocket), or through a TCP
proxy that cuts every connection."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import hedger.chain.heads as heads
from hedger.app.keeper import Keeper, KeeperConfig
from hedger.app.session import Session
from hedger.chain.connect import connect
from hedger.chain.heads import NewHeads
from hedger.errors import RpcError
from hedger.testing import LocalChain
from tests.support.keeper_helpers import DEMO, DEMO_KEY, DroppingProxy, HttpOnlyRpc, running, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def keeper_at(chain: LocalChain, tmp_path: Path, monkeypatch):
    """keeper_at(url, **keeper_config): a dry-run keeper for the demo account that reaches the node at `url`."""
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", DEMO_KEY)

    def make(url: str, **config) -> Keeper:
        session = Session(chain.network, connect(url, chain.network.chain_id), DEMO, url, tmp_path / "journal.sqlite")
        return Keeper(session, KeeperConfig(dry_run=True, kill_switch_file=tmp_path / "STOP", **config))

    return make


def mine(chain: LocalChain) -> int:
    chain.w3.provider.make_request("evm_mine", [])
    return chain.w3.eth.block_number


def planned_on(keeper: Keeper, block: int, timeout_s: float) -> float:
    """Seconds until the keeper has run a cycle on `block`."""
    started = time.monotonic()
    wait_until(lambda: keeper.last_block == block, timeout_s, f"the keeper to plan on block {block}", 0.005)
    return time.monotonic() - started


def test_the_keeper_plans_on_a_new_block_as_its_head_is_announced(chain, keeper_at):
    keeper = keeper_at(chain.anvil.url, new_heads="ws", poll_interval_s=60)  # a poll could not explain a reaction
    with running(keeper):
        planned_on(keeper, chain.w3.eth.block_number, 30)
        assert keeper.heads is not None and keeper.heads.via == "ws"
        for _ in range(3):
            assert planned_on(keeper, mine(chain), 5) < 2


def test_without_a_websocket_auto_polls_and_ws_is_a_clear_error(chain, keeper_at):
    http_only = HttpOnlyRpc(chain.anvil.url)
    try:
        keeper = keeper_at(http_only.url, new_heads="auto", poll_interval_s=0.05)
        with running(keeper):
            planned_on(keeper, chain.w3.eth.block_number, 30)
            assert keeper.heads is not None and keeper.heads.via == "poll"
            planned_on(keeper, mine(chain), 10)
        rpc = connect(http_only.url, chain.network.chain_id).rpc
        with pytest.raises(RpcError, match=r"no newHeads subscription at ws://127\.0\.0\.1:\d+") as refused:
            NewHeads(rpc, http_only.url, "ws", 0.05, keeper.stop_requested)
        assert 'new_heads = "auto"' in str(refused.value)
    finally:
        http_only.close()


def test_a_dropped_socket_falls_back_to_polling_and_subscribes_again(chain, keeper_at, monkeypatch):
    monkeypatch.setattr(heads, "RECONNECT_S", 0.5)
    proxy = DroppingProxy(chain.anvil.port)
    try:
        keeper = keeper_at(proxy.url, new_heads="ws", poll_interval_s=0.05, max_backoff_s=0.5)
        with running(keeper):
            planned_on(keeper, chain.w3.eth.block_number, 30)
            assert keeper.heads is not None and keeper.heads.via == "ws"
            proxy.cut()  # the socket drops; for a moment the HTTP RPC is unreachable too
            wait_until(lambda: keeper.heads.via == "poll", 10, "the keeper to notice the dropped socket")
            proxy.restore()
            planned_on(keeper, mine(chain), 10)  # polled: the subscription is not back yet, or just back
            wait_until(lambda: keeper.heads.via == "ws", 10, "the subscription to be back")
            planned_on(keeper, mine(chain), 10)
    finally:
        proxy.close()
