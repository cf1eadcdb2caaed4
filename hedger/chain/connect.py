"""Connections to a chain: one retry layer with a total time budget per call, connect and read timeouts,
chain-id pinning, typed errors for garbage replies, URL redaction, and a round-trip count.

- One retry layer: web3's own retries are switched off; `Rpc` retries transient failures (connection
  refused or reset, timeouts, HTTP 5xx/429, rate limits) with backoff, within the call's budget.
- Budget: a call (every attempt and wait included) ends within `budget_s` (the network file's
  `[network] rpc_timeout_s`, 30 s by default): a node that accepts TCP and never answers gives an
  `RpcTimeout` naming the method and the (redacted) URL, not minutes of silence. Each attempt's read
  timeout is at most a third of the budget, so a hang is retried; the connect timeout is 3 s.
- A call still waiting after `PROGRESS_AFTER_S` logs one progress line (a warning) every few seconds.
- Every URL in a message is redacted (hedger.chain.redact): providers put API keys in the URL.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from web3 import Web3
from web3.providers.base import JSONBaseProvider
from web3.providers.rpc import HTTPProvider
from web3.types import RPCEndpoint

from hedger.chain.redact import redact_text, redact_url
from hedger.errors import ChainIdMismatch, RpcError, RpcGarbage, RpcTimeout

T = TypeVar("T")
log = logging.getLogger(__name__)
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.HTTPError, ConnectionError, TimeoutError)
_TRANSIENT_RPC_CODES = {-32005, -32603, 429}  # limit exceeded, internal error, too many requests
_TRANSIENT_MESSAGES = ("rate limit", "too many requests", "header not found", "try again")
DEFAULT_BUDGET_S = 30.0
CONNECT_TIMEOUT_S = 3.0
PROGRESS_AFTER_S = 5.0
MAX_ATTEMPTS = 4


class CountingHTTPProvider(HTTPProvider):
    """An HTTPProvider that counts HTTP round trips (a JSON-RPC batch is one), never retries by itself,
    and bounds each request by the deadline of the `Rpc` call it belongs to (else by the budget)."""

    def __init__(self, url: str, budget_s: float = DEFAULT_BUDGET_S, **kwargs: Any):
        super().__init__(url, exception_retry_configuration=None, **kwargs)
        self.round_trips = 0
        self.budget_s = budget_s
        self.redacted_url = redact_url(url)
        self._deadline = threading.local()

    def set_deadline(self, deadline: float | None) -> None:
        self._deadline.value = deadline

    def get_request_kwargs(self) -> dict[str, Any]:
        deadline = getattr(self._deadline, "value", None)
        remaining = self.budget_s if deadline is None else max(0.05, deadline - time.monotonic())
        read = min(remaining, max(1.0, self.budget_s / 3))
        kwargs = dict(super().get_request_kwargs())
        kwargs["timeout"] = (min(CONNECT_TIMEOUT_S, remaining), read)
        return kwargs

    def _make_request(self, method: Any, request_data: bytes) -> bytes:
        self.round_trips += 1
        return super()._make_request(method, request_data)

    def make_batch_request(self, batch_requests: Any) -> Any:
        self.round_trips += 1
        return super().make_batch_request(batch_requests)


class Rpc:
    """Raw JSON-RPC over a web3 provider: the one retry layer, with a total budget per call."""

    def __init__(self, w3: Web3, attempts: int = MAX_ATTEMPTS, backoff_s: float = 0.25, budget_s: float | None = None):
        self.w3, self.attempts, self.backoff_s = w3, attempts, backoff_s
        self.budget_s = budget_s if budget_s is not None else getattr(w3.provider, "budget_s", DEFAULT_BUDGET_S)

    @property
    def round_trips(self) -> int:
        return getattr(self.w3.provider, "round_trips", 0)

    @property
    def url(self) -> str:
        return getattr(self.w3.provider, "redacted_url", "the RPC")

    def request(self, method: str, params: list[Any]) -> Any:
        provider: Any = self.w3.provider
        return self._retrying(method, lambda: _result(provider.make_request(RPCEndpoint(method), params), method))

    def batch(self, requests_: list[tuple[str, list[Any]]], errors_as_values: bool = False) -> list[Any]:
        """Several requests in one HTTP round trip; results in request order. With `errors_as_values`, a
        request the node refused (not a transient failure, which is retried) comes back as its RpcError
        in its place, so one failed request does not sink the others."""
        provider: Any = self.w3.provider
        if len(requests_) == 1 or not isinstance(provider, JSONBaseProvider):  # no JSON-RPC batches: one by one
            return [self._one_request(method, params, errors_as_values) for method, params in requests_]

        def one(response: Any, method: str) -> Any:
            try:
                return _result(response, method)
            except RpcError as error:
                if errors_as_values and not isinstance(error, RpcGarbage):
                    return error
                raise

        def send() -> list[Any]:
            responses = provider.make_batch_request([(RPCEndpoint(m), p) for m, p in requests_])
            if not isinstance(responses, list):
                return [_result(responses, "batch")]
            if len(responses) != len(requests_):
                raise RpcGarbage(f"batch of {len(requests_)} answered with {len(responses)} replies")
            return [one(r, m) for r, (m, _) in zip(responses, requests_, strict=True)]

        return self._retrying(f"batch of {len(requests_)}", send)

    def _one_request(self, method: str, params: list[Any], errors_as_values: bool) -> Any:
        try:
            return self.request(method, params)
        except RpcError as error:
            if errors_as_values and error.__cause__ is None:  # refused, not a transient failure retried out
                return error
            raise

    def _retrying(self, what: str, attempt: Callable[[], T]) -> T:
        started = time.monotonic()
        deadline = started + self.budget_s
        provider = self.w3.provider
        set_deadline = getattr(provider, "set_deadline", None)
        ticket = _WATCHDOG.enter(what, self.url, started, self.budget_s)
        last: BaseException | None = None
        n = 0
        try:
            for n in range(self.attempts):
                if set_deadline:
                    set_deadline(deadline)
                try:
                    return attempt()
                except (*TRANSIENT_ERRORS, _TransientRpcError) as error:
                    last = error
                except (ValueError, json.JSONDecodeError) as error:  # a reply that is not JSON-RPC
                    raise RpcGarbage(f"{what}: {self.url} answered something that is not JSON-RPC: "
                                     f"{redact_text(str(error))[:200]}") from None  # fmt: skip
                wait = self.backoff_s * 2**n
                if n == self.attempts - 1 or time.monotonic() + wait >= deadline:
                    break
                time.sleep(wait)
        finally:
            if set_deadline:
                set_deadline(None)
            _WATCHDOG.leave(ticket)
        elapsed = time.monotonic() - started
        detail = redact_text(str(last))[:300]
        if isinstance(last, requests.Timeout | TimeoutError) or elapsed >= self.budget_s * 0.95:
            raise RpcTimeout(f"{what}: no answer from {self.url} within {elapsed:.1f} s "
                             f"(budget {self.budget_s:g} s, {n + 1} attempts): {detail}") from last  # fmt: skip
        raise RpcError(f"{what}: {self.url} failed after {n + 1} attempts in {elapsed:.1f} s: {detail}") from last


# An EVM failure (out of gas, a revert) answers the same every time: never retried as transient, even
# under a code like -32603 that some nodes use for it.
_EVM_FAILURE = re.compile(r"out ?of ?gas|execution reverted|invalid opcode", re.IGNORECASE)


class _TransientRpcError(Exception):
    pass


def _result(response: Any, method: str) -> Any:
    if not isinstance(response, dict) or ("result" not in response and "error" not in response):
        raise RpcGarbage(f"{method}: the reply is not a JSON-RPC response: {redact_text(repr(response))[:200]}")
    if response.get("error") is not None:
        error = response["error"]
        code = error.get("code") if isinstance(error, dict) else None
        message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
        transient = code in _TRANSIENT_RPC_CODES or any(m in message.lower() for m in _TRANSIENT_MESSAGES)
        if transient and not _EVM_FAILURE.search(message):
            raise _TransientRpcError(f"{method}: {redact_text(str(error))}")
        raise RpcError(f"{method} failed: {redact_text(str(error))}")
    return response["result"]


class _Watchdog:
    """One daemon thread that logs a progress line for any RPC call waiting longer than PROGRESS_AFTER_S."""

    def __init__(self) -> None:
        self._calls: dict[int, tuple[str, str, float, float]] = {}
        self._lock = threading.Lock()
        self._ids = iter(range(1, 1 << 62))
        self._thread: threading.Thread | None = None

    def enter(self, what: str, url: str, started: float, budget_s: float) -> int:
        with self._lock:
            ticket = next(self._ids)
            self._calls[ticket] = (what, url, started, budget_s)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="rpc-progress", daemon=True)
                self._thread.start()
        return ticket

    def leave(self, ticket: int) -> None:
        with self._lock:
            self._calls.pop(ticket, None)

    def _run(self) -> None:
        reported: dict[int, float] = {}
        while True:
            time.sleep(1.0)
            now = time.monotonic()
            with self._lock:
                calls = dict(self._calls)
            for ticket, (what, url, started, budget_s) in calls.items():
                waited = now - started
                if waited >= PROGRESS_AFTER_S and now - reported.get(ticket, 0) >= PROGRESS_AFTER_S:
                    reported[ticket] = now
                    fields = {"rpc_method": what, "waited_s": round(waited, 1), "budget_s": budget_s}
                    log.warning(f"still waiting for {what} from {url}: {waited:.0f} s of {budget_s:g} s", extra=fields)
            for ticket in list(reported):
                if ticket not in calls:
                    del reported[ticket]


_WATCHDOG = _Watchdog()


def connect(
    url: str, expected_chain_id: int | None, source: str = "network file", timeout_s: float = DEFAULT_BUDGET_S
) -> Web3:
    """A Web3 on `url` whose chain id must equal `expected_chain_id` (else ChainIdMismatch); every call
    through it ends within `timeout_s` (the call budget)."""
    w3 = Web3(CountingHTTPProvider(url, budget_s=timeout_s))
    reply: Any = None
    try:
        reply = Rpc(w3).request("eth_chainId", [])
        chain_id = int(reply, 16)
    except (TypeError, ValueError):
        raise RpcGarbage(f"eth_chainId: {redact_url(url)} answered {str(reply)[:80]!r}, not a chain id") from None
    except RpcError as error:
        raise type(error)(f"cannot reach the RPC at {redact_url(url)}: {error.args[0]}") from None
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainIdMismatch(expected_chain_id, chain_id, source)
    return w3
