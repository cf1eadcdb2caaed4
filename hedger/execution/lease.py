"""Sender leases with fencing: at most one keeper sends for a (network, account) at a time.

A lease is a row in the shared database, one per (network, account): who holds it, its fencing
token, and the block (and database time) of its last renewal. The holder renews it every cycle.
A standby that sees no renewal for `ttl_blocks` blocks (by the block number it passes in: the
chain's clock, not the hosts'), or for `ttl_s` seconds of the database's clock (the fallback for a
chain that stops producing blocks or a node that cannot be read), takes the lease over, and the
token goes up by one. The token never goes down, and every change of holder raises it.

Fencing. Leases alone cannot stop a keeper that was paused (GC, SIGSTOP, a partition) after it
last renewed: it wakes up believing it still holds the lease. So every journal write of the
holder (`Journal.fence`), among them the signed transaction and the `broadcasts` row written right
before each broadcast, is made in a transaction that first checks the token, with the lease row
locked:

    with lease.fenced(token, block=block) as tx:   # raises LeaseLost if the token is stale
        tx.execute("INSERT INTO broadcasts …", (...))
    broadcast(signed)                               # only after that commit

A takeover locks the same row, so it is ordered before or after every fenced write: a write under
the old token either committed before the takeover (the new holder sees that record and
rebroadcasts the very same signed bytes: the same hash, not a second order) or is refused with
`LeaseLost` and nothing is written, so nothing may be sent.

Why a lease row under `SELECT … FOR UPDATE` and not PostgreSQL advisory locks: a session advisory
lock is held for as long as the connection lives, and a paused process keeps its connection alive,
so a standby could never take over from a stopped keeper by block count; and when the session does
end, the woken process is not told before it acts. A row lock lives only for the few milliseconds
of one transaction, the lease's lifetime is decided by renewals the standby can see, and the token
in the row makes a stale holder's writes fail. The database also ends a session idle inside a
transaction (`idle_in_transaction_session_timeout`, see `Database`), so a process stopped while
holding the row lock cannot block the standby for long. On SQLite (one host) `BEGIN IMMEDIATE`
takes the database's write lock for the same purpose; a process stopped in the middle of one of
these short transactions holds it until it is resumed or killed (SQLite has no server to end it),
which is one reason a fleet uses PostgreSQL.

`python -m hedger.execution.lease status --journal TARGET` shows every lease;
`python -m hedger.execution.lease drill …` runs a contender that "sends" fenced writes, to rehearse
a fail-over on a real database and chain (the tests and bench/failover.py use it).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import signal
import socket
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from hedger.errors import DatabaseError, HedgerError, LeaseLost, SenderBusy
from hedger.execution.database import Database, Migration, Transaction, open_database, redact

COMPONENT = "lease"


def default_holder() -> str:
    """This process's name in a sender lease or lock: HEDGER_HOLDER, else host:pid."""
    return os.environ.get("HEDGER_HOLDER") or f"{socket.gethostname()}:{os.getpid()}"


def _gone_here(holder: str) -> bool:
    """Whether `holder` names a process of this host (host:pid) that no longer runs."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        return False
    return False


def _id_column(dialect: str) -> str:
    return "BIGSERIAL PRIMARY KEY" if dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"


def _v1(dialect: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS leases (
    network TEXT NOT NULL, account TEXT NOT NULL, holder TEXT, token BIGINT NOT NULL,
    seq BIGINT NOT NULL, acquired_block BIGINT, renewed_block BIGINT, renewed_at DOUBLE PRECISION,
    PRIMARY KEY (network, account)
);
CREATE TABLE IF NOT EXISTS lease_events (
    id {_id_column(dialect)}, network TEXT NOT NULL, account TEXT NOT NULL, seq BIGINT NOT NULL,
    token BIGINT NOT NULL, holder TEXT, previous_holder TEXT, event TEXT NOT NULL, reason TEXT NOT NULL,
    block BIGINT, at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS lease_drill_writes (
    id {_id_column(dialect)}, network TEXT NOT NULL, account TEXT NOT NULL, seq BIGINT NOT NULL,
    token BIGINT NOT NULL, holder TEXT NOT NULL, block BIGINT, at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS lease_events_by_account ON lease_events (network, account, seq);
"""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "leases, lease events, drill writes", _v1("sqlite"), postgresql=_v1("postgresql")),
)


