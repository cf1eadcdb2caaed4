"""Deploy hedger's reference universe on a local chain and write networks/local.toml.

brownie run scripts/deploy_local.py        # on brownie's development network (Anvil on :8545)
python scripts/deploy_local.py             # on HEDGER_RPC_LOCAL / :8545, or a throwaway Anvil
"""

from __future__ import annotations

from hedger.app.scripting import is_throwaway, script_node
from hedger.chain.toolchain import project_root
from hedger.chain.universe import Universe, deploy_universe, write_network_file


def main() -> Universe:
    with script_node() as node:
        universe = deploy_universe(node)
        print(f"Reference universe on {node.url} (chain {universe.chain_id}): PerpMarket {universe.perp_market}")
        print(f"Tokens {universe.tokens}")
        print(f"Markets {universe.market_ids}; demo account {universe.demo_account}")
        if is_throwaway(node):
            print("(a throwaway chain that stops with this script: networks/local.toml left as it was)")
        else:
            path = project_root() / "networks" / "local.toml"
            write_network_file(universe, path)
            print(f"Wrote {path}")
        return universe


if __name__ == "__main__":
    main()
