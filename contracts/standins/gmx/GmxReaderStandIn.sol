// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// NatSpec lint off: a stand-in: its functions are GMX's Reader interface.
// solhint-disable use-natspec

import {
    GmxMarketProps,
    GmxMarketPrices,
    GmxPosition,
    GmxPositionFees,
    GmxPositionInfo,
    GmxMarketInfo,
    GmxOrderInfo,
    GmxMarketRates,
    GmxPendingFees
} from "./GmxTypes.sol";
import {GmxDataStoreStandIn} from "./GmxDataStoreStandIn.sol";

/// @title GmxReaderStandIn
/// @notice hedger's stand-in for GMX v2's Reader: the functions hedger calls, with the real
///         signatures and return encodings, answering from a GmxDataStoreStandIn. Like the real
///         Reader it fetches no prices: the caller passes them (30-decimal USD per smallest token
///         unit), and the position PnL and collateral price it returns come from those prices.
/// @dev Stateless (the DataStore is an argument, as in GMX). Simplifications, all documented in
///      docs/venues.md: no price impact, no PnL cap, fees and funding rates are what the test seeded.
contract GmxReaderStandIn {
    error EmptyMarketPrice(address market);

    function getMarket(address dataStore, address key) external view returns (GmxMarketProps memory) {
        return GmxDataStoreStandIn(dataStore).market(key);
    }

    function getAccountPositions(address dataStore, address account, uint256 start, uint256 end)
        external
        view
        returns (GmxPosition[] memory result)
    {
        GmxDataStoreStandIn store = GmxDataStoreStandIn(dataStore);
        bytes32[] memory keys = store.positionKeysOf(account, start, end);
        result = new GmxPosition[](keys.length);
        for (uint256 i = 0; i < keys.length; ++i) {
            result[i] = store.position(keys[i]);
        }
    }

    /// @notice `markets` and `marketPrices` are matched by market address; a position in a market
    ///         missing from `markets` reverts with EmptyMarketPrice, as in GMX.
    function getAccountPositionInfoList(
        address dataStore,
        address, /* referralStorage */
        address account,
        address[] calldata markets,
        GmxMarketPrices[] calldata marketPrices,
        address, /* uiFeeReceiver */
        uint256 start,
        uint256 end
    ) external view returns (GmxPositionInfo[] memory result) {
        GmxDataStoreStandIn store = GmxDataStoreStandIn(dataStore);
        bytes32[] memory keys = store.positionKeysOf(account, start, end);
        result = new GmxPositionInfo[](keys.length);
        for (uint256 i = 0; i < keys.length; ++i) {
            GmxPosition memory position = store.position(keys[i]);
            GmxMarketPrices memory prices = _pricesOf(markets, marketPrices, position.addresses.market);
            result[i] = _info(store, keys[i], position, prices);
        }
    }

    function getMarketInfo(address dataStore, GmxMarketPrices calldata, address marketKey)
        external
        view
        returns (GmxMarketInfo memory info)
    {
        GmxDataStoreStandIn store = GmxDataStoreStandIn(dataStore);
        GmxMarketRates memory seeded = store.marketRates(marketKey);
        info.market = store.market(marketKey);
        info.borrowingFactorPerSecondForLongs = seeded.borrowingFactorPerSecondForLongs;
        info.borrowingFactorPerSecondForShorts = seeded.borrowingFactorPerSecondForShorts;
        info.nextFunding.longsPayShorts = seeded.longsPayShorts;
        info.nextFunding.fundingFactorPerSecond = seeded.fundingFactorPerSecond;
        info.isDisabled = seeded.isDisabled;
    }

    function getAccountOrders(address dataStore, address account, uint256 start, uint256 end)
        external
        view
        returns (GmxOrderInfo[] memory result)
    {
        GmxDataStoreStandIn store = GmxDataStoreStandIn(dataStore);
        bytes32[] memory keys = store.orderKeysOf(account, start, end);
        result = new GmxOrderInfo[](keys.length);
        for (uint256 i = 0; i < keys.length; ++i) {
            result[i] = GmxOrderInfo(keys[i], store.order(keys[i]));
        }
    }

    function _pricesOf(address[] memory markets, GmxMarketPrices[] memory marketPrices, address market)
        private
        pure
        returns (GmxMarketPrices memory)
    {
        for (uint256 i = 0; i < markets.length; ++i) {
            if (markets[i] == market) return marketPrices[i];
        }
        revert EmptyMarketPrice(market);
    }

    function _info(GmxDataStoreStandIn store, bytes32 key, GmxPosition memory position, GmxMarketPrices memory prices)
        private
        view
        returns (GmxPositionInfo memory info)
    {
        info.positionKey = key;
        info.position = position;
        _fillFees(info.fees, store, key, position, prices);
        bool isLong = position.flags.isLong;
        // GMX values a position for PnL at the price least favourable to it: min for longs, max for shorts.
        uint256 price = isLong ? prices.indexTokenPrice.min : prices.indexTokenPrice.max;
        int256 value = int256(position.numbers.sizeInTokens * price);
        int256 cost = int256(position.numbers.sizeInUsd);
        int256 pnl = isLong ? value - cost : cost - value;
        info.executionPriceResult.executionPrice = price;
        info.basePnlUsd = pnl;
        info.uncappedBasePnlUsd = pnl;
        info.pnlAfterPriceImpactUsd = pnl;
    }

    function _fillFees(
        GmxPositionFees memory out,
        GmxDataStoreStandIn store,
        bytes32 key,
        GmxPosition memory position,
        GmxMarketPrices memory prices
    ) private view {
        GmxPendingFees memory seeded = store.pendingFees(key);
        GmxMarketProps memory market = store.market(position.addresses.market);
        out.funding.fundingFeeAmount = seeded.fundingFeeAmount;
        out.funding.claimableLongTokenAmount = seeded.claimableLongTokenAmount;
        out.funding.claimableShortTokenAmount = seeded.claimableShortTokenAmount;
        out.borrowing.borrowingFeeUsd = seeded.borrowingFeeUsd;
        out.collateralTokenPrice =
            position.addresses.collateralToken == market.longToken ? prices.longTokenPrice : prices.shortTokenPrice;
    }
}
