"""Helpers for the fleet tests and bench/failover.py: lease contenders as real processes
(`python -m hedger.execution.lease drill`), and the invariants a run must keep, read back from
the database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hedger.execution.database import Database

Event = dict[str, Any]


class Contender:
    """One drill process contending for the leases of some accounts; its JSON lines are collected."""

    def __init__(
        self,
        holder: str,
        journal: str,
        rpc: str,
        accounts: list[str],
        *,
        network: str = "local",
        ttl_blocks: int = 3,
        ttl_s: float = 30.0,
        poll_s: float = 0.05,
        work_s: float = 0.05,
        stall_probability: float = 0.0,
        stall_s: float = 0.0,
    ):
        self.holder = holder
        command = [sys.executable, "-m", "hedger.execution.lease", "drill", "--journal", journal, "--rpc", rpc]
        command += ["--network", network, "--holder", holder, "--ttl-blocks", str(ttl_blocks), "--ttl-s", str(ttl_s)]
        command += ["--poll-s", str(poll_s), "--work-s", str(work_s), "--lock-timeout-s", "1.0"]
        command += ["--stall-probability", str(stall_probability), "--stall-s", str(stall_s)]
        for account in accounts:
            command += ["--account", account]
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            event["seen_at"] = time.monotonic()
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Event], bool], timeout_s: float = 20.0, after: int = 0) -> Event:
        """The first event (from index `after`) that satisfies `predicate`; raises on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for event in self.events[after:]:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    stderr = (
                        self.process.stderr.read() if self.process.poll() is not None and self.process.stderr else ""
                    )
                    raise TimeoutError(
                        f"{self.holder}: no such event; last {self.events[-5:]}; stderr {stderr[-2000:]}"
                    )
                self._cond.wait(min(remaining, 0.2))

    def count(self, event: str, since: int = 0) -> int:
        with self._cond:
            return sum(1 for e in self.events[since:] if e["event"] == event)

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()


@dataclass
class FleetAudit:
    """What the database says happened: acquisitions, writes, and every broken invariant."""

    acquisitions: int = 0
    takeovers: int = 0
    writes: int = 0
    duplicate_holders: int = 0  # (account, token) pairs with more than one holder
    stale_writes: int = 0  # writes not inside their own token's tenure, or by the wrong holder
    problems: list[str] = field(default_factory=list)


def audit(db: Database, network: str = "local") -> FleetAudit:
    """Check the lease log and the fenced writes against each other.

    Every acquisition and every fenced write took a number from the lease row's sequence while
    holding its lock, so per account they are totally ordered: a write under token T must come
    after T's acquisition and before T+1's, and be by T's holder."""
    result = FleetAudit()
    events = db.execute(
        "SELECT account, token, holder, previous_holder, seq FROM lease_events WHERE network = ? AND event = ?"
        " ORDER BY account, seq",
        (network, "acquired"),
    )
    tenure: dict[tuple[str, int], tuple[str, int]] = {}
    holders: dict[tuple[str, int], set[str]] = {}
    for account, token, holder, previous, seq in events:
        result.acquisitions += 1
        result.takeovers += previous is not None and previous != holder
        holders.setdefault((account, token), set()).add(holder)
        tenure[(account, token)] = (holder, seq)
    for key, names in holders.items():
        if len(names) > 1:
            result.duplicate_holders += 1
            result.problems.append(f"{key}: holders {sorted(names)}")
    writes = db.execute(
        "SELECT account, token, holder, seq FROM lease_drill_writes WHERE network = ? ORDER BY account, seq", (network,)
    )
    for account, token, holder, seq in writes:
        result.writes += 1
        owner = tenure.get((account, token))
        following = tenure.get((account, token + 1))
        if owner is None or owner[0] != holder or seq <= owner[1] or (following and seq >= following[1]):
            result.stale_writes += 1
            result.problems.append(
                f"write {account} token {token} seq {seq} by {holder}: tenure {owner}, next {following}"
            )
    return result


