"""A real PostgreSQL server for the tests, no mocks.

One server per test session (per xdist worker), from the `pgserver` wheel (PostgreSQL 16 binaries
on PyPI, in requirements/dev.lock, so `make setup` installs it with everything else). It listens on
a Unix socket in a fresh directory (no TCP port to collide on) and is stopped when the session
ends. Run as root, pgserver runs the server as an unprivileged `pgserver` system user it creates.

`HEDGER_TEST_POSTGRES_URL=postgresql://…` points the tests at a server someone else runs instead
(a CI service container, a Debian `postgresql`): each test still gets a database of its own there.
Debian's package is not installed as a fallback: pgserver works as root and unprivileged, offline,
in a slim container, and an apt install would need the network at test time.

`postgres_url` gives each test a database of its own (created empty, dropped after).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

SERVER_ENV = "HEDGER_TEST_POSTGRES_URL"


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a running PostgreSQL server's maintenance database."""
    external = os.environ.get(SERVER_ENV)
    if external:
        yield external
        return
    directory = Path(tempfile.mkdtemp(prefix="hedger-pg-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        try:
            import pgserver
        except ImportError as error:  # pragma: no cover - pgserver is in the dev lock
            raise RuntimeError(f"pgserver is not installed ({error}); run `make setup`") from error
        server = pgserver.get_server(directory / "data", cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    import psycopg

    name = f"hedger_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(postgres_server, name)
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
