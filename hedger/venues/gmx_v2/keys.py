"""GMX v2 DataStore keys and hashing: GMX's Keys constants (keccak256(abi.encode("NAME"))), the keys of a
market's factors and open interest, position keys, and the EventEmitter's EventLog2 topics."""

from __future__ import annotations

from typing import Any

from hedger.chain.abi import encode as abi_encode
from hedger.chain.abi import keccak, type_string
from hedger.venues._abi import load_abi

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def _hashed_name(name: str) -> bytes:
    """GMX's Keys constants: keccak256(abi.encode("NAME"))."""
    return keccak(abi_encode(["string"], [name]))


def datastore_key(types: list[str], values: list[Any]) -> bytes:
    """A DataStore key: keccak256(abi.encode(...)) of a Keys constant and its arguments."""
    return keccak(abi_encode(types, values))


_EVENT_LOG2 = load_abi("gmx_v2", "EventEmitter")[0]
EVENT_LOG2_TOPIC = keccak(f"EventLog2({','.join(type_string(i) for i in _EVENT_LOG2['inputs'])})".encode())
EVENT_LOG2_DATA = [i for i in _EVENT_LOG2["inputs"] if not i["indexed"]]  # msgSender, eventName, eventData
ORDER_EVENTS = {
    name: keccak(name.encode()) for name in ("OrderCreated", "OrderExecuted", "OrderCancelled", "OrderFrozen")
}

OPEN_INTEREST = _hashed_name("OPEN_INTEREST")
MIN_COLLATERAL_FACTOR = _hashed_name("MIN_COLLATERAL_FACTOR")
MIN_COLLATERAL_FACTOR_FOR_LIQUIDATION = _hashed_name("MIN_COLLATERAL_FACTOR_FOR_LIQUIDATION")
POSITION_FEE_FACTOR = _hashed_name("POSITION_FEE_FACTOR")
MIN_POSITION_SIZE_USD = _hashed_name("MIN_POSITION_SIZE_USD")
MIN_COLLATERAL_FACTOR_FOR_OPEN_INTEREST_MULTIPLIER = _hashed_name("MIN_COLLATERAL_FACTOR_FOR_OPEN_INTEREST_MULTIPLIER")
REQUEST_EXPIRATION_TIME = _hashed_name("REQUEST_EXPIRATION_TIME")  # seconds before a market order may be cancelled


def open_interest_key(market: str, collateral_token: str, is_long: bool) -> bytes:
    return datastore_key(["bytes32", "address", "address", "bool"], [OPEN_INTEREST, market, collateral_token, is_long])


def market_factor_keys(market: str) -> dict[str, bytes]:
    """DataStore keys of a market's margin and fee factors (Keys.sol): the min collateral factor, its
    open-interest multiplier per side, the liquidation factor, and the position fee factor for an order
    that worsens (`position_fee_factor`) or improves the long/short balance."""
    by_market = ["bytes32", "address"]
    by_side = ["bytes32", "address", "bool"]
    return {
        "min_collateral_factor": datastore_key(by_market, [MIN_COLLATERAL_FACTOR, market]),
        "min_collateral_factor_for_liquidation": datastore_key(
            by_market, [MIN_COLLATERAL_FACTOR_FOR_LIQUIDATION, market]
        ),
        "min_collateral_factor_for_open_interest_long": datastore_key(
            by_side, [MIN_COLLATERAL_FACTOR_FOR_OPEN_INTEREST_MULTIPLIER, market, True]
        ),
        "min_collateral_factor_for_open_interest_short": datastore_key(
            by_side, [MIN_COLLATERAL_FACTOR_FOR_OPEN_INTEREST_MULTIPLIER, market, False]
        ),
        "position_fee_factor": datastore_key(by_side, [POSITION_FEE_FACTOR, market, False]),
        "position_fee_factor_balance_improved": datastore_key(by_side, [POSITION_FEE_FACTOR, market, True]),
    }


def position_key(raw: Any) -> bytes:
    """Position.getPositionKey: keccak256(abi.encode(account, market, collateralToken, isLong))."""
    a = raw.addresses
    return datastore_key(
        ["address", "address", "address", "bool"], [a.account, a.market, a.collateralToken, raw.flags.isLong]
    )
