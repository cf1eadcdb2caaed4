"""Prometheus metrics of a keeper process, on an optional HTTP endpoint (`hedger keeper run --metrics-port`).

One registry per process; every series carries `network` and `account` labels, so a process that serves
several accounts reports each one apart. `KeeperMetrics.of(network, account)` is the view one account's
keeper writes through: the same metric names, its own labels."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_ACCOUNT = ("network", "account")


class _Bound:
    """A metric with the account's labels filled in: `.inc()`, `.set()`, `.observe()`, or `.labels(extra…)`."""

    def __init__(self, metric: Any, labels: tuple[str, str]):
        self._metric, self._labels = metric, labels

    def labels(self, *extra: str) -> Any:
        return self._metric.labels(*self._labels, *extra)

    def __getattr__(self, name: str) -> Any:  # inc / set / observe on the account's own child
        return getattr(self._metric.labels(*self._labels), name)


class KeeperMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.snapshot_seconds = Histogram(
            "hedger_snapshot_seconds", "time to read one snapshot", _ACCOUNT, registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )  # fmt: skip
        self.cycles = Counter("hedger_cycles_total", "keeper cycles run", _ACCOUNT, registry=r)
        self.plans = Counter("hedger_plans_total", "plans by verdict", [*_ACCOUNT, "verdict"], registry=r)
        self.guard_trips = Counter(
            "hedger_guard_trips_total", "guard findings that restricted a plan", [*_ACCOUNT, "code"], registry=r
        )
        self.tx_sent = Counter("hedger_tx_sent_total", "actions whose transactions were mined", _ACCOUNT, registry=r)
        self.tx_failed = Counter(
            "hedger_tx_failed_total", "actions that failed (simulation or on chain)", _ACCOUNT, registry=r
        )
        self.gas_spent_wei = Counter("hedger_gas_spent_wei_total", "gas paid by this keeper, in wei", _ACCOUNT,
                                     registry=r)  # fmt: skip
        self.tx_rejected = Counter(
            "hedger_tx_rejected_total",
            "transactions the node refused (fees, nonce, funds, gas), not outages",
            _ACCOUNT,
            registry=r,
        )
        self.rpc_errors = Counter("hedger_rpc_errors_total", "cycles lost to RPC failures", _ACCOUNT, registry=r)
        self.exposure = Gauge("hedger_exposure_net", "net exposure per asset, in units", [*_ACCOUNT, "asset"],
                              registry=r)  # fmt: skip
        self.hedge_ratio = Gauge(
            "hedger_hedge_ratio", "perp offset per unit held, per asset", [*_ACCOUNT, "asset"], registry=r
        )
        self.block = Gauge("hedger_block_number", "last block the keeper planned on", _ACCOUNT, registry=r)
        self.kill_switch = Gauge("hedger_kill_switch", "1 while risk-adding actions are stopped", _ACCOUNT, registry=r)
        self.lease_held = Gauge(
            "hedger_lease_held", "1 while this process holds the account's sender lease", _ACCOUNT, registry=r
        )
        self.lease_token = Gauge(
            "hedger_lease_token", "fencing token of the lease held (0: not held)", _ACCOUNT, registry=r
        )
        self.lease_acquired = Counter(
            "hedger_lease_acquired_total", "times this process took the lease (start or takeover)", _ACCOUNT,
            registry=r,
        )  # fmt: skip
        self.lease_lost = Counter(
            "hedger_lease_lost_total", "times the lease was found taken or lapsed, or a write was fenced off",
            _ACCOUNT, registry=r,
        )  # fmt: skip
        self.lease_renewed_block = Gauge(
            "hedger_lease_renewed_block", "block at which this process last renewed the lease", _ACCOUNT, registry=r
        )

    def of(self, network: str, account: str) -> Any:
        """One account's view: every metric with its `network` and `account` labels set."""
        return _AccountMetrics(self, (network, account))

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        start_http_server(port, addr=address, registry=self.registry)


class _AccountMetrics:
    def __init__(self, metrics: KeeperMetrics, labels: tuple[str, str]):
        self._metrics, self._labels = metrics, labels

    def __getattr__(self, name: str) -> _Bound:
        return _Bound(getattr(self._metrics, name), self._labels)
