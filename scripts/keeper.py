"""The keeper for a bounded number of cycles (one per new block), printing each cycle's outcome.

    brownie run scripts/keeper.py main 20       # 20 cycles on brownie's development network (Anvil)
    python scripts/keeper.py 20                 # the same with plain python

For a keeper that runs until stopped, use `hedger keeper run`.
"""

from __future__ import annotations

import sys

from hedger.app.keeper import Keeper, KeeperConfig
from hedger.app.scripting import script_node, script_session


def main(cycles: str = "5") -> int:
    with script_node() as node:
        session = script_session(node)
        keeper = Keeper(session, KeeperConfig(poll_interval_s=0.2, max_cycles=int(cycles)))
        for _ in range(int(cycles)):
            result = keeper.cycle()
            outcomes = ", ".join(f"{o.status} {o.action.kind.value} {o.action.symbol}" for o in result.report.outcomes)
            print(f"block {result.block_number}: {result.plan.verdict.value}; {outcomes or 'nothing to do'}")
            node.mine()  # a new block for the next cycle (a live chain brings its own)
        session.close()
        return keeper.cycles


if __name__ == "__main__":
    main(*sys.argv[1:])
