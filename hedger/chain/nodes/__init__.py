"""Local development nodes behind one interface (LocalNode): Anvil (the default) and Ganache.

`NODE_KINDS[name].launch(config)` starts one of a kind; `attach(url)` drives a running node of
whichever kind answers there. docs/nodes.md says which to use when and how they differ.
"""

from __future__ import annotations

from hedger.chain.nodes.anvil import Anvil
from hedger.chain.nodes.base import DEFAULT_CHAIN_ID, DEV_ACCOUNTS, LocalNode, NodeConfig, reserve_port
from hedger.chain.nodes.ganache import Ganache
from hedger.errors import NodeError

NODE_KINDS: dict[str, type[LocalNode]] = {"anvil": Anvil, "ganache": Ganache}
DEFAULT_NODE = "anvil"

__all__ = ["DEFAULT_CHAIN_ID", "DEFAULT_NODE", "DEV_ACCOUNTS", "NODE_KINDS", "Anvil", "Ganache", "LocalNode"]
__all__ += ["NodeConfig", "attach", "node_kind", "reserve_port"]


def node_kind(name: str) -> type[LocalNode]:
    try:
        return NODE_KINDS[name.lower()]
    except KeyError:
        raise NodeError(f"unknown node kind {name!r}", f"choose one of: {', '.join(NODE_KINDS)}") from None


def attach(url: str) -> LocalNode:
    """The running node at `url`, as the kind its web3_clientVersion names (NodeError if none answers)."""
    errors = []
    for kind in NODE_KINDS.values():
        try:
            return kind.attach(url)
        except NodeError as error:
            errors.append(str(error))
    raise NodeError(f"no local node (of {', '.join(NODE_KINDS)}) answers at {url}: {errors[0]}")
