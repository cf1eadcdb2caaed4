"""Make .venv-brownie a working brownie for this repository, with nothing to download at run time.

Run by `make setup-brownie` with the brownie venv's python, after `pip install -e .[brownie]`:

    .venv-brownie/bin/python tools/brownie_env.py

No native solc can be downloaded here, so brownie compiles through a shim: `build/solcx/solc-v<version>`,
a shell script that runs tools/solc.js (solc-js from node_modules). It answers `--version` like a
native solc and compiles `--standard-json`, which is all py-solc-x (brownie's compiler driver) asks
of a binary. py-solc-x looks for `solc-v<version>` in $SOLCX_BINARY_PATH, so that variable points at
build/solcx/ (inside the repo, git-ignored) instead of ~/.solcx.

brownie launches its development network as `anvil` from PATH; `.venv-brownie/hedger-bin/anvil` links
to the Anvil that hedger uses (node_modules, or HEDGER_ANVIL).

Both settings are made at interpreter start-up by a one-line `.pth` hook in the venv's site-packages,
so `.venv-brownie/bin/brownie ...` works with or without activating the venv; an explicit
SOLCX_BINARY_PATH in the environment still wins. Every step is idempotent: files are rewritten only
when their content changes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLCX_DIR = ROOT / "build" / "solcx"
SHIM_MARKER = "# hedger solc shim"
HOOK_MODULE = "hedger_brownie_env"


def main() -> int:
    venv = Path(sys.prefix)
    if venv == Path(sys.base_prefix):
        sys.exit("run this with the brownie virtualenv's python (.venv-brownie/bin/python), not a system python")
    node = shutil.which("node")
    if not node:
        sys.exit("node not found on PATH: install Node.js 18 or newer, then `make setup`")

    version = _solc_js_version(node)
    _check_config_version(version)
    shim = _install_shim(node, version)
    anvil = _install_anvil_link(venv)
    hook = _install_hook(venv, anvil.parent)
    _ensure_dotenv()
    _verify(version, shim, anvil)
    print(f"brownie: solc {version} -> {shim.relative_to(ROOT)} (solc-js), anvil -> {os.readlink(anvil)}")
    print(f"brownie: start-up hook {hook}")
    return 0


def _solc_js_version(node: str) -> str:
    """The base version of the pinned solc-js, e.g. 0.8.30."""
    out = subprocess.run(
        [node, str(ROOT / "tools" / "solc.js"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"Version:\s*(\d+\.\d+\.\d+)\+commit\.\w+", out)
    if not match:
        sys.exit(f"unexpected output of tools/solc.js --version: {out!r}")
    return match.group(1)


def _check_config_version(version: str) -> None:
    import yaml  # brownie depends on PyYAML

    config = yaml.safe_load((ROOT / "brownie-config.yaml").read_text())
    wanted = str(config["compiler"]["solc"]["version"])
    if wanted != version:
        sys.exit(
            f"brownie-config.yaml asks for solc {wanted} but node_modules has solc-js {version}: "
            "keep compiler.solc.version equal to package.json's solc"
        )


def _write_if_changed(path: Path, text: str, mode: int | None = None) -> None:
    if not path.exists() or path.read_text() != text:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        if mode is not None:
            tmp.chmod(mode)
        tmp.replace(path)
    elif mode is not None and (path.stat().st_mode & 0o777) != mode:
        path.chmod(mode)


def _install_shim(node: str, version: str) -> Path:
    SOLCX_DIR.mkdir(parents=True, exist_ok=True)
    for old in SOLCX_DIR.glob("solc-v*"):  # shims of an earlier solc-js pin
        if old.name != f"solc-v{version}" and SHIM_MARKER in old.read_text(errors="replace"):
            old.unlink()
    shim = SOLCX_DIR / f"solc-v{version}"
    script = ROOT / "tools" / "solc.js"
    text = (
        "#!/bin/sh\n"
        f"{SHIM_MARKER}: solc's --version / --standard-json through solc-js. Written by tools/brownie_env.py.\n"
        f'exec "{node}" "{script}" "$@"\n'
    )
    _write_if_changed(shim, text, 0o755)
    return shim


def _install_anvil_link(venv: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from hedger.chain.toolchain import find_anvil

    target = find_anvil().resolve()
    bin_dir = venv / "hedger-bin"
    bin_dir.mkdir(exist_ok=True)
    link = bin_dir / "anvil"
    if not (link.is_symlink() and os.readlink(link) == str(target)):
        tmp = bin_dir / "anvil.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        tmp.replace(link)
    return link


def _install_hook(venv: Path, bin_dir: Path) -> Path:
    site = Path(sysconfig.get_paths()["purelib"])
    module = (
        '"""Set up by hedger\'s tools/brownie_env.py: where brownie finds solc and anvil."""\n'
        "import os\n\n"
        f'os.environ.setdefault("SOLCX_BINARY_PATH", {str(SOLCX_DIR)!r})\n'
        f"_BIN = {str(bin_dir)!r}\n"
        'if _BIN not in os.environ.get("PATH", "").split(os.pathsep):\n'
        '    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")\n'
    )
    _write_if_changed(site / f"{HOOK_MODULE}.py", module)
    hook = site / f"{HOOK_MODULE}.pth"
    _write_if_changed(hook, f"import {HOOK_MODULE}\n")
    return hook


def _ensure_dotenv() -> None:
    """brownie-config.yaml names `.env` (git-ignored), and brownie refuses to load without it."""
    env = ROOT / ".env"
    if not env.exists():
        env.touch()
        print("brownie: created an empty .env (brownie-config.yaml loads it; put your own settings there)")


def _verify(version: str, shim: Path, anvil: Path) -> None:
    """In a fresh interpreter (so the start-up hook runs): py-solc-x finds the shim and reads its version,
    and `anvil` on PATH is ours."""
    check = (
        "import shutil\nfrom solcx import install, wrapper\n"
        f"exe = install.get_executable({version!r})\n"
        "print(exe, wrapper.get_solc_version(exe, with_commit_hash=True), shutil.which('anvil'), sep='\\n')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SOLCX_BINARY_PATH"}
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env, cwd="/")
    if out.returncode != 0:
        sys.exit(f"py-solc-x does not see the shim:\n{out.stderr}")
    exe, found_version, found_anvil = out.stdout.splitlines()  # paths may hold spaces
    if Path(exe) != shim or not found_version.startswith(version + "+commit.") or Path(found_anvil) != anvil:
        sys.exit(f"unexpected set-up: solc {exe} {found_version}, anvil {found_anvil}")


if __name__ == "__main__":
    sys.exit(main())
