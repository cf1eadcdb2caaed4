"""Compile the Solidity sources under contracts/ with solc-js, and deploy what they define.

Compilation goes through solc's standard-JSON interface (tools/solc.js, pinned solc-js from npm),
optimizer on. Artifacts land in build/hedger/ (git-ignored), one JSON per contract. A source is
recompiled only when it, one of the files it imports, or the compiler settings changed: each
source's hash covers its own text and, transitively, everything it imports.

Contracts of npm packages (the real Chainlink proxy) are compiled from node_modules, not copied:
contracts/dependencies.toml names each source, the contracts to keep from it and the solc-js package
(an npm alias pinned in package-lock.json) whose version its pragma asks for.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import subprocess
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract

from hedger.chain.toolchain import find_node, project_root, solc_script
from hedger.errors import CompileError, ToolchainError

# One EVM target for every local node kind: shanghai, the newest Ganache runs (Anvil runs it too). cancun
# would let solc emit MCOPY, which Ganache rejects; no contract needs cancun (no transient storage,
# blobs or explicit mcopy).
EVM_VERSION = "shanghai"
SOLC_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": EVM_VERSION,
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}
_IMPORT = re.compile(r"""^\s*import\s+(?:[^"';]*\sfrom\s+)?["']([^"']+)["']""", re.MULTILINE)
_COMPILE_TIMEOUT_S = 600
DEPENDENCIES_FILE = "contracts/dependencies.toml"