@dataclass(frozen=True)
class LeaseState:
    """One lease row, as monitoring sees it."""

    network: str
    account: str
    holder: str | None
    token: int
    seq: int
    acquired_block: int | None
    renewed_block: int | None
    renewed_at: float | None


def lapse_reason(state: LeaseState, block: int | None, now: float, ttl_blocks: int, ttl_s: float | None) -> str | None:
    """Why this lease may be taken over now (None: it is live)."""
    if state.holder is None:
        return "vacant"
    if block is not None and state.renewed_block is not None and block - state.renewed_block >= ttl_blocks:
        return f"not renewed for {block - state.renewed_block} blocks (ttl {ttl_blocks})"
    if ttl_s is not None and state.renewed_at is not None and now - state.renewed_at >= ttl_s:
        return f"not renewed for {now - state.renewed_at:.1f} s (ttl {ttl_s:g} s)"
    return None


def _state(row: tuple[Any, ...]) -> LeaseState:
    return LeaseState(
        network=row[0],
        account=row[1],
        holder=row[2],
        token=int(row[3]),
        seq=int(row[4]),
        acquired_block=None if row[5] is None else int(row[5]),
        renewed_block=None if row[6] is None else int(row[6]),
        renewed_at=None if row[7] is None else float(row[7]),
    )


_COLUMNS = "network, account, holder, token, seq, acquired_block, renewed_block, renewed_at"


