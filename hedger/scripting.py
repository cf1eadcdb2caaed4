"""Helpers for scripts/ that run both under `brownie run` and with plain python."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from hedger.chain.anvil import Anvil, LocalNode
from hedger.errors import AnvilError

DEFAULT_LOCAL_RPC = "http://127.0.0.1:8545"


def brownie_rpc_url() -> str | None:
    """The RPC URL of brownie's connected network, when running under `brownie run`."""
    try:
        from brownie import network  # type: ignore[import-not-found]
    except ImportError:
        return None
    return network.web3.provider.endpoint_uri if network.is_connected() else None


def _brownie_launched_node() -> bool:
    """True when `brownie run` started its development node itself (it stops it when the run ends),
    False when it attached to a node that was already running (say `hedger chain up`'s)."""
    try:
        from brownie.network.rpc import Rpc  # type: ignore[import-not-found]
    except ImportError:
        return False
    return Rpc().is_child()


def is_throwaway(node: LocalNode) -> bool:
    """True when the node stops with this script: an Anvil of our own, or one brownie launched for the
    run. Scripts leave lasting records (networks/local.toml) only for a node that outlives them."""
    if isinstance(node, Anvil):
        return True
    return node.url == brownie_rpc_url() and _brownie_launched_node()


@contextlib.contextmanager
def script_node() -> Iterator[LocalNode]:
    """brownie's node when under brownie; else HEDGER_RPC_LOCAL (default :8545) if a node answers
    there; else a fresh Anvil of our own, stopped when the script ends."""
    url = brownie_rpc_url()
    if url:
        yield LocalNode(url)
        return
    try:
        yield LocalNode.attach(os.environ.get("HEDGER_RPC_LOCAL", DEFAULT_LOCAL_RPC))
        return
    except AnvilError:
        pass
    with Anvil.launch() as node:
        yield node
