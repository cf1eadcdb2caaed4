"""Everything one account on one network needs, wired once: connection, snapshot reader, strategy
settings, hedge ratios, journal and planner memory. The CLI, the keeper and the scripts all use it,
so they read, plan and execute through the same code."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from eth_utils import to_checksum_address
from web3 import Web3

from hedger.app.ratios import RatioBook
from hedger.chain.connect import connect
from hedger.errors import ConfigError, HedgerError
from hedger.execution.executor import ExecutionReport, Executor, RetryPolicy
from hedger.execution.journal import Journal
from hedger.execution.sender import KeyAccount, SendPolicy
from hedger.execution.signer import load_signer, signer_address_from_env
from hedger.execution.state_store import load_state, save_state
from hedger.model import Plan, Snapshot
from hedger.settings import NetworkConfig, load_env, load_network
from hedger.snapshot import SnapshotReader
from hedger.strategy.parameters import StrategySettings
from hedger.strategy.plan import advance_state, build_plan, check_cancel_delay
from hedger.strategy.state import PlannerState

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def default_journal_path(network: str) -> Path:
    return Path(os.environ.get("HEDGER_JOURNAL", Path(".hedger") / f"{network}-journal.sqlite"))


@dataclass
class Session:
    network: NetworkConfig
    w3: Web3
    account: str
    rpc_url: str
    journal_path: Path
    ratios: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        network: str,
        rpc_url: str | None = None,
        account: str | None = None,
        journal: str | Path | None = None,
        ratios: dict[str, Decimal] | None = None,
    ) -> Session:
        load_env()
        config = load_network(network)
        url = config.rpc_url(rpc_url)
        w3 = connect(url, config.chain_id, source=config.file)
        return cls(config, w3, resolve_account(config, account), url,
                   Path(journal) if journal else default_journal_path(config.name), ratios or {})  # fmt: skip

    def __post_init__(self) -> None:
        self.reader = SnapshotReader(self.w3, self.network)
        self.settings = StrategySettings.from_mapping(self.network.strategy, self.network.file)
        self.send_policy, self.retry_policy, self.reduce_when_halted = _execution_settings(self.network)
        self._journal: Journal | None = None
        self.ratio_book = RatioBook(self.network, self.settings, self.reader.rpc, self.journal_path)

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(self.journal_path)
        return self._journal

    @property
    def venues(self) -> dict:
        return {venue.name: venue for venue in self.reader.venues}

    def snapshot(self) -> Snapshot:
        return self.reader.take(self.account)

    def state(self) -> PlannerState:
        return load_state(self.journal, self.network.name, self.account)

    def plan(self, snapshot: Snapshot, state: PlannerState | None = None, restrictions: tuple = ()) -> Plan:
        state = state if state is not None else self.state()
        check_cancel_delay(self.settings.policy.min_cancel_delay_s, snapshot.markets, self.network.file)
        return build_plan(snapshot, self.settings, self.hedge_ratios(snapshot), state, restrictions)

    def hedge_ratios(self, snapshot: Snapshot) -> dict[str, Decimal]:
        """--ratio values win; `[strategy.ratio]` assets are re-estimated on their schedule (hedger.app.ratios)."""
        return {**self.ratio_book.refresh(snapshot), **self.ratios}

    def executor(self) -> Executor:
        signer = load_signer()
        if signer.address != self.account:
            raise HedgerError(
                f"the signing key belongs to {signer.address}, not to {self.account}",
                "act for the key's own account (drop --account), or configure that account's key",
            )
        return Executor(self.w3, self.network, KeyAccount(signer), self.journal, self.venues, self.send_policy,
                        self.retry_policy, self.reduce_when_halted)  # fmt: skip

    def remember(self, snapshot: Snapshot, report: ExecutionReport | None, state: PlannerState) -> PlannerState:
        """Advance the planner's memory after a run (oracle memory; cooldown clocks of what was sent)."""
        new_state = advance_state(state, snapshot, self.settings)
        if report is not None:
            new_state = new_state.record_trades([o.action for o in report.sent], snapshot.block_timestamp)
        save_state(self.journal, self.network.name, self.account, new_state)
        return new_state

    def close(self) -> None:
        self.ratio_book.close()
        if self._journal is not None:
            self._journal.close()


def _execution_settings(network: NetworkConfig) -> tuple[SendPolicy, RetryPolicy, bool]:
    """The [execution] table: SendPolicy fields, RetryPolicy fields, and `reduce_when_halted`."""
    table = dict(network.execution)
    reduce_when_halted = table.pop("reduce_when_halted", False)
    retry_keys = set(RetryPolicy.__dataclass_fields__)
    retry = {k: table.pop(k) for k in list(table) if k in retry_keys}
    try:
        return SendPolicy.from_mapping(table), RetryPolicy(**retry), bool(reduce_when_halted)
    except (TypeError, ValueError) as error:
        raise ConfigError(network.file, "execution", str(error)) from error


def parse_ratios(values: list[str] | None) -> dict[str, Decimal]:
    """--ratio ETH=0.5 --ratio BTC=1 → {"ETH": Decimal("0.5"), "BTC": Decimal(1)}."""
    ratios = {}
    for value in values or []:
        asset, _, ratio = value.partition("=")
        try:
            ratios[asset.strip()] = Decimal(ratio)
        except ArithmeticError:
            raise ConfigError("--ratio", value, "expected ASSET=DECIMAL, e.g. ETH=0.5") from None
    return ratios


def resolve_account(network: NetworkConfig, explicit: str | None = None) -> str:
    """The account to act for: --account, else HEDGER_ACCOUNT, else the address of the configured
    signing key, else the network file's demo account (local chains)."""
    for origin, candidate in (("--account", explicit), ("HEDGER_ACCOUNT", os.environ.get("HEDGER_ACCOUNT"))):
        if candidate:
            if not _ADDRESS.match(candidate):
                raise ConfigError(origin, "account", f"{candidate!r} is not an address")
            return to_checksum_address(candidate)
    address = signer_address_from_env()
    if address:
        return address
    if "demo" in network.accounts:
        return network.accounts["demo"]
    raise ConfigError(
        network.file,
        "accounts",
        "no account given",
        "pass --account, or set HEDGER_ACCOUNT or HEDGER_PRIVATE_KEY in .env",
    )
