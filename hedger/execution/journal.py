"""The journal: every intent before it is sent, every signed transaction before it is broadcast,
and every outcome once known, in SQLite (WAL, synchronous=FULL), so that a process killed at any
point can be restarted without sending twice and without losing a record.

Tables
- intents: one per plan action (open/increase/…); status moves planned → sending → done | failed
  | abandoned (an async order also passes through order_pending);
- txs: every transaction of an intent (approval, order, replacement), with nonce, hash and the signed
  raw bytes *written before broadcast*: a restart can always tell whether that nonce was used, and
  can rebroadcast the very same bytes instead of building a new transaction;
- events: an append-only log of every change (nothing is ever deleted).

Transaction states: signed → broadcast (`sent`) → included (`mined`/`reverted`, with block number and
hash) → final (`finalized`, once `confirmations` blocks sit on top of it). Every cycle re-checks the
included-but-not-final ones against the chain (`Executor.recheck_included`): one a reorg removed goes
back to `sent` and its intent back to `sending`, so reconciliation rebroadcasts the very same bytes (or,
if its nonce was taken meanwhile, the intent is re-evaluated). Recording the same signed bytes twice
returns the record already there.

The schema is versioned (`schema_version`); `MIGRATIONS` upgrade an older journal in place when it is
opened. `JournalStore` is the interface the executor and the application use (a PostgreSQL store can
stand behind it).

A private key is never written here; raw transactions are public once broadcast anyway.
"""

from __future__ import annotations

import enum
import json
import os
import signal
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hedger.errors import ExecutionError
from hedger.model import Action, to_jsonable

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS intents (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    network TEXT NOT NULL, chain_id INTEGER NOT NULL, account TEXT NOT NULL,
    venue TEXT NOT NULL, symbol TEXT NOT NULL, kind TEXT NOT NULL, action TEXT NOT NULL,
    plan_block INTEGER NOT NULL, status TEXT NOT NULL, order_id TEXT, error TEXT
);
CREATE TABLE IF NOT EXISTS txs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, intent_id TEXT NOT NULL REFERENCES intents(id),
    seq INTEGER NOT NULL, purpose TEXT NOT NULL, to_address TEXT NOT NULL, nonce INTEGER NOT NULL,
    tx_hash TEXT NOT NULL UNIQUE, raw_tx TEXT NOT NULL, max_fee_per_gas INTEGER NOT NULL,
    max_priority_fee_per_gas INTEGER NOT NULL, status TEXT NOT NULL, block_number INTEGER,
    gas_used INTEGER, effective_gas_price INTEGER, replaces INTEGER, error TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, intent_id TEXT, tx_id INTEGER,
    event TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS intents_open ON intents(account, status);
