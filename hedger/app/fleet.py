"""One keeper process for several accounts (and networks): `hedger keeper run --fleet FILE`.

Each account of the fleet file gets a keeper of its own (`hedger.app.keeper.Keeper`): its session
(network file, connection, strategy settings), its journal connection and rows, its sender lease,
its gate (kill switch, gas budget), its planner memory and its metrics labels. One loop drives them:
for each account, on each new block of its network, `Keeper.tick` (renew the lease, then one cycle
if this process holds it). An RPC failure of one account backs that account off, not the others.
Several processes (on several hosts) given the same fleet file and the same PostgreSQL journal share
the accounts: each account is served by whichever process holds its lease, the others stand by.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Sequence

from hedger.app.keeper import Keeper, KeeperConfig
from hedger.app.session import Session
from hedger.app.telemetry import KeeperMetrics
from hedger.execution.lease import default_holder
from hedger.settings import FleetConfig

log = logging.getLogger("hedger.app.fleet")


def open_keepers(
    fleet: FleetConfig, journal: str | None, holder: str | None, metrics: KeeperMetrics, **overrides: object
) -> list[Keeper]:
    """A keeper for every account of the fleet, all under the same holder name, one metrics registry."""
    name = holder or fleet.holder or default_holder()
    keepers = []
    for account in fleet.accounts:
        session = Session.open(account.network, account=account.address, journal=journal or fleet.journal,
                               key_env=account.key_env)  # fmt: skip
        table = {**session.network.keeper, **fleet.keeper, **account.keeper}
        config = KeeperConfig.from_mapping(table, holder=name, lease=True, **overrides)
        keepers.append(Keeper(session, config, metrics))
    return keepers


class Fleet:
    """The loop over the accounts' keepers, until SIGTERM / SIGINT (or each has run `max_cycles`)."""

    def __init__(self, keepers: Sequence[Keeper], poll_interval_s: float):
        self.keepers, self.poll_interval_s = list(keepers), poll_interval_s
        self.stop_requested = threading.Event()
        for keeper in self.keepers:
            keeper.stop_requested = self.stop_requested  # one stop for all (a receipt wait ends too)
            if keeper.executor is not None:
                keeper.executor.sender.stop = self.stop_requested
        self._retry_at = [0.0] * len(self.keepers)

    def run(self) -> int:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self.stop_requested.set())
            signal.signal(signal.SIGINT, lambda *_: self.stop_requested.set())
        for keeper in self.keepers:
            keeper.started()
        while not self.stop_requested.is_set() and not all(k.bounded_out() for k in self.keepers):
            for index, keeper in enumerate(self.keepers):
                if not self.stop_requested.is_set():
                    self._step(index, keeper)
            self.stop_requested.wait(self.poll_interval_s)
        for keeper in self.keepers:
            keeper.close()
        return 0

    def _step(self, index: int, keeper: Keeper) -> None:
        if keeper.bounded_out() or time.monotonic() < self._retry_at[index]:
            return
        if delay := keeper.attempt(keeper.new_block):
            self._retry_at[index] = time.monotonic() + delay
