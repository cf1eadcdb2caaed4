"""One exception hierarchy for hedger.

Every error says what went wrong and what to do about it (`hint`). None ever carries a private
key: code that handles keys raises with the account address instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hedger.chain.revert import RevertReason


class HedgerError(Exception):
    """Base class: a message, plus a hint telling the user what to do next."""

    hint: str = ""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message}\n  → {self.hint}" if self.hint else message


class ConfigError(HedgerError):
    """Bad or missing configuration: names the file and the key."""

    def __init__(self, file: str, key: str, problem: str, hint: str | None = None):
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}", hint or f"fix `{key}` in {file}")


class ToolchainError(HedgerError):
    """A required external tool (Anvil, node, solc-js) is missing or broken."""

    hint = "run `make setup` (it installs the Node tools with `npm ci`)"


class CompileError(HedgerError):
    """Solidity did not compile; `errors` lists (file, line, message) for each error."""

    def __init__(self, errors: list[tuple[str, int, str]]):
        self.errors = errors
        lines = [f"{file}:{line}: {message}" for file, line, message in errors]
        super().__init__("Solidity compilation failed:\n" + "\n".join(lines), "fix the source at the lines above")


class ChainError(HedgerError):
    """Something about the chain connection is wrong."""


class RpcError(ChainError):
    """The RPC endpoint failed or timed out, after retries."""

    hint = "check that the node is running and the RPC URL is right; transient errors are retried"


class RpcRefused(RpcError):
    """The endpoint answered over HTTP but refused the request (401, 403, 404...): not retried, the same
    request would be refused again."""

    hint = "check the RPC URL and its API key (printed redacted): the server is up but refuses this request"


class RpcTimeout(RpcError):
    """The RPC did not answer within the call's budget (a hanging node, or one far too slow)."""

    hint = "check the node (it accepts connections but does not answer); [network] rpc_timeout_s sets the budget"


class RequestTooLarge(RpcError):
    """The node refused a request as too large (HTTP 413, or -32600 "Invalid request" to an oversize body),
    even after splitting it as far as it goes. The node is up: it answered."""

    hint = (
        "lower [network] max_request_bytes (the size of one HTTP request) or eth_call_gas_cap (the work of one "
        "batched eth_call) in the network file, or raise the node's payload limit"
    )


class RpcGarbage(RpcError):
    """The RPC answered something that is not a valid JSON-RPC reply (or not the value asked for)."""

    hint = "the URL may not point at an Ethereum JSON-RPC node, or the node is broken; check the RPC URL"


class ChainIdMismatch(ChainError):
    """The RPC serves a different chain than the configuration names: nothing runs."""

    def __init__(self, expected: int, actual: int, source: str):
        self.expected, self.actual = expected, actual
        super().__init__(
            f"chain id mismatch: {source} expects {expected}, the RPC serves {actual}",
            "point the RPC URL at the right chain, or pick the network file that matches it",
        )


class NodeError(ChainError):
    """A local node (Anvil, Ganache) could not be started, died, did not answer in time, or refused a helper."""

    hint = (
        "see the node's output above; `make setup` installs Anvil and Ganache, HEDGER_ANVIL / HEDGER_GANACHE"
        " point at other ones"
    )


class NodeUnsupported(NodeError):
    """The local node kind cannot do what was asked (Ganache: no state dumps)."""


class DecodeError(ChainError):
    """A contract call answered with data that does not decode as its ABI says."""

    hint = "the address may not hold the contract the configuration says; check the network file"


class DataError(HedgerError, ValueError):
    """Price or return history that cannot be used as given (too short, non-positive prices, no time index)."""

    hint = "check the input data: a UTC time index, positive prices, enough complete observations"


class ExecutionError(HedgerError):
    """A transaction was not sent, or did not do what it should."""


class NotAllowlisted(ExecutionError):
    """A transaction would go to an address the network file does not name: refused, nothing sent."""

    def __init__(self, address: str, network_file: str):
        self.address = address
        super().__init__(
            f"refusing to send to {address}: it is not named in {network_file}",
            "only addresses in the network file receive transactions; add it there if it is right",
        )


