"""Real `hedger keeper run` processes sharing a real PostgreSQL journal, sending real orders on a real
Anvil: two keepers for one account → exactly one sends; the active one stopped (SIGSTOP) right after
signing an order → the standby takes over within ttl blocks and sends that order's very bytes; the old
one resumed (SIGCONT) → its broadcast is fenced off; SIGKILL → takeover. Then 10 accounts served by
two fleet processes with injected faults for FLEET_BLOCKS blocks: one order per intent, the journal
equal to the chain, no broadcast by a fenced-off keeper."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import tomli_w
from eth_account import Account

from hedger.chain.universe import to_units
from hedger.execution.journal import Journal
from tests.support.chain_helpers import fund_margin
from tests.support.fleet import audit_orders, is_stopped
from tests.support.keeper_helpers import (
    DEMO,
    KeeperProcess,
    cli_env,
    mint,
    network_document_with,
    orders_of,
    wait_until,
    write_network,
)
from tests.support.sizes import FLEET_BLOCKS

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.slow]

TTL_BLOCKS = 3
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"  # Anvil's public dev accounts


@pytest.fixture
def workdir(chain, tmp_path):
    doc = network_document_with(chain, keeper={"max_backoff_s": 1.0, "lease_ttl_blocks": TTL_BLOCKS})
    write_network(doc, tmp_path)
    return tmp_path


def keeper(workdir: Path, journal: str, holder: str, *args: str, **env: str) -> KeeperProcess:
    environment = cli_env(workdir, HEDGER_JOURNAL=journal, **env)
    return KeeperProcess(["--interval", "0.05", "--holder", holder, *args], environment, workdir)


def stopped(process: KeeperProcess) -> bool:
    return is_stopped(process.process.pid)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lease_metrics(port: int) -> dict[str, float]:
    """hedger_lease_held and hedger_lease_token of the demo account, as the keeper's endpoint serves them."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    labels = f'account="{DEMO}",network="local"'
    values = dict(re.findall(rf"^hedger_lease_(held|token){{{labels}}} (\S+)$", text, re.MULTILINE))
    return {name: float(value) for name, value in values.items()}


def logged(process: KeeperProcess, msg: str) -> list[dict]:
    return process.logs(msg)


def mine_until(chain, condition, max_blocks: int, interval_s: float = 0.3) -> int:
    """Mine a block every `interval_s` until `condition()`; the number of blocks it took."""
    for mined in range(max_blocks + 1):
        deadline = time.monotonic() + interval_s
        while time.monotonic() < deadline:
            if condition():
                return mined
            time.sleep(0.02)
        chain.node.mine()
    raise AssertionError(f"not done after {max_blocks} blocks")


def test_two_keepers_one_account_stop_takeover_fenced_off_kill_takeover(chain, workdir, postgres_url):
    fund_margin(chain, DEMO, 40_000)  # so that the first transaction of the first cycle is the BTC order
    nonce_before = chain.w3.eth.get_transaction_count(DEMO)
    a = keeper(workdir, postgres_url, "host-a", HEDGER_FAULT_INJECT="stop:tx_signed")
    b = None
    try:
        a.wait_for_log(lambda line: line.get("msg") == "lease_acquired", 60, "host-a to take the lease")
        port = free_port()
        b = keeper(workdir, postgres_url, "host-b", "--metrics-port", str(port))
        b.wait_for_log(lambda line: line.get("msg") == "lease_standby", 60, "host-b to stand by")
        assert lease_metrics(port) == {"held": 0.0, "token": 0.0}
        wait_until(lambda: stopped(a), 60, "host-a to stop itself right after signing the BTC order")
        journal = Journal(postgres_url)
        (signed,) = [t for i in journal.intents(DEMO) for t in journal.txs(i.id)]
        assert signed.status.value == "signed" and journal.broadcasts() == []  # signed, never sent
        assert orders_of(chain) == []

        # the standby takes over within TTL_BLOCKS blocks and rebroadcasts the very same signed bytes
        renewed = journal.db.execute("SELECT renewed_block FROM leases")[0][0]
        blocks = mine_until(chain, lambda: logged(b, "lease_acquired"), TTL_BLOCKS + 2)
        (taken,) = logged(b, "lease_acquired")
        assert blocks <= TTL_BLOCKS and taken["block"] - renewed <= TTL_BLOCKS and taken["token"] == 2
        b.wait_for_log(
            lambda line: line.get("msg") == "cycle" and line["verdict"] == "allow" and line["actions"] == 0,
            90, "host-b to finish the hedge",
        )  # fmt: skip
        assert orders_of(chain)[0]["transactionHash"] == signed.tx_hash
        assert lease_metrics(port) == {"held": 1.0, "token": 2.0}

        # host-a resumes: its broadcast of that order is fenced off, it sends nothing and stands by
        os.kill(a.process.pid, signal.SIGCONT)
        lost = a.wait_for_log(lambda line: line.get("msg") == "lease lost", 30, "host-a to be fenced off")
        assert lost["token"] == 1 and "host-b at token 2" in lost["reason"]
        for _ in range(3):
            chain.node.mine()
            time.sleep(0.3)
        assert {row["holder"] for row in journal.broadcasts()} == {"host-b"}

        # SIGKILL host-b: host-a takes over within TTL_BLOCKS blocks and has nothing left to send
        b.kill()
        blocks = mine_until(chain, lambda: any(e["token"] == 3 for e in logged(a, "lease_acquired")), TTL_BLOCKS + 2)
        assert blocks <= TTL_BLOCKS
        a.wait_for_log(lambda line: line.get("msg") == "cycle" and line["actions"] == 0, 30, "host-a to cycle")
        assert a.stop() == 0
        result = audit_orders(journal, chain, [DEMO], {DEMO: nonce_before})
        assert result.problems == []
        assert (result.orders, result.intents_with_orders) == (2, 2)  # BTC and ETH, once each
        assert result.fenced_off_broadcasts == 0 and result.broadcasts == 2
        journal.close()
    finally:
        for process in (a, b):
            if process:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.process.pid, signal.SIGCONT)
                process.kill()


