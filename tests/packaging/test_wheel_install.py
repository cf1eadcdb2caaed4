"""hedger installed from its wheel into a fresh virtualenv, used from an empty directory.

The wheel is built from this checkout (`python -m build --wheel`), installed with the locked runtime
dependencies (requirements.txt, hashes checked) into a virtualenv outside the checkout, and run
from a temporary directory that holds nothing but what the user brings: a network file of their own,
and price history.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hedger.chain.toolchain import project_root
from hedger.chain.universe import write_network_file
from tests.support.data import data_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = project_root()
TIMEOUT_S = 600


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `hedger` command of a fresh virtualenv with only the wheel and its locked dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(work / "dist")], ROOT)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (work / "dist").glob("hedger-*.whl")
    venv = work / "venv"
    assert _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], work).returncode == 0
    python = venv / "bin" / "python"
    uv = Path(sys.executable).parent / "uv"
    for requirement in (["--require-hashes", "-r", str(ROOT / "requirements.txt")], [str(wheel)]):
        done = _run([str(uv), "pip", "install", "--quiet", "--python", str(python), "--no-deps", *requirement], work)
        assert done.returncode == 0, done.stdout + done.stderr
    return venv / "bin" / "hedger"


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    """An empty directory far from the checkout, as a user's working directory."""
    directory = tmp_path / "user"
    directory.mkdir()
    return directory


def _env(user_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGER_")}
    return env | {"HOME": str(user_dir), "XDG_CONFIG_HOME": str(user_dir / ".config")}


def test_the_installed_package_is_not_the_checkout(installed, user_dir):
    code = "import hedger, pathlib; print(pathlib.Path(hedger.__file__).resolve())"
    proc = _run([str(installed.parent / "python"), "-c", code], user_dir, _env(user_dir))
    assert proc.returncode == 0, proc.stderr
    assert ROOT not in Path(proc.stdout.strip()).parents


def test_help_and_a_backtest_run_from_an_empty_directory(installed, user_dir):
    help_text = _run([str(installed), "--help"], user_dir, _env(user_dir))
    assert help_text.returncode == 0, help_text.stderr
    assert "backtest" in help_text.stdout and "status" in help_text.stdout

    data = ",".join(str(data_file(name)) for name in ("binance_btcusdt_1h_2019_2023.csv",))
    proc = _run(
        [str(installed), "backtest", "--data", data, "--policy", "one_to_one,unhedged", "--out", "report"],
        user_dir,
        _env(user_dir),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = json.loads((user_dir / "report" / "metrics.json").read_text())
    assert set(metrics["policies"]) == {"one_to_one", "unhedged"}


def test_status_reads_a_network_file_of_the_users_own(installed, user_dir, chain):
    write_network_file(chain.universe, user_dir / "my-network.toml")
    proc = _run([str(installed), "status", "--network", "./my-network.toml", "--json"], user_dir, _env(user_dir))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = json.loads(proc.stdout)
    assert status["account"] == chain.universe.demo_account


def test_shipped_network_files_are_found_by_name(installed, user_dir):
    proc = _run([str(installed), "status", "--network", "hyperevm"], user_dir, _env(user_dir))
    # Found (the installed copy under <venv>/share/hedger/networks) and refused only for want of an RPC URL.
    assert proc.returncode != 0
    assert "share/hedger/networks/hyperevm.toml" in proc.stdout + proc.stderr
    assert "HEDGER_RPC_HYPEREVM" in proc.stdout + proc.stderr


def test_commands_that_need_a_checkout_say_so(installed, user_dir):
    proc = _run([str(installed), "compile"], user_dir, _env(user_dir))
    assert proc.returncode != 0
    assert "checkout" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
