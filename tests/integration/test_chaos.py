"""A short chaos run (bench/chaos.py: reorgs, RPC drops and hangs, fee spikes, oracle stalls, outside nonce
use, kill-switch flips): no duplicate order, nothing risk-adding under a halt or the kill switch, and the
journal equal to the chain once settled. HEDGER_CHAOS_BLOCKS sizes it (default 40)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def load_chaos():
    path = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"
    spec = importlib.util.spec_from_file_location("hedger_bench_chaos", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_short_chaos_run_keeps_the_books(monkeypatch):
    monkeypatch.delenv("HEDGER_KILL_SWITCH", raising=False)
    chaos = load_chaos()
    result = chaos.run(int(os.environ.get("HEDGER_CHAOS_BLOCKS", 40)), seed=11, fault_rate=0.4)
    assert result["faults_total"] >= 3, result
    assert result["duplicate_orders"] == 0, result
    assert result["risk_adding_under_halt"] == 0, result
    assert result["journal_chain_mismatches"] == 0, result
    assert result["orders_on_chain"] >= 2 and result["blocks"] >= 40, result