class Lease:
    """This process's claim on the sender lease of one (network, account).

    `acquire(block)` takes or renews it (returns the token, or None while another keeper holds a
    live lease); `fenced(token)` is the transaction a sender records "about to broadcast" in.
    """

    def __init__(
        self,
        db: Database,
        network: str,
        account: str,
        holder: str,
        *,
        ttl_blocks: int = 3,
        ttl_s: float | None = 60.0,
    ):
        if ttl_blocks < 1:
            raise ValueError("ttl_blocks must be at least 1")
        self.db, self.network, self.account, self.holder = db, network, account.lower(), holder
        self.ttl_blocks, self.ttl_s = ttl_blocks, ttl_s
        self.token: int | None = None
        self.last_fence_seq: int | None = None

    def __repr__(self) -> str:
        return f"Lease({self.network}/{self.account} by {self.holder}, token {self.token})"

    def _locked_state(self, tx: Transaction) -> LeaseState | None:
        row = tx.execute(
            f"SELECT {_COLUMNS} FROM leases WHERE network = ? AND account = ?{tx.for_update}",
            (self.network, self.account),
        ).fetchone()
        return _state(row) if row else None

    def _event(self, tx: Transaction, state: LeaseState, event: str, reason: str, block: int | None) -> None:
        tx.execute(
            "INSERT INTO lease_events (network, account, seq, token, holder, previous_holder, event, reason, block, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.network, self.account, state.seq, state.token, self.holder, state.holder, event, reason, block,
             tx.now()),
        )  # fmt: skip

    def acquire(self, block: int | None) -> int | None:
        """Take the lease if it is vacant or has lapsed, renew it if it is ours; the token held, or None."""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO leases (network, account, holder, token, seq) VALUES (?, ?, NULL, 0, 0)"
                " ON CONFLICT (network, account) DO NOTHING",
                (self.network, self.account),
            )
            state = self._locked_state(tx)
            assert state is not None
            now = tx.now()
            reason = lapse_reason(state, block, now, self.ttl_blocks, self.ttl_s)
            if state.holder == self.holder and reason is None:
                renewed = block if state.renewed_block is None or block is None else max(block, state.renewed_block)
                tx.execute(
                    "UPDATE leases SET renewed_block = ?, renewed_at = ? WHERE network = ? AND account = ?",
                    (renewed, now, self.network, self.account),
                )
                self.token = state.token
                return self.token
            if reason is None:
                self.token = None
                return None
            token, seq = state.token + 1, state.seq + 1
            tx.execute(
                "UPDATE leases SET holder = ?, token = ?, seq = ?, acquired_block = ?, renewed_block = ?,"
                " renewed_at = ? WHERE network = ? AND account = ?",
                (self.holder, token, seq, block, block, now, self.network, self.account),
            )
            self._event(tx, LeaseState(**{**asdict(state), "token": token, "seq": seq}), "acquired", reason, block)
            self.token = token
            return token

    def renew(self, block: int | None) -> int:
        """Renew the lease held; LeaseLost if it is not ours any more (the lease is then let go)."""
        held = self.token
        if held is None:
            raise LeaseLost(self.network, self.account, 0, "this keeper has not acquired it")
        token = self.acquire(block)
        if token != held:
            if token is None:
                state = self.state()
                now = "nobody" if state is None or state.holder is None else state.holder
                reason = f"held by {now} at token {0 if state is None else state.token}"
            else:
                reason = f"it lapsed and was taken again under token {token}"
            raise LeaseLost(self.network, self.account, held, reason)
        return token

    def check_fence(self, tx: Transaction, token: int, block: int | None = None) -> int:
        """Inside `tx`: lock the lease row and refuse (LeaseLost) unless `token` is the live token and
        ours. Returns the lease's operation sequence number given to this write."""
        state = self._locked_state(tx)
        if state is None or state.token != token or state.holder != self.holder:
            now_holder = "nobody" if state is None or state.holder is None else state.holder
            current = 0 if state is None else state.token
            raise LeaseLost(self.network, self.account, token, f"held by {now_holder} at token {current}")
        reason = lapse_reason(state, block, tx.now(), self.ttl_blocks, self.ttl_s)
        if reason is not None:
            raise LeaseLost(self.network, self.account, token, f"it lapsed ({reason}); renew before sending")
        seq = state.seq + 1
        tx.execute("UPDATE leases SET seq = ? WHERE network = ? AND account = ?", (seq, self.network, self.account))
        return seq

    @contextlib.contextmanager
    def fenced(self, token: int | None = None, block: int | None = None) -> Iterator[Transaction]:
        """A transaction whose writes commit only if `token` (default: the one held) is still live."""
        fence = self.token if token is None else token
        if fence is None:
            raise LeaseLost(self.network, self.account, 0, "this keeper has not acquired it")
        with self.db.transaction() as tx:
            try:
                self.last_fence_seq = self.check_fence(tx, fence, block)
            except LeaseLost:
                self.token = None
                raise
            yield tx

    def release(self, block: int | None = None) -> None:
        """Give the lease up (a clean stop): a standby may take it at once."""
        with self.db.transaction() as tx:
            state = self._locked_state(tx)
            if state is None or state.holder != self.holder or state.token != self.token:
                return
            tx.execute(
                "UPDATE leases SET holder = NULL WHERE network = ? AND account = ?", (self.network, self.account)
            )
            self._event(tx, state, "released", "released by its holder", block)
        self.token = None

    def release_if_gone(self) -> bool:
        """Release the lease on behalf of a holder that was a process on this host and is gone (its name is
        host:pid, the pid no longer runs): a crashed `rebalance --execute` leaves its one-cycle lease, and no one
        else can write under it. Whether it was released. A live pid (or a reused one) keeps it to its ttl."""
        with self.db.transaction() as tx:
            state = self._locked_state(tx)
            if state is None or state.holder is None or not _gone_here(state.holder):
                return False
            tx.execute(
                "UPDATE leases SET holder = NULL WHERE network = ? AND account = ?", (self.network, self.account)
            )
            self._event(tx, state, "released", f"its holder {state.holder} is no longer running", None)
        return True

    def state(self) -> LeaseState | None:
        with self.db.transaction() as tx:
            row = tx.execute(
                f"SELECT {_COLUMNS} FROM leases WHERE network = ? AND account = ?", (self.network, self.account)
            ).fetchone()
        return _state(row) if row else None


@dataclass(frozen=True)
class LeaseChange:
    """A lease whose state changed in a renewal round: a new token, standing by, or a failed round."""

    lease: Lease
    token: int | None
    previous: int | None
    error: str | None = None


