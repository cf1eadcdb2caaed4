"""The keeper: on every new block, snapshot → plan → execute → journal, for as long as it runs.

- RPC failures: the cycle is skipped and retried with exponential backoff (capped), never a crash.
- Kill switch (a file, or HEDGER_KILL_SWITCH=1): risk-adding actions stop at once (checked every
  cycle and again right before each action is sent); risk-reducing ones continue.
- Gas budget per day: once the journal shows the last 24 h spent it, only risk-reducing actions.
- SIGTERM / SIGINT: the current cycle finishes, then the keeper exits 0.
- A restart is safe: the executor reconciles the journal before sending anything.
- Logs are JSON lines; metrics are optional (Prometheus).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from hedger.app.session import Session
from hedger.app.telemetry import KeeperMetrics
from hedger.chain.connect import TRANSIENT_ERRORS
from hedger.errors import RpcError
from hedger.execution.executor import ExecutionReport
from hedger.execution.state_store import save_keeper_status
from hedger.model import Plan, Snapshot, Verdict
from hedger.strategy.guards import GuardResult

log = logging.getLogger("hedger.app.keeper")
KILL_SWITCH_ENV = "HEDGER_KILL_SWITCH"


@dataclass(frozen=True)
class KeeperConfig:
    poll_interval_s: float = 1.0
    dry_run: bool = False
    gas_budget_per_day_wei: int | None = None
    kill_switch_file: Path = Path(".hedger") / "STOP"
    max_backoff_s: float = 30.0
    max_cycles: int | None = None  # bounded runs (scripts, tests); None runs until stopped

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], **overrides: Any) -> KeeperConfig:
        """The network file's [keeper] table (gas_budget_per_day in native coin, e.g. "0.05"), then overrides."""
        values = {k: v for k, v in table.items() if k != "gas_budget_per_day"}
        if "gas_budget_per_day" in table:
            values["gas_budget_per_day_wei"] = int(Decimal(str(table["gas_budget_per_day"])) * 10**18)
        if "kill_switch_file" in values:
            values["kill_switch_file"] = Path(values["kill_switch_file"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class CycleResult:
    block_number: int
    plan: Plan
    report: ExecutionReport | None
    snapshot_s: float


class Keeper:
    def __init__(self, session: Session, config: KeeperConfig, metrics: KeeperMetrics | None = None):
        self.session, self.config = session, config
        self.metrics = metrics or KeeperMetrics()
        self.state = session.state()
        self.executor = None if config.dry_run else session.executor()
        if self.executor is not None:
            self.executor.risk_gate = self.risk_gate
        self.stop_requested = threading.Event()
        self.last_block: int | None = None
        self.cycles = 0

    # ------------------------------------------------------------------ the loop

    def run(self) -> int:
        self._install_signal_handlers()
        failures = 0
        log.info("keeper started", extra={"account": self.session.account, "network": self.session.network.name,
                                           "dry_run": self.config.dry_run})  # fmt: skip
        while not self.stop_requested.is_set() and not self._bounded_out():
            try:
                if self._wait_for_new_block():
                    self.cycle()
                failures = 0
            except (RpcError, *TRANSIENT_ERRORS) as error:
                failures += 1
                delay = min(self.config.max_backoff_s, 0.5 * 2**failures)
                self.metrics.rpc_errors.inc()
                log.warning("rpc unavailable, backing off", extra={"error": str(error)[:300], "retry_in_s": delay})
                self.stop_requested.wait(delay)
        log.info("keeper stopped", extra={"cycles": self.cycles, "last_block": self.last_block})
        self.session.close()
        return 0

    def cycle(self) -> CycleResult:
        started = time.monotonic()
        snapshot = self.session.snapshot()
        snapshot_s = time.monotonic() - started
        self.metrics.snapshot_seconds.observe(snapshot_s)
        restrictions = self._restrictions()
        plan = self.session.plan(snapshot, self.state, restrictions)
        report = None if self.executor is None else self.executor.execute(plan, snapshot)
        self.state = self.session.remember(snapshot, report, self.state)
        self.cycles += 1
        self.last_block = snapshot.block_number
        self._record(snapshot, plan, report, snapshot_s)
        self._save_status(snapshot, plan, restrictions)
        return CycleResult(snapshot.block_number, plan, report, snapshot_s)

    def request_stop(self, *_: object) -> None:
        self.stop_requested.set()

    # ------------------------------------------------------------------ gates

    def risk_gate(self) -> str | None:
        """Why risk-adding actions must not be sent right now, or None."""
        if self.config.kill_switch_file.exists() or os.environ.get(KILL_SWITCH_ENV, "").lower() in ("1", "true"):
            self.metrics.kill_switch.set(1)
            return f"kill switch engaged ({self.config.kill_switch_file} or {KILL_SWITCH_ENV})"
        self.metrics.kill_switch.set(0)
        budget = self.config.gas_budget_per_day_wei
        if budget is not None and self.executor is not None:
            spent = self.session.journal.gas_spent_since(self.session.account, time.time() - 86_400)
            if spent >= budget:
                return f"gas budget spent: {spent} of {budget} wei in the last 24 h"
        return None

    def _restrictions(self) -> tuple[GuardResult, ...]:
        """The keeper's gates as a reduce-only guard result the planner judges like its own."""
        reason = self.risk_gate()
        return () if reason is None else (GuardResult(Verdict.REDUCE_ONLY, "keeper_gate", reason),)

    # ------------------------------------------------------------------ helpers

    def _wait_for_new_block(self) -> bool:
        while not self.stop_requested.is_set():
            number = int(self.session.reader.rpc.request("eth_blockNumber", []), 16)
            if self.last_block is None or number > self.last_block:
                return True
            self.stop_requested.wait(self.config.poll_interval_s)
        return False

    def _bounded_out(self) -> bool:
        return self.config.max_cycles is not None and self.cycles >= self.config.max_cycles

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)

    def _record(self, snapshot: Snapshot, plan: Plan, report: ExecutionReport | None, snapshot_s: float) -> None:
        m = self.metrics
        m.cycles.inc()
        m.block.set(snapshot.block_number)
        m.plans.labels(plan.verdict.value).inc()
        for reason in plan.reasons:
            if plan.verdict is not Verdict.ALLOW:
                m.guard_trips.labels(reason.code).inc()
        for exposure in snapshot.exposures:
            m.exposure.labels(exposure.asset).set(float(exposure.net))
            if exposure.hedge_ratio is not None:
                m.hedge_ratio.labels(exposure.asset).set(float(exposure.hedge_ratio))
        outcomes = report.outcomes if report else ()
        for outcome in outcomes:
            if outcome.status in ("done", "order_pending"):
                m.tx_sent.inc()
                m.gas_spent_wei.inc(self._gas_of(outcome.intent_id))
            elif outcome.status == "failed":
                m.tx_failed.inc()
        log.info("cycle", extra={
            "block": snapshot.block_number, "verdict": plan.verdict.value, "snapshot_s": round(snapshot_s, 4),
            "rpc_round_trips": snapshot.rpc_round_trips, "actions": len(plan.actions),
            "outcomes": [f"{o.status}:{o.action.kind.value}:{o.action.venue}:{o.action.symbol}" for o in outcomes],
            "reasons": [r.code for r in plan.reasons][:20], "dry_run": self.executor is None,
        })  # fmt: skip

    def _save_status(self, snapshot: Snapshot, plan: Plan, restrictions: tuple[GuardResult, ...]) -> None:
        """The last cycle, in the journal, for whoever reads it (`hedger dashboard`)."""
        status = {
            "at": time.time(),
            "pid": os.getpid(),
            "block": snapshot.block_number,
            "block_timestamp": snapshot.block_timestamp,
            "verdict": plan.verdict.value,
            "actions": len(plan.actions),
            "cycles": self.cycles,
            "dry_run": self.executor is None,
            "gate": restrictions[0].message if restrictions else None,
            "gas_budget_per_day_wei": self.config.gas_budget_per_day_wei,
            "poll_interval_s": self.config.poll_interval_s,
        }
        save_keeper_status(self.session.journal, self.session.network.name, self.session.account, status)

    def _gas_of(self, intent_id: str | None) -> int:
        if intent_id is None:
            return 0
        return sum((t.gas_used or 0) * (t.effective_gas_price or 0) for t in self.session.journal.txs(intent_id))
