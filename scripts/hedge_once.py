"""One hedge, end to end: snapshot → plan → simulate, sign, send → final exposure.

    brownie run scripts/hedge_once.py          # on brownie's development network (Anvil)
    python scripts/hedge_once.py               # on HEDGER_RPC_LOCAL / :8545, or a throwaway Anvil

On a node that outlives the script it acts on what networks/local.toml describes (`hedger chain up`);
on a throwaway node it deploys the reference universe first.
"""

from __future__ import annotations

from hedger.app.display import execution_text, exposure_change_text, plan_text
from hedger.app.scripting import script_node, script_session
from hedger.execution.executor import ExecutionReport


def main() -> ExecutionReport:
    with script_node() as node:
        session = script_session(node)
        run = session.run_once(execute=True, read_after=True)  # the run cycle of every path, gates included
        assert run.report is not None and run.after is not None
        print(plan_text(run.plan))
        print(f"\nExecution\n{execution_text(run.report)}")
        print(f"\nExposure before → after\n{exposure_change_text(run.snapshot, run.after)}")
        session.close()
        return run.report


if __name__ == "__main__":
    main()