class LeaseSet:
    """The sender leases one keeper process contends for: one per (network, account) it serves.

    `renew(blocks)` takes or renews every one of them, each by the block of its own network, once a
    cycle; a database failure on one lease leaves that one not held (nothing may be sent for it)
    and the others unaffected."""

    def __init__(
        self,
        db: Database,
        holder: str,
        accounts: Iterable[tuple[str, str]],
        *,
        ttl_blocks: int = 3,
        ttl_s: float | None = 60.0,
    ):
        self.leases = [Lease(db, net, acct, holder, ttl_blocks=ttl_blocks, ttl_s=ttl_s) for net, acct in accounts]

    def renew(self, blocks: Mapping[str, int | None]) -> list[LeaseChange]:
        changes = []
        for lease in self.leases:
            previous = lease.token
            try:
                token = lease.acquire(blocks.get(lease.network))
            except DatabaseError as error:
                lease.token = None
                changes.append(LeaseChange(lease, None, previous, str(error).splitlines()[0]))
                continue
            if token != previous:
                changes.append(LeaseChange(lease, token, previous))
        return changes

    def held(self) -> list[Lease]:
        return [lease for lease in self.leases if lease.token is not None]

    def release(self) -> None:
        for lease in self.leases:
            with contextlib.suppress(HedgerError):
                lease.release()


def open_leases(target: str | Path, **options: float) -> Database:
    """The database at `target`, with the lease schema in place."""
    return open_database(target, {COMPONENT: MIGRATIONS}, **options)


def all_leases(db: Database) -> list[LeaseState]:
    with db.transaction() as tx:
        rows = tx.execute(f"SELECT {_COLUMNS} FROM leases ORDER BY network, account").fetchall()
    return [_state(row) for row in rows]


def record_drill_write(
    tx: Transaction, lease: Lease, token: int, block: int | None, account: str | None = None
) -> None:
    """A drill's stand-in for "about to broadcast": one row, in a transaction `lease.fenced` opened."""
    tx.execute(
        "INSERT INTO lease_drill_writes (network, account, seq, token, holder, block, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (lease.network, account or lease.account, lease.last_fence_seq, token, lease.holder, block, tx.now()),
    )


