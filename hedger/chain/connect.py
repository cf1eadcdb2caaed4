"""Connections to a chain, without web3: a small JSON-RPC client over urllib3 for every read, with one
retry layer and a total time budget per call, connect and read timeouts, chain-id pinning, payload-size
limits, typed errors for garbage replies, URL redaction and a round-trip count. `Chain.w3` builds a
Web3 on the same transport for the signing and sending paths only (web3 costs ~0.7 s to import).

- One retry layer: `Rpc` retries transient failures (connection refused or reset, timeouts, HTTP
  5xx/429, rate limits) with backoff, within the call's budget; the transport never retries by itself.
- Budget: a call (every attempt and wait included) ends within `budget_s` (the network file's
  `[network] rpc_timeout_s`, 30 s by default): a node that accepts TCP and never answers gives an
  `RpcTimeout` naming the method and the (redacted) URL, not minutes of silence. Each attempt's read
  timeout is at most a third of the budget, so a hang is retried; the connect timeout is 3 s.
- Payload limit: a batch is split into HTTP requests of at most `max_request_bytes` (`[network]
  max_request_bytes`), sent concurrently: one round trip of latency, whatever the batch's size. A body
  the node still refuses as too large (HTTP 413, or Anvil's -32600 "Invalid request" with no id) is
  split in halves and sent again; a single request refused so is a `RequestTooLarge`.
- A call still waiting after `PROGRESS_AFTER_S` logs one progress line (a warning) every few seconds.
- Every URL in a message is redacted (hedger.chain.redact): providers put API keys in the URL.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import urllib3
from urllib3.exceptions import HTTPError as _Urllib3Error
from urllib3.exceptions import NewConnectionError as _CannotConnect
from urllib3.exceptions import TimeoutError as _Urllib3Timeout

from hedger.chain.redact import redact_text, redact_url
from hedger.errors import ChainIdMismatch, RequestTooLarge, RpcError, RpcGarbage, RpcRefused, RpcTimeout
from hedger.settings import DEFAULT_MAX_REQUEST_BYTES

if TYPE_CHECKING:
    from web3 import Web3

T = TypeVar("T")
log = logging.getLogger(__name__)
DEFAULT_BUDGET_S = 30.0
CONNECT_TIMEOUT_S = 3.0
PROGRESS_AFTER_S = 5.0
MAX_ATTEMPTS = 4
MAX_CONCURRENT_REQUESTS = 8
_TRANSIENT_RPC_CODES = {-32005, -32603, 429}  # limit exceeded, internal error, too many requests
_TRANSIENT_HTTP = {408, 425, 429}  # request timeout, too early, too many requests: worth a retry; other 4xx are not
_TRANSIENT_MESSAGES = ("rate limit", "too many requests", "header not found", "try again")


class TransportError(ConnectionError):
    """An HTTP exchange that failed without a JSON-RPC answer (refused, reset, HTTP 5xx/429): transient."""


class TransportTimeout(TransportError, TimeoutError):
    """No connection or no answer within the attempt's timeout."""


TRANSIENT_ERRORS = (TransportError, ConnectionError, TimeoutError)


class TooLargeError(Exception):
    """The node refused a body as too large (HTTP 413, or -32600 with no id)."""

    def __init__(self, size: int, answer: str):
        super().__init__(answer)
        self.size, self.answer = size, answer


