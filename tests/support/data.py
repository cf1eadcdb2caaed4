"""Where the real market history lives: ../shared/data beside the checkout, or HEDGER_DATA_DIR."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hedger.chain.toolchain import project_root

DATA_DIR = Path(os.environ.get("HEDGER_DATA_DIR", project_root().parent / "shared" / "data"))


def data_file(name: str) -> Path:
    """The file, or a skip where the data is absent; in CI its absence is a failure, never a skip."""
    path = DATA_DIR / name
    if not path.exists():
        message = f"{path} not found (set HEDGER_DATA_DIR)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(message)
        pytest.skip(message)
    return path
