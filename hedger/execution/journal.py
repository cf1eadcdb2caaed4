"""The journal: every intent before it is sent, every signed transaction before it is broadcast,
and every outcome once known, so that a process killed at any point can be restarted without
sending twice and without losing a record. It lives in SQLite (a file: WAL, synchronous=FULL; the
default) or PostgreSQL (a `postgresql://…` target, for a fleet of keepers sharing one database),
through `hedger.execution.database`.

Tables
- intents: one per plan action (open/increase/…); status moves planned → sending → done | failed
  | abandoned (an async order also passes through order_pending);
- txs: every transaction of an intent (approval, order, replacement), with nonce, hash and the signed
  raw bytes *written before broadcast*: a restart can always tell whether that nonce was used, and
  can rebroadcast the very same bytes instead of building a new transaction;
- broadcasts: one row per eth_sendRawTransaction, written (and, under a lease, fenced) in the
  transaction right before the call: who sent which transaction under which fencing token;
- events: an append-only log of every change (nothing is ever deleted); kv: the planner's memory.

Transaction states: signed → broadcast (`sent`) → included (`mined`/`reverted`, with block number and
hash) → final (`finalized`, once `confirmations` blocks sit on top of it). Every cycle re-checks the
included-but-not-final ones against the chain (`Executor.recheck_included`): one a reorg removed goes
back to `sent` and its intent back to `sending`, so reconciliation rebroadcasts the very same bytes (or,
if its nonce was taken meanwhile, the intent is re-evaluated). Recording the same signed bytes twice
returns the record already there.

Fencing. With `journal.fence` set to the account's sender lease (`hedger.execution.lease`), every
write is made inside `lease.fenced()`: the lease row is locked and the fencing token checked in the
same database transaction, so a keeper that lost its lease (paused, partitioned) while it slept
writes nothing, and, since a broadcast is preceded by its `broadcasts` row, sends nothing either;
it gets `LeaseLost` instead.

Versions. The schema is migrated per component (`schema_components`, `MIGRATIONS` below). A journal
written before that, by an older hedger, carries its own marker: a `schema_version (version,
applied_at)` table; it is adopted at the version it says (a file with tables but no marker is
version 1) and upgraded in place. Every migration also writes its version into that marker, so an
older hedger opening an upgraded file finds a version newer than its own and refuses it instead of
misreading it.

A private key is never written here; raw transactions are public once broadcast anyway.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hedger.execution import lease
from hedger.execution.database import Dialect, Migration, Schema, Transaction, open_database
from hedger.model import Action, to_jsonable

COMPONENT = "journal"
LEGACY_MARKER = "schema_version"  # the journal's version table before `schema_components`


def _types(dialect: Dialect) -> dict[str, str]:
    if dialect == "postgresql":
        return {"real": "DOUBLE PRECISION", "int": "BIGINT", "serial": "BIGSERIAL PRIMARY KEY"}
    return {"real": "REAL", "int": "INTEGER", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"}


def _v1(dialect: Dialect) -> str:
    return """
