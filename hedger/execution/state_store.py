"""The planner's memory (last good prices, distrusted oracles, cooldown clocks) kept in the journal,
so that a restarted CLI or keeper continues where it stopped."""

from __future__ import annotations

from decimal import Decimal

from hedger.execution.journal import Journal
from hedger.strategy.state import PlannerState, PricePoint


def _key(network: str, account: str) -> str:
    return f"planner_state:{network}:{account}"


def load_state(journal: Journal, network: str, account: str) -> PlannerState:
    data = journal.load_value(_key(network, account))
    if not data:
        return PlannerState()
    return PlannerState(
        last_good_prices={a: PricePoint(Decimal(p["price"]), p["published_at"]) for a, p in data["last_good"].items()},
        distrusted=frozenset(data["distrusted"]),
        last_trade_at=dict(data["last_trade_at"]),
    )


def save_state(journal: Journal, network: str, account: str, state: PlannerState) -> None:
    journal.save_value(
        _key(network, account),
        {
            "last_good": {
                a: {"price": str(p.price), "published_at": p.published_at} for a, p in state.last_good_prices.items()
            },
            "distrusted": sorted(state.distrusted),
            "last_trade_at": dict(state.last_trade_at),
        },
    )


def _keeper_key(network: str, account: str) -> str:
    return f"keeper_status:{network}:{account}"


def save_keeper_status(journal: Journal, network: str, account: str, status: dict) -> None:
    """What the keeper's last cycle was (block, verdict, gates, when), for readers of the journal."""
    journal.save_value(_keeper_key(network, account), status)


def load_keeper_status(journal: Journal, network: str, account: str) -> dict | None:
    return journal.load_value(_keeper_key(network, account))
