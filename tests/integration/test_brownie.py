"""The repository as a brownie project: `brownie compile` through the solc shim, and
`brownie run scripts/deploy_local.py` on brownie's development network (an Anvil that brownie launches).

brownie lives in .venv-brownie (`make setup-brownie`), and these tests drive it as subprocesses, as a
user would. Each module run gives brownie a HOME of its own (brownie keeps its network list in
~/.brownie) whose development network listens on a free port, so a `hedger chain up` on 8545 or a
parallel test run is never touched. Without .venv-brownie the tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import ast
import fcntl
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hedger.chain.contracts import EVM_VERSION, compile_contracts, dependencies
from hedger.chain.nodes import Anvil, reserve_port
from hedger.chain.toolchain import project_root
from hedger.chain.universe import Universe, deploy_universe
from tools.brownie_view import project_dir

ROOT = project_root()
BROWNIE = ROOT / ".venv-brownie" / "bin" / "brownie"
LOCAL_TOML = ROOT / "networks" / "local.toml"
TIMEOUT_S = 180
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.anvil_only(
        "brownie's development network is the Anvil brownie launches itself: --node does not reach it"
    ),
]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def run_brownie(home: Path, *args: str) -> tuple[int, str]:
    """Run brownie in the repository; returns its exit code and its output without colours.

    brownie cannot import scripts from a path with a dot, so from such a checkout it runs in
    a view of the project (tools/brownie_view.py). brownie writes build/contracts on every project load
    that finds a change, so brownie runs in this repository (parallel test workers) take turns.
    """
    env = dict(os.environ, HOME=str(home))
    env.pop("SOLCX_BINARY_PATH", None)  # the venv's start-up hook points it at build/solcx
    (ROOT / "build").mkdir(exist_ok=True)
    with open(ROOT / "build" / ".brownie-test.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(
            [str(BROWNIE), *args],
            cwd=project_dir(ROOT),
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    return proc.returncode, _ANSI.sub("", proc.stdout + proc.stderr)


@pytest.fixture(scope="module")
def brownie_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """A HOME for brownie whose development network (Anvil) uses a free port; yields (home, port)."""
    if not BROWNIE.exists():
        reason = f"{BROWNIE.relative_to(ROOT)} not found: run `make setup-brownie`"
        if _in_ci():
            pytest.fail(f"{reason} (CI is set: the brownie tests must run, and `make test` sets brownie up)")
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("brownie-home")
    port, port_lock = reserve_port()  # held while the module runs: hedger's own nodes keep off it
    try:
        code, out = run_brownie(home, "networks", "modify", "development", f"port={port}")
        assert code == 0, out
        yield home, port
    finally:
        port_lock.close()


@pytest.fixture(scope="module")
def fresh_universe() -> Iterator[Universe]:
    """The reference universe as hedger deploys it on a fresh Anvil of its own."""
    with Anvil.launch() as node:
        yield deploy_universe(node)


def test_brownie_compiles_every_contract_through_the_solc_shim(brownie_home):
    home, _ = brownie_home
    # hedger's own artifacts (build/hedger), to compare with; npm dependencies (contracts/dependencies.toml)
    # are compiled from node_modules by their own solc, not by brownie
    external = {name for dependency in dependencies(ROOT) for name in dependency.contracts}
    ours = {name: a for name, a in compile_contracts().items() if name not in external}
    started = time.time()
    code, out = run_brownie(home, "compile", "--all")
    assert code == 0, out
    assert "Solc version: 0.8.30" in out
    assert "Optimizer: Enabled  Runs: 200" in out
    assert f"EVM Version: {EVM_VERSION.capitalize()}" in out
    assert "Project has been compiled" in out

    build = ROOT / "build" / "contracts"
    assert {p.stem for p in build.glob("*.json")} >= set(ours)
    for name, artifact in ours.items():
        path = build / f"{name}.json"
        assert path.stat().st_mtime >= started - 1, f"{path} was not rewritten by `brownie compile --all`"
        data = json.loads(path.read_text())
        assert data["contractName"] == name
        assert data["sourcePath"] == artifact.source
        assert data["compiler"]["version"].startswith("0.8.30+commit.")
        assert data["compiler"]["evm_version"] == EVM_VERSION
        assert data["compiler"]["optimizer"] == {"enabled": True, "runs": 200}
        assert data["abi"] == artifact.abi, name
        # Same compiler, settings and source paths: byte for byte hedger's code, metadata hash included.
        assert "0x" + data["bytecode"] == artifact.bytecode, name
        assert "0x" + data["deployedBytecode"] == artifact.deployed_bytecode, name
    assert len(json.loads((build / "PerpMarket.json").read_text())["deployedBytecode"]) > 10_000


def test_brownie_run_deploy_local_on_brownies_own_anvil(brownie_home, fresh_universe):
    home, port = brownie_home
    before = LOCAL_TOML.read_bytes() if LOCAL_TOML.exists() else None

    code, out = run_brownie(home, "run", "scripts/deploy_local.py")

    assert code == 0, out
    assert re.search(rf"Launching 'anvil [^']*--port {port}\b", out), out
    assert "Running 'scripts/deploy_local.py::main'" in out
    head = re.search(r"Reference universe on (\S+) \(chain (\d+)\): PerpMarket (0x[0-9a-fA-F]{40})", out)
    assert head, out
    assert head.group(1) == f"http://127.0.0.1:{port}"
    assert int(head.group(2)) == 31337
    # A fresh chain and the same deployer: the addresses hedger's own deployment gets on a fresh node.
    assert head.group(3) == fresh_universe.perp_market
    tokens = ast.literal_eval(re.search(r"^Tokens (\{.*\})$", out, re.MULTILINE).group(1))
    assert tokens == fresh_universe.tokens
    assert set(tokens) == {"USDC", "WETH", "WBTC"}
    markets = re.search(r"^Markets (\{.*\}); demo account (0x[0-9a-fA-F]{40})$", out, re.MULTILINE)
    assert ast.literal_eval(markets.group(1)) == fresh_universe.market_ids == {"ETH": 1, "BTC": 2}
    assert markets.group(2) == fresh_universe.demo_account

    # brownie launched that chain and stopped it: no networks/local.toml for a chain that is gone.
    assert "a throwaway chain" in out
    assert "Terminating local RPC client" in out
    assert (LOCAL_TOML.read_bytes() if LOCAL_TOML.exists() else None) == before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_deploy_local_runs_with_plain_python_on_a_throwaway_anvil(fresh_universe):
    before = LOCAL_TOML.read_bytes() if LOCAL_TOML.exists() else None
    port, port_lock = reserve_port()  # a port where nothing answers: the script launches its own Anvil
    try:
        env = dict(os.environ, HEDGER_RPC_LOCAL=f"http://127.0.0.1:{port}")
        proc = subprocess.run(
            [sys.executable, "scripts/deploy_local.py"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    finally:
        port_lock.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    head = re.search(r"Reference universe on (\S+) \(chain 31337\): PerpMarket (0x[0-9a-fA-F]{40})", proc.stdout)
    assert head, proc.stdout
    assert head.group(1) != f"http://127.0.0.1:{port}"
    assert head.group(2) == fresh_universe.perp_market
    assert "a throwaway chain" in proc.stdout
    assert (LOCAL_TOML.read_bytes() if LOCAL_TOML.exists() else None) == before


def test_brownie_runs_a_hedge_and_the_keeper_on_its_own_anvil(brownie_home):
    home, _ = brownie_home
    code, out = run_brownie(home, "run", "scripts/hedge_once.py")
    assert code == 0, out
    assert "Running 'scripts/hedge_once.py::main'" in out
    for line in ("done          add_collateral reference:USDC", "done          open reference:ETH",
                 "done          open reference:BTC"):  # fmt: skip
        assert line in out, out
    assert re.search(r"ETH\s+0\.000000 → -11\.000000\s+11\.000000 → -0\.0\d+\s+0\.0% → 100\.0%", out), out

    code, out = run_brownie(home, "run", "scripts/keeper.py", "main", "2")
    assert code == 0, out
    cycles = re.findall(r"^block \d+: allow; (.*)$", out, re.MULTILINE)
    assert cycles[0].startswith("done add_collateral USDC, done open BTC, done open ETH"), out
    assert cycles[1] == "nothing to do"
