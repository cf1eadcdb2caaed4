"""Send one transaction safely: allowlisted destination, simulated first, EIP-1559 fees under a cap,
a journalled nonce, signed bytes written down before broadcast, receipt awaited, a stuck
transaction replaced with a fee bump, and every outcome recorded.

Nothing is sent that was not simulated first; a failing simulation sends nothing and raises
`SimulationFailed` with the decoded revert reason.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from web3 import Web3

from hedger.chain.connect import Chain
from hedger.chain.revert import RevertReason, decode_revert, known_abis
from hedger.errors import (
    ChainIdMismatch,
    ExecutionError,
    FeeBelowBaseFee,
    FeeCapExceeded,
    GasAboveBlockLimit,
    InsufficientFunds,
    IntrinsicGasTooLow,
    NonceTooHigh,
    NonceTooLow,
    NotAllowlisted,
    RpcError,
    SimulationFailed,
    TransactionReverted,
    TransactionTimeout,
    TxRejected,
    Underpriced,
    WrongChainId,
)
from hedger.execution.journal import Journal, TxRecord, TxStatus, checkpoint
from hedger.execution.nonces import NonceManager
from hedger.execution.policy import SendPolicy
from hedger.settings import NetworkConfig
from hedger.venues.base import TxRequest

log = logging.getLogger(__name__)
GWEI = 10**9
RECEIPT_LAG_S = 5.0  # how long a receipt may trail its nonce on the node before the nonce counts as taken


# How nodes (geth, erigon, reth, Anvil, Nitro) word a refused transaction, first match wins.
_REJECTIONS: tuple[tuple[str, type[TxRejected]], ...] = (
    ("less than block base fee", FeeBelowBaseFee),
    ("fee cap less than", FeeBelowBaseFee),
    ("max fee per gas less than", FeeBelowBaseFee),
    ("replacement transaction underpriced", Underpriced),
    ("transaction underpriced", Underpriced),
    ("tip too low", Underpriced),
    ("nonce too low", NonceTooLow),
    ("nonce too high", NonceTooHigh),
    ("insufficient funds", InsufficientFunds),
    ("intrinsic gas too low", IntrinsicGasTooLow),
    ("gas_limit > env.block.gas_limit", GasAboveBlockLimit),
    ("exceeds block gas limit", GasAboveBlockLimit),
    ("gas limit reached", GasAboveBlockLimit),
    ("invalid chain id", WrongChainId),
    ("chain id mismatch", WrongChainId),
    ("incorrect chain id", WrongChainId),
)


def classify_rejection(error: RpcError) -> TxRejected | None:
    """The typed rejection an eth_sendRawTransaction error is, or None (not a rejection: an outage)."""
    message = str(error.args[0] if error.args else error)
    lowered = message.lower()
    for needle, kind in _REJECTIONS:
        if needle in lowered:
            return kind(message)
    return None


class TxAccount(Protocol):
    """Who sends: the user's key (signs locally) or, in dry runs on a fork, an impersonated address."""

    address: str

    def sign(self, tx: dict[str, Any]) -> tuple[str, str] | None:
        """(hash, raw) of the signed transaction, or None when the node signs (impersonation)."""
        ...


@dataclass
class KeyAccount:
    account: LocalAccount
    address: str = field(init=False)

    def __post_init__(self) -> None:
        self.address = self.account.address

    def __repr__(self) -> str:  # never show the key
        return f"KeyAccount({self.address})"

    def sign(self, tx: dict[str, Any]) -> tuple[str, str]:
        signed = self.account.sign_transaction(tx)
        return "0x" + signed.hash.hex().removeprefix("0x"), "0x" + signed.raw_transaction.hex().removeprefix("0x")


@dataclass
class ImpersonatedAccount:
    address: str

    def sign(self, tx: dict[str, Any]) -> None:
        return None


