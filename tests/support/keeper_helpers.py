"""Helpers for the keeper's end-to-end scenarios (tests/integration/test_keeper*.py) and its benchmarks:
a keeper wired to the session chain in-process or as a `hedger keeper run` process, price moves that land
both oracle sources in one block, and a TCP proxy that can cut the RPC off."""

from __future__ import annotations

import contextlib
import copy
import http.client
import itertools
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import tomli_w
from eth_abi import encode as abi_encode
from eth_utils import abi_to_signature, function_signature_to_4byte_selector, get_abi_input_types

from hedger.app.keeper import Keeper, KeeperConfig
from hedger.app.session import Session
from hedger.app.telemetry import KeeperMetrics
from hedger.chain.connect import connect
from hedger.chain.nodes import DEV_ACCOUNTS
from hedger.chain.universe import network_document, to_units
from hedger.settings import NetworkConfig, parse_network
from hedger.testing import LocalChain

DEMO, DEMO_KEY = DEV_ACCOUNTS[1]
WAD = 10**18
FEED_UNIT = 10**8
MARKET_IDS = {"ETH": 1, "BTC": 2}
_RAW_POSITION = function_signature_to_4byte_selector("rawPosition(address,uint256)")


# ---------------------------------------------------------------------------------------------- configuration


def network_document_with(chain: LocalChain, async_orders: bool = False, **tables: dict) -> dict[str, Any]:
    """The universe's network document plus [strategy] / [execution] / [keeper] tables."""
    doc = copy.deepcopy(network_document(chain.universe))
    if async_orders:
        doc["venues"]["reference"]["async_orders"] = True
    doc.update({name: table for name, table in tables.items() if table})
    return doc


def network_with(chain: LocalChain, async_orders: bool = False, **tables: dict) -> NetworkConfig:
    return parse_network(network_document_with(chain, async_orders, **tables), "<keeper scenario>")


def write_network(doc: dict[str, Any], directory: Path, name: str = "local") -> Path:
    path = directory / f"{name}.toml"
    path.write_text(tomli_w.dumps(doc))
    return path


def open_keeper(chain: LocalChain, network: NetworkConfig, journal: Path, **config: Any) -> Keeper:
    """An in-process keeper for the demo account (HEDGER_PRIVATE_KEY must hold DEMO_KEY)."""
    w3 = connect(chain.node.url, network.chain_id)
    session = Session(network, w3, DEMO, chain.node.url, journal)
    settings = {"poll_interval_s": 0.05, "kill_switch_file": journal.parent / "STOP", **config}
    return Keeper(session, KeeperConfig(**settings), KeeperMetrics())


# ---------------------------------------------------------------------------------------------- chain moves


