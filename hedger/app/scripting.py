"""Helpers for scripts/ that run both under `brownie run` and with plain python."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hedger.app.session import Session, resolve_account
from hedger.chain.anvil import DEFAULT_CHAIN_ID, DEV_ACCOUNTS, Anvil, LocalNode
from hedger.chain.connect import connect
from hedger.chain.universe import deploy_universe, network_document
from hedger.errors import AnvilError
from hedger.settings import load_env, load_network, parse_network

DEFAULT_LOCAL_RPC = "http://127.0.0.1:8545"


def brownie_rpc_url() -> str | None:
    """The RPC URL of brownie's connected network, when running under `brownie run`."""
    try:
        from brownie import network
    except ImportError:
        return None
    return network.web3.provider.endpoint_uri if network.is_connected() else None


def _brownie_launched_node() -> bool:
    """True when `brownie run` started its development node itself (it stops it when the run ends),
    False when it attached to a node that was already running (say `hedger chain up`'s)."""
    try:
        from brownie.network.rpc import Rpc
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


def script_session(node: LocalNode, journal: Path | None = None) -> Session:
    """A Session for the scripts: on a throwaway node the reference universe is deployed first (nothing
    else is there yet); on a lasting node networks/local.toml describes what `hedger chain up` deployed.
    On a local chain (31337) without HEDGER_PRIVATE_KEY, the demo wallet's key is used: Anvil's public
    development key #1, never one that holds real funds."""
    if is_throwaway(node):
        universe = deploy_universe(node)
        network = parse_network(network_document(universe), "<reference universe deployed by the script>")
    else:
        network = load_network("local")
    load_env()
    if network.chain_id == DEFAULT_CHAIN_ID and not os.environ.get("HEDGER_PRIVATE_KEY"):
        os.environ["HEDGER_PRIVATE_KEY"] = dict(DEV_ACCOUNTS)[network.accounts["demo"]]
    chain = connect(node.url, network.chain_id, source=network.file, timeout_s=network.rpc_timeout_s)
    journal_path = journal or Path(tempfile.mkdtemp(prefix="hedger-script-")) / "journal.sqlite"
    return Session(network, chain, resolve_account(network), node.url, journal_path)
