"""A directory brownie can run this project from when the checkout's path cannot be imported.

brownie 1.22 imports a script by the dotted name of its absolute path (`/tmp/a.b/hedger/scripts/x.py`
becomes module `tmp.a.b.hedger.scripts.x`), so `brownie run` fails in a checkout with a dot anywhere in
its path (spaces and dashes import fine). A symlink does not help
(brownie resolves it), so the view is a real directory in the temporary directory with copies of what
brownie reads as sources (contracts/, interfaces/, scripts/, brownie-config.yaml, .env) and a symlink
to the checkout's build/ (brownie writes its artifacts there, where hedger and the tests find them).
Scripts import `hedger` from the brownie virtualenv, which points at the checkout.

    python tools/brownie_view.py        # prints the directory to `cd` into before `brownie run`

The copies are refreshed on every call; edit the checkout, never the view.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("contracts", "interfaces", "scripts")
FILES = ("brownie-config.yaml", ".env")


def importable(path: Path) -> bool:
    """Whether brownie can import a module under `path` (no part of it holds a dot)."""
    return not any("." in part for part in path.resolve().parts[1:])


def project_dir(root: Path = ROOT, base: Path | None = None) -> Path:
    """Where to run brownie for the project at `root`: `root` itself when brownie can import from it,
    else a view made (or refreshed) under `base` (default: the temporary directory)."""
    root = root.resolve()
    if importable(root):
        return root
    base = (base or Path(tempfile.gettempdir())).resolve()
    view = base / f"hedger_brownie_{hashlib.sha256(str(root).encode()).hexdigest()[:12]}"
    if not importable(view):
        raise SystemExit(
            f"brownie cannot import from {root} (a dot in the path) and the temporary directory "
            f"{base} has one too: set TMPDIR to a path without dots, or clone to such a path"
        )
    _refresh(root, view)
    return view


def _refresh(root: Path, view: Path) -> None:
    view.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        target = view / name
        if target.exists():
            shutil.rmtree(target)
        if (root / name).is_dir():
            shutil.copytree(root / name, target, ignore=shutil.ignore_patterns("__pycache__"))
    for name in FILES:
        if (root / name).exists():
            shutil.copy2(root / name, view / name)
    build = view / "build"
    (root / "build").mkdir(exist_ok=True)
    if not (build.is_symlink() and build.resolve() == (root / "build").resolve()):
        if build.is_symlink() or build.is_file():
            build.unlink()
        elif build.exists():
            shutil.rmtree(build)
        build.symlink_to(root / "build", target_is_directory=True)


if __name__ == "__main__":
    print(project_dir())
    sys.exit(0)
