"""The local-node interface every node kind implements: launch (fresh or forked), readiness, chain id,
clean stop, and the test helpers (snapshots, mining, time, balances, code, storage, impersonation,
automine, state dumps).

A node kind (Anvil, Ganache) says how to start its binary and how its RPC spells each helper; what is
common (the child process, ports, readiness, snapshots) lives here.

Ports: each launch takes a random port and holds an exclusive lock file for it while the node lives,
so parallel test workers (or parallel processes) never hand the same port to two nodes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Self

from web3 import Web3
from web3.providers import HTTPProvider
from web3.types import RPCEndpoint

from hedger.chain.nodes.forward import ForkForwarder, needs_forwarding
from hedger.errors import ChainIdMismatch, NodeError, NodeUnsupported

DEFAULT_CHAIN_ID = 31337
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
# The development accounts of DEFAULT_MNEMONIC (Anvil's and Hardhat's well-known public test keys,
# never for real funds); both node kinds derive them from the mnemonic.
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
LOCK_DIR = Path(tempfile.gettempdir()) / "hedger-node-ports"


@dataclass
class NodeConfig:
    """How to launch a node (of any kind).

    A fresh node gets `chain_id` (31337 by default). A fork (`fork_url`, optionally at `fork_block`)
    keeps the forked chain's id; `chain_id`, when given for a fork, is the id the fork must report.
    `accounts` dev accounts (of DEFAULT_MNEMONIC) get `balance_eth` each, on a fork too (0: none, so
    forked balances stay as they are). `extra_args` go to the node's binary as they are.
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

    @property
    def expected_chain_id(self) -> int | None:
        """The id the launched node must report (None: a fork's own, whatever it is)."""
        return self.chain_id or (None if self.fork_url else DEFAULT_CHAIN_ID)


@dataclass
class NodeProcess:
    """A node's child process, the port it listens on (and the lock that holds it), and its log."""

    process: subprocess.Popen
    port: int
    lock: IO[str]
    log_path: Path
    forwarder: ForkForwarder | None = None  # a fork's upstream, relayed so its URL stays off the command line

    def stop(self, grace_s: float) -> None:
        """SIGTERM, then SIGKILL after `grace_s`; releases the port (and stops the fork's forwarder)."""
        if self.forwarder is not None:
            self.forwarder.stop()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if not self.lock.closed:
            self.lock.close()
        with contextlib.suppress(FileNotFoundError):
            self.log_path.unlink()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


