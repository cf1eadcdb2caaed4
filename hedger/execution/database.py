"""One database interface over SQLite (embedded, one host) and PostgreSQL (a fleet of keepers).

The target is what `--journal` / `HEDGER_JOURNAL` give: a `postgresql://…` (or `postgres://…`) URL
selects PostgreSQL through psycopg 3; anything else is a file path for SQLite (WAL,
synchronous=FULL). `open_database(target, migrations)` connects and brings every schema component
it is given up to date before returning.

SQL is written once, in SQLite's style, with `?` placeholders; for PostgreSQL they become `%s`
(a `?` or `%` inside a quoted literal is left alone). Where the dialects really differ a
statement can branch on `db.dialect`; `tx.for_update` is `" FOR UPDATE"` on PostgreSQL and empty
on SQLite, whose `BEGIN IMMEDIATE` already serialises every writer.

Schema migrations: a `schema_components` table holds one row per component (the journal, the
leases, …), with the version that component's schema is at. (It is not called `schema_version`:
that name is the journal's own version marker from before this module, which an older hedger
still reads; see `hedger.execution.journal`.) A component's migrations are numbered 1, 2, …
and applied in order at open, each in its own transaction, under a lock (SQLite's write lock,
PostgreSQL's transaction-scoped advisory lock), so two processes opening the same database at once
apply each migration exactly once. A database written by an older hedger is upgraded; one written
by a newer hedger (a version above the newest this code knows) is refused with `SchemaTooNew`,
never misread.

A component gives its schema as `Migration`s, the first one written with `CREATE TABLE IF NOT
EXISTS`, so that a file made before versioning (tables present, no row) is taken as version 1;
or as a `Schema` whose `adopt` reads the version such a database was at by its own older marker
(the journal's). The journal opens with `{"journal": …, "lease": lease.MIGRATIONS}`, and its
writes for an account under a lease are made inside `lease.fenced(token)`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from hedger.errors import DatabaseError, SchemaTooNew

Dialect = Literal["sqlite", "postgresql"]
JOURNAL_ENV = "HEDGER_JOURNAL"
_PG_PREFIXES = ("postgresql://", "postgres://")
VERSIONS_TABLE = "schema_components"  # one row per component: its version


@dataclass(frozen=True)
class Migration:
    """One step of a component's schema: `sql` for both dialects, or `postgresql` where it differs."""

    version: int
    description: str
    sql: str
    postgresql: str | None = None

    def for_dialect(self, dialect: Dialect) -> str:
        return self.postgresql if dialect == "postgresql" and self.postgresql is not None else self.sql


@dataclass(frozen=True)
class Schema:
    """A component's migrations, and how to tell the version of a database it wrote before it was
    versioned in `schema_components` (`adopt`: the version found, 0 for none)."""

    migrations: Sequence[Migration]
    adopt: Callable[[Transaction], int] | None = None


