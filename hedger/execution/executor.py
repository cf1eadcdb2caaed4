"""Carry out a Plan: one journalled intent per action, its transactions sent through the Sender.

- A halted plan sends nothing.
- On start, `reconcile` brings every unfinished intent of the account to its outcome first (receipts,
  nonces, pending async orders), so a restart never sends a second order for an intent.
- Never a new order on a market while one is pending there (on the venue, or in the journal).
- Async orders are tracked until executed, cancelled or expired; cancellations are decoded; orders
  that keep failing on a market are retried at most `RetryPolicy.max_failures` times, with backoff.
- Collateral on an isolated-margin market (GMX v2) belongs to the position: an ADD_COLLATERAL there is an
  order of size 0 with the collateral (`encode_order`), approved to the venue's spender like any order's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3

from hedger.errors import (
    ExecutionError,
    FeeCapExceeded,
    LeaseLost,
    SimulationFailed,
    TransactionTimeout,
    TxRejected,
)
from hedger.execution.journal import Intent, IntentStatus, Journal, TxRecord, TxStatus
from hedger.execution.policy import RetryPolicy, SendPolicy
from hedger.execution.sender import Sender, TxAccount
from hedger.model import Action, ActionKind, MarginMode, Market, Plan, Snapshot, Verdict
from hedger.settings import NetworkConfig
from hedger.venues.base import Approval, AsyncVenue, OrderIntent, TxRequest, UnsupportedOrder, Venue

log = logging.getLogger(__name__)
ORDER_KINDS = (ActionKind.OPEN, ActionKind.INCREASE, ActionKind.DECREASE, ActionKind.CLOSE)
COLLATERAL_KINDS = (ActionKind.ADD_COLLATERAL, ActionKind.WITHDRAW_COLLATERAL)
_ALLOWANCE = function_signature_to_4byte_selector("allowance(address,address)")
_APPROVE = function_signature_to_4byte_selector("approve(address,uint256)")


@dataclass(frozen=True)
class ActionOutcome:
    action: Action
    status: str  # "done" | "order_pending" | "unconfirmed" | "skipped" | "failed" | "rejected"
    detail: str = ""
    intent_id: str | None = None
    tx_hashes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExecutionReport:
    outcomes: tuple[ActionOutcome, ...] = ()
    reconciled: tuple[str, ...] = ()
    halted: bool = False

    @property
    def failed(self) -> bool:
        return any(o.status in ("failed", "rejected") for o in self.outcomes)

    @property
    def rejected(self) -> tuple[ActionOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "rejected")

    @property
    def sent(self) -> tuple[ActionOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status in ("done", "order_pending"))


@dataclass
class Executor:
    w3: Web3
    network: NetworkConfig
    account: TxAccount
    journal: Journal
    venues: Mapping[str, Venue]
    policy: SendPolicy = field(default_factory=SendPolicy)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    reduce_when_halted: bool = False  # send a halted plan's risk-reducing actions (bounded at an anchor price)
    risk_gate: Callable[[], str | None] | None = None  # asked right before each risk-adding action (kill switch)
    dust_notional_usd: Decimal = Decimal(1)  # no order smaller than this (nor than the venue's minimum)

    def __post_init__(self) -> None:
        self.sender = Sender(self.w3, self.network, self.account, self.journal, self.policy)

    # ------------------------------------------------------------------ restart safety

    def reconcile(self, unfinished: list[Intent] | None = None) -> tuple[str, ...]:
        """Finish what a previous run left unfinished (`unfinished`, or the journal's), before anything
        new is sent."""
        if unfinished is None:
            unfinished = self.journal.unfinished(self.account.address, self.network.name)
        notes = []
        for intent in unfinished:
            notes.append(f"{intent.id[:8]} {intent.kind} {intent.venue}:{intent.symbol}: {self._reconcile(intent)}")
        return tuple(notes)

    def _reconcile(self, intent: Intent) -> str:
        if intent.status is IntentStatus.PLANNED:
            self.journal.set_intent_status(intent.id, IntentStatus.ABANDONED, "nothing was signed; replanned")
            return "abandoned (nothing was signed)"
        if intent.status is IntentStatus.ORDER_PENDING:
            return self._follow_order(intent)
        receipt = None
        try:
            for record in self._open_tx_heads(intent):
                receipt = self.sender.resume(record, f"{intent.kind} {intent.symbol}") or receipt
        except LeaseLost:
            raise  # another keeper holds the account now: it reconciles this intent; nothing is written here
        except FeeCapExceeded as error:  # its bytes were refused and fresh ones would pass the cap: nothing pending
            self.journal.set_intent_status(intent.id, IntentStatus.ABANDONED, str(error))
            return f"abandoned: {error}"
        except ExecutionError as error:
            self.journal.set_intent_status(intent.id, IntentStatus.FAILED, str(error))
            return f"failed: {error}"
        return self._conclude(intent, receipt)

    def _open_tx_heads(self, intent: Intent) -> list[TxRecord]:
        """Per nonce of the intent without an outcome, its latest transaction still open (a reorg may have
        reopened an earlier one whose replacements were marked replaced)."""
        heads: dict[int, TxRecord] = {}
        closed: set[int] = set()
        for record in self.journal.txs(intent.id):
            if record.status in (TxStatus.MINED, TxStatus.REVERTED, TxStatus.DROPPED):
                closed.add(record.nonce)
            elif not record.status.final:
                heads[record.nonce] = record
        return [r for n, r in heads.items() if n not in closed]

    def recheck_included(self) -> tuple[str, ...]:
        """Every included-but-not-final transaction of the account, against the chain: still in a canonical
        block (final once `confirmations` blocks sit on it), moved to another block, or removed by a reorg
        (then back to broadcast, its intent open again: reconciliation rebroadcasts the same bytes)."""
        records = self.journal.included_not_final(self.account.address, self.network.name)
        if not records:
            return ()
        head = int(self.sender.rpc.request("eth_blockNumber", []), 16)
        notes = []
        for record in records:
            receipt = self.sender.rpc.request("eth_getTransactionReceipt", [record.tx_hash])
            if receipt:
                block, block_hash = int(receipt["blockNumber"], 16), receipt["blockHash"]
                if block != record.block_number or block_hash != record.block_hash:
                    self.journal.set_tx_status(record.id, record.status, block, block_hash=block_hash)
                    notes.append(f"{record.tx_hash[:10]} moved to block {block} by a reorg")
                if head - block >= self.network.confirmations:
                    self.journal.finalize(record.id)
                continue
            self.journal.reorged_out(record.id, f"no receipt at head {head}")
            log.warning("transaction removed by a reorg", extra={"hash": record.tx_hash, "block": record.block_number})
            notes.append(f"{record.tx_hash[:10]} (block {record.block_number}) removed by a reorg: reopened")
        return tuple(notes)

    def _conclude(self, intent: Intent, receipt: dict | None) -> str:
        txs = self.journal.txs(intent.id)
        if any(t.status in (TxStatus.REVERTED, TxStatus.DROPPED) for t in txs):
            self.journal.set_intent_status(intent.id, IntentStatus.FAILED, "a transaction reverted or was dropped")
            return "failed"
        main = [t for t in txs if t.purpose == "main" and t.status is TxStatus.MINED]
        rejected = [t for t in txs if t.status is TxStatus.REJECTED]
        if not main and rejected and not any(t.status is TxStatus.MINED and t.nonce == rejected[-1].nonce for t in txs):
            reason = f"rejected by the node: {rejected[-1].error}"
            self.journal.set_intent_status(intent.id, IntentStatus.ABANDONED, reason)
            return f"abandoned ({reason})"
        if not main:
            self.journal.set_intent_status(intent.id, IntentStatus.ABANDONED, "its main transaction was never signed")
            return "abandoned (main transaction never signed)"
        return self._mined(intent, receipt or self._receipt(main[-1].tx_hash))

    def _mined(self, intent: Intent, receipt: dict) -> str:
        venue = self.venues[intent.venue]
        order_id = None
        if isinstance(venue, AsyncVenue):
            order_id = venue.order_id_from_receipt(self.w3.eth.get_transaction_receipt(receipt["transactionHash"]))
        if order_id is not None:
            self.journal.set_intent_status(intent.id, IntentStatus.ORDER_PENDING, order_id=order_id)
            return f"order {order_id} pending on the venue"
        self.journal.set_intent_status(intent.id, IntentStatus.DONE)
        return "done"

    def _follow_order(self, intent: Intent) -> str:
        venue = self.venues[intent.venue]
        if not isinstance(venue, AsyncVenue) or intent.order_id is None:  # only an asynchronous venue's order waits
            message = f"{intent.venue} keeps no pending orders to follow"
            self.journal.set_intent_status(intent.id, IntentStatus.FAILED, message)
            return f"failed: {message}"
        outcome = venue.order_outcome(intent.order_id, intent.plan_block)
        if outcome.status == "executed":
            self.journal.set_intent_status(intent.id, IntentStatus.DONE)
        elif outcome.status == "cancelled":
            self.journal.set_intent_status(intent.id, IntentStatus.FAILED, f"cancelled by the venue: {outcome.reason}")
        return f"order {intent.order_id} {outcome.status}" + (f": {outcome.reason}" if outcome.reason else "")

    # ------------------------------------------------------------------ a plan

    def execute(self, plan: Plan, snapshot: Snapshot) -> ExecutionReport:
        """Send the plan's actions. A halted plan sends nothing (unless `reduce_when_halted`, and then
        only risk-reducing actions); under reduce-only, a risk-adding action is refused here too."""
        self.sender.nonces.resync()  # the chain's pending count, every cycle (a reorg or revert may have moved it)
        reorged = self.recheck_included()
        unfinished = self.journal.unfinished(self.account.address, self.network.name)
        reconciled = reorged + self.reconcile(unfinished)
        if plan.halted and not self.reduce_when_halted:
            return ExecutionReport(reconciled=reconciled, halted=True)
        landed = self._landed_after(unfinished, plan.block_number)
        if landed:  # e.g. an order signed before a crash, broadcast again just now: the plan never saw it
            note = f"not sent: {landed} reached the chain after block {plan.block_number}, which the plan read; replan"
            return ExecutionReport(tuple(ActionOutcome(a, "skipped", note) for a in plan.actions), reconciled,
                                   halted=plan.halted)  # fmt: skip
        outcomes: list[ActionOutcome] = []
        blocked: str | None = None
        for action in plan.actions:
            if self.sender.stop is not None and self.sender.stop.is_set():
                blocked = "fees: stopping (SIGTERM): not sent"
            if blocked and (not action.reduces_risk or blocked.startswith("fees")):
                outcomes.append(ActionOutcome(action, "skipped", f"not sent: {blocked}"))
                continue
            outcome = self._execute(action, plan, snapshot)
            outcomes.append(outcome)
            if outcome.status in ("failed", "rejected") and not blocked:
                # the plan's later orders were sized on this one (collateral first) or face the same fees
                if "above the cap" in outcome.detail:
                    blocked = f"fees are above the cap ({outcome.detail})"
                elif action.kind in COLLATERAL_KINDS:
                    blocked = f"the {action.kind.value} it relies on did not go through"
        return ExecutionReport(tuple(outcomes), reconciled, halted=plan.halted)

    def _landed_after(self, intents: list[Intent], block: int) -> str | None:
        """An intent that was sending and that reconciliation completed, its main transaction mined after
        `block`, if any."""
        landed = (IntentStatus.DONE, IntentStatus.ORDER_PENDING)
        for intent in intents:
            if intent.status is not IntentStatus.SENDING or self.journal.intent(intent.id).status not in landed:
                continue
            txs = self.journal.txs(intent.id)
            if any(t.purpose == "main" and t.status is TxStatus.MINED and (t.block_number or 0) > block for t in txs):
                return f"{intent.kind} {intent.venue}:{intent.symbol} ({intent.id[:8]})"
        return None

    def _execute(self, action: Action, plan: Plan, snapshot: Snapshot) -> ActionOutcome:
        refusal = self._refusal(action, plan, snapshot)
        if refusal:
            return ActionOutcome(action, "skipped", refusal)
        venue = self.venues[action.venue]
        intent = self.journal.record_intent(self.network.name, self.network.chain_id, self.account.address, action,
                                            plan.block_number)  # fmt: skip
        hashes: list[str] = []
        try:
            receipt = None
            for purpose, request in self.transactions(venue, action, snapshot):
                receipt = self.sender.send(intent.id, request, purpose)
                hashes.append(receipt["transactionHash"])
        except LeaseLost:
            raise  # fenced off: the keeper holding the account now reconciles the intent
        except TransactionTimeout as error:  # it may still be mined: the intent stays open for reconcile
            return ActionOutcome(action, "unconfirmed", str(error).split("\n")[0], intent.id, tuple(hashes))
        except FeeCapExceeded as error:  # nothing of it is pending: not a market failure (no retry backoff)
            message = str(error).split("\n")[0]
            self.journal.set_intent_status(intent.id, IntentStatus.ABANDONED, message)
            return ActionOutcome(action, "failed", message, intent.id, tuple(hashes))
        except TxRejected as error:  # the node refused it, and re-signing did not help: abandon, re-plan next run
            message = str(error).split("\n")[0]
            self.journal.set_intent_status(intent.id, IntentStatus.ABANDONED, f"rejected by the node: {message}")
            log.warning("intent abandoned: the node rejected its transaction", extra={"intent": intent.id,
                        "reason": error.code, "error": message})  # fmt: skip
            return ActionOutcome(action, "rejected", message, intent.id, tuple(hashes))
        except (SimulationFailed, ExecutionError, UnsupportedOrder) as error:
            self.journal.set_intent_status(intent.id, IntentStatus.FAILED, str(error))
            return ActionOutcome(action, "failed", str(error).split("\n")[0], intent.id, tuple(hashes))
        if receipt is None:
            message = f"{action.venue} encoded no transaction for this {action.kind.value}; nothing was sent"
            self.journal.set_intent_status(intent.id, IntentStatus.FAILED, message)
            return ActionOutcome(action, "failed", message, intent.id)
        note = self._mined(self.journal.intent(intent.id), receipt)
        status = "order_pending" if "pending" in note else "done"
        return ActionOutcome(action, status, note, intent.id, tuple(hashes))

    def _refusal(self, action: Action, plan: Plan, snapshot: Snapshot) -> str | None:
        if action.venue not in self.venues:
            return f"unknown venue {action.venue}"
        if not action.reduces_risk:
            if plan.verdict is not Verdict.ALLOW:
                return f"risk-adding action under a {plan.verdict.value} verdict"
            gate = self.risk_gate() if self.risk_gate else None
            if gate:
                return gate
        position_collateral = _isolated_collateral(action, snapshot)
        if action.kind not in ORDER_KINDS and not position_collateral:
            return None
        return self._order_refusal(action, snapshot, position_collateral)

    def _order_refusal(self, action: Action, snapshot: Snapshot, position_collateral: bool) -> str | None:
        """Why an order (or an isolated position's collateral order) may not be sent now, if it may not."""
        where = f"{action.venue}:{action.symbol}"
        if position_collateral and snapshot.position(action.venue, action.symbol) is None:
            return f"isolated margin: collateral belongs to a position, and there is none on {where}"
        if action.acceptable_price is None:
            return "no acceptable price: every order needs a slippage bound"
        dust = self._dust(action, snapshot)
        if dust:
            return dust
        pending = snapshot.pending(action.venue, action.symbol) or self._open_in_journal(action)
        if pending and not position_collateral:  # a collateral-only order changes no size: it may go alongside
            return "an order is already pending on this market"
        failures = self.journal.recent_failures(
            self.account.address, action.venue, action.symbol, time.time() - self.retry.window_s
        )
        if failures >= self.retry.max_failures:
            return f"{failures} failed orders on this market in {self.retry.window_s} s: not retrying (retry cap)"
        last = self._last_failure_at(action)
        if last is not None and time.time() - last < self.retry.wait_s(failures):
            return f"backing off {self.retry.wait_s(failures)} s after {failures} failed order(s)"
        return None

    def _dust(self, action: Action, snapshot: Snapshot) -> str | None:
        """Why an order is too small to send (below the venue's minimum size or notional, or the configured
        dust notional), if it is. A CLOSE is never dust: it removes what is there, whatever its size."""
        size = abs(action.size_delta)
        if size == 0 or action.kind is ActionKind.CLOSE or action.acceptable_price is None:
            return None
        market = snapshot.market(action.venue, action.symbol)
        notional = size * action.acceptable_price
        floor = max(self.dust_notional_usd, market.min_notional_usd if market else Decimal(0))
        if market is not None and market.min_size and size < market.min_size:
            return f"dust: {size} {action.symbol} is below the venue's minimum size {market.min_size}"
        if notional < floor:
            return f"dust: {size} {action.symbol} (~{notional:.6g} USD) is below the minimum order of {floor} USD"
        return None

    def _open_in_journal(self, action: Action) -> bool:
        return any(
            i.venue == action.venue and i.symbol == action.symbol and i.kind in {k.value for k in ORDER_KINDS}
            for i in self.journal.unfinished(self.account.address, self.network.name)
        )

    def _last_failure_at(self, action: Action) -> float | None:
        failed = [
            i for i in self.journal.intents(self.account.address)
            if i.venue == action.venue and i.symbol == action.symbol and i.status is IntentStatus.FAILED
        ]  # fmt: skip
        if not failed:
            return None
        events = self.journal.events(failed[-1].id)
        return events[-1]["at"] if events else None

    # ------------------------------------------------------------------ transactions of an action

    def transactions(self, venue: Venue, action: Action, snapshot: Snapshot) -> list[tuple[str, TxRequest]]:
        account = self.account.address
        if action.kind is ActionKind.CANCEL_ORDER:
            order = next(o for o in snapshot.pending(action.venue, action.symbol) if o.order_id == action.order_id)
            return [("main", venue.encode_cancel(account, order))]
        if action.kind in COLLATERAL_KINDS and not _isolated_collateral(action, snapshot):
            amount = _signed_collateral(action)
            approvals = venue.approvals(account, None, amount)
            return self._approvals(approvals) + [("main", r) for r in venue.encode_collateral(account, amount)]
        market = snapshot.market(action.venue, action.symbol)
        if market is None:
            raise ExecutionError(f"market {action.venue}:{action.symbol} is not in the snapshot")
        intent = self._order_intent(action, market, snapshot)
        approvals = venue.approvals(account, intent, intent.collateral_delta)
        return self._approvals(approvals) + [("main", r) for r in venue.encode_order(account, intent)]

    @staticmethod
    def _order_intent(action: Action, market: Market, snapshot: Snapshot) -> OrderIntent:
        """The order an action is: a trade, or on an isolated market a collateral change of size 0 (not
        reduce-only: it moves no size; the venue tells a top-up from a withdrawal by the collateral's sign)."""
        funding = snapshot.funding_of(action.venue, action.symbol)
        oracle = snapshot.oracle(market.asset)
        reference_price = (funding.index_price if funding else None) or (oracle.price if oracle else None)
        position = snapshot.position(action.venue, action.symbol)
        if action.acceptable_price is None:
            raise ExecutionError(
                f"{action.venue}:{action.symbol}: a {action.kind.value} order needs an acceptable price",
                "give the action an acceptable_price (build_plan sets one on every order); nothing was sent",
            )
        if action.kind in COLLATERAL_KINDS:
            return OrderIntent(market, Decimal(0), action.acceptable_price, False, _signed_collateral(action),
                               reference_price=reference_price, position=position)  # fmt: skip
        return OrderIntent(
            market, action.size_delta, action.acceptable_price, action.reduces_risk, action.collateral_delta,
            reference_price=reference_price, position=position,
        )  # fmt: skip

    def _approvals(self, approvals: list[Approval]) -> list[tuple[str, TxRequest]]:
        """Approve exactly what is missing (never an unlimited allowance)."""
        requests = []
        for approval in approvals:
            current = self._allowance(approval.token, approval.spender)
            if current < approval.amount:
                data = _APPROVE + abi_encode(["address", "uint256"], [approval.spender, approval.amount])
                requests.append(
                    ("approve", TxRequest(approval.token, data, f"approve {approval.amount} to {approval.spender}"))
                )
        return requests

    def _allowance(self, token: str, spender: str) -> int:
        data = _ALLOWANCE + abi_encode(["address", "address"], [self.account.address, spender])
        result = self.sender.rpc.request("eth_call", [{"to": token, "data": "0x" + data.hex()}, "latest"])
        return int(result, 16) if result and result != "0x" else 0

    def _receipt(self, tx_hash: str) -> dict:
        return self.sender.rpc.request("eth_getTransactionReceipt", [tx_hash])


def _signed_collateral(action: Action) -> Decimal:
    """Collateral in (> 0) for ADD_COLLATERAL, out (< 0) for WITHDRAW_COLLATERAL."""
    amount = abs(action.collateral_delta)
    return amount if action.kind is ActionKind.ADD_COLLATERAL else -amount


def _isolated_collateral(action: Action, snapshot: Snapshot) -> bool:
    """A collateral action on an isolated-margin market (its symbol is the market's, not a token's)."""
    if action.kind not in COLLATERAL_KINDS:
        return False
    market = snapshot.market(action.venue, action.symbol)
    return market is not None and market.margin_mode is MarginMode.ISOLATED