# ---------------------------------------------------------------------------------------------- 10 accounts


def fleet_accounts(count: int) -> list[tuple[str, str]]:
    """(address, key) of Anvil's mnemonic accounts 2, 3, …: public development keys, derived here."""
    Account.enable_unaudited_hdwallet_features()
    derived = (Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(2, 2 + count))
    return [(account.address, "0x" + bytes(account.key).hex()) for account in derived]


def hold_like_the_demo(chain, address: str) -> None:
    """The demo wallet's holdings: 1 ETH for gas, 50,000 USDC, 10 WETH, 0.5 WBTC."""
    chain.node.set_balance(address, to_units(Decimal(1), 18))
    for symbol, amount in (("USDC", 50_000), ("WETH", 10), ("WBTC", Decimal("0.5"))):
        mint(chain, symbol, amount, address)


@pytest.fixture
def fleet_file(chain, workdir) -> Iterator[tuple[Path, list[str], dict[str, str]]]:
    accounts = fleet_accounts(10)
    for address, _ in accounts:
        hold_like_the_demo(chain, address)
    doc = {
        "poll_interval_s": 0.05,
        "lease_ttl_blocks": TTL_BLOCKS,
        "accounts": [
            {"network": "local", "address": address, "key_env": f"HEDGER_KEY_{index}"}
            for index, (address, _) in enumerate(accounts)
        ],
    }
    path = workdir / "fleet.toml"
    path.write_text(tomli_w.dumps(doc))
    yield path, [a for a, _ in accounts], {f"HEDGER_KEY_{i}": key for i, (_, key) in enumerate(accounts)}


def test_ten_accounts_two_fleet_keepers_with_injected_faults(chain, workdir, postgres_url, fleet_file):
    path, accounts, keys = fleet_file
    rng = random.Random(17)

    def start(holder: str, **env: str) -> KeeperProcess:
        return keeper(workdir, postgres_url, holder, "--fleet", str(path), **keys, **env)

    def taken_over(acquired_before: int) -> bool:
        return len(fleet["host-b"].logs("lease_acquired")) > acquired_before

    fleet = {"host-a": start("host-a", HEDGER_FAULT_INJECT="stop:tx_signed"), "host-b": start("host-b")}
    every = list(fleet.values())  # a restarted process included
    paused: str | None = None
    resume_at, acquired_by_b = 0, None
    killed = False
    try:
        for process in fleet.values():
            process.wait_for_log(lambda line: line.get("msg") in ("lease_acquired", "lease_standby"), 60, "leases")
        for block in range(FLEET_BLOCKS):
            if stopped(fleet["host-a"]) and paused is None:  # host-a stopped itself after signing: resumed
                paused, resume_at = "host-a", block + TTL_BLOCKS  # once host-b has taken its leases over
                acquired_by_b = len(fleet["host-b"].logs("lease_acquired"))
            if paused is None and rng.random() < 0.08:
                paused, resume_at = rng.choice(sorted(fleet)), block + rng.randint(2, 6)
                os.kill(fleet[paused].process.pid, signal.SIGSTOP)
            elif paused is not None and block >= resume_at and (acquired_by_b is None or taken_over(acquired_by_b)):
                os.kill(fleet[paused].process.pid, signal.SIGCONT)
                paused, acquired_by_b = None, None
            if not killed and block == FLEET_BLOCKS // 2 and paused is None:
                fleet["host-b"].kill()  # a crash, then a restart under the same name
                fleet["host-b"] = start("host-b")
                every.append(fleet["host-b"])
                killed = True
            if block % 7 == 3:
                mint(chain, "WETH", Decimal(2), rng.choice(accounts))  # new exposure: more orders to send
            chain.node.mine()
            time.sleep(0.3)
        if paused is not None:
            os.kill(fleet[paused].process.pid, signal.SIGCONT)
        for _ in range(8):  # let the holders settle on quiet blocks
            chain.node.mine()
            time.sleep(0.5)
        for process in fleet.values():
            process.stop(60)
    finally:
        for process in every:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.process.pid, signal.SIGCONT)
            process.kill()
    journal = Journal(postgres_url)
    result = audit_orders(journal, chain, accounts)
    takeovers = journal.db.execute(
        "SELECT count(*) FROM lease_events WHERE event = 'acquired' AND previous_holder IS NOT NULL"
        " AND previous_holder <> holder"
    )[0][0]
    journal.close()
    assert result.problems == []
    assert result.fenced_off_broadcasts == 0
    assert result.orders == result.intents_with_orders >= 2 * len(accounts)  # each hedged (ETH, BTC), once per intent
    assert takeovers >= 1  # the faults did move leases between the processes
    assert len(every[0].logs("lease lost")) >= 1  # host-a, woken after signing, was fenced off
