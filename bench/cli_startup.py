"""Benchmark: `hedger status` as a whole process on a local chain (start, imports, connect, snapshot,
print), the median of N runs, beside `python -c pass` (the interpreter's own floor) and, when Foundry's
cast is on PATH, `cast call` of one view (a native client's floor). Also the import time of the command's
heaviest packages (`python -X importtime`), and whether web3/eth_account were imported (they must not be).

    .venv/bin/python bench/cli_startup.py [--runs 15]

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hedger.chain.anvil import Anvil
from hedger.chain.universe import deploy_universe, write_network_file

STATUS = ["status", "--network", "local", "--json"]
CLI = "import sys; from hedger.app.cli import main; sys.exit(main(sys.argv[1:]))"


def timed(command: list[str], env: dict[str, str], cwd: Path, runs: int) -> dict:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
        seconds.append(time.perf_counter() - started)
    return {"median_s": round(statistics.median(seconds), 4), "min_s": round(min(seconds), 4), "runs": runs}


def import_profile(env: dict[str, str], cwd: Path) -> dict:
    """Import time of one `hedger status` by top-level package (the sum of its modules' own times), heaviest first."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", CLI, *STATUS], env=env, cwd=cwd,
                          capture_output=True, text=True, check=True)  # fmt: skip
    by_package: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        own, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if own.isdigit():
            package = name.split(".")[0]
            by_package[package] = by_package.get(package, 0) + int(own)
    heaviest = sorted(by_package.items(), key=lambda kv: -kv[1])[:10]
    return {
        "total_ms": round(sum(by_package.values()) / 1000, 1),
        "by_package_ms": {name: round(us / 1000, 1) for name, us in heaviest},
        "imports_web3": "web3" in by_package,
        "imports_eth_account": "eth_account" in by_package,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with Anvil.launch() as node, tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        universe = deploy_universe(node)
        write_network_file(universe, work / "local.toml")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGER_")}
        env.update(HEDGER_NETWORKS_DIR=str(work), HEDGER_JOURNAL=str(work / "journal.sqlite"))
        status = timed([sys.executable, "-c", CLI, *STATUS], env, work, args.runs)
        floor = timed([sys.executable, "-c", "pass"], env, work, args.runs)
        result = {
            "benchmark": "cli_startup",
            "command": "hedger " + " ".join(STATUS),
            "hedger_status": status,
            "python_c_pass": floor,
            "imports": import_profile(env, work),
        }
        cast = shutil.which("cast")
        if cast:
            call = [cast, "call", "--rpc-url", node.url, universe.multicall, "getBlockNumber()(uint256)"]
            result["cast_call"] = timed(call, env, work, args.runs)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
