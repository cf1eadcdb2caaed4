"""aggregate3 chunks are planned by the calls' gas estimates against the network's eth_call gas cap (and by
calldata size), not by count: a call whose cost grows with the account (accountSummary) shrinks its chunk or
travels alone, asking for the gas it needs."""

from __future__ import annotations

from hedger.chain.multicall import Call, _eth_call, _plan_chunks

TARGET = "0x" + "11" * 20


def calls(*gas: int, group: str | None = None) -> list[Call]:
    return [Call(TARGET, b"\x00" * 36, ("uint256",), gas=g, group=group) for g in gas]


def test_chunks_stay_within_the_gas_cap_whatever_the_count():
    plan = _plan_chunks(calls(*[60_000] * 1_000), gas_cap=25_000_000, max_bytes=10**9)
    assert [len(members) for members, _ in plan] == [416, 416, 168]  # 416 × 60k = 24.96M ≤ 25M


def test_a_call_that_grows_with_positions_shrinks_its_chunk():
    summary = 40_000 + 45_000 * 400  # accountSummary with 400 open positions: 18.04M
    plan = _plan_chunks(calls(summary, *[60_000] * 200), gas_cap=25_000_000, max_bytes=10**9)
    assert [len(members) for members, _ in plan] == [117, 84]  # 18.04M + 116 × 60k = 25.0M


def test_a_call_planned_above_the_cap_travels_alone_and_asks_for_its_gas():
    chunk = calls(90_040_000)
    plan = _plan_chunks([*calls(60_000), *chunk, *calls(60_000)], gas_cap=25_000_000, max_bytes=10**9)
    assert [members for members, _ in plan] == [[0], [1], [2]]
    request = _eth_call(TARGET, chunk, gas_cap=25_000_000)
    assert int(request["gas"], 16) == 90_040_000 * 5 // 4
    assert "gas" not in _eth_call(TARGET, calls(60_000), gas_cap=25_000_000)  # the node's default cap


def test_calldata_size_bounds_a_chunk_too_and_groups_travel_apart():
    plan = _plan_chunks([*calls(1, 1, 1, 1), *calls(1, 1, group="DOGE")], gas_cap=10**9, max_bytes=2 * (36 + 192))
    assert plan == [([0, 1], False), ([2, 3], False), ([4, 5], True)]
