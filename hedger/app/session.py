"""Everything one account on one network needs, wired once: connection, snapshot reader, strategy
settings, hedge ratios, journal, planner memory and the operator's gates; and `Session.run_once`, the one
run cycle (snapshot → gates → plan → execute → remember) that the CLI, the keeper, the scripts and the
demo all go through, so the kill switch and the gas budget hold on every path."""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from hedger.app.ratios import RatioBook
from hedger.chain.abi import to_checksum_address
from hedger.chain.connect import Chain, connect
from hedger.errors import ConfigError, HedgerError, SenderBusy
from hedger.execution.database import is_postgres, resolve_target
from hedger.execution.journal import Journal
from hedger.execution.policy import RetryPolicy, SendPolicy
from hedger.execution.signer import DEFAULT_KEY_ENV, signer_address_from_env
from hedger.execution.state_store import load_state, save_state
from hedger.model import Plan, Snapshot, Verdict
from hedger.settings import NetworkConfig, load_env, load_network
from hedger.snapshot import SnapshotReader
from hedger.strategy.guards import GuardResult, asset_scope
from hedger.strategy.parameters import StrategySettings
from hedger.strategy.plan import advance_state, build_plan, check_cancel_delay
from hedger.strategy.state import PlannerState

if TYPE_CHECKING:
    from web3 import Web3

    from hedger.execution.executor import ExecutionReport, Executor

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
SENDER_WAIT_S = 30.0  # [execution] sender_wait_s: an executing cycle waits this long for another process's to end
LEASE_TTL_S = 600.0  # a one-cycle lease outlives any cycle (receipt waits included); a crashed holder on this host is
# released at once (`Lease.release_if_gone`), one on another host after this long
KILL_SWITCH_ENV = "HEDGER_KILL_SWITCH"
DEFAULT_KILL_SWITCH_FILE = Path(".hedger") / "STOP"


@dataclass(frozen=True)
class Gates:
    """The operator's gates on risk-adding actions, on every path (CLI, keeper, scripts): the kill switch (the
    file exists, or HEDGER_KILL_SWITCH is set to anything but empty, 0, false, no or off: it fails closed) and the
    daily gas budget (wei spent by the account's mined or reverted transactions in the last 24 h, from the
    journal)."""

    kill_switch_file: Path = DEFAULT_KILL_SWITCH_FILE
    gas_budget_per_day_wei: int | None = None

    def kill_switch(self) -> str | None:
        if self.kill_switch_file.exists():
            return f"kill switch engaged: {self.kill_switch_file} exists"
        value = os.environ.get(KILL_SWITCH_ENV, "").strip()
        if value.lower() not in ("", "0", "false", "no", "off"):  # fails closed: any other value engages it
            return f"kill switch engaged: {KILL_SWITCH_ENV}={value}"
        return None

    def reason(self, journal: Journal, account: str) -> str | None:
        """Why risk-adding actions must not be sent right now, or None."""
        killed = self.kill_switch()
        if killed or self.gas_budget_per_day_wei is None:
            return killed
        return self.gas_reason(journal.gas_spent_since(account, time.time() - 86_400))

    def gas_reason(self, spent_24h_wei: int | None) -> str | None:
        """Why the daily gas budget gates risk-adding actions after `spent_24h_wei`, or None."""
        budget = self.gas_budget_per_day_wei
        if budget is None or spent_24h_wei is None or spent_24h_wei < budget:
            return None
        return f"gas budget spent: {spent_24h_wei} of {budget} wei in the last 24 h"


@dataclass(frozen=True)
class Cycle:
    """What one run cycle saw and did."""

    snapshot: Snapshot
    plan: Plan
    report: ExecutionReport | None  # None when nothing was executed (plan only)
    state: PlannerState  # the planner's memory after the cycle
    gate: str | None  # why risk-adding actions were gated, if they were
    snapshot_s: float
    mode: str  # "executed on chain" | "dry run: …" | "planned only"
    after: Snapshot | None = None  # the exposure after (a dry run's fork, or re-read after executing)