CREATE INDEX IF NOT EXISTS txs_intent ON txs(intent_id, seq);
"""
# (version, statements): applied in order to a journal older than the version, each in one transaction
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, SCHEMA_V1),
    (2, "ALTER TABLE txs ADD COLUMN block_hash TEXT;"
        " ALTER TABLE txs ADD COLUMN finalized INTEGER NOT NULL DEFAULT 0;"
        " CREATE INDEX IF NOT EXISTS txs_included ON txs(status, finalized);"),
)  # fmt: skip
SCHEMA_VERSION = MIGRATIONS[-1][0]

FAULT_ENV = "HEDGER_FAULT_INJECT"


class IntentStatus(enum.StrEnum):
    PLANNED = "planned"  # recorded, nothing signed yet
    SENDING = "sending"  # transactions being signed / broadcast / confirmed
    ORDER_PENDING = "order_pending"  # an async order is committed on the venue, not yet executed
    DONE = "done"
    FAILED = "failed"  # simulation refused, reverted, or cancelled by the venue
    ABANDONED = "abandoned"  # never signed, and no longer wanted by a fresh plan

    @property
    def final(self) -> bool:
        return self in (IntentStatus.DONE, IntentStatus.FAILED, IntentStatus.ABANDONED)


class TxStatus(enum.StrEnum):
    SIGNED = "signed"  # signed and written down; maybe not broadcast yet
    SENT = "sent"  # the node accepted it
    MINED = "mined"
    REVERTED = "reverted"
    REPLACED = "replaced"  # another transaction with the same nonce was mined instead
    DROPPED = "dropped"  # its nonce was used by a transaction hedger did not send
    REJECTED = "rejected"  # the node refused it (never in the mempool); `error` says why

    @property
    def final(self) -> bool:
        return self in (TxStatus.MINED, TxStatus.REVERTED, TxStatus.REPLACED, TxStatus.DROPPED, TxStatus.REJECTED)


@dataclass(frozen=True)
class Intent:
    id: str
    network: str
    chain_id: int
    account: str
    venue: str
    symbol: str
    kind: str
    action: dict[str, Any]
    plan_block: int
    status: IntentStatus
    order_id: str | None
    error: str | None
    created_at: float


@dataclass(frozen=True)
class TxRecord:
    id: int
    intent_id: str
    seq: int
    purpose: str
    to_address: str
    nonce: int
    tx_hash: str
    raw_tx: str
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    status: TxStatus
    block_number: int | None
    gas_used: int | None
    effective_gas_price: int | None
    replaces: int | None
    error: str | None
    block_hash: str | None = None
    finalized: int = 0

    @property
    def state(self) -> str:
        """signed → broadcast → included → final (or the outcome that ended it: replaced, dropped, rejected)."""
        if self.status in (TxStatus.MINED, TxStatus.REVERTED):
            return "final" if self.finalized else "included"
        return {TxStatus.SIGNED: "signed", TxStatus.SENT: "broadcast"}.get(self.status, self.status.value)


class JournalStore(Protocol):
    """What the executor, the sender and the application ask of a journal."""

    def record_intent(self, network: str, chain_id: int, account: str, action: Action, plan_block: int) -> Intent: ...
    def set_intent_status(self, intent_id: str, status: IntentStatus, error: str | None = None,
                          order_id: str | None = None) -> None: ...  # fmt: skip
    def intent(self, intent_id: str) -> Intent: ...
    def unfinished(self, account: str, network: str) -> list[Intent]: ...
    def intents(self, account: str | None = None) -> list[Intent]: ...
    def recent_failures(self, account: str, venue: str, symbol: str, since: float) -> int: ...
    def record_signed(self, intent_id: str, purpose: str, to: str, nonce: int, tx_hash: str, raw_tx: str,
                      max_fee: int, priority_fee: int, replaces: int | None = None) -> TxRecord: ...  # fmt: skip
    def set_tx_status(self, tx_id: int, status: TxStatus, block: int | None = None, gas_used: int | None = None,
                      effective_gas_price: int | None = None, error: str | None = None,
                      block_hash: str | None = None) -> None: ...  # fmt: skip
    def included_not_final(self, account: str, network: str) -> list[TxRecord]: ...
    def finalize(self, tx_id: int) -> None: ...
    def reorged_out(self, tx_id: int, detail: str) -> None: ...
    def tx(self, tx_id: int) -> TxRecord: ...
    def txs(self, intent_id: str) -> list[TxRecord]: ...
    def gas_spent_since(self, account: str, since: float) -> int: ...
    def events(self, intent_id: str | None = None) -> list[dict[str, Any]]: ...
    def load_value(self, key: str) -> Any: ...
    def save_value(self, key: str, value: Any) -> None: ...
    def close(self) -> None: ...


class Journal:
    """The execution journal of one or more accounts, in one SQLite file (":memory:" for dry runs)."""

    def __init__(self, path: str | Path):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # usable from the thread that runs the executor, not only the one that opened it (one user at a time)
        self.db = sqlite3.connect(str(path), isolation_level=None, timeout=30, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.migrate()

    def migrate(self) -> int:
        """Bring the file to SCHEMA_VERSION (a journal from before versioning counts as version 1)."""
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at REAL NOT NULL)"
        )
        (current,) = self.db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        if current == 0 and self.db.execute("SELECT 1 FROM sqlite_master WHERE name='intents'").fetchone():
            current = 1  # written before the journal had a version: the v1 tables are there
            self.db.execute("INSERT INTO schema_version VALUES (1, ?)", (time.time(),))
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"journal schema {current} is newer than this hedger's ({SCHEMA_VERSION}): upgrade hedger"
            )
        for version, statements in MIGRATIONS:
            if version > current:
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in statements.split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                    self.db.execute("INSERT INTO schema_version VALUES (?, ?)", (version, time.time()))
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
        return SCHEMA_VERSION

    @property
    def schema_version(self) -> int:
        (version,) = self.db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(version)

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ intents

    def record_intent(self, network: str, chain_id: int, account: str, action: Action, plan_block: int) -> Intent:
        intent_id = uuid.uuid4().hex
        now = time.time()
        with self.db:
            self.db.execute(
                "INSERT INTO intents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (intent_id, now, now, network, chain_id, account, action.venue, action.symbol, action.kind.value,
                 json.dumps(to_jsonable(action)), plan_block, IntentStatus.PLANNED.value, None, None),
            )  # fmt: skip
            self._event(intent_id, None, "intent_recorded", {"action": to_jsonable(action), "plan_block": plan_block})
        checkpoint("intent_recorded")
        return self.intent(intent_id)

    def set_intent_status(
        self, intent_id: str, status: IntentStatus, error: str | None = None, order_id: str | None = None
    ) -> None:
        with self.db:
            self.db.execute(
                "UPDATE intents SET status=?, error=COALESCE(?, error), order_id=COALESCE(?, order_id), updated_at=?"
                " WHERE id=?",
                (status.value, error, order_id, time.time(), intent_id),
            )
            self._event(intent_id, None, f"intent_{status.value}", {"error": error, "order_id": order_id})

    def intent(self, intent_id: str) -> Intent:
        row = self.db.execute("SELECT * FROM intents WHERE id=?", (intent_id,)).fetchone()
        return _intent(row)

    def unfinished(self, account: str, network: str) -> list[Intent]:
        rows = self.db.execute(
            "SELECT * FROM intents WHERE account=? AND network=? AND status NOT IN (?,?,?) ORDER BY created_at",
            (account, network, IntentStatus.DONE.value, IntentStatus.FAILED.value, IntentStatus.ABANDONED.value),
        ).fetchall()
        return [_intent(r) for r in rows]

    def intents(self, account: str | None = None) -> list[Intent]:
        query = "SELECT * FROM intents"
        args: tuple[str, ...] = ()
        if account:
            query, args = query + " WHERE account=?", (account,)
        return [_intent(r) for r in self.db.execute(query + " ORDER BY created_at", args).fetchall()]

    def recent_failures(self, account: str, venue: str, symbol: str, since: float) -> int:
        """Failed order intents on a market since a time: for capped retries with backoff."""
        (count,) = self.db.execute(
            "SELECT COUNT(*) FROM intents WHERE account=? AND venue=? AND symbol=? AND status=? AND updated_at>=?",
            (account, venue, symbol, IntentStatus.FAILED.value, since),
        ).fetchone()
        return count

    # ------------------------------------------------------------------ transactions

    def record_signed(
        self, intent_id: str, purpose: str, to: str, nonce: int, tx_hash: str, raw_tx: str,
        max_fee: int, priority_fee: int, replaces: int | None = None,
    ) -> TxRecord:  # fmt: skip
        existing = self.db.execute("SELECT * FROM txs WHERE tx_hash=?", (tx_hash,)).fetchone()
        if existing is not None:  # the same signed bytes again (same nonce, fees, call): one record
            with self.db:
                self._event(intent_id, existing["id"], "tx_signed_again", {"hash": tx_hash, "nonce": nonce})
            return _tx(existing)
        now = time.time()
        with self.db:
            (seq,) = self.db.execute("SELECT COUNT(*) FROM txs WHERE intent_id=?", (intent_id,)).fetchone()
            cursor = self.db.execute(
                "INSERT INTO txs (intent_id, seq, purpose, to_address, nonce, tx_hash, raw_tx, max_fee_per_gas,"
                " max_priority_fee_per_gas, status, replaces, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (intent_id, seq, purpose, to, nonce, tx_hash, raw_tx, max_fee, priority_fee, TxStatus.SIGNED.value,
                 replaces, now, now),
            )  # fmt: skip
            self.db.execute(
                "UPDATE intents SET status=?, updated_at=? WHERE id=? AND status=?",
                (IntentStatus.SENDING.value, now, intent_id, IntentStatus.PLANNED.value),
            )
            self._event(intent_id, _row_id(cursor), "tx_signed", {"nonce": nonce, "hash": tx_hash, "purpose": purpose})
        checkpoint("tx_signed")
        return self.tx(_row_id(cursor))

    def set_tx_status(
        self, tx_id: int, status: TxStatus, block: int | None = None, gas_used: int | None = None,
        effective_gas_price: int | None = None, error: str | None = None, block_hash: str | None = None,
    ) -> None:  # fmt: skip
        with self.db:
            self.db.execute(
                "UPDATE txs SET status=?, block_number=COALESCE(?, block_number), gas_used=COALESCE(?, gas_used),"
                " effective_gas_price=COALESCE(?, effective_gas_price), error=COALESCE(?, error),"
                " block_hash=COALESCE(?, block_hash), updated_at=? WHERE id=?",
                (status.value, block, gas_used, effective_gas_price, error, block_hash, time.time(), tx_id),
            )
            record = self.tx(tx_id)
            self._event(record.intent_id, tx_id, f"tx_{status.value}", {"block": block, "error": error})
        checkpoint(f"tx_{status.value}")

    def included_not_final(self, account: str, network: str) -> list[TxRecord]:
        """Transactions in a block that is not yet final: each cycle checks they are still there."""
        rows = self.db.execute(
            "SELECT t.* FROM txs t JOIN intents i ON t.intent_id = i.id WHERE i.account=? AND i.network=?"
            " AND t.status IN (?,?) AND t.finalized=0 ORDER BY t.id",
            (account, network, TxStatus.MINED.value, TxStatus.REVERTED.value),
        ).fetchall()
        return [_tx(r) for r in rows]

    def finalize(self, tx_id: int) -> None:
        with self.db:
            self.db.execute("UPDATE txs SET finalized=1, updated_at=? WHERE id=?", (time.time(), tx_id))
            self._event(self.tx(tx_id).intent_id, tx_id, "tx_final", {})

    def reorged_out(self, tx_id: int, detail: str) -> None:
        """A reorg removed the block that included the transaction: it is broadcast-only again, and its
        intent (if it had concluded on it) is open again, for reconciliation to bring to an outcome."""
        record = self.tx(tx_id)
        with self.db:
            self.db.execute(
                "UPDATE txs SET status=?, block_number=NULL, block_hash=NULL, gas_used=NULL, effective_gas_price=NULL,"
                " updated_at=? WHERE id=?",
                (TxStatus.SENT.value, time.time(), tx_id),
            )
            self.db.execute(
                "UPDATE intents SET status=?, updated_at=? WHERE id=? AND status IN (?,?,?)",
                (IntentStatus.SENDING.value, time.time(), record.intent_id, IntentStatus.DONE.value,
                 IntentStatus.ORDER_PENDING.value, IntentStatus.FAILED.value),
            )  # fmt: skip
            self._event(record.intent_id, tx_id, "tx_reorged_out", {"block": record.block_number, "detail": detail})
        checkpoint("tx_reorged_out")

    def tx(self, tx_id: int) -> TxRecord:
        return _tx(self.db.execute("SELECT * FROM txs WHERE id=?", (tx_id,)).fetchone())

    def txs(self, intent_id: str) -> list[TxRecord]:
        rows = self.db.execute("SELECT * FROM txs WHERE intent_id=? ORDER BY seq", (intent_id,)).fetchall()
        return [_tx(r) for r in rows]

    def gas_spent_since(self, account: str, since: float) -> int:
        """Wei spent on gas by mined or reverted transactions of an account since a time."""
        (wei,) = self.db.execute(
            "SELECT COALESCE(SUM(t.gas_used * t.effective_gas_price), 0) FROM txs t JOIN intents i"
            " ON t.intent_id = i.id WHERE i.account=? AND t.updated_at>=? AND t.status IN (?,?)",
            (account, since, TxStatus.MINED.value, TxStatus.REVERTED.value),
        ).fetchone()
        return int(wei)

    def events(self, intent_id: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM events"
        args: tuple[str, ...] = ()
        if intent_id:
            query, args = query + " WHERE intent_id=?", (intent_id,)
        return [dict(r) for r in self.db.execute(query + " ORDER BY id", args).fetchall()]

    def load_value(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return None if row is None else json.loads(row["value"])

    def save_value(self, key: str, value: Any) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO kv VALUES (?,?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value,"
                " updated_at=excluded.updated_at",
                (key, json.dumps(value, default=str), time.time()),
            )

    def _event(self, intent_id: str | None, tx_id: int | None, event: str, detail: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO events (at, intent_id, tx_id, event, detail) VALUES (?,?,?,?,?)",
            (time.time(), intent_id, tx_id, event, json.dumps(detail, default=str)),
        )


def checkpoint(name: str) -> None:
    """Fault injection for crash tests: HEDGER_FAULT_INJECT=<name> kills the process (SIGKILL) right
    after the journal step of that name, exactly as a power cut would."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _intent(row: sqlite3.Row) -> Intent:
    return Intent(
        id=row["id"], network=row["network"], chain_id=row["chain_id"], account=row["account"], venue=row["venue"],
        symbol=row["symbol"], kind=row["kind"], action=json.loads(row["action"]), plan_block=row["plan_block"],
        status=IntentStatus(row["status"]), order_id=row["order_id"], error=row["error"], created_at=row["created_at"],
    )  # fmt: skip


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just wrote (sqlite3 leaves `lastrowid` None only when nothing was inserted)."""
    if cursor.lastrowid is None:
        raise ExecutionError("the journal recorded no row for a signed transaction", "check the journal file")
    return cursor.lastrowid


def _tx(row: sqlite3.Row) -> TxRecord:
    values = dict(row)
    values.pop("created_at"), values.pop("updated_at")
    values["status"] = TxStatus(values["status"])
    return TxRecord(**values)
