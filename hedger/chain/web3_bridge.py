"""A Web3 on hedger's own transport, for the signing and sending paths (hedger.execution): the same
timeouts, counters and redaction as every read, and no retries of its own (`Rpc` is the one retry layer;
a transaction is never re-sent by a provider). Importing this module imports web3 (~0.7 s)."""

from __future__ import annotations

from typing import Any

from web3 import Web3
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from hedger.chain.connect import HttpTransport, TooLargeError
from hedger.errors import RequestTooLarge


class TransportProvider(JSONBaseProvider):
    """web3's provider interface over an HttpTransport (one HTTP request per call or batch)."""

    def __init__(self, transport: HttpTransport):
        super().__init__()
        self.transport = transport
        self.endpoint_uri = transport.url

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        return self._post(self.encode_rpc_request(method, params))

    def make_batch_request(self, batch_requests: list[tuple[RPCEndpoint, Any]]) -> Any:
        answer = self._post(self.encode_batch_rpc_request(batch_requests))
        return sorted(answer, key=lambda reply: reply.get("id", 0)) if isinstance(answer, list) else answer

    def _post(self, body: bytes) -> Any:
        self.transport.count_round(1)
        try:
            return self.transport.post(body)
        except TooLargeError as refused:
            raise RequestTooLarge(f"{self.transport.redacted_url} refused a request of {refused.size:,} bytes "
                                  f"as too large ({refused.answer[:120]})") from None  # fmt: skip


def web3_on(transport: HttpTransport) -> Web3:
    return Web3(TransportProvider(transport))
