"""No size cliff against a real node's payload limit (Anvil refuses bodies over 2 MiB with -32600 "Invalid
request" and no id): a batch planned above the limit is split and retried in the same call; a single request
over it is a RequestTooLarge that says so, never "check that the node is running"."""

from __future__ import annotations

import pytest

from hedger.chain.connect import connect
from hedger.chain.multicall import MULTICALL3_ADDRESS, Call, execute
from hedger.errors import RequestTooLarge, RpcError

pytestmark = pytest.mark.integration
MIB = 1 << 20


def padded_block_number_call(padding: int) -> tuple[str, list]:
    """Multicall3.getBlockNumber() with `padding` bytes of ignored calldata after the selector."""
    data = "0x42cbb15c" + "00" * padding
    return "eth_call", [{"to": MULTICALL3_ADDRESS, "data": data}, "latest"]


def test_a_batch_over_the_nodes_limit_is_split_and_still_answers_in_order(chain):
    rpc = connect(chain.anvil.url, 31337, max_request_bytes=16 * MIB).rpc  # plans one body: the node refuses it
    requests_ = [padded_block_number_call(300_000) for _ in range(8)]  # ~4.8 MB of hex in one batch
    before = rpc.transport.http_requests
    answers = rpc.batch(requests_)
    assert len(answers) == 8 and len(set(answers)) == 1 and int(answers[0], 16) > 0
    assert rpc.transport.http_requests - before > 2  # refused whole, then sent in parts


def test_a_batch_planned_under_the_limit_travels_in_concurrent_parts_in_one_round(chain):
    rpc = connect(chain.anvil.url, 31337, max_request_bytes=MIB).rpc
    before_rounds, before_requests = rpc.round_trips, rpc.transport.http_requests
    answers = rpc.batch([padded_block_number_call(300_000) for _ in range(8)])
    assert len(answers) == 8
    assert rpc.round_trips - before_rounds == 1 and rpc.transport.http_requests - before_requests >= 4


def test_a_single_request_over_the_limit_is_an_accurate_error(chain):
    rpc = connect(chain.anvil.url, 31337).rpc
    with pytest.raises(RequestTooLarge) as refused:
        rpc.request(*padded_block_number_call(int(1.2 * MIB)))
    message = str(refused.value)
    assert "refused a single request of" in message and "it is running" in message
    assert "max_request_bytes" in message and "check that the node is running" not in message


def test_an_ungrouped_chunk_refused_as_too_large_fails_the_read_with_that_reason(chain):
    rpc = connect(chain.anvil.url, 31337).rpc
    huge = Call(MULTICALL3_ADDRESS, bytes.fromhex("42cbb15c") + bytes(int(1.2 * MIB)), ("uint256",))
    with pytest.raises(RpcError, match="too large"):
        execute(rpc, [huge], "latest")
