"""Read-step helpers the venues share: ask a named set of calls in one round, take an answer or record why
it is missing, and accept a feed's answer only when it is positive and within its configured bounds."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from hedger.chain.multicall import Call, CallResult, ReadStep
from hedger.settings import FeedConfig
from hedger.venues.base import from_units


def ask(calls: dict[Hashable, Call]) -> ReadStep[dict[Hashable, CallResult]]:
    """One round of the snapshot: the calls' results under the calls' names."""
    results = yield list(calls.values())
    return dict(zip(calls, results, strict=True))


def value_of(answers: Mapping[Hashable, CallResult], key: Hashable, errors: list[str]) -> Any:
    """An answer's value, or None (and the failure in `errors`); None without error if never asked."""
    result = answers.get(key)
    if result is None:
        return None
    if not result.ok:
        errors.append(result.error or f"{key} failed")
        return None
    return result.value


def feed_answer(result: CallResult, feed: FeedConfig, errors: list[str], unpriced: str) -> int | None:
    """A feed's latest answer if it is positive and within the configured bounds; else None, and `errors` says
    why, ending with what that leaves `unpriced` (e.g. "its tokens are unpriced")."""
    if not result.ok:
        errors.append(f"{feed.name}: {result.error}: {unpriced}")
        return None
    latest = result.value[1]
    price = from_units(latest, feed.decimals)
    if latest <= 0 or not feed.min_price <= price <= feed.max_price:
        errors.append(f"{feed.name} answered {price}, outside [{feed.min_price}, {feed.max_price}]: {unpriced}")
        return None
    return latest
