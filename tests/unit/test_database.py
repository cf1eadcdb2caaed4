"""The database layer on SQLite (tests/integration/test_fleet_postgres.py runs the same tests on a
real PostgreSQL): targets, placeholders, transactions, versioned migrations."""

from __future__ import annotations

import pytest

from hedger.errors import DatabaseError, SchemaTooNew
from hedger.execution.database import (
    Migration,
    is_postgres,
    open_database,
    redact,
    resolve_target,
    scrub,
    translate,
)

V1 = Migration(1, "notes", "CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL);")
V2 = Migration(
    2,
    "notes.author, with the old rows kept",
    "ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT 'unknown';\n"
    "CREATE INDEX notes_by_author ON notes (author);",
)


@pytest.fixture
def target(tmp_path):
    return tmp_path / "journal.sqlite"


def test_targets_select_the_backend_and_redact_passwords(monkeypatch):
    assert is_postgres("postgresql://keeper:s3cret@db.internal:5432/hedger")
    assert is_postgres("postgres://db/hedger")
    assert not is_postgres("/var/lib/hedger/journal.sqlite")
    assert (
        redact("postgresql://keeper:s3cret@db.internal:5432/hedger")
        == "postgresql://keeper:***@db.internal:5432/hedger"
    )
    assert "s3cret" not in redact("postgresql://db/hedger?user=keeper&password=s3cret")
    monkeypatch.delenv("HEDGER_JOURNAL", raising=False)
    assert resolve_target(None, "default.sqlite") == "default.sqlite"
    monkeypatch.setenv("HEDGER_JOURNAL", "postgresql://db/fleet")
    assert resolve_target(None, "default.sqlite") == "postgresql://db/fleet"
    assert resolve_target("cli.sqlite", "default.sqlite") == "cli.sqlite"


def test_a_connection_error_never_shows_the_password():
    with pytest.raises(DatabaseError) as refused:
        open_database("postgresql://keeper:s3cret-pw@127.0.0.1:1/hedger?connect_timeout=1")
    assert "s3cret-pw" not in str(refused.value) and "keeper:***@127.0.0.1" in str(refused.value)
    assert scrub("bad password s3cret-pw here", "postgresql://k:s3cret-pw@h/d") == "bad password *** here"


def test_placeholders_translate_outside_quoted_literals():
    sql = "SELECT a FROM t WHERE b = ? AND c LIKE '50%?' AND d = ? -- 10%"
    assert translate(sql, "sqlite") == sql
    assert translate(sql, "postgresql") == "SELECT a FROM t WHERE b = %s AND c LIKE '50%%?' AND d = %s -- 10%%"


def test_transactions_commit_or_roll_back_as_a_whole(target):
    with open_database(target, {"notes": [V1]}) as db:
        with db.transaction() as tx:
            tx.execute("INSERT INTO notes (id, body) VALUES (?, ?)", (1, "kept"))
        with pytest.raises(RuntimeError), db.transaction() as tx:
            tx.execute("INSERT INTO notes (id, body) VALUES (?, ?)", (2, "rolled back"))
            raise RuntimeError("fails after the insert")
        with pytest.raises(DatabaseError, match="safe to retry"), db.transaction() as tx:
            tx.execute("INSERT INTO notes (id, body) VALUES (?, ?)", (3, "rolled back too"))
            tx.execute("INSERT INTO notes (id, body) VALUES (?, ?)", (1, "duplicate key"))
        assert db.execute("SELECT id, body FROM notes ORDER BY id") == [(1, "kept")]


def test_an_insert_returns_the_generated_id(target):
    log = Migration(
        1,
        "log",
        "CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL);",
        postgresql="CREATE TABLE log (id BIGSERIAL PRIMARY KEY, line TEXT NOT NULL);",
    )
    with open_database(target, {"log": [log]}) as db:
        with db.transaction() as tx:
            first = tx.insert("INSERT INTO log (line) VALUES (?)", ("one",))
            second = tx.insert("INSERT INTO log (line) VALUES (?)", ("two",))
        assert second == first + 1
        assert db.execute("SELECT id, line FROM log ORDER BY id") == [(first, "one"), (second, "two")]


def test_an_older_database_is_upgraded_in_order_and_keeps_its_rows(target):
    with open_database(target, {"notes": [V1]}) as old:
        assert old.schema_version("notes") == 1
        old.execute("INSERT INTO notes (id, body) VALUES (?, ?)", (7, "written by the older hedger"))
    with open_database(target, {"notes": [V2, V1]}) as new:  # given out of order: applied 1 then 2
        assert new.schema_version("notes") == 2
        assert new.execute("SELECT id, body, author FROM notes") == [(7, "written by the older hedger", "unknown")]
    with open_database(target, {"notes": [V1, V2]}) as again:  # idempotent: nothing applied twice
        assert again.schema_version("notes") == 2
        rows = again.execute("SELECT component, version FROM schema_components")
        assert rows == [("notes", 2)]


def test_a_newer_database_is_refused_not_misread(target):
    open_database(target, {"notes": [V1, V2]}).close()
    with pytest.raises(SchemaTooNew) as refused:
        open_database(target, {"notes": [V1]})
    assert refused.value.found == 2 and refused.value.known == 1
    assert "upgrade hedger" in str(refused.value)


def test_components_are_versioned_separately_and_gaps_are_rejected(target):
    other = Migration(1, "other", "CREATE TABLE other_things (k TEXT PRIMARY KEY);")
    with open_database(target, {"notes": [V1, V2], "other": [other]}) as db:
        assert (db.schema_version("notes"), db.schema_version("other")) == (2, 1)
        with pytest.raises(ValueError, match="without gaps"):
            db.migrate("gappy", [Migration(2, "two", "SELECT 1;")])


def test_an_unreachable_target_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseError, match="cannot open the database"):
        open_database(blocker / "journal.sqlite")


def test_a_file_from_before_versioning_is_taken_as_version_one(target):
    import sqlite3

    with sqlite3.connect(target) as legacy:  # what an unversioned hedger left: tables, no schema_version
        legacy.execute("CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL)")
        legacy.execute("INSERT INTO notes VALUES (1, 'from before versioning')")
    legacy.close()
    adoptable = Migration(1, "notes", "CREATE TABLE IF NOT EXISTS notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL);")
    with open_database(target, {"notes": [adoptable, V2]}) as db:
        assert db.schema_version("notes") == 2
        assert db.execute("SELECT id, body, author FROM notes") == [(1, "from before versioning", "unknown")]
