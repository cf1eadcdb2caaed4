"""Hyperliquid perps, read and traded from HyperEVM: HyperCore state through the read precompiles,
orders through the CoreWriter system contract. See docs/venues.md.

Read precompiles take the raw `abi.encode(args)` as calldata (no selector) and answer `abi.encode`d
values in HyperCore's integers: a perp price is in units of 10^-(6 − szDecimals) USD (markPx 345678
with szDecimals 4 is $3,456.78), a size `szi` in units of 10^-szDecimals of the asset, USD amounts
(entryNtl, account value, margins) in 1e-6 USD. CoreWriter actions are `version 1 ‖ uint24 action id
‖ abi.encode(fields)`; limit-order price and size are 1e8 × the human value, whatever the market.

Funding is not on-chain: it comes from an optional FundingSource (hourly, positive when longs pay),
and is reported as unknown (`rate` None) without one.

HyperEVM specifics this adapter follows (docs/venues.md, fidelity table):
- eth_call is served at the head only: the network is read at "latest" (`read_at` in the network
  file), and every value is labelled with the EVM block number and time Multicall3 saw inside the
  batch and the HyperCore L1 block number (precompile 0x…809) read in the same batch.
- A read precompile given an invalid input burns all the gas it is passed: each market's calls, the
  account's and the block's travel in their own aggregate3 (one JSON-RPC batch still), so one bad
  market fails alone.
- A CoreWriter action can fail on HyperCore with no EVM revert: an order's outcome compares the
  position (szi) recorded when it was sent with the one read after the settle window; no change is
  "cancelled", with the possible reasons. A sender with no HyperCore account (coreUserExists,
  0x…810) is refused before anything is sent: HyperCore would drop its actions silently.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from hedger.chain.abi import decode as abi_decode
from hedger.chain.abi import encode as abi_encode
from hedger.chain.abi import keccak, selector
from hedger.chain.connect import Chain
from hedger.chain.multicall import Block, Call, CallResult, ReadStep, block_calls
from hedger.model import (
    SECONDS_PER_HOUR,
    ZERO,
    FundingRate,
    MarginAccount,
    Market,
    PendingOrder,
    Position,
    Side,
    Source,
)
from hedger.settings import MarketConfig, NetworkConfig, VenueConfig
from hedger.venues.base import (
    Approval,
    FundingSource,
    OrderIntent,
    OrderOutcome,
    StaticFundingSource,
    TxRequest,
    UnsupportedOrder,
    VenueState,
    from_units,
    to_units,
)

if TYPE_CHECKING:
    from web3 import Web3
    from web3.types import TxReceipt

PERP_PRICE_DECIMALS = 6  # a perp price has 6 − szDecimals decimals on HyperCore
USD_DECIMALS = 6  # entryNtl, account value, margins, usdClassTransfer amounts
ORDER_DECIMALS = 8  # CoreWriter limitPx and sz
MAX_SIGNIFICANT_FIGURES = 5  # of a non-integer order price
ACTION_VERSION = 1
# HyperCore applies CoreWriter order actions "a few seconds" after their EVM block (Hyperliquid docs,
# "Interacting with HyperCore"), and the precompiles show HyperCore as of the start of each ~1 s EVM
# block: 10 s covers that delay and the next block's read with margin.
DEFAULT_SETTLE_WINDOW_S = 10
L1_BLOCK_NUMBER_PRECOMPILE = "0x0000000000000000000000000000000000000809"
CORE_USER_EXISTS_PRECOMPILE = "0x0000000000000000000000000000000000000810"
LIMIT_ORDER, USD_CLASS_TRANSFER, CANCEL_BY_CLOID = 1, 7, 11
TIF_IOC = 3
_SEND_RAW_ACTION = selector("sendRawAction(bytes)")


class CorePosition(NamedTuple):
    szi: int
    entry_ntl: int
    isolated_raw_usd: int
    leverage: int
    is_isolated: bool


class PerpAssetInfo(NamedTuple):
    coin: str
    margin_table_id: int
    sz_decimals: int
    max_leverage: int
    only_isolated: bool


class AccountMarginSummary(NamedTuple):
    account_value: int
    margin_used: int
    ntl_pos: int
    raw_usd: int


def _decoder(types: str, shape: type) -> Callable[[bytes], Any]:
    """A decoder of a precompile answer, `abi.encode`d `types`, into `shape`."""
    return lambda raw: shape(*abi_decode([types], raw)[0])


_decode_position = _decoder("(int64,uint64,int64,uint32,bool)", CorePosition)
_decode_asset_info = _decoder("(string,uint32,uint8,uint8,bool)", PerpAssetInfo)
_decode_margin_summary = _decoder("(int64,uint64,uint64,int64)", AccountMarginSummary)


def _decode_uint64(raw: bytes) -> int:
    return abi_decode(["uint64"], raw)[0]


def perp_price(raw: int, sz_decimals: int) -> Decimal:
    """A perp markPx/oraclePx as USD: raw / 10^(6 − szDecimals)."""
    return from_units(raw, PERP_PRICE_DECIMALS - sz_decimals)


def order_price(price: Decimal, sz_decimals: int, buying: bool) -> Decimal:
    """A worst acceptable price on HyperCore's tick: at most 5 significant figures (integers always
    allowed) and 6 − szDecimals decimals, rounded to be stricter (down for a buy, up for a sell)."""
    rounding = ROUND_FLOOR if buying else ROUND_CEILING
    decimals = min(PERP_PRICE_DECIMALS - sz_decimals, max(0, MAX_SIGNIFICANT_FIGURES - 1 - price.adjusted()))
    return price.quantize(Decimal(1).scaleb(-decimals), rounding=rounding)


def core_action(action_id: int, types: list[str], values: list[object]) -> bytes:
    """A CoreWriter payload: version byte, big-endian uint24 action id, then the ABI-encoded fields."""
    return bytes([ACTION_VERSION]) + action_id.to_bytes(3, "big") + abi_encode(types, values)


@dataclass(frozen=True)
class HyperliquidMarket:
    symbol: str
    asset: str
    perp_index: int
    coin: str
    sz_decimals: int

    @property
    def size_step(self) -> Decimal:
        return Decimal(1).scaleb(-self.sz_decimals)


@dataclass(frozen=True)
class Precompiles:
    position: str
    mark_px: str
    oracle_px: str
    perp_asset_info: str
    account_margin_summary: str
    l1_block_number: str = L1_BLOCK_NUMBER_PRECOMPILE
    core_user_exists: str = CORE_USER_EXISTS_PRECOMPILE


@dataclass(frozen=True)
class ReadAt:
    """What a batch really read: the EVM block (Multicall3, inside the batch) and HyperCore's L1 block."""

    block: Block
    l1_block: int | None
    from_batch: bool


