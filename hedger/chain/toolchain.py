"""Where hedger finds its project files and Node tools (Anvil, Ganache, solc-js)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hedger.errors import ToolchainError


def checkout_root() -> Path | None:
    """The hedger checkout this package runs from (HEDGER_PROJECT_ROOT, else the source tree around the
    package when it is one), or None for an installed wheel."""
    explicit = os.environ.get("HEDGER_PROJECT_ROOT")
    if explicit:
        return Path(explicit).resolve()
    tree = Path(__file__).resolve().parents[2]
    return tree if (tree / "pyproject.toml").is_file() and (tree / "contracts").is_dir() else None


def project_root() -> Path:
    """The hedger checkout, for what needs its files (contract sources, Node tools, build/)."""
    root = checkout_root()
    if root is None:
        raise ToolchainError(
            "this needs a hedger checkout (contract sources, solc-js, Anvil), and hedger runs from an installed wheel",
            "run it from a clone of hedger after `make setup`, or set HEDGER_PROJECT_ROOT to such a clone",
        )
    return root


def find_anvil() -> Path:
    """Anvil from HEDGER_ANVIL, else node_modules/.bin (npm's @foundry-rs/anvil-<platform> package:
    the real binary, no wrapper), else PATH."""
    explicit = os.environ.get("HEDGER_ANVIL")
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ToolchainError(
                f"HEDGER_ANVIL={explicit} is not an executable file",
                "point HEDGER_ANVIL at an anvil binary, or unset it to use the one `make setup` installs",
            )
        return path
    root = project_root()
    candidate = root / "node_modules" / ".bin" / "anvil"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise ToolchainError(
        f"Anvil not found (looked at HEDGER_ANVIL, {root / 'node_modules'}, and PATH)",
        "run `make setup` (npm ci installs @foundry-rs/anvil-linux-amd64), or set HEDGER_ANVIL to an anvil binary"
        " (other platforms: npm install @foundry-rs/anvil-<os>-<arch>, or Foundry's own installer)",
    )


def find_ganache() -> Path:
    """Ganache's command-line script (npm's `ganache`, run with node) from HEDGER_GANACHE, else node_modules."""
    explicit = os.environ.get("HEDGER_GANACHE")
    if explicit:
        if not Path(explicit).is_file():
            raise ToolchainError(
                f"HEDGER_GANACHE={explicit} is not a file",
                "point HEDGER_GANACHE at ganache's dist/node/cli.js, or unset it to use the one `make setup` installs",
            )
        return Path(explicit)
    script = project_root() / "node_modules" / "ganache" / "dist" / "node" / "cli.js"
    if not script.is_file():
        raise ToolchainError(f"Ganache not found at {script}", "run `make setup` (npm ci installs ganache 7.9.2)")
    return script


def find_node() -> Path:
    node = shutil.which("node")
    if not node:
        raise ToolchainError("node not found on PATH", "install Node.js 18 or newer, then run `make setup`")
    return Path(node)


def solc_script() -> Path:
    """The solc-js front end (tools/solc.js) that speaks solc's --version / --standard-json."""
    root = project_root()
    script = root / "tools" / "solc.js"
    if not (root / "node_modules" / "solc" / "package.json").is_file():
        raise ToolchainError(f"solc-js is not installed under {root / 'node_modules'}")
    return script
