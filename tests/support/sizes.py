"""Sizes of the long-running tests: full in CI, shorter on a developer's machine, or as the environment says.

HEDGER_TEST_WALK_BLOCKS   blocks of the keeper's random walk (CI: 1000, else 250)
HEDGER_TEST_OUTAGE_S      seconds the keeper's RPC is cut off (CI: 30, else 6)
HEDGER_TEST_FLEET_BLOCKS  blocks of the 10 accounts x 2 fleet keepers run, at order level (CI: 300, else 60)
"""

from __future__ import annotations

import os


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def test_size(variable: str, full: float, quick: float) -> float:
    """The environment's value of `variable`, else `full` in CI, else `quick`."""
    value = os.environ.get(variable)
    if value:
        return float(value)
    return full if in_ci() else quick


WALK_BLOCKS = int(test_size("HEDGER_TEST_WALK_BLOCKS", 1_000, 250))
OUTAGE_S = test_size("HEDGER_TEST_OUTAGE_S", 30.0, 6.0)
FLEET_BLOCKS = int(test_size("HEDGER_TEST_FLEET_BLOCKS", 300, 60))