class HyperliquidVenue:
    """Hyperliquid on HyperEVM behind the Venue protocol (hedger.venues.base)."""

    kind = "hyperliquid"

    def __init__(
        self,
        chain: Chain | Web3,
        network: NetworkConfig,
        config: VenueConfig,
        funding_source: FundingSource | None = None,
    ):
        self.name = config.name
        self.config = config
        self.core_writer = config.require("core_writer")
        self.precompiles = Precompiles(
            position=config.require("position_precompile"),
            mark_px=config.require("mark_px_precompile"),
            oracle_px=config.require("oracle_px_precompile"),
            perp_asset_info=config.require("perp_asset_info_precompile"),
            account_margin_summary=config.require("account_margin_summary_precompile"),
            l1_block_number=config.params.get("l1_block_number_precompile", L1_BLOCK_NUMBER_PRECOMPILE),
            core_user_exists=config.params.get("core_user_exists_precompile", CORE_USER_EXISTS_PRECOMPILE),
        )
        self.multicall = network.multicall
        self.perp_dex = config.require("perp_dex", int)
        self.taker_fee = Decimal(config.require("taker_fee"))
        self.min_notional_usd = Decimal(config.require("min_notional_usd"))
        self.markets = {symbol: _market(m) for symbol, m in config.markets.items()}
        self.funding_source = funding_source or _configured_funding(config)
        self.settle_window_s = int(config.params.get("settle_window_s", DEFAULT_SETTLE_WINDOW_S))
        self.chain = Chain.of(chain)  # a Web3 is accepted (tests, scripts): reads still go through chain.rpc
        self._szi_when_sent: dict[bytes, int] = {}  # keccak(CoreWriter payload) → szi before the order

    # ------------------------------------------------------------------ reading

    def read(self, account: str, block: Block) -> ReadStep[VenueState]:
        """One round: per market perpAssetInfo, markPx, oraclePx and the position; the margin summary; the
        EVM and L1 block numbers. Each market, the account and the block are a group of their own."""
        calls = self._calls(account)
        results = yield list(calls.values())
        answers = dict(zip(calls, results, strict=True))
        return self._state(answers, self._read_at(answers, block))

    def _read_at(self, answers: Mapping[Hashable, CallResult], block: Block) -> ReadAt:
        number, timestamp, l1 = (answers[k] for k in ("block_number", "block_timestamp", "l1_block"))
        l1_block = l1.value if l1.ok else None
        if number.ok and timestamp.ok:
            return ReadAt(Block(number.value, timestamp.value, ""), l1_block, True)
        return ReadAt(block, l1_block, False)

    def _calls(self, account: str) -> dict[Hashable, Call]:
        p = self.precompiles
        calls: dict[Hashable, Call] = {}
        block_group = f"{self.name}:block"
        number, timestamp = block_calls(self.multicall, self.name, block_group)
        calls["block_number"], calls["block_timestamp"] = number, timestamp
        calls["l1_block"] = Call.raw(p.l1_block_number, b"", _decode_uint64, f"{self.name}.l1BlockNumber", block_group)
        for m in self.markets.values():
            index, group = abi_encode(["uint32"], [m.perp_index]), f"{self.name}:{m.symbol}"
            calls[("info", m.symbol)] = Call.raw(
                p.perp_asset_info, index, _decode_asset_info, f"{m.symbol}.perpAssetInfo", group
            )
            calls[("mark", m.symbol)] = Call.raw(p.mark_px, index, _decode_uint64, f"{m.symbol}.markPx", group)
            calls[("oracle", m.symbol)] = Call.raw(p.oracle_px, index, _decode_uint64, f"{m.symbol}.oraclePx", group)
            calls[("position", m.symbol)] = Call.raw(
                p.position,
                abi_encode(["address", "uint16"], [account, m.perp_index]),
                _decode_position,
                f"{m.symbol}.position",
                group,
            )
        calls["summary"] = Call.raw(
            p.account_margin_summary,
            abi_encode(["uint32", "address"], [self.perp_dex, account]),
            _decode_margin_summary,
            f"{self.name}.accountMarginSummary",
            f"{self.name}:account",
        )
        return calls

    def _state(self, answers: Mapping[Hashable, CallResult], read_at: ReadAt) -> VenueState:
        errors = [r.error or "call failed" for r in answers.values() if not r.ok]
        block = read_at.block
        if not read_at.from_batch:
            errors.append(f"{self.name}: the batch's own block is unknown: values labelled with block {block.number}")
        summary = answers["summary"].value if answers["summary"].ok else None
        markets, positions, funding = [], [], []
        for config in self.markets.values():
            info = self._checked_info(config, answers[("info", config.symbol)], errors)
            if info is None:
                continue
            market = self._market(config, info, read_at)
            mark, oracle = (self._price(answers[(k, config.symbol)], info) for k in ("mark", "oracle"))
            markets.append(market)
            funding.append(self._funding(market, mark, oracle, block, errors))
            position = self._position(market, answers[("position", config.symbol)], mark, summary, read_at)
            if position is not None:
                positions.append(position)
        margin = None if summary is None else self._margin(summary, positions, block)
        return VenueState(self.name, tuple(markets), tuple(positions), tuple(funding), (), margin, tuple(errors))

    def _checked_info(self, config: HyperliquidMarket, result: CallResult, errors: list[str]) -> PerpAssetInfo | None:
        """The perp's asset info, if it is the coin and size decimals the network file says."""
        if not result.ok:
            return None
        info = result.value
        if (info.coin, info.sz_decimals) != (config.coin, config.sz_decimals):
            errors.append(
                f"{self.name}: perp {config.perp_index} is {info.coin} with szDecimals {info.sz_decimals}, the network "
                f"file says {config.coin} with {config.sz_decimals}: {config.symbol} skipped"
            )
            return None
        return info

    def _market(self, config: HyperliquidMarket, info: PerpAssetInfo, read_at: ReadAt) -> Market:
        initial = Decimal(1) / info.max_leverage
        return Market(
            venue=self.name,
            symbol=config.symbol,
            asset=config.asset,
            market_id=str(config.perp_index),
            initial_margin_ratio=initial,
            maintenance_margin_ratio=initial / 2,  # half the initial margin at max leverage (lowest tier)
            taker_fee=self.taker_fee,
            min_size=config.size_step,
            size_step=config.size_step,
            min_notional_usd=self.min_notional_usd,
            async_orders=True,
            extra={
                "coin": info.coin,
                "sz_decimals": info.sz_decimals,
                "max_leverage": info.max_leverage,
                "margin_table_id": info.margin_table_id,
                "only_isolated": info.only_isolated,
                "evm_block": read_at.block.number,
                "l1_block": read_at.l1_block,
            },
        )

    @staticmethod
    def _price(result: CallResult, info: PerpAssetInfo) -> Decimal | None:
        return perp_price(result.value, info.sz_decimals) if result.ok else None

    def _funding(
        self, market: Market, mark: Decimal | None, oracle: Decimal | None, block: Block, errors: list[str]
    ) -> FundingRate:
        source = self.funding_source
        rate = None if source is None else source.funding_per_hour(market.symbol)
        if rate is None:
            errors.append(f"{self.name}: {market.symbol} funding unknown: HyperCore publishes none on-chain")
        origin = self.precompiles.mark_px if source is None or rate is None else f"funding-source:{source.name}"
        return FundingRate(
            venue=self.name,
            symbol=market.symbol,
            rate=rate,
            interval_s=SECONDS_PER_HOUR,
            source=Source(origin, block.number, block.timestamp),
            mark_price=mark,
            index_price=oracle,
        )

    def _position(
        self,
        market: Market,
        result: CallResult,
        mark: Decimal | None,
        summary: AccountMarginSummary | None,
        read_at: ReadAt,
    ) -> Position | None:
        if not result.ok or result.value.szi == 0:
            return None
        raw: CorePosition = result.value
        signed_size = from_units(raw.szi, market.extra["sz_decimals"])
        contracts, entry_usd = abs(signed_size), from_units(raw.entry_ntl, USD_DECIMALS)
        signed_entry = entry_usd if raw.szi > 0 else -entry_usd
        return Position(
            venue=self.name,
            symbol=market.symbol,
            asset=market.asset,
            side=Side.of(signed_size),
            contracts=contracts,
            entry_price=entry_usd / contracts,
            mark_price=mark,
            unrealized_pnl_usd=None if mark is None else signed_size * mark - signed_entry,
            source=Source(self.precompiles.position, read_at.block.number, read_at.block.timestamp),
            collateral_usd=self._collateral_usd(raw, signed_size, mark, summary),
            maintenance_margin_usd=None if mark is None else contracts * mark * market.maintenance_margin_ratio,
            extra={
                "leverage": raw.leverage,
                "margin_mode": "isolated" if raw.is_isolated else "cross",
                "szi_raw": raw.szi,
                "entry_ntl_raw": raw.entry_ntl,
                "isolated_raw_usd": from_units(raw.isolated_raw_usd, USD_DECIMALS),
                "l1_block": read_at.l1_block,
            },
        )

    @staticmethod
    def _collateral_usd(
        raw: CorePosition, signed_size: Decimal, mark: Decimal | None, summary: AccountMarginSummary | None
    ) -> Decimal | None:
        """Isolated: the position's own equity, raw USD + size × mark. Cross: the account's value."""
        if raw.is_isolated:
            return None if mark is None else from_units(raw.isolated_raw_usd, USD_DECIMALS) + signed_size * mark
        return None if summary is None else from_units(summary.account_value, USD_DECIMALS)

    def _margin(self, summary: AccountMarginSummary, positions: list[Position], block: Block) -> MarginAccount:
        """The perp dex's margin summary; maintenance summed over the positions hedger reads."""
        equity = from_units(summary.account_value, USD_DECIMALS)
        return MarginAccount(
            venue=self.name,
            collateral_token="USDC",
            collateral=equity,
            equity_usd=equity,
            initial_requirement_usd=from_units(summary.margin_used, USD_DECIMALS),
            maintenance_requirement_usd=sum((p.maintenance_margin_usd or ZERO for p in positions), ZERO),
            notional_usd=from_units(summary.ntl_pos, USD_DECIMALS),
            source=Source(self.precompiles.account_margin_summary, block.number, block.timestamp),
        )

    # ------------------------------------------------------------------ encoding

    def encode_order(self, account: str, intent: OrderIntent) -> list[TxRequest]:
        """An IOC limit order (action 1) at the acceptable price, reduce-only for decreases and closes."""
        market = self._configured(intent.market.symbol)
        self._require_core_account(account)
        buying = intent.size_delta > 0
        size = abs(intent.size_delta).quantize(market.size_step, rounding=ROUND_DOWN)
        if size == 0:
            raise UnsupportedOrder(f"{intent.size_delta} {market.symbol} is below the lot size {market.size_step}")
        price = order_price(intent.acceptable_price, market.sz_decimals, buying)
        cloid = int(intent.extra.get("cloid", 0))
        payload = core_action(
            LIMIT_ORDER,
            ["uint32", "bool", "uint64", "uint64", "bool", "uint8", "uint128"],
            [market.perp_index, buying, to_units(price, ORDER_DECIMALS), to_units(size, ORDER_DECIMALS),
             intent.reduce_only, TIF_IOC, cloid],
        )  # fmt: skip
        verb = "buy" if buying else "sell"
        flags = " reduce-only" if intent.reduce_only else ""
        position = intent.position
        self._szi_when_sent[keccak(payload)] = int(position.extra.get("szi_raw", 0)) if position is not None else 0
        return [self._send(payload, f"IOC {verb} {size} {market.symbol} at {price}{flags}")]

    def encode_collateral(self, account: str, amount: Decimal) -> list[TxRequest]:
        """Move USDC between the HyperCore spot and perp balances (action 7): > 0 into perps."""
        self._require_core_account(account)
        units = to_units(abs(amount), USD_DECIMALS)
        payload = core_action(USD_CLASS_TRANSFER, ["uint64", "bool"], [units, amount > 0])
        direction = "spot → perp" if amount > 0 else "perp → spot"
        return [self._send(payload, f"move {abs(amount)} USDC {direction}")]

    def encode_cancel(self, account: str, order: PendingOrder) -> TxRequest:
        """Cancel by client order id (action 11); orders hedger sent carry their cloid in `extra`."""
        cloid = order.extra.get("cloid")
        if not cloid:
            raise UnsupportedOrder(f"order {order.order_id} has no cloid: HyperCore orders are cancelled by cloid here")
        market = self._configured(order.symbol)
        self._require_core_account(account)
        payload = core_action(CANCEL_BY_CLOID, ["uint32", "uint128"], [market.perp_index, int(cloid)])
        return self._send(payload, f"cancel {market.symbol} order cloid {cloid}")

    def approvals(self, account: str, intent: OrderIntent | None, collateral: Decimal) -> list[Approval]:
        return []  # CoreWriter actions move HyperCore balances: no ERC-20 allowance is involved

    # ------------------------------------------------------------------ settlement

    def order_id_from_receipt(self, receipt: TxReceipt) -> str | None:
        """A CoreWriter transaction's id: its hash, and for a limit order `/<perp index>/<szi before>`, the
        position it was sent against (as the snapshot the order was planned from read it; read now when
        this process did not encode it). HyperCore applies the action a few seconds later, and may drop
        it with no EVM revert: `order_outcome` compares szi after the settle window."""
        if receipt["to"] is None or receipt["to"].lower() != self.core_writer.lower():
            return None
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex().removeprefix("0x")
        payload = self._payload_of(tx_hash)
        if payload is None or int.from_bytes(payload[1:4], "big") != LIMIT_ORDER:
            return tx_hash
        (perp_index,) = abi_decode(["uint32"], payload[4:36])
        szi = self._szi_when_sent.pop(keccak(payload), None)
        if szi is None:
            szi = self._szi(receipt["from"], perp_index)
        return f"{tx_hash}/{perp_index}/{szi}"

    def order_outcome(self, order_id: str, from_block: int) -> OrderOutcome:
        """Pending within the settle window; then, for an order, executed if the position moved and
        cancelled (with the reasons HyperCore drops an action for) if it did not."""
        tx_hash, _, rest = order_id.partition("/")
        eth: Any = self.chain.w3.eth  # web3 wants its HexStr type for hashes
        sent = eth.get_transaction_receipt(tx_hash)
        sent_at = eth.get_block(sent["blockNumber"])["timestamp"]
        latest = eth.get_block("latest")
        if latest["timestamp"] - sent_at < self.settle_window_s:
            return OrderOutcome("pending")
        if not rest:
            return OrderOutcome(
                "executed", latest["number"], "settle window passed (not verifiable on-chain for this action)"
            )
        perp, before = (int(v) for v in rest.split("/"))
        now = self._szi(sent["from"], perp)
        if now == before:
            return OrderOutcome(
                "cancelled",
                latest["number"],
                f"HyperCore left the position at szi {before} {self.settle_window_s} s after the order: not filled "
                "(an IOC finding no liquidity at its price, under $10, off-tick, no margin, or no HyperCore "
                "account; CoreWriter actions fail without an EVM revert)",
            )
        return OrderOutcome("executed", latest["number"], f"szi {before} → {now}")

    def _payload_of(self, tx_hash: str) -> bytes | None:
        eth: Any = self.chain.w3.eth
        data = bytes(eth.get_transaction(tx_hash)["input"])
        if data[:4] != _SEND_RAW_ACTION:
            return None
        (payload,) = abi_decode(["bytes"], data[4:])
        return payload if len(payload) >= 36 else None

    def _szi(self, account: str, perp_index: int) -> int:
        """The account's szi on a perp now (HyperEVM serves eth_call at the head only)."""
        raw = self.chain.w3.eth.call(
            {"to": self.precompiles.position, "data": abi_encode(["address", "uint16"], [account, perp_index])}
        )
        return _decode_position(bytes(raw)).szi

    def _require_core_account(self, account: str) -> None:
        """coreUserExists (0x…810): HyperCore drops every CoreWriter action of an address it has no account
        for (docs, "Interaction timings"), with no revert: refuse before anything is sent."""
        try:
            raw = self.chain.w3.eth.call(
                {"to": self.precompiles.core_user_exists, "data": abi_encode(["address"], [account])}
            )
            (exists,) = abi_decode(["bool"], bytes(raw))
        except Exception as error:  # a node without the precompile, or garbage: say so, send nothing
            raise UnsupportedOrder(
                f"{self.name}: could not check that {account} has a HyperCore account: {error}",
                "check the RPC points at HyperEVM; nothing was sent",
            ) from error
        if not exists:
            raise UnsupportedOrder(
                f"{self.name}: {account} has no HyperCore account: HyperCore would drop its CoreWriter actions "
                "without a revert",
                "create the account on HyperCore first (receive USDC there, e.g. a transfer from an existing "
                "account or a bridge deposit); nothing was sent",
            )

    def _send(self, payload: bytes, description: str) -> TxRequest:
        data = _SEND_RAW_ACTION + abi_encode(["bytes"], [payload])
        return TxRequest(self.core_writer, data, f"{self.name}: {description}")

    def _configured(self, symbol: str) -> HyperliquidMarket:
        market = self.markets.get(symbol)
        if market is None:
            raise UnsupportedOrder(f"{self.name} has no market {symbol!r}", f"configured: {sorted(self.markets)}")
        return market


def _configured_funding(config: VenueConfig) -> FundingSource | None:
    """`[venues.<name>.funding_per_hour]` (symbol = rate per hour, positive: longs pay): a manual table."""
    table = config.params.get("funding_per_hour")
    if not table:
        return None
    return StaticFundingSource({symbol: Decimal(str(rate)) for symbol, rate in table.items()}, name="network file")


def _market(config: MarketConfig) -> HyperliquidMarket:
    return HyperliquidMarket(
        symbol=config.symbol,
        asset=config.asset,
        perp_index=config.require("perp_index", int),
        coin=config.require("coin"),
        sz_decimals=config.require("sz_decimals", int),
    )
