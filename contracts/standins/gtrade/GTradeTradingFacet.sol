// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {
    GTradeTrade,
    GTradeTradeInfo,
    GTradeId,
    GTradePendingOrder,
    GTradeCollateral,
    GTradeFundingFeeParams,
    GTradePairFundingFeeData,
    GTradeBorrowingFeeParams,
    GTradePairBorrowingFeeData,
    GTradePairOiToken,
    GTradeAggregatorAnswer,
    GTradePairParams
} from "./GTradeTypes.sol";
import {GTradeStorage} from "./GTradeStorage.sol";
import {IERC20} from "../../interfaces/IERC20.sol";

/// @notice IPriceImpact.PriceImpact, as in the diamond's events.
struct GTradePriceImpact {
    uint256 positionSizeToken;
    int256 fixedSpreadP;
    int256 cumulVolPriceImpactP;
    int256 skewPriceImpactP;
    int256 totalPriceImpactP;
    uint64 priceAfterImpact;
}

/// @title GTradeTradingFacet
/// @notice The diamond's trading functions hedger sends (openTrade, closeTradeMarket, decreasePositionSize,
///         increasePositionSize, updateLeverage) and the oracle callbacks that fill them, plus the stand-in's
///         set-up functions.
/// @dev Simplifications (docs/venues.md): orders fill at the oracle's `current` price with no spread or price
///      impact; one oracle address (the deployer) calls back; holding fees are realized from the collateral
///      whenever a trade changes (and its initial accumulators reset); no liquidations, TP/SL or referrals.
contract GTradeTradingFacet is GTradeStorage {
    event MarketOrderInitiated(GTradeId orderId, address indexed trader, uint16 indexed pairIndex, bool open);
    event PositionSizeUpdateInitiated(
        GTradeId orderId,
        address indexed trader,
        uint256 indexed pairIndex,
        uint256 indexed index,
        bool isIncrease,
        uint256 collateralDelta,
        uint256 leverageDelta
    );
    event LeverageUpdateInitiated(
        GTradeId orderId,
        address indexed trader,
        uint256 indexed pairIndex,
        uint256 indexed index,
        bool isIncrease,
        uint256 newLeverage
    );
    event MarketExecuted(
        GTradeId orderId,
        address indexed user,
        uint32 indexed index,
        GTradeTrade t,
        bool open,
        uint256 oraclePrice,
        uint256 marketPrice,
        uint256 liqPrice,
        GTradePriceImpact priceImpact,
        int256 percentProfit,
        uint256 amountSentToTrader,
        uint256 collateralPriceUsd
    );
    event MarketOpenCanceled(
        GTradeId orderId, address indexed trader, uint256 indexed pairIndex, uint8 cancelReason, uint256 collateralReturned
    );
    event MarketCloseCanceled(
        GTradeId orderId, address indexed trader, uint256 indexed pairIndex, uint256 indexed index, uint8 cancelReason
    );
    event PendingOrderClosed(GTradeId orderId);

    // ------------------------------------------------------------------ set-up (hedger's, not gTrade's)

    /// @notice Adds a collateral (index = position + 1, as gTrade counts from 1) priced at `priceUsd` (1e8).
    function addCollateralStandIn(address token, uint8 decimals, uint256 priceUsd) external onlyOracle {
        uint128 precision = uint128(10 ** decimals);
        collaterals.push(GTradeCollateral(token, true, 0, precision, uint128(10 ** (18 - decimals))));
        collateralPriceUsd[uint8(collaterals.length)] = priceUsd;
    }

    function setPairParams(uint256 pairIndex, GTradePairParams calldata params) external onlyOracle {
        pairParams[pairIndex] = params;
    }

    /// @notice Closes or reopens a pair's market (the oracle then cancels its orders: MARKET_CLOSED).
    function setPairClosed(uint256 pairIndex, bool closed) external onlyOracle {
        pairClosed[pairIndex] = closed;
    }

    function setFundingFeeParams(uint8 c, uint16 p, GTradeFundingFeeParams calldata params) external onlyOracle {
        fundingParams[c][p] = params;
    }

    function setPairFundingFeeData(uint8 c, uint16 p, GTradePairFundingFeeData calldata data) external onlyOracle {
        fundingData[c][p] = data;
    }

    function setBorrowingFeeParams(uint8 c, uint16 p, GTradeBorrowingFeeParams calldata params) external onlyOracle {
        borrowingParams[c][p] = params;
    }

    function setPairBorrowingFeeData(uint8 c, uint16 p, GTradePairBorrowingFeeData calldata data)
        external
        onlyOracle
    {
        borrowingData[c][p] = data;
    }

    /// @notice Other traders' open interest (1e18 tokens).
    function setPairOiToken(uint8 c, uint16 p, GTradePairOiToken calldata oi) external onlyOracle {
        oiToken[c][p] = oi;
    }

    // ------------------------------------------------------------------ trading (the diamond's)

    /// @notice A market order to open `trade` (tradeType 0): the collateral is pulled now, the trade opens
    ///         when the oracle calls back.
    function openTrade(GTradeTrade memory trade, uint16 maxSlippageP, address /* referrer */ ) external {
        if (trade.user != msg.sender) revert Unauthorized(msg.sender);
        GTradePairParams storage params = pairParams[trade.pairIndex];
        if (trade.leverage < params.minLeverage || trade.leverage > params.maxLeverage) {
            revert WrongLeverage(trade.leverage);
        }
        uint256 sizeUsd = _usd(trade.collateralIndex, uint256(trade.collateralAmount) * trade.leverage / 1e3);
        if (sizeUsd < params.minPositionSizeUsd) revert BelowMinPositionSize(sizeUsd);
        _pull(trade.collateralIndex, msg.sender, trade.collateralAmount);
        trade.isOpen = true;
        trade.index = uint32(trades[msg.sender].length);
        _store(msg.sender, trade, MARKET_OPEN, maxSlippageP, 0);
    }

    function closeTradeMarket(uint32 index, uint64 expectedPrice) external {
        GTradeTrade memory t = _open(msg.sender, index);
        t.openPrice = expectedPrice;
        _store(msg.sender, t, MARKET_CLOSE, 0, 0);
    }

    /// @notice Decreases a trade by `collateralDelta` at unchanged leverage (leverageDelta 0 only here).
    function decreasePositionSize(uint32 index, uint120 collateralDelta, uint24 leverageDelta, uint64 expectedPrice)
        external
    {
        if (leverageDelta != 0) revert WrongLeverage(leverageDelta);
        GTradeTrade memory t = _open(msg.sender, index);
        t.openPrice = expectedPrice;
        _store(msg.sender, t, MARKET_PARTIAL_CLOSE, 0, collateralDelta);
    }

    /// @notice Increases a trade by `collateralDelta` × `leverageDelta` of position size (collateral pulled now).
    function increasePositionSize(
        uint32 index,
        uint120 collateralDelta,
        uint24 leverageDelta,
        uint64 expectedPrice,
        uint16 maxSlippageP
    ) external {
        GTradeTrade memory t = _open(msg.sender, index);
        _pull(t.collateralIndex, msg.sender, collateralDelta);
        t.openPrice = expectedPrice;
        t.leverage = leverageDelta;
        t.collateralAmount = collateralDelta;
        _store(msg.sender, t, MARKET_PARTIAL_OPEN, maxSlippageP, collateralDelta);
    }

    /// @notice Sets a trade's leverage at unchanged size: lower leverage pulls collateral, higher returns it.
    function updateLeverage(uint32 index, uint24 newLeverage) external {
        GTradeTrade memory t = _open(msg.sender, index);
        GTradePairParams storage params = pairParams[t.pairIndex];
        if (newLeverage < params.minLeverage || newLeverage > params.maxLeverage) revert WrongLeverage(newLeverage);
        uint256 size = uint256(t.collateralAmount) * t.leverage;
        uint256 newCollateral = size / newLeverage;
        if (newCollateral > t.collateralAmount) _pull(t.collateralIndex, msg.sender, newCollateral - t.collateralAmount);
        _store(msg.sender, t, UPDATE_LEVERAGE, 0, newLeverage);
    }

    // ------------------------------------------------------------------ oracle callbacks

    function openTradeMarketCallback(GTradeAggregatorAnswer calldata a) external onlyOracle {
        GTradePendingOrder storage order = _pending(a.orderId);
        GTradeTrade memory t = order.trade;
        uint8 reason = _openCancelReason(t, a.current, order.maxSlippageP);
        _closePending(a.orderId);
        if (reason != CANCEL_NONE) {
            _push(t.collateralIndex, t.user, t.collateralAmount);
            emit MarketOpenCanceled(a.orderId, t.user, t.pairIndex, reason, t.collateralAmount);
            return;
        }
        uint256 fee = _openingFee(t.pairIndex, uint256(t.collateralAmount) * t.leverage / 1e3);
        t.collateralAmount -= uint120(fee);
        t.openPrice = a.current;
        t.positionSizeToken = uint160(_tokens(t.collateralIndex, uint256(t.collateralAmount) * t.leverage / 1e3, a.current));
        _touchPair(t.collateralIndex, t.pairIndex, a.current);
        _addOi(t, int256(uint256(t.positionSizeToken)));
        trades[t.user].push(t);
        tradeInfos[t.user].push(_info(t.collateralIndex, order.maxSlippageP));
        _resetAcc(t);
        _executed(a, t, true, 0);
    }

    function closeTradeMarketCallback(GTradeAggregatorAnswer calldata a) external onlyOracle {
        GTradePendingOrder storage order = _pending(a.orderId);
        GTradeTrade storage t = trades[order.trade.user][order.trade.index];
        _closePending(a.orderId);
        if (pairClosed[t.pairIndex]) {
            emit MarketCloseCanceled(a.orderId, t.user, t.pairIndex, t.index, CANCEL_MARKET_CLOSED);
            return;
        }
        _touchPair(t.collateralIndex, t.pairIndex, a.current);
        uint256 sent = _settle(t, t.collateralAmount, a.current);
        _addOi(t, -int256(uint256(t.positionSizeToken)));
        t.isOpen = false;
        _executed(a, t, false, sent);
    }

    function decreasePositionSizeMarketCallback(GTradeAggregatorAnswer calldata a) external onlyOracle {
        GTradePendingOrder storage order = _pending(a.orderId);
        GTradeTrade storage t = trades[order.trade.user][order.trade.index];
        uint256 collateralDelta = pendingDelta[a.orderId.user][a.orderId.index];
        _closePending(a.orderId);
        if (pairClosed[t.pairIndex]) {
            emit MarketCloseCanceled(a.orderId, t.user, t.pairIndex, t.index, CANCEL_MARKET_CLOSED);
            return;
        }
        _touchPair(t.collateralIndex, t.pairIndex, a.current);
        uint256 tokensOut = uint256(t.positionSizeToken) * collateralDelta / t.collateralAmount;
        uint256 sent = _settle(t, collateralDelta, a.current);
        _addOi(t, -int256(tokensOut));
        t.positionSizeToken -= uint160(tokensOut);
        _executed(a, t, false, sent);
    }

    function increasePositionSizeMarketCallback(GTradeAggregatorAnswer calldata a) external onlyOracle {
        GTradePendingOrder storage order = _pending(a.orderId);
        GTradeTrade memory delta = order.trade;
        GTradeTrade storage t = trades[delta.user][delta.index];
        uint8 reason = _openCancelReason(delta, a.current, order.maxSlippageP);
        _closePending(a.orderId);
        if (reason != CANCEL_NONE) {
            _push(t.collateralIndex, t.user, delta.collateralAmount);
            emit MarketOpenCanceled(a.orderId, t.user, t.pairIndex, reason, delta.collateralAmount);
            return;
        }
        _touchPair(t.collateralIndex, t.pairIndex, a.current);
        _realizeHoldingFees(t, a.current);
        uint256 sizeDelta = uint256(delta.collateralAmount) * delta.leverage / 1e3;
        uint256 fee = _openingFee(t.pairIndex, sizeDelta);
        uint256 tokensIn = _tokens(t.collateralIndex, sizeDelta, a.current);
        uint256 newTokens = uint256(t.positionSizeToken) + tokensIn;
        uint256 newSize = uint256(t.collateralAmount) * t.leverage / 1e3 + sizeDelta;
        t.openPrice = uint64(
            (uint256(t.openPrice) * t.positionSizeToken + uint256(a.current) * tokensIn) / newTokens
        );
        t.collateralAmount = uint120(uint256(t.collateralAmount) + delta.collateralAmount - fee);
        t.leverage = uint24(newSize * 1e3 / t.collateralAmount);
        t.positionSizeToken = uint160(newTokens);
        _addOi(t, int256(tokensIn));
        _executed(a, t, true, 0);
    }

    function updateLeverageCallback(GTradeAggregatorAnswer calldata a) external onlyOracle {
        GTradePendingOrder storage order = _pending(a.orderId);
        GTradeTrade storage t = trades[order.trade.user][order.trade.index];
        uint256 newLeverage = pendingDelta[a.orderId.user][a.orderId.index];
        _closePending(a.orderId);
        uint256 size = uint256(t.collateralAmount) * t.leverage;
        uint256 newCollateral = size / newLeverage;
        if (newCollateral < t.collateralAmount) _push(t.collateralIndex, t.user, t.collateralAmount - newCollateral);
        t.collateralAmount = uint120(newCollateral);
        t.leverage = uint24(newLeverage);
        _executed(a, t, true, 0);
    }

    // ------------------------------------------------------------------ internals


    function _open(address trader, uint32 index) internal view returns (GTradeTrade memory t) {
        if (index >= trades[trader].length || !trades[trader][index].isOpen) revert WrongTrade(trader, index);
        t = trades[trader][index];
    }

    function _store(address user, GTradeTrade memory t, uint8 orderType, uint16 maxSlippageP, uint256 delta)
        internal
    {
        uint32 index = uint32(pendingOrders[user].length);
        pendingOrders[user].push(GTradePendingOrder(t, user, index, true, orderType, uint32(block.number), maxSlippageP));
        pendingDelta[user][index] = delta;
        GTradeId memory id = GTradeId(user, index);
        if (orderType == MARKET_OPEN || orderType == MARKET_CLOSE) {
            emit MarketOrderInitiated(id, user, t.pairIndex, orderType == MARKET_OPEN);
        } else if (orderType == UPDATE_LEVERAGE) {
            emit LeverageUpdateInitiated(id, user, t.pairIndex, t.index, delta < t.leverage, delta);
        } else {
            emit PositionSizeUpdateInitiated(
                id, user, t.pairIndex, t.index, orderType == MARKET_PARTIAL_OPEN, delta, orderType == MARKET_PARTIAL_OPEN ? t.leverage : 0
            );
        }
    }

    function _pending(GTradeId calldata id) internal view returns (GTradePendingOrder storage order) {
        if (id.index >= pendingOrders[id.user].length || !pendingOrders[id.user][id.index].isOpen) {
            revert NoSuchOrder(id.user, id.index);
        }
        order = pendingOrders[id.user][id.index];
    }

    function _closePending(GTradeId calldata id) internal {
        pendingOrders[id.user][id.index].isOpen = false;
        emit PendingOrderClosed(id);
    }

    function _openCancelReason(GTradeTrade memory t, uint64 price, uint16 maxSlippageP) internal view returns (uint8) {
        if (pairClosed[t.pairIndex]) return CANCEL_MARKET_CLOSED;
        uint256 allowed = uint256(t.openPrice) * maxSlippageP / 100e3; // maxSlippageP: 1e3 percent
        if (t.long ? price > t.openPrice + allowed : price + allowed < t.openPrice) return CANCEL_SLIPPAGE;
        return CANCEL_NONE;
    }

    function _info(uint8 collateralIndex, uint16 maxSlippageP) internal view returns (GTradeTradeInfo memory info) {
        info.createdBlock = uint32(block.number);
        info.maxSlippageP = maxSlippageP;
        info.lastOiUpdateTs = uint48(block.timestamp);
        info.collateralPriceUsd = uint48(collateralPriceUsd[collateralIndex]);
        info.contractsVersion = CONTRACTS_VERSION_V10;
        info.lastPosIncreaseBlock = uint32(block.number);
    }

    /// @dev Collateral units → USD at 1e18.
    function _usd(uint8 c, uint256 amount) internal view returns (uint256) {
        return amount * collaterals[c - 1].precisionDelta * collateralPriceUsd[c] / 1e8;
    }

    /// @dev Position size in collateral units → tokens at 1e18, at `price` (1e10).
    function _tokens(uint8 c, uint256 sizeCollateral, uint64 price) internal view returns (uint256) {
        return _usd(c, sizeCollateral) * 1e10 / price;
    }

    function _openingFee(uint256 pairIndex, uint256 sizeCollateral) internal view returns (uint256) {
        return sizeCollateral * pairParams[pairIndex].totalPositionSizeFeeP / 1e10 / 100;
    }

    /// @dev Brings a pair's accumulators to now (before its open interest changes), as gTrade stores them.
    function _touchPair(uint8 c, uint16 p, uint64 price) internal {
        (int128 accLong, int128 accShort, int56 rate) = _pendingAccFunding(c, p, price);
        fundingData[c][p] = GTradePairFundingFeeData(accLong, accShort, rate, uint32(block.timestamp), 0);
        uint128 accBorrowing = _pendingAccBorrowing(c, p, price);
        borrowingData[c][p] = GTradePairBorrowingFeeData(accBorrowing, uint32(block.timestamp), 0);
    }

    function _addOi(GTradeTrade memory t, int256 tokens) internal {
        GTradePairOiToken storage oi = oiToken[t.collateralIndex][t.pairIndex];
        if (t.long) oi.oiLongToken = uint128(uint256(int256(uint256(oi.oiLongToken)) + tokens));
        else oi.oiShortToken = uint128(uint256(int256(uint256(oi.oiShortToken)) + tokens));
    }

    function _resetAcc(GTradeTrade memory t) internal {
        GTradePairFundingFeeData storage data = fundingData[t.collateralIndex][t.pairIndex];
        initialAccFunding[t.user][t.index] = t.long ? data.accFundingFeeLongP : data.accFundingFeeShortP;
        initialAccBorrowing[t.user][t.index] = borrowingData[t.collateralIndex][t.pairIndex].accBorrowingFeeP;
    }

    /// @dev Charges a trade's pending holding fees to its collateral and restarts its accumulators.
    function _realizeHoldingFees(GTradeTrade storage t, uint64 price) internal {
        int256 fees = _holdingFees(t.user, t.index, price).totalFeeCollateral;
        int256 left = int256(uint256(t.collateralAmount)) - fees;
        t.collateralAmount = uint120(uint256(left > 0 ? left : int256(0)));
        _resetAcc(t);
    }

    /// @dev Pays out `collateralPart` of a trade with its share of PnL, less holding fees and the closing fee.
    function _settle(GTradeTrade storage t, uint256 collateralPart, uint64 price) internal returns (uint256 sent) {
        _realizeHoldingFees(t, price);
        if (collateralPart > t.collateralAmount) collateralPart = t.collateralAmount;
        uint256 sizePart = collateralPart * t.leverage / 1e3;
        uint256 tokensPart = uint256(t.positionSizeToken) * collateralPart / (t.collateralAmount == 0 ? 1 : t.collateralAmount);
        int256 move = int256(uint256(price)) - int256(uint256(t.openPrice));
        int256 pnlUsd = int256(tokensPart) * (t.long ? move : -move) / 1e10; // 1e18 USD
        Collateral memory c = _collateral(t.collateralIndex);
        int256 pnl = pnlUsd * 1e8 / int256(c.priceUsd) / int256(c.precisionDelta);
        int256 value = int256(collateralPart) + pnl - int256(_openingFee(t.pairIndex, sizePart));
        sent = value > 0 ? uint256(value) : 0;
        t.collateralAmount -= uint120(collateralPart);
        if (sent > 0) _push(t.collateralIndex, t.user, sent);
    }

    struct Collateral {
        uint256 priceUsd;
        uint256 precisionDelta;
    }

    function _collateral(uint8 c) internal view returns (Collateral memory) {
        return Collateral(collateralPriceUsd[c], collaterals[c - 1].precisionDelta);
    }

    function _executed(GTradeAggregatorAnswer calldata a, GTradeTrade memory t, bool open, uint256 sent) internal {
        GTradePriceImpact memory impact;
        impact.positionSizeToken = t.positionSizeToken;
        impact.priceAfterImpact = a.current;
        // emit MarketExecuted(...) by hand: every field is static, so the concatenated encodings are the
        // event's data; topics are the event's selector and the indexed user and index.
        bytes memory data = bytes.concat(
            abi.encode(a.orderId, t, open),
            abi.encode(uint256(a.current), uint256(a.current), uint256(0)),
            abi.encode(impact, int256(0), sent, collateralPriceUsd[t.collateralIndex])
        );
        bytes32 topic0 = MarketExecuted.selector;
        bytes32 user = bytes32(uint256(uint160(t.user)));
        bytes32 index = bytes32(uint256(t.index));
        assembly {
            log3(add(data, 32), mload(data), topic0, user, index)
        }
    }

    function _pull(uint8 c, address from, uint256 amount) internal {
        if (amount > 0) IERC20(collaterals[c - 1].collateral).transferFrom(from, address(this), amount);
    }

    function _push(uint8 c, address to, uint256 amount) internal {
        if (amount > 0) IERC20(collaterals[c - 1].collateral).transfer(to, amount);
    }
}
