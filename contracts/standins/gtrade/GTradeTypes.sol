// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// The structs of Gains Network's GNSMultiCollatDiamond (gTrade v10) that hedger reads or sends, field
// for field as in the diamond's ABI (@gainsnetwork/sdk 1.8.7, abi GNSMultiCollatDiamond, MIT). Written
// for hedger from that ABI; no gTrade source is public.

/// @notice ITradingStorage.Trade. leverage 1e3, openPrice/tp/sl 1e10, positionSizeToken 1e18.
struct GTradeTrade {
    address user;
    uint32 index;
    uint16 pairIndex;
    uint24 leverage;
    bool long;
    bool isOpen;
    uint8 collateralIndex;
    uint8 tradeType;
    uint120 collateralAmount;
    uint64 openPrice;
    uint64 tp;
    uint64 sl;
    bool isCounterTrade;
    uint160 positionSizeToken;
    uint24 __placeholder;
}

/// @notice ITradingStorage.TradeInfo. maxSlippageP 1e3 (1000 = 1 %), collateralPriceUsd 1e8.
struct GTradeTradeInfo {
    uint32 createdBlock;
    uint32 tpLastUpdatedBlock;
    uint32 slLastUpdatedBlock;
    uint16 maxSlippageP;
    uint48 lastOiUpdateTs;
    uint48 collateralPriceUsd;
    uint8 contractsVersion;
    uint32 lastPosIncreaseBlock;
    uint8 __placeholder;
}

/// @notice ITradingStorage.Id: a trade or pending order of a user.
struct GTradeId {
    address user;
    uint32 index;
}

/// @notice ITradingStorage.PendingOrder: a market order waiting for its oracle callback.
struct GTradePendingOrder {
    GTradeTrade trade;
    address user;
    uint32 index;
    bool isOpen;
    uint8 orderType;
    uint32 createdBlock;
    uint16 maxSlippageP;
}

/// @notice ITradingStorage.Collateral. precision = 10^decimals, precisionDelta = 10^(18 - decimals).
struct GTradeCollateral {
    address collateral;
    bool isActive;
    uint88 __placeholder;
    uint128 precision;
    uint128 precisionDelta;
}

/// @notice IFundingFees.FundingFeeParams. skewCoefficientPerYear 1e26, absoluteVelocityPerYearCap 1e7,
///         absoluteRatePerSecondCap 1e10, thetaThresholdUsd whole USD.
struct GTradeFundingFeeParams {
    uint112 skewCoefficientPerYear;
    uint24 absoluteVelocityPerYearCap;
    uint24 absoluteRatePerSecondCap;
    uint32 thetaThresholdUsd;
    bool fundingFeesEnabled;
    bool aprMultiplierEnabled;
    uint48 __placeholder;
}

/// @notice IFundingFees.PairFundingFeeData. acc fees 1e20 (percent × price), rate 1e18 (percent per second).
struct GTradePairFundingFeeData {
    int128 accFundingFeeLongP;
    int128 accFundingFeeShortP;
    int56 lastFundingRatePerSecondP;
    uint32 lastFundingUpdateTs;
    uint168 __placeholder;
}

/// @notice IFundingFees.BorrowingFeeParams: borrowing v2, 1e10 percent per second.
struct GTradeBorrowingFeeParams {
    uint24 borrowingRatePerSecondP;
    uint232 __placeholder;
}

/// @notice IFundingFees.PairBorrowingFeeData: accumulated borrowing v2, 1e20.
struct GTradePairBorrowingFeeData {
    uint128 accBorrowingFeeP;
    uint32 lastBorrowingUpdateTs;
    uint96 __placeholder;
}

/// @notice IPriceImpact.PairOiToken: open interest after v10, in 1e18 tokens.
struct GTradePairOiToken {
    uint128 oiLongToken;
    uint128 oiShortToken;
}

/// @notice IFundingFees.TradeHoldingFees, in collateral units (positive: the trader owes).
struct GTradeTradeHoldingFees {
    int256 fundingFeeCollateral;
    uint256 borrowingFeeCollateral;
    uint256 borrowingFeeCollateral_old;
    int256 totalFeeCollateral;
}

/// @notice ITradingCallbacks.AggregatorAnswer: what the oracle network answers for a pending order (1e10).
struct GTradeAggregatorAnswer {
    GTradeId orderId;
    uint64 open;
    uint64 high;
    uint64 low;
    uint64 current;
}

/// @notice The pair parameters the stand-in serves through gTrade's pair views (hedger's own setter struct).
/// @dev minLeverage/maxLeverage 1e3; minPositionSizeUsd 1e18; spreadP and totalPositionSizeFeeP 1e10 percent.
struct GTradePairParams {
    uint256 minLeverage;
    uint256 maxLeverage;
    uint256 minPositionSizeUsd;
    uint256 spreadP;
    uint256 totalPositionSizeFeeP;
}
