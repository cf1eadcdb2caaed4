"""The keeper: on every new block, snapshot → plan → execute → journal, for as long as it runs.

- New blocks: a `newHeads` websocket subscription when the RPC serves one, else a poll every
  `poll_interval_s` (`new_heads` = "auto" | "ws" | "poll"; `hedger.chain.heads`); a dropped socket falls back
  to polling and is resubscribed.

- RPC failures: the cycle is skipped and retried with exponential backoff (capped), never a crash.
- Each cycle is `Session.run_once`, the run cycle every path shares; its gates apply here as everywhere:
  kill switch (a file, or HEDGER_KILL_SWITCH=1): risk-adding actions stop at once (checked every
  cycle and again right before each action is sent); risk-reducing ones continue. Gas budget per day:
  once the journal shows the last 24 h spent it, only risk-reducing actions.
- SIGTERM / SIGINT: the current cycle finishes, then the keeper exits 0 (and gives its lease up).
- A restart is safe: the executor reconciles the journal before sending anything.
- A sender lease (`hedger.execution.lease`) when the journal is PostgreSQL or a holder name is given:
  each tick renews it by the chain's block number before a cycle, a keeper that does not hold it
  stands by, and every journal write (so every broadcast) is fenced by its token: a keeper that lost
  the lease while paused gets `LeaseLost` and sends nothing.
- Logs are JSON lines; metrics are optional (Prometheus), labelled by network and account.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from hedger.app.session import DEFAULT_KILL_SWITCH_FILE, KILL_SWITCH_ENV, Cycle, Gates, Session
from hedger.app.telemetry import KeeperMetrics
from hedger.chain.connect import TRANSIENT_ERRORS
from hedger.chain.heads import NewHeads
from hedger.errors import DatabaseError, LeaseLost, RpcError, SenderBusy
from hedger.execution.database import is_postgres
from hedger.execution.executor import ExecutionReport
from hedger.execution.lease import Lease, default_holder
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
    holder: str | None = None  # this process's name in the sender lease (a lease is taken when set)
    lease: bool | None = None  # take a sender lease (None: when the journal is PostgreSQL or `holder` is set)
    lease_ttl_blocks: int = 3  # blocks without renewal after which a standby takes the lease over
    lease_ttl_s: float = 60.0  # the same in seconds of the database's clock, for when blocks stop

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
        session.sender_wait_s = 0.0  # another process in its sending cycle: skip the block, do not wait it out
        session.one_cycle_lease = False  # a keeper holds the account's lease for its life, or none (the host lock)
        session.gates = Gates(config.kill_switch_file, config.gas_budget_per_day_wei)
        self.metrics = (metrics or KeeperMetrics()).of(session.network.name, session.account)
        self.lease = self._lease()
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
        self.failures = 0  # consecutive cycles lost to RPC failures (the backoff's exponent)
        self.reported_token: int | None = 0  # the lease token last logged (0: nothing logged yet)

    def _lease(self) -> Lease | None:
        wanted = self.config.lease
        if wanted is None:
            wanted = self.config.holder is not None or is_postgres(self.session.journal_path)
        if not wanted:
            return None
        journal = self.session.journal
        holder = self.config.holder or default_holder()
        lease = Lease(journal.db, self.session.network.name, self.session.account, holder,
                      ttl_blocks=self.config.lease_ttl_blocks, ttl_s=self.config.lease_ttl_s)  # fmt: skip
        journal.fence = lease
        return lease

    # ------------------------------------------------------------------ the loop

    def run(self) -> int:
        self._install_signal_handlers()
        self.started()
        while not self.stop_requested.is_set() and not self.bounded_out():
            if delay := self.attempt(self._wait_for_new_block):
                self.stop_requested.wait(delay)
        self.close()
        return 0

    def attempt(self, next_block: Callable[[], int | None]) -> float:
        """One turn: the next block, if there is one, ticked. 0, or after an RPC failure the delay to back off
        for (this loop and the fleet's share it)."""
        try:
            block = next_block()
            if block is not None:
                self.tick(block)
            self.failures = 0
            return 0.0
        except (RpcError, *TRANSIENT_ERRORS) as error:
            return self.backoff(error)

    def started(self) -> None:
        log.info("keeper started", extra={"account": self.session.account, "network": self.session.network.name,
                                           "dry_run": self.config.dry_run})  # fmt: skip
        dry = " (dry run: nothing is sent)" if self.config.dry_run else ""
        where = f"{self.session.account} on {self.session.network.name}"
        self._say({"event": "started", "account": self.session.account, "network": self.session.network.name,
                   "dry_run": self.config.dry_run}, f"keeper started: {where}{dry}; SIGTERM stops it")  # fmt: skip

    def close(self) -> None:
        """Give the lease up (a standby may take it at once) and close the session."""
        log.info("keeper stopped", extra={"cycles": self.cycles, "last_block": self.last_block})
        self._say(
            {"event": "stopped", "cycles": self.cycles, "last_block": self.last_block},
            f"keeper stopped after {self.cycles} cycles (last block {self.last_block})",
        )
        if self.heads is not None:
            self.heads.close()
        if self.lease is not None:
            try:
                self.lease.release()
            except DatabaseError as error:  # it lapses by itself after ttl_blocks
                log.warning("could not release the lease", extra={"error": str(error).splitlines()[0]})
        self.session.close()

    def backoff(self, error: Exception) -> float:
        """An RPC failure: counted and logged; the delay before the next try (0.5 s × 2ⁿ, capped)."""
        self.failures += 1
        self.rpc_failures += 1
        delay = min(self.config.max_backoff_s, 0.5 * 2**self.failures)
        self.metrics.rpc_errors.inc()
        log.warning("rpc unavailable, backing off", extra={"error": str(error), "retry_in_s": delay,
                    "account": self.session.account})  # fmt: skip
        first_line = str(error).splitlines()[0]  # bounded at the source (connect.py caps the detail it quotes)
        self._say({"event": "rpc_unavailable", "error": first_line, "retry_in_s": delay,
                   "account": self.session.account},
                  f"rpc unavailable ({first_line}); retrying in {delay:g} s")  # fmt: skip
        return delay

    def tick(self, block: int) -> CycleResult | None:
        """Renew the lease (if there is one) at `block`, the chain's head, then one cycle if this process holds
        it; None when standing by or when the lease was found lost during the cycle (nothing more was written or
        sent)."""
        if self.lease is not None and not self._hold(block):
            return None
        try:
            return self.cycle()
        except LeaseLost as error:
            self._lease_lost(error)
            return None
        except SenderBusy as error:  # a `rebalance --execute` (or another keeper) is in its cycle: this block is its
            self.last_block = block
            self._say({"event": "sender_busy", "account": error.account, "holder": error.holder, "block": block},
                      f"block {block}: skipped, {error.holder} is sending for {error.account}")  # fmt: skip
            return None
        except DatabaseError as error:  # a write failed, so nothing after it was sent; the next tick retries
            if self.lease is None:
                raise  # one keeper on its own journal file: a broken file is not a transient failure
            log.warning("journal database unavailable", extra={"account": self.session.account,
                        "error": str(error).splitlines()[0]})  # fmt: skip
            return None

    def _hold(self, block: int) -> bool:
        """Take or renew the lease at the chain's current block; whether this process holds it."""
        assert self.lease is not None
        try:
            token = self.lease.acquire(block)
        except DatabaseError as error:  # nothing may be sent without it; the next tick tries again
            self.lease.token, token = None, None
            log.warning("lease database unavailable", extra={"error": str(error).splitlines()[0]})
        if token is not None:
            self.metrics.lease_renewed_block.set(block)
        if token != self.reported_token:
            self._lease_changed(token, self.reported_token, block)
            self.reported_token = token
        if token is None:
            self.last_block = block  # checked at this block: look again at the next one
        return token is not None

    def _lease_changed(self, token: int | None, previous: int | None, block: int) -> None:
        account, holder = self.session.account, self.lease.holder if self.lease else None
        self.metrics.lease_held.set(1 if token else 0)
        self.metrics.lease_token.set(token or 0)
        if token is not None:
            self.metrics.lease_acquired.inc()
            self.state = self.session.state()  # the previous holder's memory, where it stopped
            event, line = "lease_acquired", f"lease for {account} acquired at block {block} (token {token})"
        else:
            if previous:
                self.metrics.lease_lost.inc()
            event, line = "lease_standby", f"standing by for {account}: its lease is held by another keeper"
        log.info(event, extra={"account": account, "holder": holder, "token": token, "block": block})
        self._say({"event": event, "account": account, "holder": holder, "token": token, "block": block}, line)

    def _lease_lost(self, error: LeaseLost) -> None:
        """Fenced off mid-cycle (counted in hedger_lease_lost_total by the next tick, which stands by)."""
        self.metrics.lease_held.set(0)
        self.metrics.lease_token.set(0)
        log.warning("lease lost", extra={"account": error.account, "token": error.token, "reason": error.reason})
        self._say({"event": "lease_lost", "account": error.account, "token": error.token, "reason": error.reason},
                  f"lease for {error.account} lost (token {error.token}): {error.reason}; nothing sent")  # fmt: skip

    def new_block(self) -> int | None:
        """The chain's head if it is past the last block this keeper looked at, else None (one RPC call)."""
        head = int(self.session.reader.rpc.request("eth_blockNumber", []), 16)
        return head if self.last_block is None or head > self.last_block else None

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

    def _wait_for_new_block(self) -> int | None:
        """The next head (subscribed or polled), or None once a stop was requested."""
        if self.heads is None:
            c = self.config
            self.heads = NewHeads(self.session.reader.rpc, self.session.rpc_url, c.new_heads, c.poll_interval_s,
                                  self.stop_requested)  # fmt: skip
        return self.heads.wait(self.last_block)

    def bounded_out(self) -> bool:
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
            "network": self.session.network.name, "account": self.session.account, "block": snapshot.block_number,
            "verdict": plan.verdict.value, "snapshot_s": round(snapshot_s, 4),
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
        restricted = list(dict.fromkeys(r.code for r in run.plan.reasons if r.code != "venue_choice"))[:4]
        why = f" ({', '.join(restricted)})" if run.plan.verdict.value != "allow" and restricted else ""
        entry = {"event": "cycle", "account": self.session.account, "block": run.snapshot.block_number,
                 "verdict": run.plan.verdict.value,
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
