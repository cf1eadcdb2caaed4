// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";
import {IERC20} from "../interfaces/IERC20.sol";

/// @title PerpMarket
/// @notice hedger's reference perpetual-futures venue. Several markets, each priced by a
///         Chainlink-compatible feed; cross margin in one stablecoin; long and short positions with
///         an average entry price; a fill price with skew-based price impact and a trading fee;
///         funding accrued every second from skew; maintenance margin and permissionless
///         liquidation with a reward; immediate orders and asynchronous orders (commit, then a
///         keeper settles after a minimum delay and before expiry, or the order is cancelled).
/// @dev The model, every formula and every rounding rule are documented in docs/perp-market.md.
///      Units: prices, sizes and USD amounts are 18-decimal fixed point (WAD); margin balances are
///      in margin-token units. A liquidity pool is the counterparty of every settlement, so
///      token balance == sum of margins + pool + reserved keeper fees, exactly, at all times.
contract PerpMarket {
    int256 private constant WAD = 1e18;
    uint256 private constant UWAD = 1e18;
    uint256 private constant SECONDS_PER_HOUR = 3600;

    struct MarketParams {
        AggregatorV3Interface feed;
        uint256 maxPriceAge; // seconds after updatedAt beyond which the price is stale
        uint256 skewScale; // base units (WAD): the skew at which impact is 100% and funding maximal
        uint256 tradingFee; // fraction of fill notional (WAD)
        uint256 maxFundingRatePerHour; // fraction of notional per hour at |skew| >= skewScale (WAD)
        uint256 initialMarginRatio; // WAD; 1 / max leverage
        uint256 maintenanceMarginRatio; // WAD
        uint256 liquidationRewardRatio; // fraction of notional paid to the liquidator (WAD)
        uint256 maxOpenInterest; // per side, base units (WAD); 0 = no cap
    }

    struct MarketState {
        string symbol;
        int256 skew; // long open interest minus short open interest, base units
        uint256 longOpenInterest;
        uint256 shortOpenInterest;
        int256 fundingIndex; // cumulative funding per unit of size, USD (WAD); longs pay when rising
        uint256 lastFundingTime;
    }

    struct Position {
        int256 size; // signed base units: > 0 long, < 0 short
        int256 costBasis; // signed USD: sum of size x fill price over the open lots
        int256 lastFundingIndex;
    }

    struct Order {
        uint256 id;
        int256 sizeDelta;
        uint256 acceptablePrice;
        uint256 committedAt;
        uint256 keeperFee; // margin-token units reserved at commit
    }

    struct Health {
        int256 equity; // margin + unrealized PnL - accrued funding, USD
        uint256 notional; // sum of |size| x price, USD
        uint256 initialRequirement;
        uint256 maintenanceRequirement;
        uint256 liquidationReward;
    }

    IERC20 public immutable marginToken;
    uint256 public immutable marginScale; // 10^(18 - token decimals): USD WAD per token unit
    address public immutable owner;

    uint256 public marketCount;
    mapping(uint256 => MarketParams) private params;
    mapping(uint256 => MarketState) private state;

    uint256 public pool; // margin-token units
    uint256 public reservedKeeperFees; // margin-token units
    mapping(address => uint256) public margin; // margin-token units, settled
    mapping(address => mapping(uint256 => Position)) private positions;
    mapping(address => uint256[]) private openMarketList;
    mapping(address => mapping(uint256 => uint256)) private openMarketSlot; // index + 1

    uint256 public minOrderDelay; // seconds from commit before an order can settle
    uint256 public orderExpiry; // seconds from commit after which an order can only be cancelled
    uint256 public keeperFee; // margin-token units paid to whoever settles or expires an order
    uint256 public lastOrderId;
    mapping(address => mapping(uint256 => Order)) private orders;

    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @param symbol The market's symbol, e.g. ETH.
    /// @param feed Its Chainlink-compatible price feed.
    event MarketAdded(uint256 indexed marketId, string symbol, address feed);
    /// @param marketId The market's id (1-based, in the order markets were added).
    event MarketParamsUpdated(uint256 indexed marketId);
    /// @param minOrderDelay Seconds before a committed order may be settled.
    /// @param orderExpiry Seconds after which it can no longer be settled.
    /// @param keeperFee Keeper fee reserved per order, in margin-token units.
    event OrderSettingsUpdated(uint256 minOrderDelay, uint256 orderExpiry, uint256 keeperFee);
    /// @param funder Who added the liquidity.
    /// @param amount Margin-token units added.
    event PoolFunded(address indexed funder, uint256 amount);
    /// @param account The trading account.
    /// @param amount Margin-token units deposited.
    event MarginDeposited(address indexed account, uint256 amount);
    /// @param account The trading account.
    /// @param amount Margin-token units withdrawn.
    event MarginWithdrawn(address indexed account, uint256 amount);
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @param fundingIndex Cumulative funding per unit of size (WAD).
    /// @param fundingRatePerHour The rate accrued, per hour of notional (WAD; positive: longs pay).
    /// @param price The oracle price it accrued at (WAD).
    event FundingAccrued(uint256 indexed marketId, int256 fundingIndex, int256 fundingRatePerHour, uint256 price);
    /// @param account The trading account.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @param sizeDelta Size traded (WAD, signed).
    /// @param fillPrice Price filled at (WAD).
    /// @param newSize The position's size after (WAD, signed).
    /// @param realizedPnl PnL realized by the trade (WAD USD).
    /// @param fundingPaid Funding settled (WAD USD; positive: paid by the account).
    /// @param fee Trading fee charged (WAD USD).
    event PositionModified(
        address indexed account,
        uint256 indexed marketId,
        int256 sizeDelta,
        uint256 fillPrice,
        int256 newSize,
        int256 realizedPnl,
        int256 fundingPaid,
        uint256 fee
    );
    /// @param orderId The order's id.
    /// @param account The trading account.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @param sizeDelta Size to trade (WAD, signed).
    /// @param acceptablePrice Worst fill price accepted (WAD).
    /// @param keeperFee Keeper fee reserved, in margin-token units.
    event OrderCommitted(
        uint256 indexed orderId,
        address indexed account,
        uint256 indexed marketId,
        int256 sizeDelta,
        uint256 acceptablePrice,
        uint256 keeperFee
    );
    /// @param orderId The order's id.
    /// @param account The trading account.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @param keeper Who settled it (and earned the keeper fee).
    event OrderSettled(uint256 indexed orderId, address indexed account, uint256 indexed marketId, address keeper);
    /// @param orderId The order's id.
    /// @param account The trading account.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @param by Who cancelled it (the account, a keeper, or settleOrder's caller).
    /// @param reason The revert data of why (OrderCancelledByAccount, OrderExpired, or the failed trade's error).
    event OrderCancelled(
        uint256 indexed orderId, address indexed account, uint256 indexed marketId, address by, bytes reason
    );
    /// @param account The trading account.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @param size The size closed (WAD, signed).
    /// @param price The oracle price closed at (WAD).
    /// @param realizedPnl PnL realized (WAD USD).
    /// @param fundingPaid Funding settled (WAD USD; positive: paid by the account).
    event PositionLiquidated(
        address indexed account,
        uint256 indexed marketId,
        int256 size,
        uint256 price,
        int256 realizedPnl,
        int256 fundingPaid
    );
    /// @param account The trading account.
    /// @param liquidator Who liquidated it (and earned the reward).
    /// @param equity The account's equity before (WAD USD).
    /// @param maintenanceRequirement Its maintenance requirement before (WAD USD).
    /// @param reward Reward paid to the liquidator, in margin-token units.
    event AccountLiquidated(
        address indexed account,
        address indexed liquidator,
        int256 equity,
        uint256 maintenanceRequirement,
        uint256 reward
    );
    /// @param account The trading account.
    /// @param amount Loss beyond the account's margin, absorbed by the pool (margin-token units).
    event BadDebt(address indexed account, uint256 amount);

    error NotOwner(address caller);
    error OnlySelf();
    error UnknownMarket(uint256 marketId);
    error InvalidParams(string reason);
    error StalePrice(uint256 marketId, uint256 updatedAt, uint256 maxPriceAge);
    error InvalidPrice(uint256 marketId, int256 answer);
    error ZeroSize();
    error AcceptablePriceExceeded(uint256 fillPrice, uint256 acceptablePrice);
    error InsufficientMargin(int256 equity, uint256 required);
    error InsufficientLiquidity(uint256 pool, uint256 needed);
    error MaxOpenInterestExceeded(uint256 marketId, uint256 openInterest, uint256 cap);
    error AccountLiquidatable(address account);
    error NotLiquidatable(int256 equity, uint256 maintenanceRequirement);
    error OrderAlreadyPending(uint256 orderId);
    error NoPendingOrder(address account, uint256 marketId);
    error OrderNotReady(uint256 orderId, uint256 readyAt);
    error OrderExpired(uint256 orderId, uint256 expiredAt);
    error OrderNotExpired(uint256 orderId, uint256 expiresAt);
    error OrderCancelledByAccount(uint256 orderId);
    error TransferFailed();

    constructor(
        IERC20 marginToken_,
        uint8 marginDecimals,
        uint256 minOrderDelay_,
        uint256 orderExpiry_,
        uint256 keeperFee_
    ) {
        if (marginDecimals > 18) revert InvalidParams("margin decimals > 18");
        marginToken = marginToken_;
        marginScale = 10 ** (18 - marginDecimals);
        owner = msg.sender;
        _setOrderSettings(minOrderDelay_, orderExpiry_, keeperFee_);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    modifier knownMarket(uint256 marketId) {
        if (marketId == 0 || marketId > marketCount) revert UnknownMarket(marketId);
        _;
    }

    // ------------------------------------------------------------------ administration

    /// @param symbol The market's symbol, e.g. ETH.
    /// @param p Its parameters (feed, margin ratios, fee, skew scale, funding, caps).
    /// @return marketId The new market's id.
    function addMarket(string calldata symbol, MarketParams calldata p) external onlyOwner returns (uint256 marketId) {
        _validate(p);
        marketId = ++marketCount;
        params[marketId] = p;
        MarketState storage s = state[marketId];
        s.symbol = symbol;
        s.lastFundingTime = block.timestamp;
        emit MarketAdded(marketId, symbol, address(p.feed));
    }

    /// @notice Change a market's parameters; funding up to now accrues under the old ones first.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @param p The new parameters.
    function setMarketParams(uint256 marketId, MarketParams calldata p) external onlyOwner knownMarket(marketId) {
        _validate(p);
        _accrue(marketId, _oraclePrice(marketId));
        params[marketId] = p;
        emit MarketParamsUpdated(marketId);
    }

    /// @param minOrderDelay_ Seconds before a committed order may be settled.
    /// @param orderExpiry_ Seconds after which it can no longer be settled.
    /// @param keeperFee_ Keeper fee reserved per order, in margin-token units.
    function setOrderSettings(uint256 minOrderDelay_, uint256 orderExpiry_, uint256 keeperFee_) external onlyOwner {
        _setOrderSettings(minOrderDelay_, orderExpiry_, keeperFee_);
    }

    /// @notice Add liquidity to the pool that takes the other side of every settlement.
    /// @param amount Margin-token units to add (pulled from the caller).
    function fundPool(uint256 amount) external {
        _pull(msg.sender, amount);
        pool += amount;
        emit PoolFunded(msg.sender, amount);
    }

    // ------------------------------------------------------------------ margin

    /// @param amount Margin-token units to deposit (pulled from the caller).
    function depositMargin(uint256 amount) external {
        _pull(msg.sender, amount);
        margin[msg.sender] += amount;
        emit MarginDeposited(msg.sender, amount);
    }

    /// @notice Withdraw settled margin; with open positions the account must keep its initial margin.
    /// @param amount Margin-token units to withdraw to the caller.
    function withdrawMargin(uint256 amount) external {
        uint256 balance = margin[msg.sender];
        if (amount > balance) revert InsufficientMargin(int256(balance * marginScale), amount * marginScale);
        margin[msg.sender] = balance - amount;
        if (openMarketList[msg.sender].length > 0) {
            Health memory h = _health(msg.sender);
            if (h.equity < int256(h.initialRequirement)) revert InsufficientMargin(h.equity, h.initialRequirement);
        }
        _push(msg.sender, amount);
        emit MarginWithdrawn(msg.sender, amount);
    }

    // ------------------------------------------------------------------ immediate orders

    /// @notice Trade `sizeDelta` (base units, signed) now, at a fill price no worse than `acceptablePrice`.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @param sizeDelta Size to trade (WAD, signed: > 0 buys).
    /// @param acceptablePrice Worst fill price accepted (WAD).
    function modifyPosition(uint256 marketId, int256 sizeDelta, uint256 acceptablePrice)
        external
        knownMarket(marketId)
    {
        _trade(msg.sender, marketId, sizeDelta, acceptablePrice);
    }

    /// @notice Close the whole position in a market, at a fill price no worse than `acceptablePrice`.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @param acceptablePrice Worst fill price accepted (WAD).
    function closePosition(uint256 marketId, uint256 acceptablePrice) external knownMarket(marketId) {
        _trade(msg.sender, marketId, -positions[msg.sender][marketId].size, acceptablePrice);
    }

    // ------------------------------------------------------------------ asynchronous orders

    /// @notice Commit an order that a keeper settles between `minOrderDelay` and `orderExpiry`
    ///         seconds from now, at the fill price of that moment. The keeper fee is reserved now.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @param sizeDelta Size to trade (WAD, signed: > 0 buys).
    /// @param acceptablePrice Worst fill price accepted at settlement (WAD).
    /// @return orderId The committed order's id.
    function commitOrder(uint256 marketId, int256 sizeDelta, uint256 acceptablePrice)
        external
        knownMarket(marketId)
        returns (uint256 orderId)
    {
        if (sizeDelta == 0) revert ZeroSize();
        Order storage pending = orders[msg.sender][marketId];
        if (pending.committedAt != 0) revert OrderAlreadyPending(pending.id);
        uint256 fee = keeperFee;
        uint256 balance = margin[msg.sender];
        if (balance < fee) revert InsufficientMargin(int256(balance * marginScale), fee * marginScale);
        margin[msg.sender] = balance - fee;
        reservedKeeperFees += fee;
        orderId = ++lastOrderId;
        orders[msg.sender][marketId] = Order(orderId, sizeDelta, acceptablePrice, block.timestamp, fee);
        emit OrderCommitted(orderId, msg.sender, marketId, sizeDelta, acceptablePrice, fee);
    }

    /// @notice Settle a pending order (anyone; keepers). An unusable oracle price reverts and leaves
    ///         the order pending; a trade that fails (price, margin) cancels it with the reason.
    ///         Either way the keeper fee goes to the caller.
    /// @param account The account whose order to settle.
    /// @param marketId The market's id (1-based, in the order markets were added).
    function settleOrder(address account, uint256 marketId) external knownMarket(marketId) {
        Order memory order = _pendingOrder(account, marketId);
        if (block.timestamp < order.committedAt + minOrderDelay) {
            revert OrderNotReady(order.id, order.committedAt + minOrderDelay);
        }
        if (block.timestamp > order.committedAt + orderExpiry) {
            revert OrderExpired(order.id, order.committedAt + orderExpiry);
        }
        _oraclePrice(marketId);
        delete orders[account][marketId];
        try this.executeSettlement(account, marketId, order.sizeDelta, order.acceptablePrice) {
            emit OrderSettled(order.id, account, marketId, msg.sender);
        } catch (bytes memory reason) {
            emit OrderCancelled(order.id, account, marketId, msg.sender, reason);
        }
        _releaseKeeperFee(order.keeperFee, msg.sender, false);
    }

    /// @dev Entry point for settleOrder's try/catch; callable only by this contract.
    /// @param account The trading account.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @param sizeDelta Size to trade (WAD, signed).
    /// @param acceptablePrice Worst fill price accepted (WAD).
    function executeSettlement(address account, uint256 marketId, int256 sizeDelta, uint256 acceptablePrice) external {
        if (msg.sender != address(this)) revert OnlySelf();
        _trade(account, marketId, sizeDelta, acceptablePrice);
    }

    /// @notice The account cancels its own order at any time (fee refunded to its margin); anyone
    ///         cancels an expired order (fee paid to the caller).
    /// @param account The account whose order to cancel.
    /// @param marketId The market's id (1-based, in the order markets were added).
    function cancelOrder(address account, uint256 marketId) external knownMarket(marketId) {
        Order memory order = _pendingOrder(account, marketId);
        bytes memory reason;
        if (msg.sender == account) {
            reason = abi.encodeWithSelector(OrderCancelledByAccount.selector, order.id);
        } else {
            uint256 expiresAt = order.committedAt + orderExpiry;
            if (block.timestamp <= expiresAt) revert OrderNotExpired(order.id, expiresAt);
            reason = abi.encodeWithSelector(OrderExpired.selector, order.id, expiresAt);
        }
        delete orders[account][marketId];
        emit OrderCancelled(order.id, account, marketId, msg.sender, reason);
        _releaseKeeperFee(order.keeperFee, msg.sender == account ? account : msg.sender, msg.sender == account);
    }

    // ------------------------------------------------------------------ liquidation

    /// @notice Close every position of an account whose equity is at or below its maintenance
    ///         requirement, at oracle prices, and pay the caller the liquidation reward.
    /// @param account The account to liquidate.
    function liquidate(address account) external {
        Health memory h = _health(account);
        if (openMarketList[account].length == 0 || h.equity > int256(h.maintenanceRequirement)) {
            revert NotLiquidatable(h.equity, h.maintenanceRequirement);
        }
        int256 settlement = 0;
        uint256[] memory open = openMarketList[account];
        for (uint256 i = 0; i < open.length; ++i) {
            settlement += _closeAtOracle(account, open[i]);
        }
        _settle(account, settlement);
        uint256 reward = _min(h.liquidationReward / marginScale, margin[account]);
        margin[account] -= reward;
        _push(msg.sender, reward);
        emit AccountLiquidated(account, msg.sender, h.equity, h.maintenanceRequirement, reward);
    }

    // ------------------------------------------------------------------ views

    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @return The market's parameters.
    function marketParams(uint256 marketId) external view knownMarket(marketId) returns (MarketParams memory) {
        return params[marketId];
    }

    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @return The market's symbol.
    function marketSymbol(uint256 marketId) external view knownMarket(marketId) returns (string memory) {
        return state[marketId].symbol;
    }

    /// @notice Oracle price of a market (WAD); reverts when the feed is stale or non-positive.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @return The oracle price (WAD).
    function indexPrice(uint256 marketId) external view knownMarket(marketId) returns (uint256) {
        return _oraclePrice(marketId);
    }

    /// @notice Funding rate now, as a fraction of notional per hour (WAD); positive: longs pay shorts.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @return The funding rate per hour of notional (WAD; positive: longs pay shorts).
    function currentFundingRate(uint256 marketId) external view knownMarket(marketId) returns (int256) {
        return _fundingRatePerHour(marketId);
    }

    /// @notice Price at which an order of `sizeDelta` would fill now (WAD), before fees.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @param sizeDelta Size of the order (WAD, signed).
    /// @return The fill price (WAD), before fees.
    function fillPrice(uint256 marketId, int256 sizeDelta) external view knownMarket(marketId) returns (uint256) {
        return _fillPrice(marketId, _oraclePrice(marketId), sizeDelta);
    }

    /// @notice Everything about a market in one call.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @return price The oracle price (WAD).
    /// @return skew Long minus short open interest (WAD size).
    /// @return longOpenInterest Long open interest (WAD size).
    /// @return shortOpenInterest Short open interest (WAD size).
    /// @return fundingRatePerHour The funding rate now (WAD; positive: longs pay).
    /// @return fundingIndex The cumulative funding index now (WAD).
    function marketSummary(uint256 marketId)
        external
        view
        knownMarket(marketId)
        returns (
            uint256 price,
            int256 skew,
            uint256 longOpenInterest,
            uint256 shortOpenInterest,
            int256 fundingRatePerHour,
            int256 fundingIndex
        )
    {
        MarketState storage s = state[marketId];
        price = _oraclePrice(marketId);
        return (
            price,
            s.skew,
            s.longOpenInterest,
            s.shortOpenInterest,
            _fundingRatePerHour(marketId),
            _currentFundingIndex(marketId, price)
        );
    }

    /// @notice A position with its average entry price, unrealized PnL at the oracle price and
    ///         funding accrued since it was last settled (positive: the position owes it).
    /// @param account The trading account.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @return size The position's size (WAD, signed).
    /// @return entryPrice Its average entry price (WAD; 0 when flat).
    /// @return costBasis Size × entry price (WAD USD, signed).
    /// @return unrealizedPnl PnL at the oracle price (WAD USD).
    /// @return accruedFunding Funding owed since last settled (WAD USD; positive: owed by the position).
    function getPosition(address account, uint256 marketId)
        external
        view
        knownMarket(marketId)
        returns (int256 size, uint256 entryPrice, int256 costBasis, int256 unrealizedPnl, int256 accruedFunding)
    {
        Position storage pos = positions[account][marketId];
        size = pos.size;
        costBasis = pos.costBasis;
        if (size != 0) {
            uint256 price = _oraclePrice(marketId);
            entryPrice = uint256(costBasis * WAD / size);
            unrealizedPnl = size * int256(price) / WAD - costBasis;
            accruedFunding = _fundingOwed(pos, _currentFundingIndex(marketId, price));
        }
    }

    /// @notice A position's stored state, readable even when the oracle is stale (no price needed).
    /// @param account The trading account.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @return size The position's size (WAD, signed).
    /// @return costBasis Size × entry price (WAD USD, signed).
    /// @return lastFundingIndex The funding index it last settled at (WAD).
    function rawPosition(address account, uint256 marketId)
        external
        view
        knownMarket(marketId)
        returns (int256 size, int256 costBasis, int256 lastFundingIndex)
    {
        Position storage pos = positions[account][marketId];
        return (pos.size, pos.costBasis, pos.lastFundingIndex);
    }

    /// @notice Margin health of an account: settled margin (token units), equity, requirements and
    ///         total notional (USD, WAD).
    /// @param account The trading account.
    /// @return settledMargin Margin balance, in margin-token units.
    /// @return equity Margin plus unrealized PnL less funding owed (WAD USD).
    /// @return initialRequirement Initial margin of all positions (WAD USD).
    /// @return maintenanceRequirement Maintenance margin of all positions (WAD USD).
    /// @return notional Total notional at oracle prices (WAD USD).
    function accountSummary(address account)
        external
        view
        returns (
            uint256 settledMargin,
            int256 equity,
            uint256 initialRequirement,
            uint256 maintenanceRequirement,
            uint256 notional
        )
    {
        Health memory h = _health(account);
        return (margin[account], h.equity, h.initialRequirement, h.maintenanceRequirement, h.notional);
    }

    /// @param account The trading account.
    /// @return Whether its equity is at or below its maintenance requirement (with positions open).
    function isLiquidatable(address account) external view returns (bool) {
        Health memory h = _health(account);
        return openMarketList[account].length > 0 && h.equity <= int256(h.maintenanceRequirement);
    }

    /// @notice Oracle price of `marketId` at which the account becomes liquidatable, other markets
    ///         held at their current prices; 0 when no positive price would liquidate it.
    /// @dev Ignores funding that would accrue from now on; `isLiquidatable` is authoritative.
    /// @param account The trading account.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @return The liquidation price (WAD), 0 when none.
    function liquidationPrice(address account, uint256 marketId) external view knownMarket(marketId) returns (uint256) {
        Position storage pos = positions[account][marketId];
        if (pos.size == 0) return 0;
        uint256 price = _oraclePrice(marketId);
        Health memory h = _health(account);
        uint256 notionalHere = _abs(pos.size) * price / UWAD;
        int256 pnlHere = pos.size * int256(price) / WAD - pos.costBasis;
        int256 fundingHere = _fundingOwed(pos, _currentFundingIndex(marketId, price));
        // Equity and requirement of everything except this market's price-dependent terms.
        int256 rest = h.equity - (pnlHere - fundingHere)
            + int256(notionalHere * params[marketId].maintenanceMarginRatio / UWAD) - int256(h.maintenanceRequirement);
        int256 slope = pos.size - int256(_abs(pos.size) * params[marketId].maintenanceMarginRatio / UWAD);
        int256 liqPrice = (pos.costBasis + fundingHere - rest) * WAD / slope;
        return liqPrice > 0 ? uint256(liqPrice) : 0;
    }

    /// @param account The trading account.
    /// @param marketId The market's id (1-based, in the order markets were added).
    /// @return The pending order (all zero when none).
    function pendingOrder(address account, uint256 marketId) external view returns (Order memory) {
        return orders[account][marketId];
    }

    /// @param account The trading account.
    /// @return The ids of the markets where it holds a position.
    function openMarkets(address account) external view returns (uint256[] memory) {
        return openMarketList[account];
    }

    // ------------------------------------------------------------------ trading internals

    function _trade(address account, uint256 marketId, int256 sizeDelta, uint256 acceptablePrice) private {
        if (sizeDelta == 0) revert ZeroSize();
        if (openMarketList[account].length > 0 && _liquidatable(account)) revert AccountLiquidatable(account);
        int256 oldSize = positions[account][marketId].size;
        int256 newSize = oldSize + sizeDelta;
        bool flips = (oldSize > 0 && newSize < 0) || (oldSize < 0 && newSize > 0);
        _fill(account, marketId, sizeDelta, acceptablePrice);
        if (flips || _abs(newSize) > _abs(oldSize)) {
            Health memory h = _health(account);
            if (h.equity < int256(h.initialRequirement)) revert InsufficientMargin(h.equity, h.initialRequirement);
        }
    }

    /// @dev Fills an order: accrue funding, price it, settle funding, realized PnL and the fee.
    function _fill(address account, uint256 marketId, int256 sizeDelta, uint256 acceptablePrice) private {
        Position storage pos = positions[account][marketId];
        uint256 fill;
        int256 funding;
        {
            uint256 price = _oraclePrice(marketId);
            int256 index = _accrue(marketId, price);
            fill = _fillPrice(marketId, price, sizeDelta);
            if (sizeDelta > 0 ? fill > acceptablePrice : fill < acceptablePrice) {
                revert AcceptablePriceExceeded(fill, acceptablePrice);
            }
            funding = _fundingOwed(pos, index);
            pos.lastFundingIndex = index;
        }
        int256 oldSize = pos.size;
        int256 realized = _applyFill(pos, sizeDelta, fill);
        uint256 fee = _abs(sizeDelta) * fill / UWAD * params[marketId].tradingFee / UWAD;
        _updateOpenInterest(account, marketId, oldSize, pos.size);
        _settle(account, realized - funding - int256(fee));
        emit PositionModified(account, marketId, sizeDelta, fill, pos.size, realized, funding, fee);
    }

    /// @dev Average-cost accounting: increases add size x fill to the cost basis; decreases realize
    ///      PnL on the closed fraction of the cost basis; a flip closes, then opens the remainder.
    function _applyFill(Position storage pos, int256 sizeDelta, uint256 fill) private returns (int256 realized) {
        int256 oldSize = pos.size;
        int256 newSize = oldSize + sizeDelta;
        if (oldSize == 0 || (oldSize > 0) == (sizeDelta > 0)) {
            pos.costBasis += sizeDelta * int256(fill) / WAD;
        } else {
            uint256 closing = _min(_abs(sizeDelta), _abs(oldSize));
            int256 closedCost = pos.costBasis * int256(closing) / int256(_abs(oldSize));
            int256 closedValue = (oldSize > 0 ? int256(closing) : -int256(closing)) * int256(fill) / WAD;
            realized = closedValue - closedCost;
            pos.costBasis -= closedCost;
            if (_abs(sizeDelta) > _abs(oldSize)) pos.costBasis = newSize * int256(fill) / WAD;
        }
        pos.size = newSize;
    }

    function _closeAtOracle(address account, uint256 marketId) private returns (int256 settlement) {
        Position storage pos = positions[account][marketId];
        uint256 price = _oraclePrice(marketId);
        int256 index = _accrue(marketId, price);
        int256 size = pos.size;
        int256 funding = _fundingOwed(pos, index);
        int256 pnl = size * int256(price) / WAD - pos.costBasis;
        _updateOpenInterest(account, marketId, size, 0);
        delete positions[account][marketId];
        emit PositionLiquidated(account, marketId, size, price, pnl, funding);
        return pnl - funding;
    }

    function _updateOpenInterest(address account, uint256 marketId, int256 oldSize, int256 newSize) private {
        MarketState storage s = state[marketId];
        s.skew += newSize - oldSize;
        s.longOpenInterest = s.longOpenInterest + _positivePart(newSize) - _positivePart(oldSize);
        s.shortOpenInterest = s.shortOpenInterest + _positivePart(-newSize) - _positivePart(-oldSize);
        uint256 cap = params[marketId].maxOpenInterest;
        if (cap != 0) {
            if (_positivePart(newSize) > _positivePart(oldSize) && s.longOpenInterest > cap) {
                revert MaxOpenInterestExceeded(marketId, s.longOpenInterest, cap);
            }
            if (_positivePart(-newSize) > _positivePart(-oldSize) && s.shortOpenInterest > cap) {
                revert MaxOpenInterestExceeded(marketId, s.shortOpenInterest, cap);
            }
        }
        if (oldSize == 0 && newSize != 0) {
            openMarketList[account].push(marketId);
            openMarketSlot[account][marketId] = openMarketList[account].length;
        } else if (oldSize != 0 && newSize == 0) {
            _removeOpenMarket(account, marketId);
        }
    }

    function _removeOpenMarket(address account, uint256 marketId) private {
        uint256[] storage list = openMarketList[account];
        uint256 slot = openMarketSlot[account][marketId];
        uint256 last = list[list.length - 1];
        list[slot - 1] = last;
        openMarketSlot[account][last] = slot;
        list.pop();
        delete openMarketSlot[account][marketId];
    }

    /// @dev Moves a signed USD amount between an account's margin and the pool, rounded to token
    ///      units in the pool's favour: credits round down, debits round up. A debit larger than the
    ///      margin takes the whole margin and records the shortfall as bad debt.
    function _settle(address account, int256 usd) private {
        if (usd >= 0) {
            uint256 credit = uint256(usd) / marginScale;
            if (credit > pool) revert InsufficientLiquidity(pool, credit);
            pool -= credit;
            margin[account] += credit;
        } else {
            uint256 debit = (uint256(-usd) + marginScale - 1) / marginScale;
            uint256 paid = _min(debit, margin[account]);
            margin[account] -= paid;
            pool += paid;
            if (paid < debit) emit BadDebt(account, debit - paid);
        }
    }

    function _releaseKeeperFee(uint256 fee, address to, bool toMargin) private {
        reservedKeeperFees -= fee;
        if (toMargin) {
            margin[to] += fee;
        } else {
            _push(to, fee);
        }
    }

    // ------------------------------------------------------------------ pricing and funding

    function _oraclePrice(uint256 marketId) private view returns (uint256) {
        MarketParams storage p = params[marketId];
        (, int256 answer,, uint256 updatedAt,) = p.feed.latestRoundData();
        if (answer <= 0) revert InvalidPrice(marketId, answer);
        if (updatedAt > block.timestamp || block.timestamp - updatedAt > p.maxPriceAge) {
            revert StalePrice(marketId, updatedAt, p.maxPriceAge);
        }
        return uint256(answer) * 10 ** (18 - p.feed.decimals());
    }

    /// @dev fill = price x (1 + (skew + (skew + sizeDelta)) / 2 / skewScale): the average premium
    ///      before and after the order, so splitting an order does not change its total impact.
    function _fillPrice(uint256 marketId, uint256 price, int256 sizeDelta) private view returns (uint256) {
        int256 premium = (2 * state[marketId].skew + sizeDelta) * WAD / (2 * int256(params[marketId].skewScale));
        int256 fill = int256(price) * (WAD + premium) / WAD;
        if (fill <= 0) revert InvalidPrice(marketId, fill);
        return uint256(fill);
    }

    /// @dev rate = clamp(skew / skewScale, -1, 1) x maxFundingRatePerHour.
    function _fundingRatePerHour(uint256 marketId) private view returns (int256) {
        int256 proportion = state[marketId].skew * WAD / int256(params[marketId].skewScale);
        if (proportion > WAD) proportion = WAD;
        if (proportion < -WAD) proportion = -WAD;
        return proportion * int256(params[marketId].maxFundingRatePerHour) / WAD;
    }

    /// @dev index += rate x price x elapsed / (3600 x 1e18), one truncation toward zero.
    function _currentFundingIndex(uint256 marketId, uint256 price) private view returns (int256) {
        MarketState storage s = state[marketId];
        int256 elapsed = int256(block.timestamp - s.lastFundingTime);
        int256 accrued = _fundingRatePerHour(marketId) * int256(price) * elapsed;
        return s.fundingIndex + accrued / (int256(SECONDS_PER_HOUR) * WAD);
    }

    function _accrue(uint256 marketId, uint256 price) private returns (int256 index) {
        MarketState storage s = state[marketId];
        if (block.timestamp == s.lastFundingTime) return s.fundingIndex;
        index = _currentFundingIndex(marketId, price);
        s.fundingIndex = index;
        s.lastFundingTime = block.timestamp;
        emit FundingAccrued(marketId, index, _fundingRatePerHour(marketId), price);
    }

    /// @dev Funding a position owes since its last settlement: size x (index - lastIndex) / 1e18.
    function _fundingOwed(Position storage pos, int256 index) private view returns (int256) {
        return pos.size * (index - pos.lastFundingIndex) / WAD;
    }

    // ------------------------------------------------------------------ margin internals

    function _health(address account) private view returns (Health memory h) {
        h.equity = int256(margin[account] * marginScale);
        uint256[] storage open = openMarketList[account];
        for (uint256 i = 0; i < open.length; ++i) {
            uint256 marketId = open[i];
            Position storage pos = positions[account][marketId];
            MarketParams storage p = params[marketId];
            uint256 price = _oraclePrice(marketId);
            uint256 notional = _abs(pos.size) * price / UWAD;
            int256 owed = _fundingOwed(pos, _currentFundingIndex(marketId, price));
            h.equity += pos.size * int256(price) / WAD - pos.costBasis - owed;
            h.notional += notional;
            h.initialRequirement += notional * p.initialMarginRatio / UWAD;
            h.maintenanceRequirement += notional * p.maintenanceMarginRatio / UWAD;
            h.liquidationReward += notional * p.liquidationRewardRatio / UWAD;
        }
    }

    function _liquidatable(address account) private view returns (bool) {
        Health memory h = _health(account);
        return h.equity <= int256(h.maintenanceRequirement);
    }

    function _pendingOrder(address account, uint256 marketId) private view returns (Order memory order) {
        order = orders[account][marketId];
        if (order.committedAt == 0) revert NoPendingOrder(account, marketId);
    }

    function _setOrderSettings(uint256 minOrderDelay_, uint256 orderExpiry_, uint256 keeperFee_) private {
        if (orderExpiry_ <= minOrderDelay_) revert InvalidParams("orderExpiry must exceed minOrderDelay");
        minOrderDelay = minOrderDelay_;
        orderExpiry = orderExpiry_;
        keeperFee = keeperFee_;
        emit OrderSettingsUpdated(minOrderDelay_, orderExpiry_, keeperFee_);
    }

    function _validate(MarketParams calldata p) private view {
        if (address(p.feed).code.length == 0) revert InvalidParams("feed has no code");
        if (p.feed.decimals() > 18) revert InvalidParams("feed decimals > 18");
        if (p.skewScale == 0) revert InvalidParams("skewScale is zero");
        if (p.maintenanceMarginRatio == 0 || p.maintenanceMarginRatio >= p.initialMarginRatio) {
            revert InvalidParams("need 0 < maintenance < initial margin ratio");
        }
        if (p.initialMarginRatio > UWAD) revert InvalidParams("initial margin ratio > 1");
        if (p.maxFundingRatePerHour > UWAD) revert InvalidParams("max funding rate > 100% per hour");
    }

    // ------------------------------------------------------------------ token movement and math

    function _pull(address from, uint256 amount) private {
        if (!marginToken.transferFrom(from, address(this), amount)) revert TransferFailed();
    }

    function _push(address to, uint256 amount) private {
        if (amount != 0 && !marginToken.transfer(to, amount)) revert TransferFailed();
    }

    function _abs(int256 x) private pure returns (uint256) {
        return uint256(x >= 0 ? x : -x);
    }

    function _positivePart(int256 x) private pure returns (uint256) {
        return x > 0 ? uint256(x) : 0;
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}
