"""Local Anvil nodes: launch (fresh or forked), readiness, clean stop, state dumps, and test helpers.

Ports: each launch takes a random port and holds an exclusive lock file for it while the node
lives, so parallel test workers (or parallel processes) never hand the same port to two nodes.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from web3 import Web3
from web3.providers import HTTPProvider
from web3.types import RPCEndpoint

from hedger.chain.toolchain import find_anvil
from hedger.errors import AnvilError, ChainIdMismatch

DEFAULT_CHAIN_ID = 31337
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
# Anvil's well-known development accounts (public test keys, never for real funds).
DEV_ACCOUNTS: tuple[tuple[str, str], ...] = (
    (
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ),
    (
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    ),
    (
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    ),
    (
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    ),
    (
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    ),
    (
        "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
        "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    ),
)
_PORT_RANGE = (20000, 59999)
_LOCK_DIR = Path(tempfile.gettempdir()) / "hedger-anvil-ports"


@dataclass
class AnvilConfig:
    """How to launch a node.

    A fresh node gets `chain_id` (31337 by default). A fork (`fork_url`, optionally at `fork_block`)
    keeps the forked chain's id; `chain_id`, when given for a fork, is the id the fork must report.
    """

    chain_id: int | None = None
    port: int | None = None
    fork_url: str | None = None
    fork_block: int | None = None
    block_time: float | None = None
    load_state: Path | None = None
    accounts: int = 10
    balance_eth: int = 10_000
    code_size_limit_disabled: bool = False
    extra_args: list[str] = field(default_factory=list)

    def args(self, port: int) -> list[str]:
        args = [
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--accounts",
            str(self.accounts),
            "--balance",
            str(self.balance_eth),
            "--mnemonic",
            DEFAULT_MNEMONIC,
        ]
        if self.fork_url:
            args += ["--fork-url", self.fork_url, "--no-rate-limit"]
            if self.fork_block is not None:
                args += ["--fork-block-number", str(self.fork_block)]
        if not self.fork_url:
            args += ["--chain-id", str(self.chain_id or DEFAULT_CHAIN_ID)]
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        if self.load_state:
            args += ["--load-state", str(self.load_state)]
        if self.code_size_limit_disabled:
            args.append("--disable-code-size-limit")
        return args + self.extra_args


class LocalNode:
    """RPC helpers (snapshots, time, balances, impersonation, code) for an Anvil node at a URL.

    `LocalNode.attach(url)` drives a node someone else started (brownie's, or `hedger chain up`'s);
    `Anvil.launch()` starts one of our own.
    """

    def __init__(self, url: str):
        self.url = url
        self.w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 60}))

    @classmethod
    def attach(cls, url: str) -> LocalNode:
        node = cls(url)
        try:
            node.rpc("anvil_nodeInfo")
        except Exception as error:
            raise AnvilError(f"no Anvil node answers at {url}: {error}") from error
        return node

    def rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(RPCEndpoint(method), list(params))
        if "error" in response:
            raise AnvilError(f"{method} failed: {response['error']}")
        return response.get("result")

    def snapshot(self) -> str:
        return self.rpc("evm_snapshot")

    def revert(self, snapshot_id: str) -> None:
        if not self.rpc("evm_revert", snapshot_id):
            raise AnvilError(f"evm_revert to snapshot {snapshot_id} failed")

    def mine(self, blocks: int = 1, interval_s: int | None = None) -> None:
        params = [hex(blocks)] + ([hex(interval_s)] if interval_s is not None else [])
        self.rpc("anvil_mine", *params)

    def increase_time(self, seconds: int, mine: bool = True) -> None:
        self.rpc("evm_increaseTime", hex(seconds))
        if mine:
            self.mine()

    def set_next_block_timestamp(self, timestamp: int) -> None:
        self.rpc("evm_setNextBlockTimestamp", hex(timestamp))

    def set_automine(self, enabled: bool) -> None:
        self.rpc("evm_setAutomine", enabled)

    def set_balance(self, address: str, wei: int) -> None:
        self.rpc("anvil_setBalance", Web3.to_checksum_address(address), hex(wei))

    def impersonate(self, address: str) -> None:
        self.rpc("anvil_impersonateAccount", Web3.to_checksum_address(address))

    def stop_impersonating(self, address: str) -> None:
        self.rpc("anvil_stopImpersonatingAccount", Web3.to_checksum_address(address))

    def set_code(self, address: str, code: str | bytes) -> None:
        hex_code = code if isinstance(code, str) else "0x" + code.hex()
        self.rpc("anvil_setCode", Web3.to_checksum_address(address), hex_code)

    def set_storage_at(self, address: str, slot: int, value: int) -> None:
        self.rpc(
            "anvil_setStorageAt", Web3.to_checksum_address(address), hex(slot), "0x" + value.to_bytes(32, "big").hex()
        )

    def dump_state(self) -> str:
        """The whole chain state as Anvil's hex-encoded dump (restore with `load_state`)."""
        return self.rpc("anvil_dumpState")

    def load_state(self, dump: str) -> None:
        if not self.rpc("anvil_loadState", dump):
            raise AnvilError("anvil_loadState refused the dump")

    def save_state(self, path: Path) -> None:
        """Write a state file that `AnvilConfig(load_state=path)` starts from."""
        path.write_bytes(gzip.decompress(bytes.fromhex(self.dump_state().removeprefix("0x"))))


