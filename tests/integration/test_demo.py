"""`make demo` tells the whole story, and each step does what it says."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hedger.chain.toolchain import project_root

pytestmark = pytest.mark.integration


def test_the_demo_runs_end_to_end():
    proc = subprocess.run([sys.executable, "scripts/demo.py"], cwd=project_root(), capture_output=True, text=True,
                          timeout=180, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    for heading in ("1. hedger status", "2. hedger plan", "3. hedger rebalance --execute", "4. ETH falls",
                    "5. The ETH oracle stops", "6. hedger status — final"):  # fmt: skip
        assert heading in out
    assert "done          open reference:ETH" in out
    assert "(breach_override); mined in block" in out and "= breach block + 1" in out
    assert "Keeper verdict: halt; transactions sent: 0" in out and "oracle_stale: ETH/USD" in out
    assert "Walk-forward on the same history" in out and "ewma HE" in out  # the seeded feeds give a real estimate


@pytest.mark.slow
def test_the_demo_under_the_kill_switch_opens_no_hedge():
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "HEDGER_KILL_SWITCH": "1"}
    proc = subprocess.run([sys.executable, "scripts/demo.py"], cwd=project_root(), capture_output=True, text=True,
                          timeout=180, env=env)  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "kill switch engaged" in out
    assert "done          open" not in out and "Keeper (done)" not in out
    assert "transactions sent: 0" in out