CREATE TABLE IF NOT EXISTS intents (
    id TEXT PRIMARY KEY, created_at {real} NOT NULL, updated_at {real} NOT NULL,
    network TEXT NOT NULL, chain_id {int} NOT NULL, account TEXT NOT NULL,
    venue TEXT NOT NULL, symbol TEXT NOT NULL, kind TEXT NOT NULL, action TEXT NOT NULL,
    plan_block {int} NOT NULL, status TEXT NOT NULL, order_id TEXT, error TEXT
);
CREATE TABLE IF NOT EXISTS txs (
    id {serial}, intent_id TEXT NOT NULL REFERENCES intents(id),
    seq {int} NOT NULL, purpose TEXT NOT NULL, to_address TEXT NOT NULL, nonce {int} NOT NULL,
    tx_hash TEXT NOT NULL UNIQUE, raw_tx TEXT NOT NULL, max_fee_per_gas {int} NOT NULL,
    max_priority_fee_per_gas {int} NOT NULL, status TEXT NOT NULL, block_number {int},
    gas_used {int}, effective_gas_price {int}, replaces {int}, error TEXT,
    created_at {real} NOT NULL, updated_at {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id {serial}, at {real} NOT NULL, intent_id TEXT, tx_id {int},
    event TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at {real} NOT NULL);
CREATE INDEX IF NOT EXISTS intents_open ON intents(account, status);
CREATE INDEX IF NOT EXISTS txs_intent ON txs(intent_id, seq);
""".format(**_types(dialect))


_V2 = """
ALTER TABLE txs ADD COLUMN block_hash TEXT;
ALTER TABLE txs ADD COLUMN finalized INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS txs_included ON txs(status, finalized);
"""


def _v3(dialect: Dialect) -> str:
    return """
CREATE TABLE IF NOT EXISTS broadcasts (
    id {serial}, tx_id {int} NOT NULL REFERENCES txs(id), network TEXT NOT NULL, account TEXT NOT NULL,
    holder TEXT, token {int}, seq {int}, at {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS broadcasts_by_account ON broadcasts(network, account, id);
""".format(**_types(dialect))


def _marked(version: int, sql_of: Any) -> Migration:
    """A migration that also writes its version into the legacy marker older hedgers read."""

    def with_marker(dialect: Dialect) -> str:
        now = "EXTRACT(EPOCH FROM now())" if dialect == "postgresql" else "CAST(strftime('%s', 'now') AS REAL)"
        real = _types(dialect)["real"]
        marker = (
            f"CREATE TABLE IF NOT EXISTS {LEGACY_MARKER} (version INTEGER NOT NULL, applied_at {real} NOT NULL);"
            f"\nINSERT INTO {LEGACY_MARKER} (version, applied_at) VALUES ({version}, {now});\n"
        )
        return sql_of(dialect) + marker

    descriptions = {1: "intents, txs, events, kv", 2: "txs.block_hash, txs.finalized (reorgs)", 3: "broadcasts"}
    return Migration(version, descriptions[version], with_marker("sqlite"), postgresql=with_marker("postgresql"))


MIGRATIONS: tuple[Migration, ...] = (
    _marked(1, _v1),
    _marked(2, lambda dialect: _V2),
    _marked(3, _v3),
)
SCHEMA_V1 = _v1("sqlite")  # what the first journals were (tests build old files from it)
SCHEMA_VERSION = len(MIGRATIONS)


def _adopt(tx: Transaction) -> int:
    """The version of a journal from before `schema_components`: its marker's, or 1 (tables, no marker)."""
    if tx.table_exists(LEGACY_MARKER):
        row = tx.execute(f"SELECT COALESCE(MAX(version), 0) FROM {LEGACY_MARKER}").fetchone()
        return int(row[0]) if row else 0
    return 1 if tx.table_exists("intents") else 0


SCHEMA = Schema(MIGRATIONS, adopt=_adopt)

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


class Journal:
    """The execution journal of one or more accounts, at a file path (SQLite; ":memory:" for dry runs)
    or a `postgresql://…` URL. `fence`: the sender lease every write of this journal object is
    fenced by (None: no lease, one keeper on its own)."""

    def __init__(self, target: str | Path, **options: float):
        self.target = target
        self.db = open_database(target, {COMPONENT: SCHEMA, lease.COMPONENT: lease.MIGRATIONS}, **options)
        self.fence: lease.Lease | None = None

    @property
    def schema_version(self) -> int:
        return self.db.schema_version(COMPONENT)

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[Transaction]:
        """A write transaction: fenced by the lease when there is one (LeaseLost, nothing written, if it is lost)."""
        if self.fence is None:
            with self.db.transaction() as tx:
                yield tx
        else:
            if self.fence.db is not self.db:
                raise ValueError("a journal is fenced by a lease on its own database connection")
            with self.fence.fenced() as tx:
                yield tx

    # ------------------------------------------------------------------ intents

    def record_intent(self, network: str, chain_id: int, account: str, action: Action, plan_block: int) -> Intent:
        intent_id = uuid.uuid4().hex
        now = time.time()
        with self._write() as tx:
            tx.execute(
                "INSERT INTO intents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (intent_id, now, now, network, chain_id, account, action.venue, action.symbol, action.kind.value,
                 json.dumps(to_jsonable(action)), plan_block, IntentStatus.PLANNED.value, None, None),
            )  # fmt: skip
            _event(tx, intent_id, None, "intent_recorded", {"action": to_jsonable(action), "plan_block": plan_block})
        checkpoint("intent_recorded")
        return self.intent(intent_id)

    def set_intent_status(
        self, intent_id: str, status: IntentStatus, error: str | None = None, order_id: str | None = None
    ) -> None:
        with self._write() as tx:
            tx.execute(
                "UPDATE intents SET status=?, error=COALESCE(?, error), order_id=COALESCE(?, order_id), updated_at=?"
                " WHERE id=?",
                (status.value, error, order_id, time.time(), intent_id),
            )
            _event(tx, intent_id, None, f"intent_{status.value}", {"error": error, "order_id": order_id})

    def intent(self, intent_id: str) -> Intent:
        (row,) = self.db.query("SELECT * FROM intents WHERE id=?", (intent_id,))
        return _intent(row)

    def unfinished(self, account: str, network: str) -> list[Intent]:
        rows = self.db.query(
            "SELECT * FROM intents WHERE account=? AND network=? AND status NOT IN (?,?,?) ORDER BY created_at",
            (account, network, IntentStatus.DONE.value, IntentStatus.FAILED.value, IntentStatus.ABANDONED.value),
        )
        return [_intent(r) for r in rows]

    def intents(self, account: str | None = None) -> list[Intent]:
        query = "SELECT * FROM intents"
        args: tuple[str, ...] = ()
        if account:
            query, args = query + " WHERE account=?", (account,)
        return [_intent(r) for r in self.db.query(query + " ORDER BY created_at", args)]

    def recent_intents(self, account: str, limit: int) -> list[Intent]:
        rows = self.db.query("SELECT * FROM intents WHERE account=? ORDER BY created_at DESC LIMIT ?", (account, limit))
        return [_intent(r) for r in rows]

    def recent_failures(self, account: str, venue: str, symbol: str, since: float) -> int:
        """Failed order intents on a market since a time: for capped retries with backoff."""
        ((count,),) = self._rows(
            "SELECT COUNT(*) FROM intents WHERE account=? AND venue=? AND symbol=? AND status=? AND updated_at>=?",
            (account, venue, symbol, IntentStatus.FAILED.value, since),
        )
        return int(count)

    # ------------------------------------------------------------------ transactions

    def record_signed(
        self, intent_id: str, purpose: str, to: str, nonce: int, tx_hash: str, raw_tx: str,
        max_fee: int, priority_fee: int, replaces: int | None = None,
    ) -> TxRecord:  # fmt: skip
        now = time.time()
        with self._write() as tx:
            existing = tx.execute("SELECT id FROM txs WHERE tx_hash=?", (tx_hash,)).fetchone()
            if existing is not None:  # the same signed bytes again (same nonce, fees, call): one record
                _event(tx, intent_id, int(existing[0]), "tx_signed_again", {"hash": tx_hash, "nonce": nonce})
                tx_id, new = int(existing[0]), False
            else:
                (seq,) = tx.execute("SELECT COUNT(*) FROM txs WHERE intent_id=?", (intent_id,)).fetchone() or (0,)
                tx_id = tx.insert(
                    "INSERT INTO txs (intent_id, seq, purpose, to_address, nonce, tx_hash, raw_tx, max_fee_per_gas,"
                    " max_priority_fee_per_gas, status, replaces, created_at, updated_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (intent_id, int(seq), purpose, to, nonce, tx_hash, raw_tx, max_fee, priority_fee,
                     TxStatus.SIGNED.value, replaces, now, now),
                )  # fmt: skip
                tx.execute(
                    "UPDATE intents SET status=?, updated_at=? WHERE id=? AND status=?",
                    (IntentStatus.SENDING.value, now, intent_id, IntentStatus.PLANNED.value),
                )
                _event(tx, intent_id, tx_id, "tx_signed", {"nonce": nonce, "hash": tx_hash, "purpose": purpose})
                new = True
        if new:
            checkpoint("tx_signed")
        return self.tx(tx_id)

    def record_broadcast(self, tx_id: int) -> None:
        """Written right before a transaction's bytes go to the node: under a lease, in the fenced
        transaction that checks the token (LeaseLost here means: do not send)."""
        with self._write() as tx:
            ((network, account),) = tx.execute(
                "SELECT i.network, i.account FROM txs t JOIN intents i ON t.intent_id = i.id WHERE t.id=?", (tx_id,)
            ).fetchall()
            fence = self.fence
            by = (fence.holder, fence.token, fence.last_fence_seq) if fence else (None, None, None)
            tx.execute(
                "INSERT INTO broadcasts (tx_id, network, account, holder, token, seq, at) VALUES (?,?,?,?,?,?,?)",
                (tx_id, network, account, *by, time.time()),
            )

    def set_tx_status(
        self, tx_id: int, status: TxStatus, block: int | None = None, gas_used: int | None = None,
        effective_gas_price: int | None = None, error: str | None = None, block_hash: str | None = None,
    ) -> None:  # fmt: skip
        with self._write() as tx:
            tx.execute(
                "UPDATE txs SET status=?, block_number=COALESCE(?, block_number), gas_used=COALESCE(?, gas_used),"
                " effective_gas_price=COALESCE(?, effective_gas_price), error=COALESCE(?, error),"
                " block_hash=COALESCE(?, block_hash), updated_at=? WHERE id=?",
                (status.value, block, gas_used, effective_gas_price, error, block_hash, time.time(), tx_id),
            )
            _event(tx, _intent_of(tx, tx_id), tx_id, f"tx_{status.value}", {"block": block, "error": error})
        checkpoint(f"tx_{status.value}")

    def included_not_final(self, account: str, network: str) -> list[TxRecord]:
        """Transactions in a block that is not yet final: each cycle checks they are still there."""
        rows = self.db.query(
            "SELECT t.* FROM txs t JOIN intents i ON t.intent_id = i.id WHERE i.account=? AND i.network=?"
            " AND t.status IN (?,?) AND t.finalized=0 ORDER BY t.id",
            (account, network, TxStatus.MINED.value, TxStatus.REVERTED.value),
        )
        return [_tx(r) for r in rows]

    def finalize(self, tx_id: int) -> None:
        with self._write() as tx:
            tx.execute("UPDATE txs SET finalized=1, updated_at=? WHERE id=?", (time.time(), tx_id))
            _event(tx, _intent_of(tx, tx_id), tx_id, "tx_final", {})

    def reorged_out(self, tx_id: int, detail: str) -> None:
        """A reorg removed the block that included the transaction: it is broadcast-only again, and its
        intent (if it had concluded on it) is open again, for reconciliation to bring to an outcome."""
        record = self.tx(tx_id)
        with self._write() as tx:
            tx.execute(
                "UPDATE txs SET status=?, block_number=NULL, block_hash=NULL, gas_used=NULL, effective_gas_price=NULL,"
                " updated_at=? WHERE id=?",
                (TxStatus.SENT.value, time.time(), tx_id),
            )
            tx.execute(
                "UPDATE intents SET status=?, updated_at=? WHERE id=? AND status IN (?,?,?)",
                (IntentStatus.SENDING.value, time.time(), record.intent_id, IntentStatus.DONE.value,
                 IntentStatus.ORDER_PENDING.value, IntentStatus.FAILED.value),
            )  # fmt: skip
            _event(tx, record.intent_id, tx_id, "tx_reorged_out", {"block": record.block_number, "detail": detail})
        checkpoint("tx_reorged_out")

    def tx(self, tx_id: int) -> TxRecord:
        (row,) = self.db.query("SELECT * FROM txs WHERE id=?", (tx_id,))
        return _tx(row)

    def txs(self, intent_id: str) -> list[TxRecord]:
        return [_tx(r) for r in self.db.query("SELECT * FROM txs WHERE intent_id=? ORDER BY seq", (intent_id,))]

    def gas_spent_since(self, account: str, since: float) -> int:
        """Wei spent on gas by mined or reverted transactions of an account since a time."""
        ((wei,),) = self._rows(
            "SELECT COALESCE(SUM(t.gas_used * t.effective_gas_price), 0) FROM txs t JOIN intents i"
            " ON t.intent_id = i.id WHERE i.account=? AND t.updated_at>=? AND t.status IN (?,?)",
            (account, since, TxStatus.MINED.value, TxStatus.REVERTED.value),
        )
        return int(wei)

    def events(self, intent_id: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM events"
        args: tuple[str, ...] = ()
        if intent_id:
            query, args = query + " WHERE intent_id=?", (intent_id,)
        return self.db.query(query + " ORDER BY id", args)

    def broadcasts(self, network: str | None = None) -> list[dict[str, Any]]:
        """Every broadcast recorded (oldest first): tx, account, and the holder and token it was fenced by."""
        where, args = (" WHERE network=?", (network,)) if network else ("", ())
        return self.db.query(f"SELECT * FROM broadcasts{where} ORDER BY id", args)

    def load_value(self, key: str) -> Any:
        rows = self._rows("SELECT value FROM kv WHERE key=?", (key,))
        return None if not rows else json.loads(rows[0][0])

    def save_value(self, key: str, value: Any) -> None:
        with self._write() as tx:
            tx.execute(
                "INSERT INTO kv VALUES (?,?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value,"
                " updated_at=excluded.updated_at",
                (key, json.dumps(value, default=str), time.time()),
            )

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self.db.transaction(write=False) as tx:
            return tx.execute(sql, params).fetchall()


def _event(tx: Transaction, intent_id: str | None, tx_id: int | None, event: str, detail: dict[str, Any]) -> None:
    tx.execute(
        "INSERT INTO events (at, intent_id, tx_id, event, detail) VALUES (?,?,?,?,?)",
        (time.time(), intent_id, tx_id, event, json.dumps(detail, default=str)),
    )


def _intent_of(tx: Transaction, tx_id: int) -> str:
    row = tx.execute("SELECT intent_id FROM txs WHERE id=?", (tx_id,)).fetchone()
    assert row is not None, f"no transaction {tx_id} in the journal"
    return str(row[0])


def checkpoint(name: str) -> None:
    """Fault injection for crash and fail-over tests: HEDGER_FAULT_INJECT=<name> kills the process
    (SIGKILL) right after the journal step of that name, exactly as a power cut would;
    HEDGER_FAULT_INJECT=stop:<name> stops it there (SIGSTOP, once: a GC pause or a partition) until
    someone sends SIGCONT."""
    fault = os.environ.get(FAULT_ENV, "")
    action, _, step = fault.rpartition(":")
    if step != name:
        return
    if action == "stop":
        os.environ.pop(FAULT_ENV)
        os.kill(os.getpid(), signal.SIGSTOP)
    else:
        os.kill(os.getpid(), signal.SIGKILL)


def _intent(row: dict[str, Any]) -> Intent:
    return Intent(
        id=row["id"], network=row["network"], chain_id=int(row["chain_id"]), account=row["account"],
        venue=row["venue"], symbol=row["symbol"], kind=row["kind"], action=json.loads(row["action"]),
        plan_block=int(row["plan_block"]), status=IntentStatus(row["status"]), order_id=row["order_id"],
        error=row["error"], created_at=float(row["created_at"]),
    )  # fmt: skip


def _tx(row: dict[str, Any]) -> TxRecord:
    values = dict(row)
    values.pop("created_at"), values.pop("updated_at")
    values["status"] = TxStatus(values["status"])
    return TxRecord(**values)