@dataclass(frozen=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    def bumped(self, bump: Decimal, floor: Fees) -> Fees:
        factor = 1 + bump
        return Fees(
            max(int(self.max_fee_per_gas * factor) + 1, floor.max_fee_per_gas),
            max(int(self.max_priority_fee_per_gas * factor) + 1, floor.max_priority_fee_per_gas),
        )


class Sender:
    def __init__(self, w3: Web3, network: NetworkConfig, account: TxAccount, journal: Journal, policy: SendPolicy):
        self.rpc = Chain.of(w3).rpc
        self.network, self.account, self.journal, self.policy = network, account, journal, policy
        chain_id = int(self.rpc.request("eth_chainId", []), 16)
        if chain_id != network.chain_id:
            raise ChainIdMismatch(network.chain_id, chain_id, network.file)
        self.nonces = NonceManager(self.rpc, account.address)
        self._abis = known_abis()
        self.metrics_rejections = 0  # node rejections seen (apart from RPC failures)
        self.stop: threading.Event | None = None  # set (SIGTERM): stop waiting, leave the transaction in flight

    # ------------------------------------------------------------------ checks before sending

    def check_destination(self, request: TxRequest) -> None:
        if not self.network.is_known_address(request.to):
            raise NotAllowlisted(request.to, self.network.file)

    def simulate(self, request: TxRequest) -> bytes:
        """eth_call from the account at the latest block; a revert raises SimulationFailed (decoded)."""
        self.check_destination(request)
        try:
            result = self.rpc.request("eth_call", [self._call_object(request), "latest"])
        except RpcError as error:
            raise SimulationFailed(request.description, self._reason_of(error)) from None
        return bytes.fromhex(result.removeprefix("0x"))

    def base_fee(self) -> int:
        """The base fee the next block will charge: the pending block's, else the latest's."""
        fees = []
        for tag in ("pending", "latest"):
            try:
                block = self.rpc.request("eth_getBlockByNumber", [tag, False])
            except RpcError:
                block = None
            if isinstance(block, dict) and block.get("baseFeePerGas"):
                fees.append(int(block["baseFeePerGas"], 16))
            if tag == "pending" and fees:
                break
        return max(fees, default=0)

    def fees(self) -> Fees:
        base_fee = self.base_fee()
        cap = int(self.policy.max_fee_per_gas_gwei * GWEI)
        if base_fee > cap:
            raise FeeCapExceeded(f"base fee {base_fee / GWEI:.2f} gwei is above the cap of {cap / GWEI:.2f} gwei")
        suggested = int(self.rpc.request("eth_maxPriorityFeePerGas", []), 16)
        priority = min(suggested, int(self.policy.max_priority_fee_gwei * GWEI))
        max_fee = min(int(base_fee * self.policy.base_fee_multiplier) + priority, cap)
        return Fees(max(max_fee, priority), priority)

    # ------------------------------------------------------------------ sending

    def send(self, intent_id: str, request: TxRequest, purpose: str) -> dict[str, Any]:
        """Simulate, sign, journal, broadcast, confirm. Returns the receipt of the mined transaction."""
        self.simulate(request)
        gas = self._estimate_gas(request)
        fees = self.fees()
        nonce = self.nonces.allocate()
        tx = {
            "type": 2, "chainId": self.network.chain_id, "nonce": nonce, "to": Web3.to_checksum_address(request.to),
            "data": "0x" + request.data.hex(), "value": request.value, "gas": gas,
            "maxFeePerGas": fees.max_fee_per_gas, "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
        }  # fmt: skip
        record = self._sign_record_broadcast(intent_id, tx, purpose, fees, replaces=None)
        sent = {"account": self.account.address, "hash": record.tx_hash, "nonce": nonce, "to": request.to}
        log.info("transaction sent", extra={**sent, "purpose": purpose, "what": request.description})
        return self._await_receipt(record, tx, request.description)

    def resume(self, record: TxRecord, description: str) -> dict[str, Any] | None:
        """Bring a journalled, unfinished transaction to its outcome after a restart: find its receipt,
        notice its nonce was taken by another transaction, or rebroadcast the very same signed bytes."""
        family = self._family(record)
        receipt = self._first_receipt(family)
        if receipt is not None:
            return self._settle(family, receipt, description)
        if self._nonce_taken(family, record.nonce):
            for member in family:
                self.journal.set_tx_status(member.id, TxStatus.DROPPED, error="nonce used by another transaction")
            return None
        latest = record if not record.status.final else family[-1]
        if latest.status is TxStatus.REJECTED:
            return None  # refused by the node: never in the mempool, nothing to wait for
        tx = self._tx_of(latest)
        if latest.raw_tx:
            try:
                self._broadcast_raw(latest)
            except (FeeBelowBaseFee, Underpriced, NonceTooHigh) as rejection:
                # the same bytes can never be mined (a base fee above them, a gap): sign them anew, same call
                tx, fees = self._re_signable(tx, Fees(latest.max_fee_per_gas, latest.max_priority_fee_per_gas),
                                             rejection)  # fmt: skip
                latest = self._sign_record_broadcast(latest.intent_id, tx, latest.purpose, fees, replaces=latest.id)
        return self._await_receipt(latest, tx, description)

    def _sign_record_broadcast(
        self, intent_id: str, tx: dict[str, Any], purpose: str, fees: Fees, replaces: int | None
    ) -> TxRecord:
        """Sign, journal, broadcast; a rejection the node explains is journalled with its reason, and a fee
        or nonce rejection is re-signed (fresh fees under the cap; the chain's nonce) up to
        `policy.max_rejections` times. Other rejections (funds, gas, chain id) raise their typed error."""
        for attempt in range(self.policy.max_rejections + 1):
            try:
                return self._sign_record_broadcast_once(intent_id, tx, purpose, fees, replaces)
            except (FeeBelowBaseFee, Underpriced, NonceTooHigh) as rejection:
                if attempt == self.policy.max_rejections:
                    raise TxRejected(
                        f"{intent_id[:8]}: refused {attempt + 1} times by the node, last: {rejection}; abandoned",
                        "the next run re-plans from fresh state",
                    ) from None
                tx, fees = self._re_signable(tx, fees, rejection)
                log.warning("transaction rejected, re-signing", extra={"reason": rejection.code, "nonce": tx["nonce"],
                            "max_fee_per_gas": fees.max_fee_per_gas})  # fmt: skip
        raise AssertionError("unreachable")

    def _re_signable(self, tx: dict[str, Any], fees: Fees, rejection: TxRejected) -> tuple[dict[str, Any], Fees]:
        """The transaction to sign again after a fee or nonce rejection (FeeCapExceeded if fees must pass the cap)."""
        tx = dict(tx)
        if isinstance(rejection, NonceTooHigh):
            self.nonces.resync()
            tx["nonce"] = self.nonces.allocate()
            return tx, fees
        fresh = self.fees()
        if isinstance(rejection, Underpriced):
            fresh = fees.bumped(self.policy.replacement_bump, floor=fresh)
            cap = int(self.policy.max_fee_per_gas_gwei * GWEI)
            if fresh.max_fee_per_gas > cap:
                raise FeeCapExceeded(f"the node wants more than {fees.max_fee_per_gas / GWEI:.2f} gwei; the cap is "
                                     f"{cap / GWEI:.2f} gwei")  # fmt: skip
        tx.update(maxFeePerGas=fresh.max_fee_per_gas, maxPriorityFeePerGas=fresh.max_priority_fee_per_gas)
        return tx, fresh

    def _sign_record_broadcast_once(
        self, intent_id: str, tx: dict[str, Any], purpose: str, fees: Fees, replaces: int | None
    ) -> TxRecord:
        signed = self.account.sign(tx)
        if signed is None:  # impersonation (dry runs, never under a lease): the node signs, the hash comes back
            tx_hash = self.rpc.request("eth_sendTransaction", [_json_tx({**tx, "from": self.account.address})])
            record = self._record(intent_id, purpose, tx, tx_hash, "", fees, replaces)
            self.journal.set_tx_status(record.id, TxStatus.SENT)
            return record
        tx_hash, raw = signed
        record = self._record(intent_id, purpose, tx, tx_hash, raw, fees, replaces)
        self._broadcast_raw(record)
        return record

    def _record(
        self, intent_id: str, purpose: str, tx: dict[str, Any], tx_hash: str, raw: str, fees: Fees,
        replaces: int | None,
    ) -> TxRecord:  # fmt: skip
        return self.journal.record_signed(
            intent_id, purpose, tx["to"], tx["nonce"], tx_hash, raw, fees.max_fee_per_gas,
            fees.max_priority_fee_per_gas, replaces,
        )  # fmt: skip

    def _broadcast_raw(self, record: TxRecord) -> None:
        """Broadcast the journalled bytes, right after recording the broadcast in the journal (under a
        sender lease, in the transaction that checks its fencing token: `LeaseLost` there, and nothing
        is sent). The same bytes twice is harmless ("already known"); a nonce already used is left to the
        receipt wait (mined already, or taken); any other refusal is journalled as `rejected` with the
        node's reason and raised typed."""
        self.journal.record_broadcast(record.id)
        try:
            self.rpc.request("eth_sendRawTransaction", [record.raw_tx])
        except RpcError as error:
            message = str(error).lower()
            if "already known" in message or "already imported" in message or "known transaction" in message:
                pass  # the node has it: broadcasting the same bytes again is harmless
            else:
                rejection = classify_rejection(error)
                if rejection is None:
                    raise  # not a refusal of the transaction: the RPC failed
                if isinstance(rejection, NonceTooLow) and self._first_receipt([record]) is not None:
                    return  # these very bytes were mined already
                self.journal.set_tx_status(record.id, TxStatus.REJECTED, error=f"{rejection.code}: {message[:300]}")
                self.metrics_rejections += 1
                raise rejection from None
        self.journal.set_tx_status(record.id, TxStatus.SENT)

    # ------------------------------------------------------------------ confirmation and replacement

    def _await_receipt(self, record: TxRecord, tx: dict[str, Any], description: str) -> dict[str, Any]:
        started = last_broadcast = time.monotonic()
        family = self._family(record)
        replacing = True
        while time.monotonic() - started < self.policy.receipt_timeout_s:
            receipt = self._first_receipt(family)
            if receipt is not None:
                return self._settle(family, receipt, description)
            if self.stop is not None and self.stop.is_set():
                raise TransactionTimeout(f"stopping: {family[-1].tx_hash} left in flight; the next run reconciles it")
            if self._nonce_taken(family, tx["nonce"]):
                for member in family:
                    self.journal.set_tx_status(member.id, TxStatus.DROPPED, error="nonce used by another transaction")
                raise ExecutionError(f"nonce {tx['nonce']} was used by a transaction hedger did not send")
            if (
                replacing
                and time.monotonic() - last_broadcast >= self.policy.stuck_after_s
                and len(family) <= self.policy.max_replacements
            ):
                try:
                    family.append(self._replace(family[-1], tx))
                except FeeCapExceeded as error:  # the stuck one stays in the mempool: keep waiting for it
                    log.warning("not replacing: fees would pass the cap", extra={"error": str(error)[:200]})
                    replacing = False
                last_broadcast = time.monotonic()
            time.sleep(self.policy.poll_interval_s)
        raise TransactionTimeout(f"no receipt for {family[-1].tx_hash} after {self.policy.receipt_timeout_s:.0f} s")

    def _replace(self, stuck: TxRecord, tx: dict[str, Any]) -> TxRecord:
        """Same nonce, same call, fees up by at least the policy's bump (≥ 12.5%)."""
        old = Fees(stuck.max_fee_per_gas, stuck.max_priority_fee_per_gas)
        fees = old.bumped(self.policy.replacement_bump, floor=self.fees())
        cap = int(self.policy.max_fee_per_gas_gwei * GWEI)
        if fees.max_fee_per_gas > cap:
            raise FeeCapExceeded(
                f"replacing {stuck.tx_hash} needs {fees.max_fee_per_gas / GWEI:.2f} gwei, above the cap"
            )
        tx.update(maxFeePerGas=fees.max_fee_per_gas, maxPriorityFeePerGas=fees.max_priority_fee_per_gas)
        log.warning("replacing stuck transaction", extra={"tx": stuck.tx_hash, "nonce": stuck.nonce})
        return self._sign_record_broadcast(stuck.intent_id, dict(tx), stuck.purpose, fees, replaces=stuck.id)

    def _settle(self, family: list[TxRecord], receipt: dict[str, Any], description: str) -> dict[str, Any]:
        mined_hash = receipt["transactionHash"]
        status = TxStatus.MINED if int(receipt["status"], 16) == 1 else TxStatus.REVERTED
        block, gas_used = int(receipt["blockNumber"], 16), int(receipt["gasUsed"], 16)
        price = int(receipt.get("effectiveGasPrice", "0x0"), 16)
        for member in family:
            if member.tx_hash.lower() == mined_hash.lower():
                self.journal.set_tx_status(member.id, status, block, gas_used, price, block_hash=receipt["blockHash"])
            elif not member.status.final:
                self.journal.set_tx_status(member.id, TxStatus.REPLACED)
        log.info(
            "transaction mined",
            extra={"hash": mined_hash, "block": block, "status": status.value, "gas_used": gas_used},
        )
        if status is TxStatus.REVERTED:
            raise TransactionReverted(mined_hash, self._replay_reason(receipt))
        checkpoint("receipt_recorded")
        return receipt

    def _nonce_taken(self, family: list[TxRecord], nonce: int) -> bool:
        """True when `nonce` is used on chain and no transaction of the family has a receipt, even after
        `RECEIPT_LAG_S`: a node can count a mined nonce before it serves the receipt (Anvil does, and so
        do load-balanced RPCs), which must not pass for a transaction hedger did not send."""
        if not self.nonces.used(nonce):
            return False
        deadline = time.monotonic() + RECEIPT_LAG_S
        while self._first_receipt(family) is None:
            if time.monotonic() >= deadline:
                return True
            time.sleep(self.policy.poll_interval_s)
        return False

    def _family(self, record: TxRecord) -> list[TxRecord]:
        """The transaction and every replacement of it (same intent, same nonce)."""
        return [t for t in self.journal.txs(record.intent_id) if t.nonce == record.nonce]

    def _first_receipt(self, family: list[TxRecord]) -> dict[str, Any] | None:
        for member in family:
            receipt = self.rpc.request("eth_getTransactionReceipt", [member.tx_hash])
            if receipt:
                return receipt
        return None

    # ------------------------------------------------------------------ helpers

    def _estimate_gas(self, request: TxRequest) -> int:
        try:
            estimate = int(self.rpc.request("eth_estimateGas", [self._call_object(request)]), 16)
        except RpcError as error:
            raise SimulationFailed(request.description, self._reason_of(error)) from None
        return int(estimate * self.policy.gas_limit_multiplier)

    def _call_object(self, request: TxRequest) -> dict[str, Any]:
        return {
            "from": self.account.address,
            "to": request.to,
            "data": "0x" + request.data.hex(),
            "value": hex(request.value),
        }

    def _reason_of(self, error: RpcError) -> RevertReason:
        data = _revert_data(error)
        return decode_revert(data, self._abis) if data else RevertReason("RpcError", {"message": str(error)}, b"")

    def _replay_reason(self, receipt: dict[str, Any]) -> RevertReason:
        """Why a mined transaction reverted: replay it as a call at the block before."""
        tx = self.rpc.request("eth_getTransactionByHash", [receipt["transactionHash"]])
        call = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"]}
        try:
            self.rpc.request("eth_call", [call, hex(int(receipt["blockNumber"], 16) - 1)])
        except RpcError as error:
            return self._reason_of(error)
        return RevertReason("UnknownRevert", {}, b"")

    def _tx_of(self, record: TxRecord) -> dict[str, Any]:
        """The transaction a record signed: decoded from its journalled bytes, else read from the node."""
        if record.raw_tx:
            return _decode_raw(record.raw_tx)
        onchain = self.rpc.request("eth_getTransactionByHash", [record.tx_hash]) or {}
        return {
            "type": 2, "chainId": self.network.chain_id, "nonce": record.nonce, "to": record.to_address,
            "data": onchain.get("input", "0x"), "value": int(onchain.get("value", "0x0"), 16),
            "gas": int(onchain.get("gas", "0x0"), 16), "maxFeePerGas": record.max_fee_per_gas,
            "maxPriorityFeePerGas": record.max_priority_fee_per_gas,
        }  # fmt: skip


def _revert_data(error: RpcError) -> str | None:
    """The revert bytes an RPC error carries (JSON-RPC error.data), if any."""
    cause = error.args[0] if error.args else ""
    text = str(cause)
    start = text.find("'data': '0x")
    if start < 0:
        return None
    start += len("'data': '")
    return text[start : text.find("'", start)]


def _decode_raw(raw: str) -> dict[str, Any]:
    """The fields of a signed EIP-1559 transaction (its journalled raw bytes), ready to sign again."""
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
    return {
        "type": 2, "chainId": fields["chainId"], "nonce": fields["nonce"], "to": Web3.to_checksum_address(fields["to"]),
        "data": "0x" + bytes(fields["data"]).hex(), "value": fields["value"], "gas": fields["gas"],
        "maxFeePerGas": fields["maxFeePerGas"], "maxPriorityFeePerGas": fields["maxPriorityFeePerGas"],
    }  # fmt: skip


def _json_tx(tx: dict[str, Any]) -> dict[str, Any]:
    return {
        k: hex(v) if isinstance(v, int) and k != "type" else v for k, v in tx.items() if k not in ("type", "chainId")
    }
