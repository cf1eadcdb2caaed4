"""Rejected transactions are not outages: the base-fee wedge recovers (bytes signed before a base-fee jump
are re-signed with fresh fees under the cap), a base fee above the cap abandons the intent with a clear
message and nothing sent, the rejection is journalled with its reason, and every node refusal is typed."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from hedger.chain.universe import write_network_file
from hedger.errors import (
    FeeBelowBaseFee,
    GasAboveBlockLimit,
    InsufficientFunds,
    IntrinsicGasTooLow,
    NonceTooHigh,
    NonceTooLow,
    RpcError,
    Underpriced,
    WrongChainId,
)
from hedger.execution.journal import IntentStatus, Journal, TxStatus
from hedger.execution.sender import classify_rejection
from tests.support.keeper_helpers import DEMO, DEMO_KEY, cli_env, orders_of, raw_rpc

pytestmark = pytest.mark.integration
GWEI = 10**9


@pytest.fixture
def cli(chain, tmp_path):
    write_network_file(chain.universe, tmp_path / "local.toml")
    env = cli_env(tmp_path, HEDGER_LOG_LEVEL="WARNING")

    def run(*args: str, fault: str | None = None) -> subprocess.CompletedProcess:
        extra = {"HEDGER_FAULT_INJECT": fault} if fault else {}
        return subprocess.run([sys.executable, "-m", "hedger.app.cli", *args], env={**env, **extra}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    return run


def next_base_fee(chain, wei: int) -> None:
    raw_rpc(chain)("anvil_setNextBlockBaseFeePerGas", hex(wei))


@pytest.mark.anvil_only("sets the next block's base fee (anvil_setNextBlockBaseFeePerGas): Ganache cannot")
def test_the_base_fee_wedge_recovers(chain, cli, tmp_path):
    crashed = cli("rebalance", "--execute", fault="tx_signed")  # signed at ~2 gwei, never broadcast
    assert crashed.returncode == -signal.SIGKILL
    next_base_fee(chain, 50 * GWEI)  # above what the signed bytes pay, under the 200 gwei cap
    finished = cli("rebalance", "--execute")
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert sorted(e["marketId"] for e in orders_of(chain)) == [1, 2]  # one order per intent

    journal = Journal(tmp_path / "journal.sqlite")
    txs = [t for i in journal.intents(DEMO) for t in journal.txs(i.id)]
    rejected = [t for t in txs if t.status is TxStatus.REJECTED]
    assert len(rejected) == 1 and rejected[0].error.startswith("fee_below_base_fee")
    resigned = next(t for t in txs if t.replaces == rejected[0].id)
    assert resigned.status is TxStatus.MINED and resigned.nonce == rejected[0].nonce
    assert resigned.max_fee_per_gas >= 50 * GWEI
    assert all(i.status.final for i in journal.intents(DEMO))


@pytest.mark.anvil_only("sets the next block's base fee (anvil_setNextBlockBaseFeePerGas): Ganache cannot")
def test_a_base_fee_above_the_cap_abandons_cleanly_then_recovers(chain, cli, tmp_path):
    crashed = cli("rebalance", "--execute", fault="tx_signed")
    assert crashed.returncode == -signal.SIGKILL
    nonce = chain.w3.eth.get_transaction_count(DEMO)
    next_base_fee(chain, 500 * GWEI)  # above the 200 gwei cap
    wedged = cli("rebalance", "--execute")
    assert wedged.returncode == 4, wedged.stdout[-3000:] + wedged.stderr[-3000:]  # an action failed, no traceback
    assert "Traceback" not in wedged.stderr and "above the cap" in wedged.stdout
    assert "not sent: fees are above the cap" in wedged.stdout  # the plan's other actions are not tried
    assert chain.w3.eth.get_transaction_count(DEMO) == nonce  # nothing sent

    next_base_fee(chain, 1 * GWEI)  # the base fee is back under the cap
    recovered = cli("rebalance", "--execute")
    assert recovered.returncode == 0, recovered.stdout[-3000:] + recovered.stderr[-3000:]
    assert sorted(e["marketId"] for e in orders_of(chain)) == [1, 2]
    journal = Journal(tmp_path / "journal.sqlite")
    assert all(i.status.final for i in journal.intents(DEMO))
    assert any(i.status is IntentStatus.DONE and i.kind == "open" for i in journal.intents(DEMO))


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("max fee per gas less than block base fee", FeeBelowBaseFee),
        ("fee cap less than block base fee: address 0x.., gasFeeCap: 1 baseFee: 2", FeeBelowBaseFee),
        ("replacement transaction underpriced", Underpriced),
        ("nonce too low", NonceTooLow),
        ("nonce too high", NonceTooHigh),
        ("Insufficient funds for gas * price + value", InsufficientFunds),
        ("intrinsic gas too low", IntrinsicGasTooLow),
        ("intrinsic gas too high -- tx.gas_limit > env.block.gas_limit", GasAboveBlockLimit),
        ("exceeds block gas limit", GasAboveBlockLimit),
        ("invalid chain id for signer", WrongChainId),
    ],
)
def test_node_refusals_are_typed(message, kind):
    error = RpcError(f"eth_sendRawTransaction failed: {{'code': -32003, 'message': '{message}'}}")
    assert isinstance(classify_rejection(error), kind)


def test_an_outage_is_not_a_rejection():
    assert classify_rejection(RpcError("eth_sendRawTransaction: connection refused")) is None


@pytest.mark.anvil_only("sets the next block's base fee (anvil_setNextBlockBaseFeePerGas): Ganache cannot")
def test_the_keeper_counts_rejections_apart_from_rpc_failures(chain, cli, tmp_path, monkeypatch):
    from tests.support.keeper_helpers import network_with, open_keeper

    assert cli("rebalance", "--execute", fault="tx_signed").returncode == -signal.SIGKILL
    next_base_fee(chain, 50 * GWEI)
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", DEMO_KEY)
    monkeypatch.delenv("HEDGER_KILL_SWITCH", raising=False)
    keeper = open_keeper(chain, network_with(chain), tmp_path / "journal.sqlite")
    keeper.cycle()
    assert keeper.rejections == 1 and keeper.rpc_failures == 0
    assert keeper.metrics.tx_rejected._value.get() == 1 and keeper.metrics.rpc_errors._value.get() == 0
    assert sorted(e["marketId"] for e in orders_of(chain)) == [1, 2]