# ---------------------------------------------------------------------------------------------- keepers, at order level


def is_stopped(pid: int) -> bool:
    """True while the process is stopped (SIGSTOP, by itself or by someone else)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "T"


@dataclass
class OrderAudit:
    """The journal of a fleet of real keepers against the chain, per account."""

    orders: int = 0  # PositionModified events of the accounts on chain
    intents_with_orders: int = 0  # journalled order intents whose main transaction was mined
    broadcasts: int = 0
    fenced_off_broadcasts: int = 0  # broadcasts outside their token's tenure, or by another holder
    problems: list[str] = field(default_factory=list)


def audit_orders(
    journal: Any, chain: Any, accounts: list[str], nonces_before: dict[str, int] | None = None, network: str = "local"
) -> OrderAudit:
    """One order per intent, the journal equal to the chain, and no broadcast by a fenced-off keeper.

    - every account transaction on chain (its nonces from `nonces_before`) is a journalled one, mined in
      the same block as journalled; every journalled mined transaction is on chain;
    - every order on chain (PositionModified) is the main transaction of exactly one intent;
    - every broadcast row was made under the token its holder held at that point of the lease's
      sequence (acquisitions and fenced writes are totally ordered by it)."""
    result = OrderAudit()
    for account in accounts:
        _audit_account(journal, chain, account, (nonces_before or {}).get(account, 0), result)
    _audit_broadcasts(journal, network, result)
    return result


def _audit_account(journal: Any, chain: Any, account: str, nonce_before: int, result: OrderAudit) -> None:
    from tests.support.keeper_helpers import orders_of

    records = [t for i in journal.intents(account) for t in journal.txs(i.id)]
    mined = {t.tx_hash.lower(): t for t in records if t.status.value in ("mined", "reverted")}
    nonce = chain.w3.eth.get_transaction_count(account) - nonce_before
    if len({t.nonce for t in mined.values()}) != nonce or len(mined) != nonce:
        result.problems.append(f"{account}: {nonce} transactions on chain, {len(mined)} mined in the journal")
    for tx_hash, record in mined.items():
        receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
        if receipt["blockHash"].hex().removeprefix("0x") != (record.block_hash or "").removeprefix("0x"):
            result.problems.append(f"{account}: {tx_hash} in another block than journalled")
    by_hash = {t.tx_hash.lower(): t for t in records}
    orders = orders_of(chain, account)
    result.orders += len(orders)
    per_intent: dict[str, int] = {}
    for order in orders:
        record = by_hash.get(order["transactionHash"].lower())
        if record is None or record.purpose != "main":
            result.problems.append(f"{account}: an order on chain that is no journalled main transaction")
            continue
        per_intent[record.intent_id] = per_intent.get(record.intent_id, 0) + 1
    result.intents_with_orders += len(per_intent)
    result.problems += [f"{account}: intent {i[:8]} has {n} orders" for i, n in per_intent.items() if n != 1]


def _audit_broadcasts(journal: Any, network: str, result: OrderAudit) -> None:
    tenure: dict[tuple[str, int], tuple[str, int]] = {}
    for account, token, holder, seq in journal.db.execute(
        "SELECT account, token, holder, seq FROM lease_events WHERE network = ? AND event = 'acquired'", (network,)
    ):
        tenure[(account.lower(), token)] = (holder, seq)
    for row in journal.broadcasts(network):
        result.broadcasts += 1
        key = (row["account"].lower(), row["token"])
        owner, following = tenure.get(key), tenure.get((key[0], key[1] + 1))
        seq = row["seq"]
        if owner is None or owner[0] != row["holder"] or seq <= owner[1] or (following and seq >= following[1]):
            result.fenced_off_broadcasts += 1
            result.problems.append(f"broadcast {row}: tenure {owner}, next {following}")
