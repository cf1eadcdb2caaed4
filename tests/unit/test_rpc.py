"""Retries with backoff on transient RPC failures; no retry on a definite answer."""

from __future__ import annotations

import pytest
import requests

from hedger.chain.connect import Rpc
from hedger.errors import RpcError


class FlakyProvider:
    def __init__(self, failures: list):
        self.failures, self.calls = list(failures), 0

    def make_request(self, method, params):
        self.calls += 1
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return {"jsonrpc": "2.0", "id": 1, "error": failure}
        return {"jsonrpc": "2.0", "id": 1, "result": "0x2a"}


class FakeWeb3:
    def __init__(self, provider):
        self.provider = provider


def rpc(failures) -> tuple[Rpc, FlakyProvider]:
    provider = FlakyProvider(failures)
    return Rpc(FakeWeb3(provider), attempts=4, backoff_s=0.001), provider


def test_transient_failures_are_retried_until_an_answer():
    client, provider = rpc([requests.ConnectionError("reset"), {"code": -32005, "message": "limit exceeded"}])
    assert client.request("eth_blockNumber", []) == "0x2a"
    assert provider.calls == 3


def test_giving_up_after_the_last_attempt_is_a_typed_error():
    client, provider = rpc([requests.Timeout("slow")] * 4)
    with pytest.raises(RpcError, match="4 attempts"):
        client.request("eth_blockNumber", [])
    assert provider.calls == 4


def test_a_definite_error_is_not_retried():
    client, provider = rpc([{"code": -32000, "message": "execution reverted"}])
    with pytest.raises(RpcError, match="execution reverted"):
        client.request("eth_call", [])
    assert provider.calls == 1
