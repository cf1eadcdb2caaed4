"""Helpers for integration tests on the reference universe."""

from __future__ import annotations

from decimal import Decimal

from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.logs import DISCARD

from hedger.chain.contracts import load_artifact
from hedger.chain.revert import RevertReason, decode_revert
from hedger.chain.universe import to_units
from hedger.testing import LocalChain

USDC = 10**6
WAD = 10**18
PRICE_UNIT = 10**8  # feed answers have 8 decimals
ALL_ABIS = [
    load_artifact(n).abi for n in ("PerpMarket", "TestToken", "ChainlinkFeed", "SequencerUptimeFeed", "Batcher")
]


def revert_of(call, sender: str) -> RevertReason:
    """Simulate `call` from `sender`, expecting a revert, and decode it."""
    try:
        call.call({"from": sender})
    except (ContractCustomError, ContractLogicError, ContractPanicError) as error:
        return decode_revert(error.data, ALL_ABIS)
    raise AssertionError("expected the call to revert, it succeeded")


def fund_margin(chain: LocalChain, account: str, usdc: Decimal | int) -> int:
    """Mint USDC to `account` and deposit it as PerpMarket margin; returns the token units."""
    units = to_units(Decimal(usdc), 6)
    token, perp = chain.token("USDC"), chain.perp
    chain.transact(token.functions.mint(account, units))
    chain.transact(token.functions.approve(perp.address, units), account)
    chain.transact(perp.functions.depositMargin(units), account)
    return units


def set_price(chain: LocalChain, feed: str, price: Decimal | int) -> int:
    """Publish a new feed round now; returns the 8-decimal answer."""
    answer = to_units(Decimal(price), 8)
    chain.transact(chain.feed(feed).functions.setAnswer(answer))
    return answer


def conserved(chain: LocalChain, accounts: list[str]) -> tuple[int, int]:
    """(token balance of the market, margins + pool + reserved keeper fees): equal when conserved."""
    perp = chain.perp
    held = chain.token("USDC").functions.balanceOf(perp.address).call()
    margins = sum(perp.functions.margin(a).call() for a in accounts)
    return held, margins + perp.functions.pool().call() + perp.functions.reservedKeeperFees().call()


def events(contract, name: str, receipt) -> list[dict]:
    """Arguments of every `name` event `contract` emitted in the receipt (other logs ignored)."""
    return [e["args"] for e in getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)]
