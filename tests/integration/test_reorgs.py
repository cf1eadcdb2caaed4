"""Reorgs and reverts during CLI and keeper runs (anvil_reorg and evm_revert, depths 1 to 3): the journal
notices that included transactions left the chain, rebroadcasts the very same signed bytes (their nonces
are free again), never sends a second order for an intent, and once settled says what the chain says.
Plus the journal's schema migration and the same signed bytes recorded twice."""

from __future__ import annotations

import sqlite3

import pytest

from hedger.app.cli import EXIT_OK, main
from hedger.execution.journal import SCHEMA_V1, SCHEMA_VERSION, IntentStatus, Journal, TxStatus
from tests.support.keeper_helpers import (
    DEMO,
    DEMO_KEY,
    network_document_with,
    network_with,
    open_keeper,
    orders_of,
    raw_rpc,
    write_network,
)

pytestmark = pytest.mark.integration
CONFIRMATIONS = 6


@pytest.fixture
def workdir(chain, tmp_path, monkeypatch):
    doc = network_document_with(chain)
    doc["network"]["confirmations"] = CONFIRMATIONS
    write_network(doc, tmp_path)
    for variable in ("HEDGER_ACCOUNT", "HEDGER_KEYSTORE", "HEDGER_KILL_SWITCH", "HEDGER_RPC_LOCAL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HEDGER_NETWORKS_DIR", str(tmp_path))
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", DEMO_KEY)
    monkeypatch.setenv("HEDGER_JOURNAL", str(tmp_path / "journal.sqlite"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_journal_equals_chain(chain, path) -> None:
    """Every transaction the journal calls included is in the canonical block it names; nothing is left
    in flight; every done intent has its main transaction included."""
    rpc = raw_rpc(chain)
    journal = Journal(path)
    for intent in journal.intents(DEMO):
        assert intent.status.final, (intent.kind, intent.status, intent.error)
        txs = journal.txs(intent.id)
        for tx in txs:
            assert tx.status not in (TxStatus.SIGNED, TxStatus.SENT), tx
            receipt = rpc("eth_getTransactionReceipt", tx.tx_hash)
            if tx.status in (TxStatus.MINED, TxStatus.REVERTED):
                assert (
                    receipt
                    and receipt["blockHash"] == tx.block_hash
                    and int(receipt["blockNumber"], 16) == (tx.block_number)
                ), tx
            else:
                assert receipt is None or tx.status is TxStatus.REJECTED, tx
        if intent.status is IntentStatus.DONE:
            assert any(t.purpose == "main" and t.status is TxStatus.MINED for t in txs)
    journal.close()


def one_order_per_market() -> list[int]:
    return [1, 2]


@pytest.mark.anvil_only("reorganises the chain (anvil_reorg): Ganache cannot")
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_a_reorg_after_a_cli_rebalance_is_healed_by_the_next(chain, workdir, depth):
    assert main(["rebalance", "--execute"]) == EXIT_OK
    raw_rpc(chain)("anvil_reorg", depth, [])  # the last `depth` blocks (the last orders) are gone
    assert main(["rebalance", "--execute"]) == EXIT_OK
    assert sorted(e["marketId"] for e in orders_of(chain)) == one_order_per_market()
    assert main(["rebalance", "--execute"]) == EXIT_OK  # settled: nothing more to do
    assert sorted(e["marketId"] for e in orders_of(chain)) == one_order_per_market()
    assert_journal_equals_chain(chain, workdir / "journal.sqlite")
    journal = Journal(workdir / "journal.sqlite")
    reorged = [e for e in journal.events() if e["event"] == "tx_reorged_out"]
    assert len(reorged) == depth  # one transaction per removed block (automine)


def test_a_revert_across_a_cli_rebalance_rebroadcasts_the_same_bytes(chain, workdir):
    rpc = raw_rpc(chain)
    snapshot = rpc("evm_snapshot")
    assert main(["rebalance", "--execute"]) == EXIT_OK
    journal = Journal(workdir / "journal.sqlite")
    first = {t.tx_hash for i in journal.intents(DEMO) for t in journal.txs(i.id)}
    journal.close()
    assert rpc("evm_revert", snapshot)  # 4 blocks gone: the chain never saw the hedge
    assert chain.perp.functions.openMarkets(DEMO).call() == []
    assert main(["rebalance", "--execute"]) == EXIT_OK  # was: sqlite3.IntegrityError on txs.tx_hash
    assert sorted(e["marketId"] for e in orders_of(chain)) == one_order_per_market()
    journal = Journal(workdir / "journal.sqlite")
    again = {t.tx_hash for i in journal.intents(DEMO) for t in journal.txs(i.id)}
    assert again == first  # the very same signed transactions, rebroadcast; none new
    journal.close()
    assert_journal_equals_chain(chain, workdir / "journal.sqlite")


@pytest.mark.parametrize(
    "move",
    [
        pytest.param("reorg", marks=pytest.mark.anvil_only("reorganises the chain (anvil_reorg): Ganache cannot")),
        "revert",
    ],
)
def test_a_keeper_across_a_reorg_or_revert_hedges_once(chain, workdir, move):
    network = network_with(chain, network={**network_document_with(chain)["network"], "confirmations": 6})
    keeper = open_keeper(chain, network, workdir / "journal.sqlite")
    rpc = raw_rpc(chain)
    snapshot = rpc("evm_snapshot")
    first = keeper.cycle()
    assert len(first.report.sent) == 3
    if move == "reorg":
        rpc("anvil_reorg", 3, [])
    else:
        rpc("evm_revert", snapshot)
        rpc("evm_mine")  # a new block for the keeper's next cycle
    healed = keeper.cycle()  # reconciliation rebroadcasts; the stale plan is not acted on
    assert healed.report.reconciled
    keeper.cycle()
    assert sorted(e["marketId"] for e in orders_of(chain)) == one_order_per_market()
    pending = int(rpc("eth_getTransactionCount", DEMO, "pending"), 16)
    assert pending == int(rpc("eth_getTransactionCount", DEMO, "latest"), 16)  # nothing queued behind a gap
    assert_journal_equals_chain(chain, workdir / "journal.sqlite")


def test_an_old_journal_is_migrated_in_place(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1)
    db.execute(
        "INSERT INTO intents VALUES ('i1', 1, 1, 'local', 31337, '0xabc', 'reference', 'ETH', 'open', '{}', 7,"
        " 'done', NULL, NULL)"
    )
    db.execute(
        "INSERT INTO txs (intent_id, seq, purpose, to_address, nonce, tx_hash, raw_tx, max_fee_per_gas,"
        " max_priority_fee_per_gas, status, block_number, created_at, updated_at)"
        " VALUES ('i1', 0, 'main', '0xdef', 0, '0x01', '0x', 1, 1, 'mined', 9, 1, 1)"
    )
    db.commit()
    db.close()
    journal = Journal(path)
    assert journal.schema_version == SCHEMA_VERSION
    (tx,) = journal.txs("i1")
    assert (tx.block_number, tx.block_hash, tx.state) == (9, None, "included")
    journal.close()
    assert Journal(path).schema_version == SCHEMA_VERSION  # idempotent


def test_the_same_signed_bytes_recorded_twice_is_one_record(tmp_path):
    from hedger.model import Action, ActionKind, Reason

    journal = Journal(tmp_path / "j.sqlite")
    action = Action(ActionKind.OPEN, "reference", "ETH", Reason("rebalance", "test"))
    intent = journal.record_intent("local", 31337, DEMO, action, 1)
    first = journal.record_signed(intent.id, "main", "0xdef", 0, "0xaa", "0x02", 1, 1)
    second = journal.record_signed(intent.id, "main", "0xdef", 0, "0xaa", "0x02", 1, 1)
    assert first.id == second.id and len(journal.txs(intent.id)) == 1
