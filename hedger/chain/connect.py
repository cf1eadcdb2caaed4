"""Connections to a chain: timeouts, retries with backoff, chain-id pinning, and a round-trip count."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from web3 import Web3
from web3.providers.base import JSONBaseProvider
from web3.providers.rpc import HTTPProvider
from web3.providers.rpc.utils import ExceptionRetryConfiguration
from web3.types import RPCEndpoint

from hedger.errors import ChainIdMismatch, RpcError

T = TypeVar("T")
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.HTTPError, ConnectionError, TimeoutError)
_TRANSIENT_RPC_CODES = {-32005, -32603, 429}  # limit exceeded, internal error, too many requests


class CountingHTTPProvider(HTTPProvider):
    """An HTTPProvider that counts HTTP round trips (a JSON-RPC batch is one)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.round_trips = 0

    def _make_request(self, method: Any, request_data: bytes) -> bytes:
        self.round_trips += 1
        return super()._make_request(method, request_data)

    def make_batch_request(self, batch_requests: Any) -> Any:
        self.round_trips += 1
        return super().make_batch_request(batch_requests)


class Rpc:
    """Raw JSON-RPC over a web3 provider, with retries and backoff on transient failures."""

    def __init__(self, w3: Web3, attempts: int = 4, backoff_s: float = 0.25):
        self.w3, self.attempts, self.backoff_s = w3, attempts, backoff_s

    @property
    def round_trips(self) -> int:
        return getattr(self.w3.provider, "round_trips", 0)

    def request(self, method: str, params: list[Any]) -> Any:
        return self._retrying(lambda: _result(self.w3.provider.make_request(RPCEndpoint(method), params), method))

    def batch(self, requests_: list[tuple[str, list[Any]]], errors_as_values: bool = False) -> list[Any]:
        """Several requests in one HTTP round trip; results in request order. With `errors_as_values`, a
        request the node refused (not a transient failure, which is retried) comes back as its RpcError
        in its place, so one failed request does not sink the others."""
        provider = self.w3.provider
        if len(requests_) == 1 or not isinstance(provider, JSONBaseProvider):  # no JSON-RPC batches: one by one
            return [self._one_request(method, params, errors_as_values) for method, params in requests_]

        def one(response: Any, method: str) -> Any:
            try:
                return _result(response, method)
            except RpcError as error:
                if errors_as_values:
                    return error
                raise

        def send() -> list[Any]:
            responses = provider.make_batch_request([(RPCEndpoint(m), p) for m, p in requests_])
            if not isinstance(responses, list):
                return [_result(responses, "batch")]
            return [one(r, m) for r, (m, _) in zip(responses, requests_, strict=True)]

        return self._retrying(send)

    def _one_request(self, method: str, params: list[Any], errors_as_values: bool) -> Any:
        try:
            return self.request(method, params)
        except RpcError as error:
            if errors_as_values and error.__cause__ is None:  # refused, not a transient failure retried out
                return error
            raise

    def _retrying(self, attempt: Callable[[], T]) -> T:
        for n in range(self.attempts):
            try:
                return attempt()
            except (*TRANSIENT_ERRORS, _TransientRpcError) as error:
                if n == self.attempts - 1:
                    raise RpcError(f"RPC failed after {self.attempts} attempts: {error}") from error
                time.sleep(self.backoff_s * 2**n)
        raise AssertionError("unreachable")


# An EVM failure (out of gas, a revert) answers the same every time: never retried as transient, even
# under a code like -32603 that some nodes use for it.
_EVM_FAILURE = re.compile(r"out ?of ?gas|execution reverted|invalid opcode", re.IGNORECASE)


class _TransientRpcError(Exception):
    pass


def _result(response: Any, method: str) -> Any:
    if "error" in response:
        error = response["error"]
        code = error.get("code") if isinstance(error, dict) else None
        message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
        if code in _TRANSIENT_RPC_CODES and not _EVM_FAILURE.search(message):
            raise _TransientRpcError(f"{method}: {error}")
        raise RpcError(f"{method} failed: {error}")
    return response["result"]


def connect(url: str, expected_chain_id: int | None, source: str = "network file", timeout_s: float = 30.0) -> Web3:
    """A Web3 on `url` whose chain id must equal `expected_chain_id` (else ChainIdMismatch)."""
    provider = CountingHTTPProvider(
        url,
        request_kwargs={"timeout": timeout_s},
        exception_retry_configuration=ExceptionRetryConfiguration(
            errors=TRANSIENT_ERRORS, retries=4, backoff_factor=0.25
        ),
    )
    w3 = Web3(provider)
    try:
        chain_id = int(Rpc(w3).request("eth_chainId", []), 16)
    except RpcError as error:
        raise RpcError(f"cannot reach the RPC at {_redact(url)}: {error}") from error
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainIdMismatch(expected_chain_id, chain_id, source)
    return w3


def _redact(url: str) -> str:
    """Scheme and host only: RPC URLs often carry API keys in the path or query."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/')[0].split('@')[-1]}/…" if rest else url
