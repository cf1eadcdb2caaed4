"""Compiling with solc-js: artifacts, recompiling only what changed, errors with file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hedger.chain.contracts import build_dir, compile_contracts
from hedger.errors import CompileError
from hedger.venues._abi import ABI_DIR

LIB = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
library Lib { function twice(uint256 x) internal pure returns (uint256) { return 2 * x; } }
"""
USER = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
import {Lib} from "./lib/Lib.sol";
contract User { function f(uint256 x) external pure returns (uint256) { return Lib.twice(x); } }
"""
ALONE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
contract Alone { uint256 public value = 1; }
"""


def project(tmp_path: Path) -> Path:
    (tmp_path / "contracts" / "lib").mkdir(parents=True)
    (tmp_path / "contracts" / "lib" / "Lib.sol").write_text(LIB)
    (tmp_path / "contracts" / "User.sol").write_text(USER)
    (tmp_path / "contracts" / "Alone.sol").write_text(ALONE)
    return tmp_path


def stamps(root: Path) -> dict[str, int]:
    return {p.stem: p.stat().st_mtime_ns for p in build_dir(root).glob("*.json") if p.stem != "index"}


def test_artifacts_hold_abi_bytecode_and_source_hash(tmp_path):
    artifacts = compile_contracts(project(tmp_path))
    assert set(artifacts) == {"Lib", "User", "Alone"}
    user = json.loads((build_dir(tmp_path) / "User.json").read_text())
    assert user["sourceName"] == "contracts/User.sol"
    assert [f["name"] for f in user["abi"]] == ["f"]
    assert user["bytecode"].startswith("0x60") and len(user["deployedBytecode"]) > 10
    assert len(user["sourceHash"]) == 64


def test_only_what_changed_is_recompiled(tmp_path):
    root = project(tmp_path)
    compile_contracts(root)
    before = stamps(root)
    compile_contracts(root)
    assert stamps(root) == before  # nothing changed, nothing rewritten

    (root / "contracts" / "lib" / "Lib.sol").write_text(LIB.replace("2 * x", "x + x"))
    compile_contracts(root)
    after = stamps(root)
    assert after["Alone"] == before["Alone"]
    assert after["Lib"] != before["Lib"] and after["User"] != before["User"]  # the importer follows its import


def test_compile_errors_name_the_file_and_line(tmp_path):
    root = project(tmp_path)
    (root / "contracts" / "Broken.sol").write_text(
        ALONE.replace("contract Alone", "contract Broken") + "\n\nfoo bar;\n"
    )
    with pytest.raises(CompileError) as error:
        compile_contracts(root)
    file, line, message = error.value.errors[0]
    assert (file, line) == ("contracts/Broken.sol", 6)
    assert message and "contracts/Broken.sol:6" in str(error.value)


def test_two_contracts_with_one_name_are_refused(tmp_path):
    root = project(tmp_path)
    (root / "contracts" / "lib" / "Alone.sol").write_text(ALONE)
    with pytest.raises(CompileError, match="Alone is also defined"):
        compile_contracts(root)


def test_the_shipped_reference_abi_is_the_compiled_one():
    """An installed hedger reads PerpMarket's ABI from package data (tools/ship_abis.py writes it)."""
    from tools.ship_abis import shipped_documents

    for stem, document in shipped_documents().items():
        shipped = json.loads((ABI_DIR / f"{stem}.json").read_text())
        assert shipped == document, f"hedger/venues/abi/{stem}.json is stale: run `.venv/bin/python tools/ship_abis.py`"
