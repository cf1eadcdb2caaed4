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

    event MarketAdded(uint256 indexed marketId, string symbol, address feed);
    event MarketParamsUpdated(uint256 indexed marketId);
    event OrderSettingsUpdated(uint256 minOrderDelay, uint256 orderExpiry, uint256 keeperFee);
    event PoolFunded(address indexed funder, uint256 amount);
    event MarginDeposited(address indexed account, uint256 amount);
    event MarginWithdrawn(address indexed account, uint256 amount);
    event FundingAccrued(uint256 indexed marketId, int256 fundingIndex, int256 fundingRatePerHour, uint256 price);
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
    event OrderCommitted(
        uint256 indexed orderId,
        address indexed account,
        uint256 indexed marketId,
        int256 sizeDelta,
        uint256 acceptablePrice,
        uint256 keeperFee
    );
    event OrderSettled(uint256 indexed orderId, address indexed account, uint256 indexed marketId, address keeper);
    event OrderCancelled(
        uint256 indexed orderId, address indexed account, uint256 indexed marketId, address by, bytes reason
    );
    event PositionLiquidated(
        address indexed account, uint256 indexed marketId, int256 size, uint256 price, int256 realizedPnl, int256 fundingPaid
    );
    event AccountLiquidated(
        address indexed account, address indexed liquidator, int256 equity, uint256 maintenanceRequirement, uint256 reward
    );
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

    constructor(IERC20 marginToken_, uint8 marginDecimals, uint256 minOrderDelay_, uint256 orderExpiry_, uint256 keeperFee_) {
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
    function setMarketParams(uint256 marketId, MarketParams calldata p) external onlyOwner knownMarket(marketId) {
        _validate(p);
        _accrue(marketId, _oraclePrice(marketId));
        params[marketId] = p;
        emit MarketParamsUpdated(marketId);
    }

    function setOrderSettings(uint256 minOrderDelay_, uint256 orderExpiry_, uint256 keeperFee_) external onlyOwner {
        _setOrderSettings(minOrderDelay_, orderExpiry_, keeperFee_);
    }

    /// @notice Add liquidity to the pool that takes the other side of every settlement.
    function fundPool(uint256 amount) external {
        _pull(msg.sender, amount);
        pool += amount;
        emit PoolFunded(msg.sender, amount);
    }

    // ------------------------------------------------------------------ margin

    function depositMargin(uint256 amount) external {
        _pull(msg.sender, amount);
        margin[msg.sender] += amount;
        emit MarginDeposited(msg.sender, amount);
    }

    /// @notice Withdraw settled margin; with open positions the account must keep its initial margin.
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
    function modifyPosition(uint256 marketId, int256 sizeDelta, uint256 acceptablePrice) external knownMarket(marketId) {
        _trade(msg.sender, marketId, sizeDelta, acceptablePrice);
    }

    /// @notice Close the whole position in a market, at a fill price no worse than `acceptablePrice`.
    function closePosition(uint256 marketId, uint256 acceptablePrice) external knownMarket(marketId) {
        _trade(msg.sender, marketId, -positions[msg.sender][marketId].size, acceptablePrice);
    }

    // ------------------------------------------------------------------ asynchronous orders

    /// @notice Commit an order that a keeper settles between `minOrderDelay` and `orderExpiry`
    ///         seconds from now, at the fill price of that moment. The keeper fee is reserved now.
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
    function executeSettlement(address account, uint256 marketId, int256 sizeDelta, uint256 acceptablePrice) external {
        if (msg.sender != address(this)) revert OnlySelf();
        _trade(account, marketId, sizeDelta, acceptablePrice);
    }

    /// @notice The account cancels its own order at any time (fee refunded to its margin); anyone
    ///         cancels an expired order (fee paid to the caller).
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

    function marketParams(uint256 marketId) external view knownMarket(marketId) returns (MarketParams memory) {
        return params[marketId];
    }

    function marketSymbol(uint256 marketId) external view knownMarket(marketId) returns (string memory) {
        return state[marketId].symbol;
    }

    /// @notice Oracle price of a market (WAD); reverts when the feed is stale or non-positive.
    function indexPrice(uint256 marketId) external view knownMarket(marketId) returns (uint256) {
        return _oraclePrice(marketId);
    }

    /// @notice Funding rate now, as a fraction of notional per hour (WAD); positive: longs pay shorts.
    function currentFundingRate(uint256 marketId) external view knownMarket(marketId) returns (int256) {
        return _fundingRatePerHour(marketId);
    }

    /// @notice Price at which an order of `sizeDelta` would fill now (WAD), before fees.
    function fillPrice(uint256 marketId, int256 sizeDelta) external view knownMarket(marketId) returns (uint256) {
        return _fillPrice(marketId, _oraclePrice(marketId), sizeDelta);
    }

    /// @notice Everything about a market in one call.
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

    function isLiquidatable(address account) external view returns (bool) {
        Health memory h = _health(account);
        return openMarketList[account].length > 0 && h.equity <= int256(h.maintenanceRequirement);
    }

    /// @notice Oracle price of `marketId` at which the account becomes liquidatable, other markets
    ///         held at their current prices; 0 when no positive price would liquidate it.
    /// @dev Ignores funding that would accrue from now on; `isLiquidatable` is authoritative.
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

    function pendingOrder(address account, uint256 marketId) external view returns (Order memory) {
        return orders[account][marketId];
    }

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
        return s.fundingIndex + _fundingRatePerHour(marketId) * int256(price) * elapsed / (int256(SECONDS_PER_HOUR) * WAD);
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
            h.equity += pos.size * int256(price) / WAD - pos.costBasis - _fundingOwed(pos, _currentFundingIndex(marketId, price));
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