class SimulationFailed(ExecutionError):
    """The transaction reverted in simulation (eth_call): nothing was sent. `reason` is decoded."""

    def __init__(self, description: str, reason: RevertReason):
        self.reason = reason
        super().__init__(f"simulation of '{description}' reverted: {reason}", "nothing was sent; see the reason")


class TransactionReverted(ExecutionError):
    """A sent transaction was mined but reverted."""

    def __init__(self, tx_hash: str, reason: RevertReason):
        self.tx_hash, self.reason = tx_hash, reason
        super().__init__(f"transaction {tx_hash} reverted on chain: {reason}")


class TransactionTimeout(ExecutionError):
    """No receipt in time, even after fee bumps; the journal keeps the transaction for the next run."""

    hint = "the transaction may still be mined: the next run reconciles it before sending anything new"


class FeeCapExceeded(ExecutionError):
    """The network asks for more than the configured fee cap: nothing sent."""

    hint = "wait for fees to fall, or raise execution.max_fee_per_gas_gwei in the network file"


class TxRejected(ExecutionError):
    """The node refused a signed transaction (it never entered the mempool). `code` names why; the
    journal records the rejection with the node's message. Not an outage: the RPC answered."""

    code = "rejected"
    hint = "the node refused the transaction; see the reason"

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(f"{self.code}: {message}", hint)


class FeeBelowBaseFee(TxRejected):
    """The max fee per gas is below the block's base fee: re-signed with fresh fees under the cap."""

    code = "fee_below_base_fee"
    hint = "hedger re-signs with fresh fees up to execution.max_fee_per_gas_gwei; above it, nothing is sent"


class Underpriced(TxRejected):
    """The node wants a higher fee (a replacement's bump, or its minimum tip): re-signed with fresh fees."""

    code = "underpriced"
    hint = "hedger re-signs with higher fees under the cap"


class NonceTooLow(TxRejected):
    """The nonce is already used on chain (mined, or by another transaction from the same key)."""

    code = "nonce_too_low"
    hint = "the nonce was used: hedger resyncs from the chain and re-evaluates the intent"


class NonceTooHigh(TxRejected):
    """The nonce leaves a gap the node will not queue (the local nonce ran ahead of the chain)."""

    code = "nonce_too_high"
    hint = "hedger resyncs its nonce from the chain's pending count and re-signs"


class IntrinsicGasTooLow(TxRejected):
    code = "intrinsic_gas_too_low"
    hint = "the gas limit is below the transaction's intrinsic cost: raise execution.gas_limit_multiplier"


class GasAboveBlockLimit(TxRejected):
    code = "gas_above_block_limit"
    hint = "the gas limit exceeds the block gas limit: the call is too large for this chain"


class WrongChainId(TxRejected):
    code = "wrong_chain_id"
    hint = "the transaction was signed for another chain: check network.chain_id against the RPC"


class InsufficientFunds(TxRejected):
    """The account cannot pay for gas (or the value sent)."""

    code = "insufficient_funds"
    hint = "fund the account with the chain's native coin"


class DatabaseError(HedgerError):
    """The journal's database could not be opened, or a transaction on it failed (nothing of it was written)."""

    hint = "check the --journal / HEDGER_JOURNAL target; a failed transaction wrote nothing and may be retried"


class SchemaTooNew(DatabaseError):
    """The database was written by a newer hedger: refused rather than misread."""

    def __init__(self, component: str, found: int, known: int, target: str):
        self.component, self.found, self.known = component, found, known
        super().__init__(
            f"{target}: the {component} schema is at version {found}, this hedger knows versions up to {known}",
            "upgrade hedger on this host (every keeper sharing the database must run the newer version)",
        )


class LeaseLost(ExecutionError):
    """This process does not hold the sender lease (another keeper took over, or it lapsed): nothing sent."""

    def __init__(self, network: str, account: str, token: int, reason: str):
        self.network, self.account, self.token, self.reason = network, account, token, reason
        super().__init__(
            f"sender lease for {account} on {network} lost (fencing token {token}): {reason}; nothing was sent",
            "another keeper holds this account now; this one stands by (see `python -m hedger.execution.lease status`)",
        )
