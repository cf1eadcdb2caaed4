"""Run in bench/read_snapshot.py's separate venv (web3-ethereum-defi installed from PyPI, never a hedger
dependency): the same eth_calls a hedger snapshot makes, at the same block and in the same rounds, through
web3-ethereum-defi's Multicall3 reader (`MultiprocessMulticallReader.call_multicall_with_batch_size`, the
in-process core of its chunked reader; tryBlockAndAggregate), decoding every answer with eth_abi.

    <venv>/bin/python bench/defi_multicall.py calls.json

calls.json: {"rpc_url", "block", "repeat", "batch_sizes", "rounds": [[[target, data_hex, [types] | null]]]}.
Prints JSON: per batch size, the median seconds of all rounds together (or the error)."""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time

from eth_abi import decode
from eth_defi.event_reader.multicall_batcher import MultiprocessMulticallReader, get_multicall_contract
from web3 import Web3


def run(job: dict) -> dict:
    w3 = Web3(Web3.HTTPProvider(job["rpc_url"], request_kwargs={"timeout": 120}))
    contract = get_multicall_contract(w3)
    rounds = [[(Web3.to_checksum_address(t), bytes.fromhex(d), types) for t, d, types in r] for r in job["rounds"]]
    out = {}
    for batch_size in job["batch_sizes"]:
        reader = MultiprocessMulticallReader(w3, batch_size=batch_size)
        seconds = []
        try:
            for _ in range(job["repeat"]):
                started = time.perf_counter()
                for calls in rounds:
                    size = batch_size or len(calls)
                    answers = reader.call_multicall_with_batch_size(
                        contract, job["block"], size, [(t, d) for t, d, _ in calls], False
                    )
                    for (_, _, types), (ok, raw) in zip(calls, answers, strict=True):
                        if ok and types:
                            decode(types, raw)
                seconds.append(time.perf_counter() - started)
            out[str(batch_size or "all")] = {"seconds_median": round(statistics.median(seconds), 5)}
        except Exception as error:  # a mode that fails at this size is reported, not fatal
            out[str(batch_size or "all")] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
    return out


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    with open(sys.argv[1]) as file:
        print(json.dumps(run(json.load(file))))