class HttpTransport:
    """JSON-RPC bodies over one HTTP(S) endpoint: pooled keep-alive connections (thread-safe), timeouts
    bounded by the caller's deadline, no retries, and counts of round trips and HTTP requests."""

    def __init__(self, url: str, budget_s: float = DEFAULT_BUDGET_S):
        self.url, self.redacted_url, self.budget_s = url, redact_url(url), budget_s
        self.round_trips = 0  # waves of requests: concurrent requests sent together count once
        self.http_requests = 0
        self._lock = threading.Lock()
        self._pool = urllib3.PoolManager(
            maxsize=MAX_CONCURRENT_REQUESTS, retries=False, headers={"Content-Type": "application/json"}
        )

    def count_round(self, requests_: int) -> None:
        with self._lock:
            self.round_trips += 1
            self.http_requests += requests_

    def post(self, body: bytes, deadline: float | None = None) -> Any:
        """One HTTP POST; the parsed JSON answer. Raises TransportError (transient), TooLargeError, or
        ValueError for an answer that is not JSON."""
        remaining = self.budget_s if deadline is None else max(0.05, deadline - time.monotonic())
        read = min(remaining, max(1.0, self.budget_s / 3))
        timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT_S, remaining), read=read)
        try:
            response = self._pool.request("POST", self.url, body=body, timeout=timeout, retries=False)
        except _CannotConnect as error:  # before timeouts: urllib3 makes it a kind of connect timeout
            reason = str(error).rpartition("Failed to establish a new connection: ")[2]
            raise TransportError(f"cannot connect ({redact_text(reason)})") from None
        except _Urllib3Timeout as error:
            raise TransportTimeout(f"timed out: {redact_text(str(error))}") from None
        except (_Urllib3Error, OSError) as error:
            raise TransportError(redact_text(str(error))) from None
        if response.status == 413:
            raise TooLargeError(len(body), "HTTP 413 Payload Too Large")
        if response.status >= 400:
            answer = f"HTTP {response.status} {response.reason or ''}".rstrip()
            if response.status in _TRANSIENT_HTTP or response.status >= 500:
                raise TransportError(f"{answer}: {redact_text(repr(response.data[:200]))}")
            raise RpcRefused(f"{self.redacted_url} refused the request: {answer}")
        answer = json.loads(response.data)
        if _is_size_refusal(answer) and len(body) > 1 << 16:
            raise TooLargeError(len(body), json.dumps(answer["error"]))
        return answer


def _is_size_refusal(answer: Any) -> bool:
    """Anvil (axum) answers an over-limit body with HTTP 200 and a JSON-RPC -32600 error without an id."""
    error = answer.get("error") if isinstance(answer, dict) else None
    return isinstance(error, dict) and error.get("code") == -32600 and answer.get("id") is None