class Anvil(LocalNode):
    """An Anvil child process of ours, with the LocalNode helpers. Use as a context manager."""

    def __init__(self, process: subprocess.Popen, port: int, lock: IO[str], log_path: Path, config: AnvilConfig):
        super().__init__(f"http://127.0.0.1:{port}")
        self.process, self.port, self._lock, self.log_path, self.config = process, port, lock, log_path, config

    @classmethod
    def launch(cls, config: AnvilConfig | None = None, timeout_s: float = 30.0, attempts: int = 3) -> Anvil:
        """Start a node and wait until it answers with the expected chain id."""
        config = config or AnvilConfig()
        binary = find_anvil()
        last_error: AnvilError | None = None
        for _ in range(attempts):
            port, lock = _reserve_port(config.port)
            log_path = Path(tempfile.mkstemp(prefix=f"anvil-{port}-", suffix=".log")[1])
            with open(log_path, "w") as log:
                process = subprocess.Popen(
                    [str(binary), *config.args(port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            node = cls(process, port, lock, log_path, config)
            try:
                node._wait_ready(timeout_s)
                return node
            except ChainIdMismatch:
                node.stop()
                raise
            except AnvilError as error:
                node.stop()
                last_error = error
        assert last_error is not None
        raise last_error

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AnvilError(
                    f"Anvil exited with code {self.process.returncode} before it was ready:\n{self.log_tail()}"
                )
            try:
                chain_id = int(self.rpc("eth_chainId"), 16)
            except Exception:
                time.sleep(0.05)
                continue
            expected = self.config.chain_id or (None if self.config.fork_url else DEFAULT_CHAIN_ID)
            if expected is not None and chain_id != expected:
                raise ChainIdMismatch(expected, chain_id, f"Anvil launch on port {self.port}")
            return
        raise AnvilError(f"Anvil did not answer on port {self.port} within {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s`; releases the port."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if not self._lock.closed:
            self._lock.close()
        with contextlib.suppress(FileNotFoundError):
            self.log_path.unlink()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def __enter__(self) -> Anvil:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _reserve_port(wanted: int | None = None) -> tuple[int, IO[str]]:
    """A free port (`wanted`, or a random one) and an exclusive lock on it, held until the node stops."""
    _LOCK_DIR.mkdir(parents=True, exist_ok=True)
    rng = random.Random(os.urandom(8))
    for _ in range(1 if wanted else 200):
        port = wanted or rng.randint(*_PORT_RANGE)
        lock = open(_LOCK_DIR / f"{port}.lock", "w")  # noqa: SIM115 - held open while the node lives
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        if _port_is_free(port):
            return port, lock
        lock.close()
    if wanted:
        raise AnvilError(f"port {wanted} is in use", "stop what listens there, or choose another port with --port")
    raise AnvilError("no free local port found for Anvil after 200 tries")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As Anvil binds: SO_REUSEADDR lets a port in TIME_WAIT count as free, a listening one does not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