def is_postgres(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(_PG_PREFIXES)


def redact(target: str | Path) -> str:
    """A target fit to print: a URL's password (and query, which may hold one) is hidden."""
    text = str(target)
    if not is_postgres(text):
        return text
    text = re.sub(r"^(postgres(?:ql)?://[^:/@?]*):[^@/?]*@", r"\1:***@", text)
    return re.sub(r"password=[^&]*", "password=***", text)


def scrub(text: str, target: str | Path) -> str:
    """`text` (an error message) without the target's password, wherever the driver echoed it."""
    secrets = []
    if is_postgres(target):
        with contextlib.suppress(ValueError):
            secrets.append(urlsplit(str(target)).password)
        secrets += re.findall(r"password=([^&]+)", str(target))
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    return text


def resolve_target(option: str | None, default: str | Path) -> str | Path:
    """`--journal` wins, then HEDGER_JOURNAL, then the default path."""
    if option:
        return option
    return os.environ.get(JOURNAL_ENV) or default


def translate(sql: str, dialect: Dialect) -> str:
    """`?` placeholders → `%s` for psycopg (and a literal `%` → `%%`), outside quoted strings."""
    if dialect == "sqlite":
        return sql
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if quote:
            out.append("%%" if char == "%" else char)
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


def _split_statements(script: str) -> list[str]:
    """A script as single statements (sqlite3 executes one at a time inside a transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip().strip(";").strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements


class Transaction:
    """What a `with db.transaction() as tx:` block sees: execute, fetch one row or all of them."""

    def __init__(self, db: Database, cursor: Any):
        self.db, self._cursor = db, cursor

    @property
    def dialect(self) -> Dialect:
        return self.db.dialect

    @property
    def for_update(self) -> str:
        return " FOR UPDATE" if self.db.dialect == "postgresql" else ""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Transaction:
        self._cursor.execute(translate(sql, self.db.dialect), tuple(params))
        return self

    def insert(self, sql: str, params: Sequence[Any] = (), id_column: str = "id") -> int:
        """Run an INSERT of one row and return its generated id (SQLite's rowid, PostgreSQL's RETURNING)."""
        if self.db.dialect == "postgresql":
            row = self.execute(f"{sql} RETURNING {id_column}", params).fetchone()
            assert row is not None
            return int(row[0])
        self.execute(sql, params)
        return int(self._cursor.lastrowid)

    def script(self, script: str) -> None:
        for statement in _split_statements(script):
            self._cursor.execute(statement)

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cursor.fetchone()
        return tuple(row) if row is not None else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._cursor.fetchall()]

    def mappings(self) -> list[dict[str, Any]]:
        """The rows of the last statement as column → value."""
        names = [column[0] for column in self._cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in self._cursor.fetchall()]

    def table_exists(self, name: str) -> bool:
        if self.db.dialect == "postgresql":
            row = self.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()
            return bool(row and row[0])
        found = self.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        return found is not None

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def now(self) -> float:
        """Seconds since the epoch by the database's clock on PostgreSQL (one clock for every host
        of a fleet), by this host's on SQLite (one host)."""
        if self.db.dialect == "postgresql":
            row = self.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())").fetchone()
            assert row is not None
            return float(row[0])
        return time.time()


