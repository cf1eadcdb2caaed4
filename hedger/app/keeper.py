"""The keeper: on every new block, snapshot → plan → execute → journal, for as long as it runs.

- New blocks: a `newHeads` websocket subscription when the RPC serves one, else a poll every
  `poll_interval_s` (`new_heads` = "auto" | "ws" | "poll"; `hedger.chain.heads`); a dropped socket falls back
  to polling and is resubscribed.

- RPC failures: the cycle is skipped and retried with exponential backoff (capped), never a crash.
- Each cycle is `Session.run_once`, the run cycle every path shares; its gates apply here as everywhere:
  kill switch (a file, or HEDGER_KILL_SWITCH=1): risk-adding actions stop at once (checked every
  cycle and again right before each action is sent); risk-reducing ones continue. Gas budget per day:
  once the journal shows the last 24 h spent it, only risk-reducing actions.
- SIGTERM / SIGINT: the current cycle finishes, then the keeper exits 0.
- A restart is safe: the executor reconciles the journal before sending anything.
- Logs are JSON lines; metrics are optional (Prometheus).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from hedger.app.session import DEFAULT_KILL_SWITCH_FILE, KILL_SWITCH_ENV, Cycle, Gates, Session
from hedger.app.telemetry import KeeperMetrics
from hedger.chain.connect import TRANSIENT_ERRORS
from hedger.chain.heads import NewHeads
from hedger.errors import RpcError
from hedger.execution.executor import ExecutionReport
from hedger.execution.state_store import save_keeper_status
from hedger.model import Plan, Snapshot, Verdict

log = logging.getLogger("hedger.app.keeper")
__all__ = ["KILL_SWITCH_ENV", "CycleResult", "Keeper", "KeeperConfig"]


@dataclass(frozen=True)
class KeeperConfig:
    poll_interval_s: float = 1.0
    new_heads: str = "auto"  # hedger.settings.NEW_HEADS_MODES
    dry_run: bool = False
    gas_budget_per_day_wei: int | None = None
    kill_switch_file: Path = DEFAULT_KILL_SWITCH_FILE
    max_backoff_s: float = 30.0
    max_cycles: int | None = None  # bounded runs (scripts, tests); None runs until stopped
    json_logs: bool = False  # one JSON line per cycle instead of one human line
    print_cycles: bool = False  # a line per cycle on stdout (`hedger keeper run` sets it)

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
        session.gates = Gates(config.kill_switch_file, config.gas_budget_per_day_wei)
        self.metrics = metrics or KeeperMetrics()
        self.state = session.state()
        self.executor = None if config.dry_run else session.executor()  # fails early on a wrong key
        self.stop_requested = threading.Event()
        if self.executor is not None:
            self.executor.sender.stop = self.stop_requested  # SIGTERM ends a receipt wait within a poll
        self.last_block: int | None = None
        self.heads: NewHeads | None = None  # opened by the first wait (an RPC failure there is backed off)
        self.cycles = 0
        self.last_run: Cycle | None = None  # the last cycle's snapshot, plan and report
        self.rejections = 0  # transactions the node refused (counted apart from RPC failures)
        self.rpc_failures = 0

    # ------------------------------------------------------------------ the loop

    def run(self) -> int:
        self._install_signal_handlers()
        failures = 0
        log.info("keeper started", extra={"account": self.session.account, "network": self.session.network.name,
                                           "dry_run": self.config.dry_run})  # fmt: skip
        dry = " (dry run: nothing is sent)" if self.config.dry_run else ""
        where = f"{self.session.account} on {self.session.network.name}"
        self._say({"event": "started", "account": self.session.account, "network": self.session.network.name,
                   "dry_run": self.config.dry_run}, f"keeper started: {where}{dry}; SIGTERM stops it")  # fmt: skip
        while not self.stop_requested.is_set() and not self._bounded_out():
            try:
                if self._wait_for_new_block():
                    self.cycle()
                failures = 0
            except (RpcError, *TRANSIENT_ERRORS) as error:
                failures += 1
                self.rpc_failures += 1
                delay = min(self.config.max_backoff_s, 0.5 * 2**failures)
                self.metrics.rpc_errors.inc()
                log.warning("rpc unavailable, backing off", extra={"error": str(error)[:300], "retry_in_s": delay})
                first_line = str(error).splitlines()[0][:200]
                self._say({"event": "rpc_unavailable", "error": first_line, "retry_in_s": delay},
                          f"rpc unavailable ({first_line}); retrying in {delay:g} s")  # fmt: skip
                self.stop_requested.wait(delay)
        log.info("keeper stopped", extra={"cycles": self.cycles, "last_block": self.last_block})
        self._say(
            {"event": "stopped", "cycles": self.cycles, "last_block": self.last_block},
            f"keeper stopped after {self.cycles} cycles (last block {self.last_block})",
        )
        if self.heads is not None:
            self.heads.close()
        self.session.close()
        return 0

    def cycle(self) -> CycleResult:
        started = time.monotonic()
        seen = self.executor.sender.metrics_rejections if self.executor else 0
        run: Cycle = self.session.run_once(execute=self.executor is not None, state=self.state, remember=True)
        rejected = (self.executor.sender.metrics_rejections if self.executor else 0) - seen
        if rejected:
            self.rejections += rejected
            self.metrics.tx_rejected.inc(rejected)
        self.metrics.snapshot_seconds.observe(run.snapshot_s)
        self.metrics.kill_switch.set(1 if run.gate and run.gate.startswith("kill switch") else 0)
        self.state = run.state
        self.last_run = run
        self.cycles += 1
        self.last_block = run.snapshot.block_number
        self._record(run.snapshot, run.plan, run.report, run.snapshot_s)
        self._save_status(run.snapshot, run.plan, run.gate)
        self._print_cycle(run, time.monotonic() - started, rejected)
        return CycleResult(run.snapshot.block_number, run.plan, run.report, run.snapshot_s)

    def request_stop(self, *_: object) -> None:
        self.stop_requested.set()

    def risk_gate(self) -> str | None:
        """Why risk-adding actions must not be sent right now, or None (the session's gates)."""
        return self.session.risk_gate()

    # ------------------------------------------------------------------ helpers

    def _wait_for_new_block(self) -> bool:
        if self.heads is None:
            c = self.config
            self.heads = NewHeads(self.session.reader.rpc, self.session.rpc_url, c.new_heads, c.poll_interval_s,
                                  self.stop_requested)  # fmt: skip
        return self.heads.wait(self.last_block) is not None

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

    def _save_status(self, snapshot: Snapshot, plan: Plan, gate: str | None) -> None:
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
            "gate": gate,
            "gas_budget_per_day_wei": self.config.gas_budget_per_day_wei,
            "poll_interval_s": self.config.poll_interval_s,
            "new_heads": self.heads.via if self.heads else None,
        }
        save_keeper_status(self.session.journal, self.session.network.name, self.session.account, status)

    def _say(self, entry: dict, line: str) -> None:
        if self.config.print_cycles:
            text = json.dumps(entry, default=str) if self.config.json_logs else f"{time.strftime('%H:%M:%S')} {line}"
            print(text, file=sys.stdout, flush=True)

    def _print_cycle(self, run: Cycle, latency_s: float, rejected: int) -> None:
        """One line per cycle: block, verdict, what was done, latency (or a JSON object with --json)."""
        if not self.config.print_cycles:
            return
        outcomes = run.report.outcomes if run.report else ()
        done = [f"{o.status} {o.action.kind.value} {o.action.symbol} {o.action.size_delta.normalize():f}"
                if o.action.size_delta else f"{o.status} {o.action.kind.value} {o.action.symbol}"
                for o in outcomes]  # fmt: skip
        if run.report is None and run.plan.actions:
            done = [f"would {a.kind.value} {a.symbol}"
                    for a in run.plan.actions]  # fmt: skip
        restricted = [r.code for r in run.plan.reasons if r.code not in ("venue_choice",)][:4]
        why = f" ({', '.join(restricted)})" if run.plan.verdict.value != "allow" and restricted else ""
        entry = {"event": "cycle", "block": run.snapshot.block_number, "verdict": run.plan.verdict.value,
                 "actions": len(run.plan.actions), "outcomes": done, "reasons": restricted,
                 "latency_ms": round(latency_s * 1000), "rejections": rejected,
                 "reconciled": list(run.report.reconciled) if run.report else []}  # fmt: skip
        line = (f"block {run.snapshot.block_number}: {run.plan.verdict.value}{why}; "
                f"{'; '.join(done) if done else 'nothing to do'}; {latency_s * 1000:.0f} ms")  # fmt: skip
        if rejected:
            line += f"; {rejected} rejected by the node"
        self._say(entry, line)

    def _gas_of(self, intent_id: str | None) -> int:
        if intent_id is None:
            return 0
        return sum((t.gas_used or 0) * (t.effective_gas_price or 0) for t in self.session.journal.txs(intent_id))