def default_journal_path(network: str) -> Path:
    return Path(".hedger") / f"{network}-journal.sqlite"


def journal_target(option: str | Path | None, network: str) -> str | Path:
    """The journal: --journal, else HEDGER_JOURNAL, else .hedger/<network>-journal.sqlite; a
    postgresql:// URL stays a string (a database server), anything else is a file path."""
    target = resolve_target(str(option) if option else None, default_journal_path(network))
    return target if is_postgres(target) else Path(target)


def local_files_beside(journal: str | Path, network: str) -> Path:
    """The journal file local caches sit beside: the journal itself, or the default file's place when
    the journal is a database server."""
    return default_journal_path(network) if is_postgres(journal) else Path(journal)


@dataclass
class Session:
    network: NetworkConfig
    chain: Chain
    account: str
    rpc_url: str
    journal_path: str | Path  # a file path (SQLite) or a postgresql:// URL
    ratios: dict[str, Decimal] = field(default_factory=dict)
    gates: Gates | None = None  # None: from the network file's [keeper] table
    key_env: str = DEFAULT_KEY_ENV  # the environment variable holding this account's key

    @classmethod
    def open(
        cls,
        network: str,
        rpc_url: str | None = None,
        account: str | None = None,
        journal: str | Path | None = None,
        ratios: dict[str, Decimal] | None = None,
        key_env: str = DEFAULT_KEY_ENV,
    ) -> Session:
        load_env()
        config = load_network(network)
        url = config.rpc_url(rpc_url)
        chain = connect(url, config.chain_id, source=config.file, timeout_s=config.rpc_timeout_s,
                        max_request_bytes=config.max_request_bytes)  # fmt: skip
        return cls(config, chain, resolve_account(config, account), url, journal_target(journal, config.name),
                   ratios or {}, key_env=key_env)  # fmt: skip

    def __post_init__(self) -> None:
        self.chain = Chain.of(self.chain)
        self.reader = SnapshotReader(self.chain, self.network)
        self.settings = StrategySettings.from_mapping(self.network.strategy, self.network.file)
        self.limits = InputLimits.of(self.network)
        self.limits.check_configured(self.settings, self.network.file)
        self.ratios = validate_ratios(self.ratios, known_assets(self.network), self.limits)
        self.send_policy, self.retry_policy, self.reduce_when_halted = _execution_settings(self.network)
        # how long an executing cycle waits for another process's sending cycle to end ([execution] sender_wait_s)
        self.sender_wait_s = float(self.network.execution.get("sender_wait_s", SENDER_WAIT_S))
        self.one_cycle_lease = True  # a sending cycle takes the account's lease for itself (a keeper: its own)
        self._journal: Journal | None = None
        self._executor: Executor | None = None
        self._chain_key: str | None = None
        if self.gates is None:
            self.gates = gates_from_table(self.network)
        self.ratio_book = RatioBook(
            self.network, self.settings, self.reader.rpc, local_files_beside(self.journal_path, self.network.name)
        )

    @property
    def w3(self) -> Web3:
        """The Web3 of the signing and sending paths (imports web3 on first use; reads never need it)."""
        return self.chain.w3

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

    def risk_gate(self) -> str | None:
        """Why risk-adding actions must not be sent now (kill switch, spent gas budget), or None."""
        assert self.gates is not None
        return self.gates.reason(self.journal, self.account)

    def restrictions(self) -> tuple[tuple[GuardResult, ...], str | None]:
        """The gates as a reduce-only guard result the planner judges like its own, and the reason."""
        reason = self.risk_gate()
        return (() if reason is None else (GuardResult(Verdict.REDUCE_ONLY, "operator_gate", reason),)), reason

    def run_once(
        self,
        execute: bool,
        restrictions: tuple[GuardResult, ...] = (),
        state: PlannerState | None = None,
        *,
        simulate: bool = False,
        remember: bool | None = None,
        read_after: bool = False,
    ) -> Cycle:
        """The one run cycle: snapshot → gates → plan → execute (or a dry run on a fork with `simulate`, or
        nothing) → remember. The gates are applied here, for every caller: to the plan (a reduce-only
        restriction) and again by the executor right before each risk-adding transaction.
        `remember` (default: when executing) saves the planner's memory; `read_after` re-reads the chain.
        An executing cycle runs inside `sending()`: from its snapshot to its last receipt, no other process sends
        for the account."""
        with self.sending() if execute else contextlib.nullcontext():
            return self._cycle(execute, restrictions, state, simulate, remember, read_after)

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """This account's sending exclusivity for one cycle. A keeper under its sender lease has it already (the
        lease and its fencing; a paused holder is fenced off, see `Lease`). Any other sender takes, for the cycle,
        this host's `SenderLock` for the chain and account (whatever journal each process writes) and, unless it
        is a keeper without a lease, a one-cycle `Lease` in its journal (so a keeper's lease excludes it, on any
        host sharing the journal). Waits up to `sender_wait_s` for another process's cycle, then SenderBusy."""
        from hedger.execution.lease import SenderLock, default_holder

        if self.journal.fence is not None:
            yield
            return
        holder = default_holder()
        lock = SenderLock(self.chain_key(), self.account, self.network.name)
        lock.acquire(holder, self.sender_wait_s)
        try:
            if self.one_cycle_lease:
                with self._one_cycle_lease(holder):
                    yield
            else:
                yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def _one_cycle_lease(self, holder: str) -> Iterator[None]:
        from hedger.execution.lease import Lease, wait_until

        journal = self.journal
        lease = Lease(journal.db, self.network.name, self.account, holder, ttl_s=LEASE_TTL_S)

        def held() -> bool:  # a lease left by a crashed sender of this host is released, then taken
            return lease.acquire(None) is not None or (lease.release_if_gone() and lease.acquire(None) is not None)

        if not wait_until(held, self.sender_wait_s, poll_s=0.2):
            state = lease.state()
            current = state.holder if state and state.holder else "a lease holder"
            raise SenderBusy(self.network.name, self.account, current, self.sender_wait_s)
        journal.fence = lease
        try:
            yield
        finally:
            journal.fence = None
            lease.release()

    def chain_key(self) -> str:
        """The chain this session sends on, as the sender lock names it (one RPC call, then cached)."""
        if self._chain_key is None:
            from hedger.execution.lease import SenderLock

            genesis = self.reader.rpc.request("eth_getBlockByNumber", ["0x0", False])
            self._chain_key = SenderLock.chain_key(self.network.chain_id, str(genesis["hash"]), self.rpc_url)
        return self._chain_key

    def _cycle(
        self,
        execute: bool,
        restrictions: tuple[GuardResult, ...],
        state: PlannerState | None,
        simulate: bool,
        remember: bool | None,
        read_after: bool,
    ) -> Cycle:
        state = state if state is not None else self.state()
        started = time.monotonic()
        before = self.snapshot()
        snapshot_s = time.monotonic() - started
        gate_results, gate = self.restrictions()
        plan = self.plan(before, state, tuple(restrictions) + gate_results + token_mismatches(before))
        report: ExecutionReport | None = None
        after: Snapshot | None = None
        if execute:
            report, mode = self.executor().execute(plan, before), "executed on chain"
        elif simulate:
            from hedger.execution.dry_run import dry_run

            simulated = dry_run(
                self.network,
                before,
                plan,
                self.rpc_url,
                self.send_policy,
                self.risk_gate,
                self.limits.dust_notional_usd,
            )
            report, after, mode = simulated.report, simulated.after, f"dry run: {simulated.method}"
        else:
            mode = "planned only"
        if remember if remember is not None else execute:
            state = self.remember(before, report if execute else None, state)
        if execute and read_after:
            after = self.snapshot()
        return Cycle(before, plan, report, state, gate, snapshot_s, mode, after)

    def executor(self) -> Executor:
        """The session's executor (one: its nonce manager lives as long as the session), with its gates."""
        if self._executor is None:
            self._executor = self._new_executor()
        return self._executor

    def _new_executor(self) -> Executor:
        from hedger.execution.executor import Executor
        from hedger.execution.sender import KeyAccount
        from hedger.execution.signer import load_signer

        signer = load_signer(self.key_env)
        if signer.address != self.account:
            raise HedgerError(
                f"the signing key in {self.key_env} belongs to {signer.address}, not to {self.account}",
                "act for the key's own account (drop --account), or configure that account's key",
            )
        return Executor(self.w3, self.network, KeyAccount(signer), self.journal, self.venues, self.send_policy,
                        self.retry_policy, self.reduce_when_halted, risk_gate=self.risk_gate,
                        dust_notional_usd=self.limits.dust_notional_usd)  # fmt: skip

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


