// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {
    GTradeTrade,
    GTradeTradeInfo,
    GTradePendingOrder,
    GTradeCollateral,
    GTradeFundingFeeParams,
    GTradePairFundingFeeData,
    GTradeBorrowingFeeParams,
    GTradePairBorrowingFeeData,
    GTradePairOiToken,
    GTradeTradeHoldingFees
} from "./GTradeTypes.sol";
import {GTradeStorage} from "./GTradeStorage.sol";

/// @title GTradeViewsFacet
/// @notice The diamond's read functions hedger calls: collateral, pair parameters, holding fee parameters and
///         accumulators, open interest, trades, trade infos and pending orders, with gTrade's signatures.
contract GTradeViewsFacet is GTradeStorage {
    // ------------------------------------------------------------------ views (the diamond's)

    function getCollateral(uint8 index) external view returns (GTradeCollateral memory) {
        return collaterals[index - 1];
    }

    function getCollateralPriceUsd(uint8 index) external view returns (uint256) {
        return collateralPriceUsd[index];
    }

    function pairMinLeverage(uint256 pairIndex) external view returns (uint256) {
        return pairParams[pairIndex].minLeverage;
    }

    function pairMaxLeverage(uint256 pairIndex) external view returns (uint256) {
        return pairParams[pairIndex].maxLeverage;
    }

    function pairMinPositionSizeUsd(uint256 pairIndex) external view returns (uint256) {
        return pairParams[pairIndex].minPositionSizeUsd;
    }

    function pairSpreadP(address, uint256 pairIndex) external view returns (uint256) {
        return pairParams[pairIndex].spreadP;
    }

    function pairTotalPositionSizeFeeP(uint256 pairIndex) external view returns (uint256) {
        return pairParams[pairIndex].totalPositionSizeFeeP;
    }

    function getPairFundingFeeParams(uint8[] calldata c, uint16[] calldata p)
        external
        view
        returns (GTradeFundingFeeParams[] memory out)
    {
        out = new GTradeFundingFeeParams[](c.length);
        for (uint256 i = 0; i < c.length; ++i) out[i] = fundingParams[c[i]][p[i]];
    }

    function getPairFundingFeeData(uint8[] calldata c, uint16[] calldata p)
        external
        view
        returns (GTradePairFundingFeeData[] memory out)
    {
        out = new GTradePairFundingFeeData[](c.length);
        for (uint256 i = 0; i < c.length; ++i) out[i] = fundingData[c[i]][p[i]];
    }

    function getPairBorrowingFeeParams(uint8[] calldata c, uint16[] calldata p)
        external
        view
        returns (GTradeBorrowingFeeParams[] memory out)
    {
        out = new GTradeBorrowingFeeParams[](c.length);
        for (uint256 i = 0; i < c.length; ++i) out[i] = borrowingParams[c[i]][p[i]];
    }

    function getPairBorrowingFeeData(uint8[] calldata c, uint16[] calldata p)
        external
        view
        returns (GTradePairBorrowingFeeData[] memory out)
    {
        out = new GTradePairBorrowingFeeData[](c.length);
        for (uint256 i = 0; i < c.length; ++i) out[i] = borrowingData[c[i]][p[i]];
    }

    function getPairOisAfterV10Token(uint8[] calldata c, uint16[] calldata p)
        external
        view
        returns (GTradePairOiToken[] memory out)
    {
        out = new GTradePairOiToken[](c.length);
        for (uint256 i = 0; i < c.length; ++i) out[i] = oiToken[c[i]][p[i]];
    }



    function getTrades(address trader) external view returns (GTradeTrade[] memory out) {
        GTradeTrade[] storage all = trades[trader];
        out = new GTradeTrade[](_countOpen(trader));
        uint256 n;
        for (uint256 i = 0; i < all.length; ++i) {
            if (all[i].isOpen) out[n++] = all[i];
        }
    }

    function getTradeInfos(address trader) external view returns (GTradeTradeInfo[] memory out) {
        GTradeTrade[] storage all = trades[trader];
        out = new GTradeTradeInfo[](_countOpen(trader));
        uint256 n;
        for (uint256 i = 0; i < all.length; ++i) {
            if (all[i].isOpen) out[n++] = tradeInfos[trader][i];
        }
    }

    function getTrade(address trader, uint32 index) external view returns (GTradeTrade memory) {
        return trades[trader][index];
    }

    function getPendingOrders(address user) external view returns (GTradePendingOrder[] memory out) {
        GTradePendingOrder[] storage all = pendingOrders[user];
        uint256 count;
        for (uint256 i = 0; i < all.length; ++i) {
            if (all[i].isOpen) ++count;
        }
        out = new GTradePendingOrder[](count);
        uint256 n;
        for (uint256 i = 0; i < all.length; ++i) {
            if (all[i].isOpen) out[n++] = all[i];
        }
    }


    function getPairPendingAccFundingFees(uint8 c, uint16 p, uint64 price)
        external
        view
        returns (int128 accFundingFeeLongP, int128 accFundingFeeShortP, int56 currentFundingRatePerSecondP)
    {
        return _pendingAccFunding(c, p, price);
    }

    function getPairPendingAccBorrowingFees(uint8 c, uint16 p, uint64 price)
        external
        view
        returns (uint128 accBorrowingFeeP)
    {
        return _pendingAccBorrowing(c, p, price);
    }

    function getTradePendingHoldingFeesCollateral(address trader, uint32 index, uint64 price)
        external
        view
        returns (GTradeTradeHoldingFees memory)
    {
        return _holdingFees(trader, index, price);
    }
}
