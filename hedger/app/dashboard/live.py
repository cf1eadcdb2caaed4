"""The dashboard's live side: a snapshot and a plan on every new block (the same Session, SnapshotReader and
planner the CLI uses), the journal and keeper status read alongside, kept in memory for the page.

Read-only by construction: the account is resolved without the signer (never loaded), the journal is opened
only if it already exists and is only read, and the kill switch is only looked at. The blocking work (RPC,
SQLite) runs on one worker thread, so the event loop only serves pages and streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from hedger.app.dashboard import api
from hedger.app.session import Session, resolve_account
from hedger.chain.multicall import execute
from hedger.chain.redact import redact_text, redact_url
from hedger.errors import ConfigError, HedgerError
from hedger.execution.database import is_postgres
from hedger.execution.database import redact as redact_target
from hedger.execution.journal import Journal
from hedger.execution.state_store import load_keeper_status, load_state
from hedger.model import Snapshot, Verdict
from hedger.oracles.chainlink import round_call
from hedger.settings import NetworkConfig, load_env, load_network
from hedger.strategy.guards import GuardResult
from hedger.strategy.plan import explain_plan
from hedger.strategy.state import PlannerState


def dashboard_account(network: NetworkConfig, explicit: str | None) -> str:
    """--account, else HEDGER_ACCOUNT, else the network file's demo account; never the signer's."""
    if explicit or os.environ.get("HEDGER_ACCOUNT"):
        return resolve_account(network, explicit)
    if "demo" in network.accounts:
        return network.accounts["demo"]
    raise ConfigError(
        network.file, "accounts", "no account given", "pass --account ADDRESS (or set HEDGER_ACCOUNT in .env)"
    )


def open_session(
    network: str,
    rpc_url: str | None = None,
    account: str | None = None,
    journal: str | Path | None = None,
    ratios: dict[str, Decimal] | None = None,
) -> Session:
    """A Session for reading only: the account comes from the options or the network file, not from a key."""
    load_env()
    resolved = dashboard_account(load_network(network), account)
    return Session.open(network, rpc_url, resolved, journal, ratios)


@dataclass
class Live:
    """The latest document, the chart history since start, and the pages listening for updates."""

    session: Session
    poll_interval_s: float = 0.25
    history_size: int = 2000
    price_rounds: int = 120
    resnapshot_s: float = 5.0  # refresh without a new block this often (journal, keeper, kill switch)
    current: dict[str, Any] | None = None
    error: str | None = None
    history: deque = field(default_factory=deque)
    prices: dict[str, list[list[float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.session.gates is not None
        self.gates = self.session.gates  # the same kill switch and gas budget the run cycle applies
        self.history = deque(maxlen=self.history_size)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hedger-dashboard")
        self.lock = threading.Lock()
        self.subscribers: set[asyncio.Queue] = set()
        self._journal: Journal | None = None
        self._last_block: int | None = None
        self._last_kill: str | None = None
        self._last_refresh = 0.0
        self._prices_seeded = False
        self.on_update: Callable[[dict[str, Any]], None] | None = None

    # ------------------------------------------------------------------ reading (worker thread)

    def journal(self) -> Journal | None:
        target = self.session.journal_path
        if self._journal is None and (is_postgres(target) or Path(target).exists()):
            self._journal = Journal(self.session.journal_path)
        return self._journal

    def refresh(self) -> dict[str, Any]:
        """One snapshot, plan and document; records the chart point."""
        started = time.perf_counter()
        snapshot = self.session.snapshot()
        snapshot_ms = (time.perf_counter() - started) * 1000
        journal = self.journal()
        network, account = self.session.network.name, self.session.account
        state = load_state(journal, network, account) if journal else PlannerState()
        keeper = self._keeper_view(journal)
        gate = keeper.kill_switch or self.gates.gas_reason(keeper.gas_spent_24h_wei)
        restrictions = (GuardResult(Verdict.REDUCE_ONLY, "operator_gate", gate),) if gate else ()
        ratios = self.session.hedge_ratios(snapshot)
        detail = explain_plan(snapshot, self.session.settings, ratios, state, restrictions)
        journal_view = api.JournalView(
            redact_target(self.session.journal_path),
            journal is not None,
            api.intents_for_view(journal, account) if journal else (),
        )
        context = api.Context(
            rpc=redact_url(self.session.rpc_url),
            settings=self.session.settings,
            ratios=ratios,
            estimates=dict(self.session.ratio_book.live),
            explorer=self.session.network.explorer,
            journal=journal_view,
            keeper=keeper,
            snapshot_ms=snapshot_ms,
        )
        document = api.document(snapshot, detail, context)
        self._remember(snapshot, document)
        self._last_block, self._last_kill, self._last_refresh = (
            snapshot.block_number,
            keeper.kill_switch,
            time.monotonic(),
        )
        return document

    def poll(self) -> dict[str, Any] | None:
        """A new document when the block or the kill switch changed, or every `resnapshot_s`; else None."""
        block = int(self.session.reader.rpc.request("eth_blockNumber", []), 16)
        kill = self.gates.kill_switch()
        stale = time.monotonic() - self._last_refresh >= self.resnapshot_s
        if block != self._last_block or kill != self._last_kill or stale:
            return self.refresh()
        return None

    def _keeper_view(self, journal: Journal | None) -> api.KeeperView:
        spent = None
        last = None
        if journal is not None:
            spent = journal.gas_spent_since(self.session.account, time.time() - 86_400)
            last = load_keeper_status(journal, self.session.network.name, self.session.account)
        return api.KeeperView(
            kill_switch=self.gates.kill_switch(),
            kill_switch_file=str(self.gates.kill_switch_file),
            gas_spent_24h_wei=spent,
            gas_budget_per_day_wei=self.gates.gas_budget_per_day_wei,
            last_cycle=last,
        )

    def _remember(self, snapshot: Snapshot, document: dict[str, Any]) -> None:
        if not self._prices_seeded:
            self._seed_prices(snapshot)
        point = document["point"]
        with self.lock:
            # a reorg or a reverted test chain: the points it undid go, so time only moves forward
            while self.history and (self.history[-1]["block"] >= point["block"] or self.history[-1]["t"] > point["t"]):
                self.history.pop()
            self.history.append(point)
            for asset, (updated_at, price) in point["rounds"].items():
                series = self.prices.setdefault(asset, [])
                if not series or series[-1][0] < updated_at:
                    series.append([updated_at, price])
                    del series[: max(0, len(series) - self.history_size)]
            self.current = document

    def _seed_prices(self, snapshot: Snapshot) -> None:
        """Each primary feed's recent rounds (getRoundData, one batch) as the start of its price chart."""
        self._prices_seeded = True
        stables = api.stable_assets(snapshot)
        feeds = [o for o in snapshot.oracles if o.role == "primary" and o.ok and o.round_id and o.asset not in stables]
        calls, owners = [], []
        for reading in feeds:
            latest = reading.round_id or 0
            aggregator_round = latest & 0xFFFFFFFFFFFFFFFF  # Chainlink: phase id << 64 | the aggregator's round
            first = max(1, aggregator_round - self.price_rounds + 1)
            for round_id in range(latest - aggregator_round + first, latest):
                calls.append(round_call(reading.source.address, round_id, reading.feed))
                owners.append(reading)
        if not calls:
            return
        with contextlib.suppress(HedgerError):
            results = execute(self.session.reader.rpc, calls, snapshot.block_number, self.session.network.multicall)
            for reading, result in zip(owners, results, strict=True):
                if result.ok and result.value[1] > 0 and result.value[3] > 0:
                    price = float(Decimal(result.value[1]).scaleb(-reading.decimals))
                    self.prices.setdefault(reading.asset, []).append([result.value[3], price])
            for series in self.prices.values():
                series.sort()

    def full(self) -> dict[str, Any]:
        with self.lock:
            return {
                "state": self.current,
                "history": list(self.history),
                "prices": dict(self.prices),
                "error": self.error,
            }

    # ------------------------------------------------------------------ the loop (event loop)

    async def run(self) -> None:
        """Poll for new blocks until cancelled; every new document goes to every subscriber."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                document = await loop.run_in_executor(self.worker, self.poll if self.current else self.refresh)
                if self.error is not None:
                    self.error = None
                    self.publish("status", {"error": None})
                if document is not None:
                    self.publish("update", {"state": document})
                    if self.on_update:
                        self.on_update(document)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # an RPC outage must not stop the page: say so and keep polling
                message = redact_text(str(error))[:300]
                if message != self.error:
                    self.error = message
                    self.publish("status", {"error": message})
            await asyncio.sleep(self.poll_interval_s)

    def publish(self, event: str, data: dict[str, Any]) -> None:
        for queue in list(self.subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait((event, data))

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=8)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.subscribers.discard(queue)

    def close(self) -> None:
        self.worker.shutdown(wait=True, cancel_futures=True)
        if self._journal is not None:
            self._journal.close()
        self.session.close()
