// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// NatSpec lint off: a stand-in: its functions are gTrade's Diamond interface (the SDK's ABI).
// solhint-disable use-natspec

import {
    GTradeFundingFeeParams,
    GTradePairFundingFeeData,
    GTradeBorrowingFeeParams,
    GTradePairBorrowingFeeData,
    GTradePairOiToken
} from "./GTradeTypes.sol";

/// @title GTradeFeesMath
/// @notice gTrade v10's holding fees as its SDK describes them (Gains Network SDK 1.8.7,
///         trade/fees/fundingFees and trade/fees/borrowingV2), in integers.
/// @dev Skew-based funding: the rate (1e18, percent per second) moves at a velocity proportional to the
///      net exposure in tokens (oiLong − oiShort), |net| × skewCoefficientPerYear, capped, and is itself capped
///      at absoluteRatePerSecondCap; it is not charged while |net| × price is under thetaThresholdUsd. The
///      accumulated fee (1e20) grows by the average rate over the period × seconds × price; the receiving side
///      may earn more per token (APR multiplier: the OI ratio, capped at 100). Borrowing v2 grows by
///      rate (1e10) × seconds × price. Precisions and the order of integer operations follow gTrade v10's
///      FundingFeesUtils as published: velocity 1e10, rate 1e18, multipliers 1e20, truncation toward zero.
library GTradeFeesMath {
    int256 internal constant ONE_YEAR = 365 days;
    int256 internal constant APR_MULTIPLIER_ONE = 1e20;
    int256 internal constant APR_MULTIPLIER_CAP = 100 * APR_MULTIPLIER_ONE;

    /// @notice The velocity of the funding rate, 1e10 percent per second per year (signed like net exposure).
    /// @param params the pair's funding parameters
    /// @param netToken open interest long − short, 1e18 tokens
    /// @param price the pair price, 1e10
    /// @return the velocity, 1e10 percent per second per year
    function velocityPerYear(GTradeFundingFeeParams memory params, int256 netToken, uint64 price)
        internal
        pure
        returns (int256)
    {
        if (netToken == 0 || params.skewCoefficientPerYear == 0 || params.absoluteVelocityPerYearCap == 0) return 0;
        int256 netUsd = netToken * int256(uint256(price)) / 1e18; // 1e10
        uint256 absNet = uint256(netToken < 0 ? -netToken : netToken);
        if (uint256(netUsd < 0 ? -netUsd : netUsd) < uint256(params.thetaThresholdUsd) * 1e10) return 0;
        uint256 velocity = absNet * params.skewCoefficientPerYear / 1e34; // 1e18 × 1e26 / 1e34 = 1e10
        uint256 cap = uint256(params.absoluteVelocityPerYearCap) * 1e3; // 1e7 → 1e10
        if (velocity > cap) velocity = cap;
        return netUsd < 0 ? -int256(velocity) : int256(velocity);
    }

    /// @notice The rate now and the average over `elapsed` seconds (1e18 percent per second).
    /// @param params the pair's funding parameters
    /// @param lastRate the rate at the last update, 1e18 percent per second
    /// @param velocity from velocityPerYear
    /// @param elapsed seconds since the last update
    /// @return average the average rate over the period
    /// @return current the rate at its end
    function rates(GTradeFundingFeeParams memory params, int256 lastRate, int256 velocity, int256 elapsed)
        internal
        pure
        returns (int256 average, int256 current)
    {
        if (params.absoluteRatePerSecondCap == 0) return (0, 0);
        if (velocity == 0 || elapsed == 0) return (lastRate, lastRate);
        int256 cap = int256(uint256(params.absoluteRatePerSecondCap)) * 1e8; // 1e10 → 1e18
        if (velocity < 0) cap = -cap;
        if (cap == lastRate) return (cap, cap);
        int256 toCap = (cap - lastRate) * ONE_YEAR / velocity / 1e8; // velocity 1e10 against a 1e18 rate
        if (elapsed > toCap) {
            int256 beforeCap = (lastRate + cap) / 2;
            return ((beforeCap * toCap + cap * (elapsed - toCap)) / elapsed, cap);
        }
        current = lastRate + elapsed * velocity * 1e8 / ONE_YEAR;
        return ((lastRate + current) / 2, current);
    }

    struct Pending {
        int256 accLong;
        int256 accShort;
        int256 lastRate;
        int256 currentRate;
        int256 average;
        int256 velocity;
        int256 elapsed;
    }

    /// @notice The accumulated funding fees (long, short; 1e20) and the current rate at `price`.
    /// @param params the pair's funding parameters
    /// @param data the pair's accumulators at the last update
    /// @param oi the pair's open interest in tokens
    /// @param price the pair price, 1e10
    /// @param timestamp now
    /// @return accumulated long fee, accumulated short fee (1e20), current rate (1e18 percent per second)
    function pendingFunding(
        GTradeFundingFeeParams memory params,
        GTradePairFundingFeeData memory data,
        GTradePairOiToken memory oi,
        uint64 price,
        uint256 timestamp
    ) internal pure returns (int256, int256, int256) {
        Pending memory s;
        s.accLong = data.accFundingFeeLongP;
        s.accShort = data.accFundingFeeShortP;
        s.lastRate = data.lastFundingRatePerSecondP;
        if (!params.fundingFeesEnabled) return (s.accLong, s.accShort, s.lastRate);
        s.elapsed = int256(timestamp) - int256(uint256(data.lastFundingUpdateTs));
        s.velocity =
            velocityPerYear(params, int256(uint256(oi.oiLongToken)) - int256(uint256(oi.oiShortToken)), price);
        (s.average, s.currentRate) = rates(params, s.lastRate, s.velocity, s.elapsed);
        bool signChanged = params.aprMultiplierEnabled
            && ((s.currentRate > 0 && s.lastRate < 0) || (s.currentRate < 0 && s.lastRate > 0));
        if (signChanged) {
            int256 toZero = -s.lastRate * ONE_YEAR / s.velocity / 1e8;
            _accrue(s, s.lastRate / 2, toZero, price, oi, true);
            _accrue(s, s.currentRate / 2, s.elapsed - toZero, price, oi, true);
        } else {
            _accrue(s, s.average, s.elapsed, price, oi, params.aprMultiplierEnabled);
        }
        return (s.accLong, s.accShort, s.currentRate);
    }

    /// @dev Adds one period at `averageRate` to the accumulators in `s`.
    function _accrue(
        Pending memory s,
        int256 averageRate,
        int256 seconds_,
        uint64 price,
        GTradePairOiToken memory oi,
        bool multiplierEnabled
    ) private pure {
        // rate 1e18 × seconds × price 1e10 / 1e8 = 1e20
        int256 delta = averageRate * seconds_ * int256(uint256(price)) / 1e8;
        (int256 longMultiplier, int256 shortMultiplier) = multipliers(averageRate, oi, multiplierEnabled);
        s.accLong += delta * longMultiplier / APR_MULTIPLIER_ONE;
        s.accShort -= delta * shortMultiplier / APR_MULTIPLIER_ONE;
    }

    /// @notice The APR multipliers of the long and short side (1e20): the receiving side earns the paying side's
    ///         OI over its own, capped at 100; the paying side 1; a side without open interest 0; 1 at rate 0.
    /// @param averageRate the period's average rate (its sign says who pays)
    /// @param oi the pair's open interest in tokens
    /// @param enabled the pair's aprMultiplierEnabled
    /// @return longMultiplier the long side's multiplier, 1e20
    /// @return shortMultiplier the short side's multiplier, 1e20
    function multipliers(int256 averageRate, GTradePairOiToken memory oi, bool enabled)
        internal
        pure
        returns (int256 longMultiplier, int256 shortMultiplier)
    {
        if (averageRate == 0) return (APR_MULTIPLIER_ONE, APR_MULTIPLIER_ONE);
        bool longsEarn = averageRate < 0;
        int256 oiLong = int256(uint256(oi.oiLongToken));
        int256 oiShort = int256(uint256(oi.oiShortToken));
        longMultiplier = APR_MULTIPLIER_ONE;
        shortMultiplier = APR_MULTIPLIER_ONE;
        if (longsEarn && enabled && oiLong != 0) longMultiplier = oiShort * APR_MULTIPLIER_ONE / oiLong;
        if (!longsEarn && enabled && oiShort != 0) shortMultiplier = oiLong * APR_MULTIPLIER_ONE / oiShort;
        if (oiLong == 0) longMultiplier = 0;
        if (oiShort == 0) shortMultiplier = 0;
        if (longMultiplier > APR_MULTIPLIER_CAP) longMultiplier = APR_MULTIPLIER_CAP;
        if (shortMultiplier > APR_MULTIPLIER_CAP) shortMultiplier = APR_MULTIPLIER_CAP;
    }

    /// @notice Borrowing v2: acc (1e20) + rate (1e10) × seconds × price (1e10).
    /// @param params the pair's borrowing parameters
    /// @param data the pair's borrowing accumulator at its last update
    /// @param price the pair price, 1e10
    /// @param timestamp now
    /// @return the accumulated borrowing fee, 1e20
    function pendingBorrowing(
        GTradeBorrowingFeeParams memory params,
        GTradePairBorrowingFeeData memory data,
        uint64 price,
        uint256 timestamp
    ) internal pure returns (uint256) {
        uint256 elapsed = timestamp - data.lastBorrowingUpdateTs;
        return data.accBorrowingFeeP + uint256(params.borrowingRatePerSecondP) * elapsed * price;
    }

    /// @notice A trade's fee from an accumulator delta: size (collateral units) × delta (1e20) / openPrice
    ///         (1e10) / 1e10 / 100 (the delta is percent × price at 1e20).
    /// @param positionSizeCollateral collateral × leverage, in collateral units
    /// @param accDelta accumulator now − at the trade's open, 1e20
    /// @param openPrice the trade's open price, 1e10
    /// @return the fee in collateral units (negative: the trade receives)
    function tradeFee(uint256 positionSizeCollateral, int256 accDelta, uint64 openPrice)
        internal
        pure
        returns (int256)
    {
        return int256(positionSizeCollateral) * accDelta / int256(uint256(openPrice)) / 1e10 / 100;
    }
}