def token_mismatches(snapshot: Snapshot) -> tuple[GuardResult, ...]:
    """A halt for each asset whose token the chain describes otherwise than the network file (decimals or
    symbol): its balance cannot be believed, so nothing is sized on it."""
    return tuple(
        GuardResult(Verdict.HALT, "token_mismatch", b.mismatch, {"token": b.token}, asset_scope(b.asset))
        for b in snapshot.balances
        if b.mismatch
    )


def gates_from_table(network: NetworkConfig, kill_switch_file: Path | None = None) -> Gates:
    """The gates of the network file's [keeper] table (`kill_switch_file`, `gas_budget_per_day` in the
    native coin, e.g. "0.05"), with an explicit kill-switch file taking precedence."""
    table = network.keeper
    budget = table.get("gas_budget_per_day")
    budget_wei = None if budget is None else int(Decimal(str(budget)) * 10**18)
    path = kill_switch_file or Path(table.get("kill_switch_file", DEFAULT_KILL_SWITCH_FILE))
    return Gates(path, budget_wei)


@dataclass(frozen=True)
class InputLimits:
    """What a caller may ask for ([execution] `ratio_min`, `ratio_max`) and the smallest order worth sending
    (`dust_notional_usd`)."""

    ratio_min: Decimal = Decimal(0)
    ratio_max: Decimal = Decimal(2)
    dust_notional_usd: Decimal = Decimal(1)

    @classmethod
    def of(cls, network: NetworkConfig) -> InputLimits:
        table = network.execution
        limits = cls(
            table.get("ratio_min", cls.ratio_min),
            table.get("ratio_max", cls.ratio_max),
            table.get("dust_notional_usd", cls.dust_notional_usd),
        )
        if limits.ratio_min < 0:
            raise ConfigError(network.file, "execution.ratio_min", "must not be negative",
                              "a negative hedge ratio would turn the hedge into a long")  # fmt: skip
        if limits.ratio_max < limits.ratio_min:
            raise ConfigError(network.file, "execution.ratio_max", "must not be below ratio_min")
        return limits

    def check_configured(self, settings: StrategySettings, file: str) -> None:
        """The ratios the network file itself sets (sizing's default, each [strategy.ratio] asset's fixed ratio and
        fallback) are held to the same bounds as --ratio: a file cannot size past them."""
        configured = {"strategy.sizing.default_ratio": settings.sizing.default_ratio}
        for asset, spec in settings.ratio.assets.items():
            for name in ("ratio", "fallback"):
                configured[f"strategy.ratio.{asset}.{name}"] = getattr(spec, name)
        for key, ratio in configured.items():
            if ratio is not None and not self.ratio_min <= ratio <= self.ratio_max:
                raise ConfigError(file, key, f"{ratio} is outside [{self.ratio_min}, {self.ratio_max}]",
                                  f"a ratio is the hedged fraction of the exposure (1: full hedge); lower it, or widen"
                                  f" execution.ratio_min/ratio_max in {file} if you mean it")  # fmt: skip


