"""Retries with backoff on transient RPC failures; no retry on a definite answer; batches split under the
payload limit and matched by id."""

from __future__ import annotations

import json

import pytest

from hedger.chain.connect import HttpTransport, Rpc, TransportError, TransportTimeout
from hedger.errors import RpcError, RpcRefused, RpcTimeout
from tests.support.rpc_servers import answering_server, refused_port


class FlakyTransport(HttpTransport):
    """Answers every request with 0x2a after the scripted failures (exceptions or JSON-RPC errors)."""

    def __init__(self, failures: list):
        super().__init__("http://127.0.0.1:1")
        self.failures, self.calls, self.bodies = list(failures), 0, []

    def post(self, body: bytes, deadline: float | None = None):
        self.calls += 1
        self.bodies.append(body)
        request = json.loads(body)
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return {"jsonrpc": "2.0", "id": 1, "error": failure}
        if isinstance(request, list):
            return [{"jsonrpc": "2.0", "id": r["id"], "result": hex(r["id"])} for r in reversed(request)]
        return {"jsonrpc": "2.0", "id": request["id"], "result": "0x2a"}


def rpc(failures, max_request_bytes: int = 1_000_000) -> tuple[Rpc, FlakyTransport]:
    transport = FlakyTransport(failures)
    return Rpc(transport, attempts=4, backoff_s=0.001, max_request_bytes=max_request_bytes), transport


def test_transient_failures_are_retried_until_an_answer():
    client, transport = rpc([TransportError("reset"), {"code": -32005, "message": "limit exceeded"}])
    assert client.request("eth_blockNumber", []) == "0x2a"
    assert transport.calls == 3


def test_giving_up_after_the_last_attempt_is_a_typed_error():
    client, transport = rpc([TransportTimeout("slow")] * 4)
    with pytest.raises(RpcError, match="4 attempts"):
        client.request("eth_blockNumber", [])
    assert transport.calls == 4


def test_a_definite_error_is_not_retried():
    client, transport = rpc([{"code": -32000, "message": "execution reverted"}])
    with pytest.raises(RpcError, match="execution reverted"):
        client.request("eth_call", [])
    assert transport.calls == 1


def test_a_batch_is_split_under_the_payload_limit_in_one_round_and_matched_by_id():
    client, transport = rpc([], max_request_bytes=400)
    requests_ = [("eth_call", [{"data": "0x" + "00" * 40}, "latest"]) for _ in range(10)]
    answers = client.batch(requests_)
    assert len(transport.bodies) > 1 and all(len(b) <= 400 for b in transport.bodies)
    assert client.round_trips == 1 and transport.http_requests == len(transport.bodies)
    assert len(set(answers)) == 10 and answers == sorted(answers, key=lambda a: int(a, 16))  # in request order


def test_a_refused_connection_says_so_and_is_not_called_a_timeout():
    client = Rpc(HttpTransport(f"http://127.0.0.1:{refused_port()}", budget_s=5), attempts=3, backoff_s=0.01)
    with pytest.raises(RpcError) as raised:
        client.request("eth_blockNumber", [])
    assert not isinstance(raised.value, RpcTimeout)
    assert "cannot connect" in str(raised.value) and "Connection refused" in str(raised.value)
    assert "HTTPConnection object" not in str(raised.value)
    assert "node is running" in raised.value.hint


@pytest.mark.parametrize("status", [401, 403, 404])
def test_an_http_refusal_is_not_retried_and_names_the_url_redacted(status):
    posts: list[bytes] = []
    with answering_server(b"<html>no</html>", status, posts) as port:
        client = Rpc(HttpTransport(f"http://127.0.0.1:{port}/v2/SECRETKEY", budget_s=5), attempts=4, backoff_s=0.01)
        with pytest.raises(RpcRefused, match=f"HTTP {status}") as raised:
            client.request("eth_blockNumber", [])
    assert len(posts) == 1
    assert "SECRETKEY" not in str(raised.value) and "API key" in raised.value.hint


def test_a_server_error_is_retried():
    posts: list[bytes] = []
    with answering_server(b"<html>no</html>", 503, posts) as port:
        client = Rpc(HttpTransport(f"http://127.0.0.1:{port}/v2/SECRETKEY", budget_s=5), attempts=3, backoff_s=0.01)
        with pytest.raises(RpcError, match="HTTP 503") as raised:
            client.request("eth_blockNumber", [])
    assert len(posts) == 3 and "SECRETKEY" not in str(raised.value)