@dataclass(frozen=True)
class Artifact:
    """What hedger keeps of one compiled contract."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    source_hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "contractName": self.name,
            "sourceName": self.source,
            "abi": self.abi,
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
            "sourceHash": self.source_hash,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        return cls(
            data["contractName"],
            data["sourceName"],
            data["abi"],
            data["bytecode"],
            data["deployedBytecode"],
            data["sourceHash"],
        )


@dataclass(frozen=True)
class Dependency:
    """A source of an npm package under node_modules, compiled by the solc-js package `compiler`."""

    source: str  # its import path, e.g. @chainlink/contracts/src/v0.6/EACAggregatorProxy.sol
    contracts: tuple[str, ...]
    compiler: str  # a solc-js package in node_modules, e.g. solc-0.6.6 (npm:solc@0.6.6)

    @property
    def key(self) -> str:
        return f"dependency:{self.source}"

    def package_version(self, root: Path) -> str:
        """The installed version of the package the source belongs to (its package.json)."""
        parts = self.source.split("/")
        package = "/".join(parts[:2] if parts[0].startswith("@") else parts[:1])
        manifest = root / "node_modules" / package / "package.json"
        if not manifest.is_file():
            raise ToolchainError(f"{package} is not installed under {root / 'node_modules'}", "run `make setup`")
        return str(json.loads(manifest.read_text())["version"])


def dependencies(root: Path) -> list[Dependency]:
    """The npm contracts contracts/dependencies.toml asks for (none without the file)."""
    path = root / DEPENDENCIES_FILE
    if not path.is_file():
        return []
    entries = tomllib.loads(path.read_text()).get("dependency", [])
    return [Dependency(e["source"], tuple(e["contracts"]), e["compiler"]) for e in entries]


class SourceTree:
    """The .sol files under a contracts directory, their imports and their transitive hashes."""

    def __init__(self, root: Path, contracts_dir: str = "contracts"):
        self.root = root
        self.paths = sorted(p.relative_to(root).as_posix() for p in (root / contracts_dir).rglob("*.sol"))
        self.text = {p: (root / p).read_text() for p in self.paths}
        self._hashes: dict[str, str] = {}

    def imports(self, source: str) -> list[str]:
        base = Path(source).parent
        resolved = []
        for target in _IMPORT.findall(self.text[source]):
            path = (base / target) if target.startswith(".") else Path(target)
            resolved.append(Path(*_normalise(path.parts)).as_posix())
        return resolved

    def closure(self, sources: list[str]) -> list[str]:
        """The sources plus everything they import, transitively."""
        seen: set[str] = set()
        stack = list(sources)
        while stack:
            source = stack.pop()
            if source in seen:
                continue
            if source not in self.text:
                raise CompileError([(source, 0, "imported file not found under contracts/")])
            seen.add(source)
            stack.extend(self.imports(source))
        return sorted(seen)

    def source_hash(self, source: str) -> str:
        if source not in self._hashes:
            self._hashes[source] = ""  # guards against import cycles
            digest = hashlib.sha256(self.text[source].encode())
            digest.update(json.dumps(SOLC_SETTINGS, sort_keys=True).encode())
            digest.update(compiler_version().encode())
            for dependency in sorted(self.imports(source)):
                if dependency in self.text:
                    digest.update(self.source_hash(dependency).encode())
            self._hashes[source] = digest.hexdigest()
        return self._hashes[source]


def _normalise(parts: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for part in parts:
        if part == "..":
            if out:
                out.pop()
        elif part != ".":
            out.append(part)
    return out


def build_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "build" / "hedger"


@cache
def compiler_version(package: str = "solc") -> str:
    """The version string of a solc-js package in node_modules, e.g. 0.8.30+commit.73712a01."""
    out = _run_solc(["--version", "--solc", package], None)
    match = re.search(r"Version:\s*(\S+)", out)
    if not match:
        raise ToolchainError(f"unexpected solc --version output: {out!r}")
    return match.group(1)


def _run_solc(args: list[str], stdin: str | None) -> str:
    root = project_root()
    try:
        proc = subprocess.run(
            [str(find_node()), str(solc_script()), *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=root,
            timeout=_COMPILE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(f"solc-js did not finish within {_COMPILE_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        raise ToolchainError(f"solc-js failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def compile_contracts(root: Path | None = None, force: bool = False) -> dict[str, Artifact]:
    """Compile what changed under contracts/ and return every contract's artifact by name."""
    root = root or project_root()
    out_dir = build_dir(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers compile one at a time
        tree = SourceTree(root)
        index_path = out_dir / "index.json"
        index = json.loads(index_path.read_text()) if index_path.exists() and not force else {}
        stale = [p for p in tree.paths if not _up_to_date(index.get(p), tree.source_hash(p), out_dir)]
        if stale:
            index.update(_compile(tree, stale, out_dir))
        for dependency in dependencies(root):
            digest = _dependency_hash(dependency, root)
            if not _up_to_date(index.get(dependency.key), digest, out_dir):
                index[dependency.key] = _compile_dependency(dependency, digest, root, out_dir)
        index = {p: index[p] for p in [*tree.paths, *(d.key for d in dependencies(root))]}
        _check_unique_names(index)
        index_path.write_text(json.dumps(index, indent=1, sort_keys=True))
    return {name: load_artifact(name, root) for entry in index.values() for name in entry["contracts"]}


def _up_to_date(entry: dict[str, Any] | None, source_hash: str, out_dir: Path) -> bool:
    return (
        entry is not None
        and entry["hash"] == source_hash
        and all((out_dir / f"{name}.json").exists() for name in entry["contracts"])
    )


def _compile(tree: SourceTree, stale: list[str], out_dir: Path) -> dict[str, dict[str, Any]]:
    settings = dict(SOLC_SETTINGS)
    settings["outputSelection"] = {p: SOLC_SETTINGS["outputSelection"]["*"] for p in stale}
    request = {
        "language": "Solidity",
        "sources": {p: {"content": tree.text[p]} for p in tree.closure(stale)},
        "settings": settings,
    }
    output = json.loads(_run_solc(["--standard-json"], json.dumps(request)))
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError([_locate(e, tree) for e in errors])
    index: dict[str, dict[str, Any]] = {}
    for source in stale:
        names = []
        for name, data in output.get("contracts", {}).get(source, {}).items():
            artifact = Artifact(
                name,
                source,
                data["abi"],
                "0x" + data["evm"]["bytecode"]["object"],
                "0x" + data["evm"]["deployedBytecode"]["object"],
                tree.source_hash(source),
            )
            (out_dir / f"{name}.json").write_text(json.dumps(artifact.to_json(), indent=1))
            names.append(name)
        index[source] = {"hash": tree.source_hash(source), "contracts": sorted(names)}
    load_artifact.cache_clear()
    return index


def _dependency_hash(dependency: Dependency, root: Path) -> str:
    """The package's installed version pins the source and everything it imports."""
    digest = hashlib.sha256(dependency.source.encode())
    digest.update(dependency.package_version(root).encode())
    digest.update(compiler_version(dependency.compiler).encode())
    digest.update(json.dumps([SOLC_SETTINGS["optimizer"], dependency.contracts]).encode())
    return digest.hexdigest()


def _compile_dependency(dependency: Dependency, digest: str, root: Path, out_dir: Path) -> dict[str, Any]:
    """Compile one npm source with its own solc-js (imports resolved in node_modules); keep the named contracts."""
    path = root / "node_modules" / dependency.source
    if not path.is_file():
        raise ToolchainError(f"{dependency.source} is not under {root / 'node_modules'}", "run `make setup`")
    request = {
        "language": "Solidity",
        "sources": {dependency.source: {"content": path.read_text()}},
        "settings": {  # the old compiler's default EVM version: it knows no shanghai
            "optimizer": SOLC_SETTINGS["optimizer"],
            "outputSelection": {dependency.source: SOLC_SETTINGS["outputSelection"]["*"]},
        },
    }
    args = ["--standard-json", "--solc", dependency.compiler, "--base-path", str(root / "node_modules")]
    output = json.loads(_run_solc(args, json.dumps(request)))
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError([(dependency.source, 0, e.get("formattedMessage", e.get("message", ""))) for e in errors])
    compiled = output.get("contracts", {}).get(dependency.source, {})
    missing = [name for name in dependency.contracts if name not in compiled]
    if missing:
        raise CompileError([(dependency.source, 0, f"defines no contract {', '.join(missing)}")])
    for name in dependency.contracts:
        data = compiled[name]
        artifact = Artifact(
            name,
            dependency.source,
            data["abi"],
            "0x" + data["evm"]["bytecode"]["object"],
            "0x" + data["evm"]["deployedBytecode"]["object"],
            digest,
        )
        (out_dir / f"{name}.json").write_text(json.dumps(artifact.to_json(), indent=1))
    load_artifact.cache_clear()
    return {"hash": digest, "contracts": sorted(dependency.contracts)}


def _locate(error: dict[str, Any], tree: SourceTree) -> tuple[str, int, str]:
    location = error.get("sourceLocation") or {}
    file = location.get("file", "<unknown>")
    start = location.get("start", -1)
    line = tree.text[file].count("\n", 0, start) + 1 if file in tree.text and start >= 0 else 0
    return file, line, error.get("message", error.get("formattedMessage", "")).strip()


def _check_unique_names(index: dict[str, dict[str, Any]]) -> None:
    owners: dict[str, str] = {}
    for source, entry in index.items():
        for name in entry["contracts"]:
            if name in owners:
                raise CompileError([(source, 0, f"contract name {name} is also defined in {owners[name]}")])
            owners[name] = source


@cache
def load_artifact(name: str, root: Path | None = None) -> Artifact:
    path = build_dir(root) / f"{name}.json"
    if not path.exists():
        raise ToolchainError(f"no compiled artifact for {name} at {path}", "run `make setup` or `hedger compile`")
    return Artifact.from_json(json.loads(path.read_text()))


def deploy(w3: Web3, name: str, *args: Any, sender: str) -> Contract:
    """Deploy a compiled contract from an account the node holds (a local chain's dev account)."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor(*args).transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    address = receipt["contractAddress"]
    if receipt["status"] != 1 or address is None:
        raise ToolchainError(f"deploying {name} reverted (tx {tx_hash.hex()})")
    return w3.eth.contract(address=address, abi=artifact.abi)


def at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract object for a compiled contract at an address."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)