def known_assets(network: NetworkConfig) -> set[str]:
    """Assets a hedge ratio may name: what the network's tokens, native coin and markets are exposed to."""
    return {network.native_asset} | {t.asset for t in network.tokens.values()} | hedgeable_assets(network)


def hedgeable_assets(network: NetworkConfig) -> set[str]:
    """Assets some venue of the network has a perp market for."""
    return {m.asset for v in network.venues.values() for m in v.markets.values()}


def known_asset(asset: str, known: set[str], source: str) -> str:
    """The network's own name for `asset` (matched without regard to case); a ConfigError naming the known ones
    (and the closest) when the network does not know it."""
    by_lower = {a.lower(): a for a in known}
    name = asset if asset in known else by_lower.get(asset.lower())
    if name is None:
        close = difflib.get_close_matches(asset.upper(), sorted(known), n=1)
        hint = (f"did you mean {close[0]}? " if close else "") + f"known assets: {', '.join(sorted(known))}"
        raise ConfigError(source, asset, "unknown asset", hint)
    return name


def validate_ratios(ratios: dict[str, Decimal], known: set[str], limits: InputLimits) -> dict[str, Decimal]:
    """Every ratio finite and within [ratio_min, ratio_max], for an asset the network knows (matched without
    regard to case, reported with its own name); anything else is a ConfigError and nothing is sent."""
    checked: dict[str, Decimal] = {}
    for asset, ratio in ratios.items():
        name = known_asset(asset, known, "--ratio")
        if not ratio.is_finite():
            raise ConfigError("--ratio", name, f"{ratio} is not a finite number", "give a ratio such as 0.5 or 1")
        if not limits.ratio_min <= ratio <= limits.ratio_max:
            raise ConfigError(
                "--ratio", name, f"{ratio} is outside [{limits.ratio_min}, {limits.ratio_max}]",
                "a ratio is the hedged fraction of the exposure (1: full hedge); a long is never implied by a sign;"
                " widen execution.ratio_min/ratio_max in the network file if you mean it",
            )  # fmt: skip
        if name in checked and checked[name] != ratio:
            raise ConfigError("--ratio", name, f"given twice ({checked[name]} and {ratio})")
        checked[name] = ratio
    return checked


