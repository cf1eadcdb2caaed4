"""Chaos run: the keeper on a local Anvil for N blocks while faults are injected, then the books are checked.

    .venv/bin/python bench/chaos.py [--blocks 500] [--seed 7] [--fault-rate 0.15]

The keeper (in-process, the demo account, `Session.run_once` every block) reaches the node through a proxy
that can drop connections or hang. Faults, one at a time: reorgs of depth 1-3 (anvil_reorg), RPC drops and
hangs, a base-fee spike above the fee cap (its transactions refused), an oracle stall past the heartbeat,
an outside transaction on the account's nonce, and kill-switch flips. Prices move every few blocks so there
is hedging to do. At the end the chain settles and the run prints JSON:

- faults: injected, by kind;
- duplicate_orders: orders on chain beyond one per intent, plus orders the journal does not know (must be 0);
- risk_adding_under_halt: risk-adding transactions sent while the kill switch was on or the plan was not
  `allow`, and hedges that grew in such a cycle (must be 0);
- journal_chain_mismatches: journal records that disagree with the chain once settled (must be 0);
- blocks_to_recover: p50/p95 of blocks from a fault's end to the first settled cycle (allow, nothing to do,
  nothing in flight);
- rejections and rpc failures the keeper counted (apart).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support: the helpers the tests use

from hedger.app.keeper import Keeper, KeeperConfig
from hedger.app.session import KILL_SWITCH_ENV, Session
from hedger.app.telemetry import KeeperMetrics
from hedger.chain.connect import connect
from hedger.chain.nodes import Anvil
from hedger.chain.universe import deploy_universe
from hedger.errors import RpcError
from hedger.execution.journal import Journal, TxStatus
from hedger.model import Verdict
from hedger.testing import LocalChain
from tests.support.keeper_helpers import DEMO, DEMO_KEY, in_one_block, network_with, position, price_calls, raw_rpc

GWEI = 10**9
FAULTS = ("reorg", "rpc_drop", "rpc_hang", "fee_spike", "oracle_stall", "outside_nonce", "kill_switch")


class ChaosProxy:
    """A TCP proxy in front of the node: `mode` "pass" forwards, "drop" resets every connection, "hang"
    accepts and never answers (the client's timeout ends it)."""

    def __init__(self, target_port: int):
        self.target = ("127.0.0.1", target_port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.mode = "pass"
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def set(self, mode: str) -> None:
        self.mode = mode
        if mode != "pass":
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.close()
            self._open.clear()

    def close(self) -> None:
        self._stop.set()
        self.server.close()

    def _serve(self) -> None:
        self.server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            if self.mode == "drop":
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()
            elif self.mode == "hang":
                self._open.append(client)  # read nothing, answer nothing
            else:
                threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        self._open += [client, upstream]
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        try:
            while not self._stop.is_set() and self.mode == "pass":
                for key, _ in selector.select(0.1):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            selector.close()
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.close()


def refresh_feeds(chain: LocalChain, skip: str = "") -> None:
    """Every feed but `skip`'s publishes its answer again (a live network's heartbeat rounds)."""
    calls = []
    for name in chain.universe.feeds:
        if skip and name.startswith(skip):
            continue
        feed = chain.feed(name)
        calls.append(feed.functions.setAnswer(feed.functions.latestAnswer().call()))
    in_one_block(chain, calls)


def settled(run: Any, journal: Journal) -> bool:
    return (
        run is not None
        and run.plan.verdict is Verdict.ALLOW
        and not run.plan.actions
        and not journal.unfinished(DEMO, "local")
    )


def journal_mismatches(chain: LocalChain, journal: Journal) -> int:
    rpc = raw_rpc(chain)
    bad = 0
    for intent in journal.intents(DEMO):
        bad += not intent.status.final
        for tx in journal.txs(intent.id):
            receipt = rpc("eth_getTransactionReceipt", tx.tx_hash)
            if tx.status in (TxStatus.MINED, TxStatus.REVERTED):
                bad += not (receipt and receipt["blockHash"] == tx.block_hash)
            elif tx.status in (TxStatus.SIGNED, TxStatus.SENT):
                bad += 1
            else:
                bad += receipt is not None and tx.status is not TxStatus.REPLACED
    return bad


def order_hashes(chain: LocalChain) -> list[str]:
    """The transaction hash of every order the demo account has on chain (PositionModified events)."""
    event = chain.perp.events.PositionModified()
    logs = chain.w3.eth.get_logs({"address": chain.perp.address, "fromBlock": 0, "topics": [event.topic]})
    return ["0x" + log["transactionHash"].hex().removeprefix("0x") for log in logs
            if event.process_log(log)["args"]["account"] == DEMO]  # fmt: skip


def duplicate_orders(chain: LocalChain, journal: Journal) -> int:
    """Orders beyond one per intent, plus orders on chain that no intent's main transaction is."""
    rpc = raw_rpc(chain)
    known: set[str] = set()
    duplicates = 0
    for intent in journal.intents(DEMO):
        mined = [
            t for t in journal.txs(intent.id) if t.purpose == "main" and rpc("eth_getTransactionReceipt", t.tx_hash)
        ]
        duplicates += max(0, len(mined) - 1)
        known |= {t.tx_hash.lower() for t in mined}
    return duplicates + sum(1 for h in order_hashes(chain) if h.lower() not in known)


def run(blocks: int, seed: int, fault_rate: float) -> dict[str, Any]:
    rng = random.Random(seed)
    workdir = Path(tempfile.mkdtemp(prefix="hedger-chaos-"))
    os.environ["HEDGER_PRIVATE_KEY"] = DEMO_KEY
    os.environ.pop(KILL_SWITCH_ENV, None)
    with Anvil.launch() as node:
        chain = LocalChain(node, deploy_universe(node))
        rpc = raw_rpc(chain)
        network = network_with(chain, network={**_network_table(chain), "rpc_timeout_s": 2, "confirmations": 4},
                               execution={"receipt_timeout_s": 20, "stuck_after_s": 5},
                               strategy={"policy": {"cooldown_s": 0}})  # fmt: skip
        proxy = ChaosProxy(int(node.url.rsplit(":", 1)[1]))
        session = Session(network, connect(proxy.url, network.chain_id, timeout_s=2), DEMO, proxy.url,
                          workdir / "journal.sqlite")  # fmt: skip
        keeper = Keeper(session, KeeperConfig(poll_interval_s=0.05, kill_switch_file=workdir / "STOP"), KeeperMetrics())
        journal = session.journal
        start = chain.w3.eth.block_number
        faults: Counter[str] = Counter()
        recover: list[int] = []
        risk_under_halt = 0
        rpc_failures = 0
        active: tuple[str, int] | None = None  # (fault, step it ends)
        waiting_since: int | None = None  # block at which the last fault ended, until settled
        eth, btc = Decimal(3000), Decimal(60000)
        step = 0
        while chain.w3.eth.block_number - start < blocks:
            step += 1
            if step % 5 == 0:  # hedging to do: the wallet's ETH changes by 2-4 ETH, and prices move a little
                weth = chain.token("WETH")
                amount = rng.randint(2, 4) * 10**18
                if rng.random() < 0.5 or weth.functions.balanceOf(DEMO).call() < 6 * 10**18:
                    in_one_block(chain, [weth.functions.mint(DEMO, amount)])
                else:
                    in_one_block(chain, [weth.functions.transfer(chain.universe.deployer, amount)], DEMO)
                eth *= Decimal(1 + rng.uniform(-0.02, 0.02)).quantize(Decimal("0.0001"))
                btc *= Decimal(1 + rng.uniform(-0.02, 0.02)).quantize(Decimal("0.0001"))
                in_one_block(chain, price_calls(chain, "ETH", eth.quantize(Decimal(1))) + price_calls(chain, "BTC",
                             btc.quantize(Decimal(1))))  # fmt: skip
            if active is None and waiting_since is None and step > 3 and rng.random() < fault_rate:
                kind = rng.choice(FAULTS)
                faults[kind] += 1
                active = (kind, step + _duration(kind))
                _inject(kind, chain, proxy, rng, workdir)
            before = {s: position(chain, s) for s in ("ETH", "BTC")}
            gated = bool(os.environ.get(KILL_SWITCH_ENV)) or (workdir / "STOP").exists()
            result = None
            try:
                result = session_cycle(keeper)
            except RpcError:
                rpc_failures += 1
            if result is not None:
                halted = gated or result.plan.verdict is not Verdict.ALLOW
                if halted and result.report is not None:
                    risk_under_halt += sum(1 for o in result.report.sent if not o.action.reduces_risk)
                    after = {s: position(chain, s) for s in ("ETH", "BTC")}
                    risk_under_halt += sum(1 for s in after if abs(after[s]) > abs(before[s]))
            if active is not None and step >= active[1]:
                _clear(active[0], chain, proxy, workdir)
                active, waiting_since = None, chain.w3.eth.block_number
            elif waiting_since is not None and result is not None and settled(keeper_last(keeper), journal):
                recover.append(chain.w3.eth.block_number - waiting_since)
                waiting_since = None
            rpc("evm_mine")
            if step % 40 == 0:
                refresh_feeds(chain)
        # settle: faults off, the keeper runs until nothing is left to do
        os.environ.pop(KILL_SWITCH_ENV, None)
        (workdir / "STOP").unlink(missing_ok=True)
        proxy.set("pass")
        refresh_feeds(chain)
        for _ in range(30):
            rpc("evm_mine")
            with contextlib.suppress(RpcError):
                if settled(session_cycle(keeper), journal):
                    break
        for _ in range(network.confirmations + 1):
            rpc("evm_mine")
        with contextlib.suppress(RpcError):
            session_cycle(keeper)  # finalises what is deep enough
        out = {
            "blocks": chain.w3.eth.block_number - start,
            "cycles": keeper.cycles,
            "faults": dict(faults),
            "faults_total": sum(faults.values()),
            "duplicate_orders": duplicate_orders(chain, journal),
            "risk_adding_under_halt": risk_under_halt,
            "journal_chain_mismatches": journal_mismatches(chain, journal),
            "blocks_to_recover": _percentiles(recover),
            "rejections_counted": keeper.rejections,
            "rpc_failures": rpc_failures,
            "orders_on_chain": len(order_hashes(chain)),
            "intents": len(journal.intents(DEMO)),
            "seed": seed,
        }
        proxy.close()
        session.close()
    return out


def session_cycle(keeper: Keeper) -> Any:
    keeper.cycle()
    return keeper_last(keeper)


def keeper_last(keeper: Keeper) -> Any:
    return keeper.last_run


def _network_table(chain: LocalChain) -> dict[str, Any]:
    from tests.support.keeper_helpers import network_document_with

    return dict(network_document_with(chain)["network"])


def _duration(kind: str) -> int:
    return {"rpc_drop": 1, "rpc_hang": 1, "oracle_stall": 2, "kill_switch": 3, "fee_spike": 2}.get(kind, 0)


def _inject(kind: str, chain: LocalChain, proxy: ChaosProxy, rng: random.Random, workdir: Path) -> None:
    rpc = raw_rpc(chain)
    if kind == "reorg":
        depth = rng.randint(1, 3)
        rpc("anvil_reorg", depth, [])
    elif kind == "rpc_drop":
        proxy.set("drop")
    elif kind == "rpc_hang":
        proxy.set("hang")
    elif kind == "fee_spike":
        rpc("anvil_setNextBlockBaseFeePerGas", hex(500 * GWEI))  # above the 200 gwei cap
        rpc("evm_mine")
    elif kind == "oracle_stall":
        chain.node.increase_time(3_700)
        refresh_feeds(chain, skip="ETH/")
    elif kind == "outside_nonce":
        rpc("eth_sendTransaction", {"from": DEMO, "to": chain.universe.deployer, "value": "0x1"})
    elif kind == "kill_switch":
        if rng.random() < 0.5:
            os.environ[KILL_SWITCH_ENV] = "1"
        else:
            (workdir / "STOP").touch()


def _clear(kind: str, chain: LocalChain, proxy: ChaosProxy, workdir: Path) -> None:
    if kind in ("rpc_drop", "rpc_hang"):
        proxy.set("pass")
    elif kind == "oracle_stall":
        refresh_feeds(chain)
    elif kind == "kill_switch":
        os.environ.pop(KILL_SWITCH_ENV, None)
        (workdir / "STOP").unlink(missing_ok=True)
    elif kind == "fee_spike":
        raw_rpc(chain)("anvil_setNextBlockBaseFeePerGas", hex(GWEI))


def _percentiles(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(values), "p50": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=int(os.environ.get("HEDGER_CHAOS_BLOCKS", 500)))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fault-rate", type=float, default=0.15)
    args = parser.parse_args()
    started = time.monotonic()
    result = run(args.blocks, args.seed, args.fault_rate)
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
