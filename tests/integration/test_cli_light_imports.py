"""The read-only commands never import web3 or eth_account (~0.7 s of imports): only signing and sending
paths do. Each command runs as its own process under `python -X importtime`, which lists every module
it imported, with the demo key configured (its address is derived without eth_account)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hedger.chain.universe import write_network_file
from tests.support.keeper_helpers import cli_env

pytestmark = pytest.mark.integration
SIGNING_PACKAGES = {"web3", "eth_account", "eth_keyfile", "py_ecc"}


def imported_modules(args: list[str], env: dict[str, str], cwd) -> tuple[int, set[str]]:
    code = "import sys; from hedger.app.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args], env=env, cwd=cwd, capture_output=True, text=True
    )
    return done.returncode, listed(done.stderr)


def listed(importtime: str) -> set[str]:
    return {line.rsplit("|", 1)[-1].strip() for line in importtime.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize(
    ("args", "expected_exit"),
    [(["--help"], 0), (["status", "--help"], 0), (["plan", "--help"], 0), (["ratio", "--help"], 0),
     (["backtest", "--help"], 0), (["status", "--network", "local", "--json"], 0),
     (["plan", "--network", "local", "--json"], 0), (["ratio", "ETH", "--network", "local", "--json"], 0)],
)  # fmt: skip
def test_read_only_commands_import_neither_web3_nor_eth_account(chain, tmp_path, args, expected_exit):
    write_network_file(chain.universe, tmp_path / "local.toml")
    exit_code, modules = imported_modules(args, cli_env(tmp_path), tmp_path)
    assert exit_code == expected_exit
    assert "hedger.app.cli" in modules  # the listing is real
    assert {m.split(".")[0] for m in modules} & SIGNING_PACKAGES == set()


def test_the_listing_sees_them_where_they_are_imported(tmp_path):
    """The check above can fail: the executor (signing and sending) does import them."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import hedger.execution.executor"],
                          cwd=tmp_path, capture_output=True, text=True, check=True)  # fmt: skip
    assert {"web3", "eth_account"} <= {m.split(".")[0] for m in listed(done.stderr)}