class Database:
    """A connection to one database, used by one process (thread-safe; one transaction at a time).

    PostgreSQL sessions get short `lock_timeout` and `idle_in_transaction_session_timeout`: a
    process stopped (SIGSTOP, a long GC pause) inside a transaction has its session ended by the
    server, so its row locks are released and whatever it had not committed is lost, not written.
    A broken connection is reopened at the start of the next transaction.
    """

    def __init__(self, target: str | Path, *, lock_timeout_s: float = 5.0, idle_timeout_s: float = 5.0):
        self.target = target
        self.dialect: Dialect = "postgresql" if is_postgres(target) else "sqlite"
        self.lock_timeout_s, self.idle_timeout_s = lock_timeout_s, idle_timeout_s
        self._lock = threading.RLock()
        self._conn: Any = None
        self._connect()

    def __repr__(self) -> str:
        return f"Database({self.dialect}: {redact(self.target)})"

    # -- connections -------------------------------------------------------------------------
    def _connect(self) -> None:
        try:
            self._conn = self._connect_postgres() if self.dialect == "postgresql" else self._connect_sqlite()
        except DatabaseError:
            raise
        except ImportError as error:
            raise DatabaseError(
                f"cannot open the database {redact(self.target)}: psycopg is not installed ({error})",
                "PostgreSQL needs the postgres extra: pip install 'hedger[postgres]'",
            ) from error
        except Exception as error:
            raise DatabaseError(
                f"cannot open the database {redact(self.target)}: {type(error).__name__}: "
                + scrub(str(error), self.target),
                "check the --journal / HEDGER_JOURNAL target: a writable file path, or a reachable postgresql:// URL",
            ) from error

    def _connect_sqlite(self) -> sqlite3.Connection:
        path = Path(self.target)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=max(self.lock_timeout_s, 0.1)
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _connect_postgres(self) -> Any:
        import psycopg

        conn = psycopg.connect(str(self.target), autocommit=True, connect_timeout=10)
        conn.execute(f"SET lock_timeout = {int(self.lock_timeout_s * 1000)}")
        conn.execute(f"SET idle_in_transaction_session_timeout = {int(self.idle_timeout_s * 1000)}")
        return conn

    def _healthy(self) -> bool:
        if self._conn is None:
            return False
        if self.dialect == "postgresql":
            return not self._conn.closed and not self._conn.broken
        return True

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[Transaction]:
        """One transaction: committed when the block ends, rolled back if it raises.

        SQLite: BEGIN IMMEDIATE (the write lock from the first statement), or a deferred BEGIN for a
        read (`write=False`: readers do not wait for each other). PostgreSQL: READ COMMITTED;
        serialise read-modify-write with `SELECT …{tx.for_update}`."""
        with self._lock:
            if not self._healthy():
                self.close()
                self._connect()
            try:
                if self.dialect == "postgresql":
                    with self._conn.transaction(), self._conn.cursor() as cursor:
                        yield Transaction(self, cursor)
                else:
                    cursor = self._conn.cursor()
                    cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    try:
                        yield Transaction(self, cursor)
                    except BaseException:
                        self._conn.rollback()
                        raise
                    self._conn.commit()
            except (sqlite3.Error, _pg_errors()) as error:
                raise DatabaseError(
                    f"database {redact(self.target)}: {type(error).__name__}: {scrub(str(error), self.target)}",
                    "nothing in this transaction was written; it is safe to retry",
                ) from error

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One statement in a transaction of its own; returns the rows (if any)."""
        with self.transaction() as tx:
            tx.execute(sql, params)
            return tx.fetchall() if tx._cursor.description else []

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """One read, its rows as column → value."""
        with self.transaction(write=False) as tx:
            return tx.execute(sql, params).mappings()

    # -- schema ------------------------------------------------------------------------------
    def migrate(self, component: str, schema: Sequence[Migration] | Schema) -> int:
        """Bring `component` up to its newest migration; returns the version it is at."""
        schema = schema if isinstance(schema, Schema) else Schema(schema)
        ordered = sorted(schema.migrations, key=lambda m: m.version)
        if [m.version for m in ordered] != list(range(1, len(ordered) + 1)):
            raise ValueError(f"{component}: migrations must be numbered 1..n without gaps")
        newest = len(ordered)
        with self.transaction() as tx:
            self._lock_schema(tx)
            tx.script(
                f"CREATE TABLE IF NOT EXISTS {VERSIONS_TABLE} (component TEXT PRIMARY KEY, version INTEGER NOT NULL,"
                " description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL);"
            )
            if schema.adopt is not None and self._version(tx, component) == 0:
                found = schema.adopt(tx)
                if found:
                    self._set_version(tx, component, found, "adopted from the component's own older marker")
        current = self.schema_version(component)
        if current > newest:
            raise SchemaTooNew(component, current, newest, redact(self.target))
        for migration in ordered[current:]:
            with self.transaction() as tx:
                self._lock_schema(tx)
                if self._version(tx, component) >= migration.version:
                    continue  # another process applied it while we waited for the lock
                tx.script(migration.for_dialect(self.dialect))
                self._set_version(tx, component, migration.version, migration.description)
        return self.schema_version(component)

    def schema_version(self, component: str) -> int:
        with self.transaction(write=False) as tx:
            return self._version(tx, component)

    @staticmethod
    def _version(tx: Transaction, component: str) -> int:
        row = tx.execute(f"SELECT version FROM {VERSIONS_TABLE} WHERE component = ?", (component,)).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _set_version(tx: Transaction, component: str, version: int, description: str) -> None:
        tx.execute(
            f"INSERT INTO {VERSIONS_TABLE} (component, version, description, applied_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (component) DO UPDATE SET version = excluded.version,"
            " description = excluded.description, applied_at = excluded.applied_at",
            (component, version, description, time.time()),
        )

    def _lock_schema(self, tx: Transaction) -> None:
        if self.dialect == "postgresql":
            tx.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK_KEY,))


_SCHEMA_LOCK_KEY = 0x6865646765  # "hedge": the advisory lock held while migrating


def _pg_errors() -> type[Exception]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return sqlite3.Error
    return psycopg.Error


def open_database(
    target: str | Path,
    components: Mapping[str, Sequence[Migration] | Schema] | None = None,
    **options: float,
) -> Database:
    """Connect to `target` and migrate every component given (name → its migrations)."""
    db = Database(target, **options)
    try:
        for component, migrations in (components or {}).items():
            db.migrate(component, migrations)
    except BaseException:
        db.close()
        raise
    return db
