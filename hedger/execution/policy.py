"""The execution policies a network file's [execution] table sets: plain data, importable by the read-only
paths (a session builds them) without the signing and sending machinery (web3, eth_account)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MIN_REPLACEMENT_BUMP = Decimal("0.125")  # what nodes require to replace a pending transaction


@dataclass(frozen=True)
class SendPolicy:
    """Fees and patience. Every field has a default; a network file's [execution] table overrides."""

    max_fee_per_gas_gwei: Decimal = Decimal(200)
    max_priority_fee_gwei: Decimal = Decimal(3)
    base_fee_multiplier: Decimal = Decimal(2)
    replacement_bump: Decimal = Decimal("0.15")
    # over eth_estimateGas, which runs in the latest block's second: a transaction mined in a later second
    # can take costlier paths (PerpMarket's per-second funding accrual writes storage: +28% measured)
    gas_limit_multiplier: Decimal = Decimal("1.5")
    receipt_timeout_s: float = 180.0
    stuck_after_s: float = 45.0
    max_replacements: int = 3
    poll_interval_s: float = 0.1
    max_rejections: int = 3  # node rejections (fee below base fee, …) re-signed with fresh fees before giving up

    def __post_init__(self) -> None:
        if self.replacement_bump < MIN_REPLACEMENT_BUMP:
            raise ValueError(f"replacement_bump must be ≥ {MIN_REPLACEMENT_BUMP} (nodes refuse smaller bumps)")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> SendPolicy:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown execution settings: {sorted(unknown)}")
        converted = {k: type(getattr(cls(), k))(str(v)) if isinstance(getattr(cls(), k), Decimal) else v
                     for k, v in values.items()}  # fmt: skip
        return cls(**converted)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a market's orders may fail (cancelled, reverted) before hedger stops retrying."""

    max_failures: int = 3
    window_s: int = 86_400
    backoff_base_s: int = 60

    def wait_s(self, failures: int) -> int:
        return 0 if failures == 0 else self.backoff_base_s * 2 ** (failures - 1)