class LocalNode(ABC):
    """A local development node at a URL: ours (`launch`, a child process stopped by `stop` or the
    context manager) or someone else's (`attach`: brownie's, or `hedger chain up`'s)."""

    name: ClassVar[str]  # "Anvil", "Ganache": in messages
    client_prefix: ClassVar[str]  # how web3_clientVersion starts, lower case
    hardfork: ClassVar[str]  # the newest EVM version the node runs
    blocks_mined_at_fork: ClassVar[int] = 0  # a fork of block N starts at N + this

    def __init__(self, url: str, child: NodeProcess | None = None, config: NodeConfig | None = None):
        self.url, self.child, self.config = url, child, config or NodeConfig()
        self.w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 60}))

    # --- launch and lifetime -------------------------------------------------------------------

    @classmethod
    def attach(cls, url: str) -> Self:
        """The node of this kind that answers at `url` (NodeError if none does)."""
        node = cls(url)
        try:
            client = str(node.rpc("web3_clientVersion"))
        except Exception as error:
            raise NodeError(f"no {cls.name} node answers at {url}: {error}") from error
        if not client.lower().startswith(cls.client_prefix):
            raise NodeError(f"the node at {url} is {client}, not {cls.name}")
        return node

    @classmethod
    def launch(cls, config: NodeConfig | None = None, timeout_s: float = 30.0, attempts: int = 3) -> Self:
        """Start a node and wait until it answers with the expected chain id."""
        config = config or NodeConfig()
        last_error: NodeError | None = None
        for _ in range(attempts):
            forwarder = (
                ForkForwarder(config.fork_url) if config.fork_url and needs_forwarding(config.fork_url) else None
            )
            command = cls.command(dataclasses.replace(config, fork_url=forwarder.url) if forwarder else config)
            port, lock = reserve_port(config.port)
            log_path = Path(tempfile.mkstemp(prefix=f"{cls.name.lower()}-{port}-", suffix=".log")[1])
            with open(log_path, "w") as log:
                process = subprocess.Popen(
                    [*command, *cls.port_args(port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            node = cls(f"http://127.0.0.1:{port}", NodeProcess(process, port, lock, log_path, forwarder), config)
            try:
                node._wait_ready(timeout_s)
                return node
            except ChainIdMismatch:
                node.stop()
                raise
            except NodeError as error:
                node.stop()
                last_error = error
        assert last_error is not None
        raise last_error

    @classmethod
    @abstractmethod
    def command(cls, config: NodeConfig) -> list[str]:
        """The node's command line for `config`, without the listening address (NodeUnsupported for
        what this node kind cannot do)."""

    @classmethod
    @abstractmethod
    def port_args(cls, port: int) -> list[str]:
        """The arguments that make the node listen on 127.0.0.1:`port`."""

    def _wait_ready(self, timeout_s: float) -> None:
        child = self._own_child()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise NodeError(
                    f"{self.name} exited with code {child.process.returncode} before it was ready:\n{child.log_tail()}"
                )
            try:
                chain_id = self.chain_id()
            except Exception:
                time.sleep(0.05)
                continue
            expected = self.config.expected_chain_id
            if expected is not None and chain_id != expected:
                raise ChainIdMismatch(expected, chain_id, f"{self.name} launch on port {child.port}")
            return
        raise NodeError(
            f"{self.name} did not answer on port {child.port} within {timeout_s:.0f} s:\n{child.log_tail()}"
        )

    def _own_child(self) -> NodeProcess:
        if self.child is None:
            raise NodeError(f"the {self.name} node at {self.url} was attached to, not launched by hedger")
        return self.child

    @property
    def port(self) -> int:
        return self._own_child().port

    @property
    def owned(self) -> bool:
        """True for a node hedger launched (it stops with `stop`), False for one attached to."""
        return self.child is not None

    @property
    def alive(self) -> bool:
        return self._own_child().process.poll() is None

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop a node of ours (SIGTERM, then SIGKILL after `grace_s`) and release its port."""
        self._own_child().stop(grace_s)

    def log_tail(self, lines: int = 30) -> str:
        return self._own_child().log_tail(lines)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- RPC helpers ----------------------------------------------------------------------------

    def rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(RPCEndpoint(method), list(params))
        if "error" in response:
            raise NodeError(f"{method} failed: {response['error']}")
        return response.get("result")

    def chain_id(self) -> int:
        return int(self.rpc("eth_chainId"), 16)

    def snapshot(self) -> str:
        return self.rpc("evm_snapshot")

    def revert(self, snapshot_id: str) -> None:
        if not self.rpc("evm_revert", snapshot_id):
            raise NodeError(f"evm_revert to snapshot {snapshot_id} failed")

    def increase_time(self, seconds: int, mine: bool = True) -> None:
        self.rpc("evm_increaseTime", hex(seconds))
        if mine:
            self.mine()

    @abstractmethod
    def mine(self, blocks: int = 1) -> None:
        """Mine `blocks` blocks now (with what is pending in the first)."""

    @abstractmethod
    def set_next_block_timestamp(self, timestamp: int) -> None:
        """The next block (mined by `mine` or by the next transaction) gets exactly `timestamp`."""

    @abstractmethod
    def set_automine(self, enabled: bool) -> None:
        """On: every transaction is mined at once. Off: transactions wait until `mine`."""

    @abstractmethod
    def set_balance(self, address: str, wei: int) -> None: ...

    @abstractmethod
    def set_code(self, address: str, code: str | bytes) -> None: ...

    @abstractmethod
    def set_storage_at(self, address: str, slot: int, value: int) -> None: ...

    @abstractmethod
    def impersonate(self, address: str) -> None:
        """Let the node sign for `address` (eth_sendTransaction from it), no key needed."""

    @abstractmethod
    def stop_impersonating(self, address: str) -> None: ...

    def dump_state(self) -> str:
        """The whole chain state as the node's own dump (restore with `load_state`)."""
        raise self._unsupported("state dumps")

    def load_state(self, dump: str) -> None:
        raise self._unsupported("state loads")

    def save_state(self, path: Path) -> None:
        """Write a state file that `NodeConfig(load_state=path)` starts from."""
        raise self._unsupported("state files")

    @classmethod
    def _unsupported(cls, what: str) -> NodeUnsupported:
        return NodeUnsupported(f"{cls.name} has no {what}", "use Anvil for this (`--node anvil`, the default)")


def hex_code(code: str | bytes) -> str:
    return code if isinstance(code, str) else "0x" + code.hex()


def word(value: int) -> str:
    """`value` as a 32-byte, zero-padded hex word."""
    return "0x" + value.to_bytes(32, "big").hex()


def reserve_port(wanted: int | None = None) -> tuple[int, IO[str]]:
    """A free port (`wanted`, or a random one) and an exclusive lock on it, held until the node stops."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    rng = random.Random(os.urandom(8))
    for _ in range(1 if wanted else 200):
        port = wanted or rng.randint(*_PORT_RANGE)
        lock = open(LOCK_DIR / f"{port}.lock", "w")  # noqa: SIM115 - held open while the node lives
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        if port_is_free(port):
            return port, lock
        lock.close()
    if wanted:
        raise NodeError(f"port {wanted} is in use", "stop what listens there, or choose another port with --port")
    raise NodeError("no free local port found for a node after 200 tries")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the nodes bind: SO_REUSEADDR lets a port in TIME_WAIT count as free, a listening one does not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