def _execution_settings(network: NetworkConfig) -> tuple[SendPolicy, RetryPolicy, bool]:
    """The [execution] table: SendPolicy fields, RetryPolicy fields, and `reduce_when_halted`."""
    table = dict(network.execution)
    reduce_when_halted = table.pop("reduce_when_halted", False)
    for key in ("ratio_min", "ratio_max", "dust_notional_usd", "sender_wait_s"):
        table.pop(key, None)
    retry_keys = set(RetryPolicy.__dataclass_fields__)
    retry = {k: table.pop(k) for k in list(table) if k in retry_keys}
    try:
        return SendPolicy.from_mapping(table), RetryPolicy(**retry), bool(reduce_when_halted)
    except (TypeError, ValueError) as error:
        raise ConfigError(network.file, "execution", str(error)) from error


def parse_ratios(values: list[str] | None) -> dict[str, Decimal]:
    """--ratio ETH=0.5 --ratio BTC=1 → {"ETH": Decimal("0.5"), "BTC": Decimal(1)}."""
    ratios: dict[str, Decimal] = {}
    for value in values or []:
        asset, sep, ratio = value.partition("=")
        try:
            if not sep or not asset.strip():
                raise ArithmeticError
            parsed = Decimal(ratio.strip())
        except ArithmeticError:
            raise ConfigError("--ratio", value, "expected ASSET=DECIMAL, e.g. ETH=0.5") from None
        if asset.strip() in ratios and ratios[asset.strip()] != parsed:
            raise ConfigError("--ratio", asset.strip(), f"given twice ({ratios[asset.strip()]} and {parsed})")
        ratios[asset.strip()] = parsed
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
