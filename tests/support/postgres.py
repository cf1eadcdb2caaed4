"""A real PostgreSQL server for the tests, no mocks.

One server per test session (per xdist worker), listening on a Unix socket in a fresh directory
(no TCP port to collide on), stopped when the session ends. Where it comes from:

1. the `pgserver` wheel (PostgreSQL 16 binaries on PyPI, in requirements-dev.txt, so `make setup`
   installs it with everything else). Run as root, it runs the server as a `pgserver` system user
   it creates. This is the default: it needs no system package and no network at test time.
2. Debian's `postgresql` (`make setup-postgres` installs it with apt when missing), if pgserver
   cannot start here, or when `HEDGER_TEST_POSTGRES=debian` asks for it: initdb and pg_ctl from
   /usr/lib/postgresql/<newest>/bin, run as the `postgres` user when the tests run as root.
3. `HEDGER_TEST_POSTGRES_URL=postgresql://…`: a server someone else runs (a CI service container).

`postgres_url` gives each test a database of its own (created empty, dropped after).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

SERVER_ENV = "HEDGER_TEST_POSTGRES_URL"
KIND_ENV = "HEDGER_TEST_POSTGRES"


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _pgserver(directory: Path) -> tuple[str, Callable[[], None]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        import pgserver

        server = pgserver.get_server(directory / "data", cleanup_mode="stop")
    return server.get_uri(), server.cleanup


def _debian(directory: Path) -> tuple[str, Callable[[], None]]:
    initdbs = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not initdbs:
        raise RuntimeError("Debian's postgresql is not installed: run `make setup-postgres`")
    bindir = initdbs[-1].parent
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(directory, "postgres", "postgres")
    data, log = directory / "data", directory / "server.log"
    run = functools.partial(subprocess.run, check=True, capture_output=True, text=True, timeout=60)
    run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    options = f"-h '' -k {directory}"
    run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"])

    def stop() -> None:
        run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])

    return f"postgresql://postgres@/postgres?host={directory}", stop


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a running PostgreSQL server's maintenance database."""
    external = os.environ.get(SERVER_ENV)
    if external:
        yield external
        return
    directory = Path(tempfile.mkdtemp(prefix="hedger-pg-"))
    if os.environ.get(KIND_ENV) == "debian":
        url, stop = _debian(directory)
    else:
        try:
            url, stop = _pgserver(directory)
        except Exception as error:
            warnings.warn(f"pgserver did not start ({error}); using Debian's postgresql", stacklevel=1)
            url, stop = _debian(directory)
    try:
        yield url
    finally:
        stop()
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