class Rpc:
    """JSON-RPC calls over an HttpTransport: the one retry layer, with a total budget per call, batches
    split under the payload limit and sent concurrently."""

    def __init__(
        self,
        transport: HttpTransport,
        attempts: int = MAX_ATTEMPTS,
        backoff_s: float = 0.25,
        budget_s: float | None = None,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ):
        self.transport, self.attempts, self.backoff_s = transport, attempts, backoff_s
        self.budget_s = budget_s if budget_s is not None else transport.budget_s
        self.max_request_bytes = max_request_bytes
        self._ids = iter(range(1, 1 << 62))
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()  # the deadline of the call this thread is in

    @property
    def round_trips(self) -> int:
        return self.transport.round_trips

    @property
    def url(self) -> str:
        return self.transport.redacted_url

    def request(self, method: str, params: list[Any]) -> Any:
        body = json.dumps(_payload(next(self._ids), method, params)).encode()

        def send() -> Any:
            self.transport.count_round(1)
            try:
                return _result(self.transport.post(body, self._deadline()), method)
            except TooLargeError as refused:
                raise self._too_large(method, refused) from None

        return self._retrying(method, send)

    def batch(self, requests_: Sequence[tuple[str, list[Any]]], errors_as_values: bool = False) -> list[Any]:
        """Several requests in one round trip (split into HTTP requests under `max_request_bytes`, sent
        concurrently); results in request order. With `errors_as_values`, a request the node refused (not a
        transient failure, which is retried) comes back as its RpcError in its place, so one failed request
        does not sink the others."""
        if len(requests_) == 1 and not errors_as_values:
            return [self.request(*requests_[0])]
        ids = [next(self._ids) for _ in requests_]
        bodies = [json.dumps(_payload(i, m, p)).encode() for i, (m, p) in zip(ids, requests_, strict=True)]
        replies: dict[int, Any] = {}
        groups = _pack(list(range(len(bodies))), bodies, self.max_request_bytes)
        while groups:
            answers = self._retrying(f"batch of {len(requests_)}", partial(self._wave, groups, bodies))
            retry: list[list[int]] = []
            for group, answer in zip(groups, answers, strict=True):
                if isinstance(answer, TooLargeError) and len(group) > 1:
                    retry += [group[: len(group) // 2], group[len(group) // 2 :]]
                elif isinstance(answer, TooLargeError):
                    replies[group[0]] = self._too_large(requests_[group[0]][0], answer)
                else:
                    replies.update(_by_position(group, ids, answer))
            groups = retry
        return [self._reply(replies[i], m, errors_as_values) for i, (m, _) in enumerate(requests_)]

    def _reply(self, reply: Any, method: str, errors_as_values: bool) -> Any:
        try:
            if isinstance(reply, RpcError):
                raise reply
            return _result(reply, method)  # transient errors were retried with their wave (_raise_if_transient)
        except RpcError as error:
            if errors_as_values and not isinstance(error, RpcGarbage):
                return error
            raise

    def _wave(self, groups: list[list[int]], bodies: list[bytes]) -> list[Any]:
        """One HTTP request per group, concurrently; each answer parsed, or the TooLargeError refusal."""
        self.transport.count_round(len(groups))
        deadline = self._deadline()

        def send(group: list[int]) -> Any:
            body = bodies[group[0]] if len(group) == 1 else b"[" + b",".join(bodies[i] for i in group) + b"]"
            try:
                return self.transport.post(body, deadline)
            except TooLargeError as refused:
                return refused

        answers = [send(groups[0])] if len(groups) == 1 else list(self._executor().map(send, groups))
        for group, answer in zip(groups, answers, strict=True):
            if not isinstance(answer, TooLargeError):
                _raise_if_transient(group, answer)
        return answers

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(MAX_CONCURRENT_REQUESTS, thread_name_prefix="rpc")
        return self._pool

    def _too_large(self, method: str, refused: TooLargeError) -> RequestTooLarge:
        return RequestTooLarge(
            f"{method}: {self.url} refused a single request of {refused.size:,} bytes as too large "
            f"({redact_text(refused.answer)[:120]}); the node answered, so it is running, but its payload limit "
            f"is below this one request (max_request_bytes is {self.max_request_bytes:,})"
        )

    def _deadline(self) -> float | None:
        return getattr(self._local, "value", None)

    def _retrying(self, what: str, attempt: Callable[[], T]) -> T:
        started = time.monotonic()
        deadline = started + self.budget_s
        ticket = _WATCHDOG.enter(what, self.url, started, self.budget_s)
        last: BaseException | None = None
        n = 0
        try:
            for n in range(self.attempts):
                self._local.value = deadline
                try:
                    return attempt()
                except (*TRANSIENT_ERRORS, _TransientRpcError) as error:
                    last = error
                except ValueError as error:  # a reply that is not JSON-RPC
                    raise RpcGarbage(f"{what}: {self.url} answered something that is not JSON-RPC: "
                                     f"{redact_text(str(error))[:200]}") from None  # fmt: skip
                wait = self.backoff_s * 2**n
                if n == self.attempts - 1 or time.monotonic() + wait >= deadline:
                    break
                time.sleep(wait)
        finally:
            self._local.value = None
            _WATCHDOG.leave(ticket)
        elapsed = time.monotonic() - started
        detail = redact_text(str(last))[:300]
        if isinstance(last, TimeoutError) or elapsed >= self.budget_s * 0.95:
            raise RpcTimeout(f"{what}: no answer from {self.url} within {elapsed:.1f} s "
                             f"(budget {self.budget_s:g} s, {n + 1} attempts): {detail}") from last  # fmt: skip
        raise RpcError(f"{what}: {self.url} failed after {n + 1} attempts in {elapsed:.1f} s: {detail}") from last


def _payload(request_id: int, method: str, params: list[Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def _pack(indices: list[int], bodies: list[bytes], limit: int) -> list[list[int]]:
    """Consecutive requests grouped so that each group's batch body stays within `limit` bytes (a request
    larger than the limit alone travels alone)."""
    groups: list[list[int]] = []
    size = 0
    for i in indices:
        grown = size + len(bodies[i]) + 1
        if groups and grown + 1 <= limit:
            groups[-1].append(i)
            size = grown
        else:
            groups.append([i])
            size = len(bodies[i]) + 1
    return groups


def _by_position(group: list[int], ids: list[int], answer: Any) -> dict[int, Any]:
    """A group's replies by request position, matched by id (nodes may answer a batch in any order)."""
    if len(group) == 1 and isinstance(answer, dict):
        return {group[0]: answer}
    if not isinstance(answer, list):
        return {i: answer for i in group}  # one error for the whole batch: every request gets it
    by_id = {reply.get("id"): reply for reply in answer if isinstance(reply, dict)}
    if len(by_id) != len(group) or any(ids[i] not in by_id for i in group):
        raise RpcGarbage(f"batch of {len(group)} answered with {len(answer)} replies not matching the requests")
    return {i: by_id[ids[i]] for i in group}


def _raise_if_transient(group: list[int], answer: Any) -> None:
    """A whole-batch transient error (rate limited) retries the wave; per-request ones are judged later."""
    replies = answer if isinstance(answer, list) else [answer]
    for reply in replies:
        if isinstance(reply, dict) and _transient(reply.get("error")):
            raise _TransientRpcError(f"batch: {redact_text(str(reply['error']))}")


# An EVM failure (out of gas, a revert) answers the same every time: never retried as transient, even
# under a code like -32603 that some nodes use for it.
_EVM_FAILURE = re.compile(r"out ?of ?gas|execution reverted|invalid opcode", re.IGNORECASE)


class _TransientRpcError(Exception):
    pass


def _transient(error: Any) -> bool:
    if error is None:
        return False
    code = error.get("code") if isinstance(error, dict) else None
    message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
    transient = code in _TRANSIENT_RPC_CODES or any(m in message.lower() for m in _TRANSIENT_MESSAGES)
    return transient and not _EVM_FAILURE.search(message)


def _result(response: Any, method: str) -> Any:
    if not isinstance(response, dict) or ("result" not in response and "error" not in response):
        raise RpcGarbage(f"{method}: the reply is not a JSON-RPC response: {redact_text(repr(response))[:200]}")
    if response.get("error") is not None:
        error = response["error"]
        if _transient(error):
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


class Chain:
    """A connection to one chain: `rpc` for every read (no web3 imported), and `w3`, a Web3 on the same
    transport (same timeouts, redaction and counters), built on first use by the signing and sending paths."""

    def __init__(self, rpc: Rpc, w3: Web3 | None = None):
        self.rpc = rpc
        self._w3 = w3

    @property
    def transport(self) -> HttpTransport:
        return self.rpc.transport

    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            from hedger.chain.web3_bridge import web3_on

            self._w3 = web3_on(self.transport)
        return self._w3

    @classmethod
    def of(cls, handle: Chain | Web3) -> Chain:
        """A Chain from a Chain, or from a Web3 on an HTTP endpoint (its own provider kept for writes)."""
        if isinstance(handle, Chain):
            return handle
        provider: Any = handle.provider
        transport = getattr(provider, "transport", None)  # hedger.chain.web3_bridge.TransportProvider
        if not isinstance(transport, HttpTransport):
            transport = HttpTransport(provider.endpoint_uri)
        return cls(Rpc(transport), handle)


def connect(
    url: str,
    expected_chain_id: int | None,
    source: str = "network file",
    timeout_s: float = DEFAULT_BUDGET_S,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> Chain:
    """A Chain on `url` whose chain id must equal `expected_chain_id` (else ChainIdMismatch); every call
    through it ends within `timeout_s` (the call budget)."""
    chain = Chain(Rpc(HttpTransport(url, budget_s=timeout_s), max_request_bytes=max_request_bytes))
    reply: Any = None
    try:
        reply = chain.rpc.request("eth_chainId", [])
        chain_id = int(reply, 16)
    except (TypeError, ValueError):
        raise RpcGarbage(f"eth_chainId: {redact_url(url)} answered {str(reply)[:80]!r}, not a chain id") from None
    except RpcError as error:
        raise type(error)(f"cannot reach the RPC at {redact_url(url)}: {error.args[0]}") from None
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainIdMismatch(expected_chain_id, chain_id, source)
    return chain
