"""Prometheus metrics of a keeper, on an optional HTTP endpoint (`hedger keeper run --metrics-port`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class KeeperMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.snapshot_seconds = Histogram(
            "hedger_snapshot_seconds", "time to read one snapshot", registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )  # fmt: skip
        self.cycles = Counter("hedger_cycles_total", "keeper cycles run", registry=r)
        self.plans = Counter("hedger_plans_total", "plans by verdict", ["verdict"], registry=r)
        self.guard_trips = Counter(
            "hedger_guard_trips_total", "guard findings that restricted a plan", ["code"], registry=r
        )
        self.tx_sent = Counter("hedger_tx_sent_total", "actions whose transactions were mined", registry=r)
        self.tx_failed = Counter("hedger_tx_failed_total", "actions that failed (simulation or on chain)", registry=r)
        self.gas_spent_wei = Counter("hedger_gas_spent_wei_total", "gas paid by this keeper, in wei", registry=r)
        self.tx_rejected = Counter(
            "hedger_tx_rejected_total",
            "transactions the node refused (fees, nonce, funds, gas), not outages",
            registry=r,
        )
        self.rpc_errors = Counter("hedger_rpc_errors_total", "cycles lost to RPC failures", registry=r)
        self.exposure = Gauge("hedger_exposure_net", "net exposure per asset, in units", ["asset"], registry=r)
        self.hedge_ratio = Gauge("hedger_hedge_ratio", "perp offset per unit held, per asset", ["asset"], registry=r)
        self.block = Gauge("hedger_block_number", "last block the keeper planned on", registry=r)
        self.kill_switch = Gauge("hedger_kill_switch", "1 while risk-adding actions are stopped", registry=r)

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        start_http_server(port, addr=address, registry=self.registry)
