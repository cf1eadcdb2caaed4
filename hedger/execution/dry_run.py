"""`hedger rebalance` without --execute: the plan carried out on a throwaway Anvil fork of the chain at
the snapshot's block, as the account (impersonated), through the very same executor; then a snapshot
of the fork shows the exposure after. Nothing reaches the real chain.

Without Anvil, each action's transaction is only simulated (eth_call) against the real chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from hedger.chain.anvil import Anvil, AnvilConfig
from hedger.chain.connect import connect
from hedger.errors import SimulationFailed, ToolchainError
from hedger.execution.executor import ActionOutcome, ExecutionReport, Executor
from hedger.execution.journal import Journal
from hedger.execution.sender import ImpersonatedAccount, Sender, SendPolicy
from hedger.model import Plan, Snapshot
from hedger.settings import NetworkConfig
from hedger.snapshot import SnapshotReader


@dataclass(frozen=True)
class DryRun:
    report: ExecutionReport
    after: Snapshot | None
    method: str


def dry_run(
    network: NetworkConfig,
    snapshot: Snapshot,
    plan: Plan,
    rpc_url: str,
    policy: SendPolicy,
    risk_gate: Callable[[], str | None] | None = None,
    dust_notional_usd: Decimal = Decimal(1),
) -> DryRun:
    if not plan.actions or plan.halted:
        return DryRun(ExecutionReport(halted=plan.halted), snapshot, "nothing to simulate")
    # no dev accounts on the fork: they would overwrite real balances (a local demo account is one)
    config = AnvilConfig(fork_url=rpc_url, fork_block=snapshot.block_number, chain_id=network.chain_id, accounts=0)
    try:
        fork = Anvil.launch(config)
    except ToolchainError:
        return _simulate_only(network, snapshot, plan, rpc_url, policy)
    with fork:
        fork.impersonate(snapshot.account)
        chain = connect(fork.url, network.chain_id)
        reader = SnapshotReader(chain, network)
        venues = {venue.name: venue for venue in reader.venues}
        account = ImpersonatedAccount(snapshot.account)
        quick = replace(policy, receipt_timeout_s=30.0, poll_interval_s=0.05)
        executor = Executor(
            chain.w3,
            network,
            account,
            Journal(":memory:"),
            venues,
            quick,
            risk_gate=risk_gate,
            dust_notional_usd=dust_notional_usd,
        )
        report = executor.execute(plan, snapshot)
        after = reader.take(snapshot.account)
    return DryRun(report, after, f"executed on an Anvil fork of block {snapshot.block_number}")


def _simulate_only(network: NetworkConfig, snapshot: Snapshot, plan: Plan, rpc_url: str, policy: SendPolicy) -> DryRun:
    chain = connect(rpc_url, network.chain_id, timeout_s=network.rpc_timeout_s)
    reader = SnapshotReader(chain, network)
    executor = Executor(chain.w3, network, ImpersonatedAccount(snapshot.account), Journal(":memory:"),
                        {v.name: v for v in reader.venues}, policy)  # fmt: skip
    sender: Sender = executor.sender
    outcomes = []
    for action in plan.actions:
        try:
            for _, request in executor.transactions(executor.venues[action.venue], action, snapshot):
                sender.simulate(request)
            outcomes.append(ActionOutcome(action, "simulated", "eth_call succeeded (approvals not applied)"))
        except SimulationFailed as error:
            outcomes.append(ActionOutcome(action, "failed", str(error).split("\n")[0]))
    return DryRun(ExecutionReport(tuple(outcomes)), None, "each transaction simulated alone (Anvil not found)")
