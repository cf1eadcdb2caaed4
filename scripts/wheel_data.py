"""Print the path of a data file shipped inside an installed Python package, without importing the package.

    .venv/bin/python scripts/wheel_data.py backtesting test/GOOG.csv

For data sets in wheels hedger may not import (backtesting is AGPL-3.0: hedger never imports it, it only reads
its test data by path when you pass that path on the command line). Nothing is copied.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def data_path(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)  # locates the package; does not execute it
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed: run `make setup` (it is a dev dependency)")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise SystemExit(f"{path} does not exist in the installed {package}")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(data_path(sys.argv[1], sys.argv[2]))
