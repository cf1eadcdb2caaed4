"""The executor tells an asynchronous venue (orders executed later by a keeper) by `isinstance`."""

from __future__ import annotations

from decimal import Decimal

from hedger.app.display import utc
from hedger.venues.base import AsyncVenue, OrderOutcome


class _Synchronous:
    """Every Venue member, none of AsyncVenue's own: its orders are done once mined."""

    name, kind = "sync", "sync"

    def read(self, account, block):
        return iter(())

    def encode_order(self, account, intent):
        return []

    def encode_collateral(self, account, amount: Decimal):
        return []

    def encode_cancel(self, account, order):
        raise NotImplementedError

    def approvals(self, account, intent, collateral: Decimal):
        return []


class _Keeper(_Synchronous):
    name, kind = "keeper", "keeper"

    def order_id_from_receipt(self, receipt):
        return "1"

    def order_outcome(self, order_id: str, from_block: int) -> OrderOutcome:
        return OrderOutcome("pending")


def test_async_venue_is_told_apart_at_run_time():
    assert not isinstance(_Synchronous(), AsyncVenue)
    assert isinstance(_Keeper(), AsyncVenue)


def test_a_missing_time_is_shown_as_a_dash_not_a_traceback():
    assert utc(None) == "—"
    assert utc(0) == "1970-01-01 00:00:00 UTC"
