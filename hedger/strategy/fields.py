"""Settings fields that carry their own documentation: default, unit, source and allowed range.

Every threshold of the strategy is declared with `setting(...)`, so one place says what it means and
where its default comes from; `check_ranges` enforces the range and `settings_table` renders the docs.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from hedger.errors import ConfigError

SETTINGS_FILE = "strategy settings"


def setting(default: Any, doc: str, source: str = "hedger", *, minimum: Any = None, maximum: Any = None) -> Any:
    """A dataclass field with its documentation and range (inclusive bounds)."""
    metadata = {"doc": doc, "source": source, "minimum": minimum, "maximum": maximum}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def check_ranges(instance: Any) -> None:
    """Raise ConfigError for the first field outside its declared range."""
    for f in dataclasses.fields(instance):
        value, minimum, maximum = getattr(instance, f.name), f.metadata.get("minimum"), f.metadata.get("maximum")
        if value is None or isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            continue
        if minimum is not None and value < minimum:
            raise ConfigError(SETTINGS_FILE, f.name, f"{value} is below the minimum {minimum}")
        if maximum is not None and value > maximum:
            raise ConfigError(SETTINGS_FILE, f.name, f"{value} is above the maximum {maximum}")


def require(condition: bool, key: str, problem: str) -> None:
    if not condition:
        raise ConfigError(SETTINGS_FILE, key, problem)