# -- the command line: status, and a drill contender ---------------------------------------------
def _block_number(rpc_url: str) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).encode()
    request = urllib.request.Request(rpc_url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(json.loads(response.read())["result"], 16)


def _emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def _drill(args: argparse.Namespace) -> int:
    """Contend for the leases of the given accounts; for each one held, make one fenced write per
    block (what a sender's "about to broadcast" record is), and print every change as a JSON line."""
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    db = open_leases(args.journal, lock_timeout_s=args.lock_timeout_s, idle_timeout_s=args.lock_timeout_s)
    leases = LeaseSet(
        db, args.holder, [(args.network, a) for a in args.account], ttl_blocks=args.ttl_blocks, ttl_s=args.ttl_s
    )
    written: dict[str, int] = {}
    _emit(event="started", holder=args.holder, pid=os.getpid(), accounts=[lease.account for lease in leases.leases])
    while not stop:
        try:
            block = _block_number(args.rpc)
        except OSError as error:
            _emit(event="rpc_error", error=str(error))
            block = None
        for change in leases.renew({args.network: block}):
            account = change.lease.account
            if change.error:
                _emit(event="db_error", account=account, error=change.error)
            else:
                _emit(event="acquired" if change.token else "standby", account=account, token=change.token, block=block)
        held = [(lease, lease.token) for lease in leases.held() if lease.token is not None]
        # one write per account and block, as a sender sends at most once per block
        due = [(lease, token) for lease, token in held if block is None or written.get(lease.account) != block]
        _emit(
            event="cycle",
            block=block,
            held=[lease.account for lease, _ in held],
            due=[lease.account for lease, _ in due],
        )
        if due:
            time.sleep(args.work_s)  # the planning a keeper does between renewing and sending
            if args.stall_probability and random.random() < args.stall_probability:
                time.sleep(args.stall_s)  # an injected pause: a GC, a slow RPC
        for lease, token in due:
            try:
                with lease.fenced(token, block=block) as tx:
                    record_drill_write(tx, lease, token, block)
            except LeaseLost as error:
                _emit(event="fenced_out", account=lease.account, token=token, block=block, reason=error.reason)
                continue
            except DatabaseError as error:
                _emit(event="db_error", account=lease.account, error=str(error).splitlines()[0])
                continue
            if block is not None:
                written[lease.account] = block
            _emit(event="wrote", account=lease.account, token=token, block=block, seq=lease.last_fence_seq)
        time.sleep(args.poll_s)
    leases.release()
    db.close()
    _emit(event="stopped", holder=args.holder)
    return 0


def _status(args: argparse.Namespace) -> int:
    db = open_leases(args.journal)
    with db.transaction() as tx:
        now = tx.now()
    out = []
    for state in all_leases(db):
        row: dict[str, Any] = asdict(state)
        row["age_s"] = None if state.renewed_at is None else round(now - state.renewed_at, 3)
        if args.block is not None and state.renewed_block is not None:
            row["blocks_since_renewal"] = args.block - state.renewed_block
        row["lapsed"] = lapse_reason(state, args.block, now, args.ttl_blocks, args.ttl_s)
        out.append(row)
    db.close()
    print(json.dumps({"journal": redact(args.journal), "leases": out}, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hedger.execution.lease", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("status", "drill"):
        p = sub.add_parser(name)
        p.add_argument("--journal", default=os.environ.get("HEDGER_JOURNAL"), help="file path or postgresql:// URL")
        p.add_argument("--ttl-blocks", type=int, default=3)
        p.add_argument("--ttl-s", type=float, default=60.0)
        if name == "status":
            p.add_argument("--block", type=int, help="the chain's current block, to show blocks since renewal")
        else:
            p.add_argument("--rpc", required=True, help="the chain whose block numbers are the lease's clock")
            p.add_argument("--network", required=True)
            p.add_argument("--account", action="append", required=True)
            p.add_argument("--holder", default=f"{socket.gethostname()}:{os.getpid()}")
            p.add_argument("--poll-s", type=float, default=0.2)
            p.add_argument("--work-s", type=float, default=0.05)
            p.add_argument("--stall-probability", type=float, default=0.0)
            p.add_argument("--stall-s", type=float, default=0.0)
            p.add_argument("--lock-timeout-s", type=float, default=2.0)
    args = parser.parse_args(argv)
    if not args.journal:
        parser.error("give --journal (or set HEDGER_JOURNAL)")
    try:
        return _status(args) if args.command == "status" else _drill(args)
    except HedgerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())


def wait_until(done: Callable[[], bool], wait_s: float, poll_s: float) -> bool:
    """Try `done` until it succeeds or `wait_s` has passed (at least once); whether it succeeded."""
    deadline = time.monotonic() + wait_s
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


DEV_CHAIN_IDS = (31337, 1337)  # Anvil's and Ganache's: every local node of a kind starts on the same chain id


def sender_lock_dir() -> Path:
    """Where this host's sender locks live: HEDGER_LOCK_DIR, else a directory of this OS user's in the temp dir."""
    return Path(os.environ.get("HEDGER_LOCK_DIR") or Path(tempfile.gettempdir()) / f"hedger-{os.getuid()}-senders")


class SenderLock:
    """One sending cycle at a time per (chain, account) on one host: an exclusive `flock` on a file in
    `sender_lock_dir()`, whatever journal each process writes (the journal is a record of intent; the chain and
    the account are what two senders would collide on). The kernel releases it when the process ends, a crash
    included, so it never needs a time-to-live (a lease in a database server does; see `Lease`). The file holds
    the holder's name, for the message of the process that has to wait."""

    def __init__(self, chain: str, account: str, network: str, directory: Path | None = None):
        self.path = (directory or sender_lock_dir()) / f"{chain}-{account.lower()}.sending"
        self.network, self.account = network, account
        self._file: IO[str] | None = None

    @staticmethod
    def chain_key(chain_id: int, genesis_hash: str, rpc_url: str) -> str:
        """A chain as senders collide on it: its id and genesis block, the same through every RPC provider; for a
        development chain also its endpoint (every local node starts from a look-alike genesis), hashed so no URL
        is written to disk."""
        key = f"{chain_id}-{genesis_hash.removeprefix('0x')[:16]}"
        if chain_id in DEV_CHAIN_IDS:
            key += "-" + hashlib.sha256(rpc_url.encode()).hexdigest()[:12]
        return key

    def acquire(self, holder: str, wait_s: float) -> None:
        """Take the lock, waiting up to `wait_s` for the current holder; SenderBusy if it is still held."""
        import fcntl

        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = self.path.open("a+")

        def locked() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        if not wait_until(locked, wait_s, poll_s=0.05):
            handle.seek(0)
            current = handle.read().strip() or "unknown holder"
            handle.close()
            raise SenderBusy(self.network, self.account, current, wait_s)
        handle.truncate(0)
        handle.write(holder)
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the flock
            self._file = None