class RawRpc:
    """JSON-RPC over one kept-alive HTTP connection: the test side of a thousand-block run stays cheap."""

    def __init__(self, url: str):
        self.host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
        self.port = int(port)
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self.ids = itertools.count(1)

    def __call__(self, method: str, *params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": list(params)})
        try:
            reply = self._post(body)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            reply = self._post(body)  # the server dropped the idle connection (Ganache does): once more, anew
        if "error" in reply:
            raise AssertionError(f"{method} failed: {reply['error']}")
        return reply["result"]

    def _post(self, body: str) -> Any:
        try:
            self.connection.request("POST", "/", body, {"Content-Type": "application/json"})
            return json.loads(self.connection.getresponse().read())
        except (http.client.HTTPException, OSError):
            self.connection.close()  # the next request opens a new connection
            raise


_RAW: dict[str, RawRpc] = {}


def raw_rpc(chain: LocalChain) -> RawRpc:
    """The node's RawRpc (one per node URL and thread of use: the tests and benchmarks use one thread)."""
    if chain.node.url not in _RAW:
        _RAW[chain.node.url] = RawRpc(chain.node.url)
    return _RAW[chain.node.url]


def in_one_block(chain: LocalChain, calls: list, sender: str | None = None) -> int:
    """Send the calls with automine off and mine them together in one block; returns its number.

    Turning automine back on mines whatever else arrived meanwhile (a keeper's reaction) in the next
    block, as a live chain would. Raw JSON-RPC with fixed gas: thousands of blocks stay fast."""
    return mine_together(chain, calls, sender)[0]


def mine_together(chain: LocalChain, calls: list, sender: str | None = None) -> tuple[int, float]:
    """`in_one_block`, also returning `time.perf_counter()` at the moment the block was mined."""
    rpc = raw_rpc(chain)
    chain.node.set_automine(False)
    try:
        hashes = [send_call(chain, call, sender or chain.universe.deployer) for call in calls]
        chain.node.mine()
        mined_at = time.perf_counter()
    finally:
        chain.node.set_automine(True)
    receipts = [receipt(rpc, h) for h in hashes]
    assert all(r["status"] == "0x1" for r in receipts), receipts
    (block,) = {int(r["blockNumber"], 16) for r in receipts}
    return block, mined_at


def receipt(rpc: RawRpc, tx_hash: str) -> dict[str, Any]:
    """A transaction's receipt once the node serves it (Anvil can lag a moment behind its own mining)."""
    return wait_until(lambda: rpc("eth_getTransactionReceipt", tx_hash), 10, f"the receipt of {tx_hash}", 0.001)


def calldata(call) -> str:
    """The ABI-encoded call of a web3 contract function object."""
    selector = function_signature_to_4byte_selector(abi_to_signature(call.abi))
    return "0x" + (selector + abi_encode(get_abi_input_types(call.abi), call.args)).hex()


def send_call(chain: LocalChain, call, sender: str) -> str:
    tx = {"from": sender, "to": call.address, "data": calldata(call), "gas": hex(1_000_000)}
    return raw_rpc(chain)("eth_sendTransaction", tx)


def price_calls(chain: LocalChain, asset: str, price: Decimal | int, secondary: bool = True) -> list:
    answer = to_units(Decimal(price), 8)
    feeds = [f"{asset}/USD", f"{asset}/USD-2"] if secondary else [f"{asset}/USD"]
    return [chain.feed(name).functions.setAnswer(answer) for name in feeds]


def move_price(chain: LocalChain, asset: str, price: Decimal | int) -> int:
    """A genuine price move: both of the asset's sources publish `price` in the same block."""
    return in_one_block(chain, price_calls(chain, asset, price))


def position(chain: LocalChain, symbol: str, account: str = DEMO) -> Decimal:
    """The signed size of a position (rawPosition: readable even while the market's oracle is stale)."""
    data = _RAW_POSITION + abi_encode(["address", "uint256"], [account, MARKET_IDS[symbol]])
    result = raw_rpc(chain)("eth_call", {"to": chain.universe.perp_market, "data": "0x" + data.hex()}, "latest")
    return Decimal(int.from_bytes(bytes.fromhex(result[2:66]), "big", signed=True)) / WAD


def nonce(chain: LocalChain, account: str = DEMO) -> int:
    return int(raw_rpc(chain)("eth_getTransactionCount", account, "latest"), 16)


def orders_of(chain: LocalChain, account: str = DEMO, from_block: int = 0) -> list[dict]:
    """PositionModified events of an account (one per filled order), oldest first."""
    event = chain.perp.events.PositionModified()
    logs = chain.w3.eth.get_logs({"address": chain.perp.address, "fromBlock": from_block, "topics": [event.topic]})
    parsed = (event.process_log(log) for log in logs)
    return [{**e["args"], "blockNumber": e["blockNumber"], "transactionHash": "0x" + bytes(e["transactionHash"]).hex()}
            for e in parsed if e["args"]["account"] == account]  # fmt: skip


def transfer(chain: LocalChain, symbol: str, amount: Decimal | int, to: str, sender: str = DEMO) -> None:
    token = chain.token(symbol)
    units = to_units(Decimal(amount), token.functions.decimals().call())
    chain.transact(token.functions.transfer(to, units), sender)


def mint(chain: LocalChain, symbol: str, amount: Decimal | int, to: str = DEMO) -> None:
    token = chain.token(symbol)
    chain.transact(token.functions.mint(to, to_units(Decimal(amount), token.functions.decimals().call())))


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy (returned), or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


# ---------------------------------------------------------------------------------------------- a keeper process


def cli_env(directory: Path, **extra: str) -> dict[str, str]:
    """The environment of a `hedger` process on networks written to `directory`, with the demo key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGER_")}
    env.update(HEDGER_NETWORKS_DIR=str(directory), HEDGER_PRIVATE_KEY=DEMO_KEY, HEDGER_LOG_LEVEL="INFO",
               HEDGER_JOURNAL=str(directory / "journal.sqlite"))  # fmt: skip
    env.update(extra)
    return env


class KeeperProcess:
    """`hedger keeper run` as a child process; its JSON-lines log is collected as it is written."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path):
        self.process = subprocess.Popen(
            self.command(args), env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @staticmethod
    def command(args: list[str]) -> list[str]:
        return [sys.executable, "-m", "hedger.app.cli", "keeper", "run", *args]

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.raw.append(line)
            with contextlib.suppress(json.JSONDecodeError):
                self.lines.append(json.loads(line))

    def logs(self, msg: str) -> list[dict[str, Any]]:
        return [line for line in list(self.lines) if line.get("msg") == msg]

    def wait_for_log(self, predicate: Callable[[dict], bool], timeout_s: float, what: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            if self.process.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"the keeper exited ({self.process.returncode}):\n{''.join(self.raw[-30:])}")
            return next((line for line in list(self.lines) if predicate(line)), None)

        return wait_until(found, timeout_s, what)

    def cycles(self) -> list[dict[str, Any]]:
        return self.logs("cycle")

    def last_cycle_block(self) -> int | None:
        return max((line["block"] for line in self.cycles()), default=None)

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM, then the exit code (the keeper finishes its cycle first)."""
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(timeout_s)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@contextlib.contextmanager
def running(keeper: Keeper) -> Iterator[threading.Thread]:
    """`keeper.run()` in a background thread (no signal handlers there), stopped and joined on exit."""
    thread = threading.Thread(target=keeper.run, name="keeper", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        keeper.request_stop()
        thread.join(30)
        assert not thread.is_alive(), "the keeper did not stop"


def wait_idle(chain: LocalChain, keeper: Keeper, timeout_s: float = 30) -> int:
    """Wait until the keeper has finished its cycle on the chain's latest block; returns that block."""
    return wait_until(lambda: keeper.last_block == chain.w3.eth.block_number and keeper.last_block, timeout_s,
                      "the keeper to plan on the latest block")  # fmt: skip


@contextlib.contextmanager
def keeper_process(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[KeeperProcess]:
    keeper = KeeperProcess(args, env, cwd)
    try:
        yield keeper
    finally:
        keeper.kill()


# ---------------------------------------------------------------------------------------------- an RPC outage


class DroppingProxy:
    """A TCP proxy on 127.0.0.1 in front of the node. `cut()` drops every open connection and resets
    every new one until `restore()`: to a client the RPC is unreachable."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connected = threading.Event()
        self.connected.set()
        self._stop = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self.refused = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def cut(self) -> None:
        self.connected.clear()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _close(sock)

    def restore(self) -> None:
        self.connected.set()

    def close(self) -> None:
        self._stop.set()
        self.cut()
        _close(self.server)
        self._thread.join(5)

    def _serve(self) -> None:
        self.server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            if not self.connected.is_set():
                self.refused += 1
                _reset(client)
                continue
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        with self._lock:
            self._pairs.append((client, upstream))
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        try:
            while not self._stop.is_set() and self.connected.is_set():
                for key, _ in selector.select(0.1):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            selector.close()
            _close(client)
            _close(upstream)


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


# ------------------------------------------------------------------------------------ an RPC without a websocket


class HttpOnlyRpc:
    """An HTTP JSON-RPC endpoint in front of the node that serves no websocket (as many providers' HTTP URLs do):
    POSTs are forwarded to the node, anything else (a websocket upgrade) is answered 400."""

    def __init__(self, target_url: str):
        target = target_url

        class Forward(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = urllib.request.Request(target, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as answer:
                    payload = answer.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self.send_error(400, "no websocket here")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
