// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

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
///      rate (1e10) × seconds × price. Integer order of operations is hedger's (gTrade's source is not public):
///      products first, one division at the end of each step, truncating toward zero.
library GTradeFeesMath {
    int256 internal constant ONE_YEAR = 365 days;
    int256 internal constant APR_MULTIPLIER_CAP = 100;

    /// @notice The velocity of the funding rate, 1e18 percent per second per year (signed like net exposure).
    function velocityPerYear(GTradeFundingFeeParams memory params, int256 netToken, uint64 price)
        internal
        pure
        returns (int256)
    {
        if (netToken == 0 || params.skewCoefficientPerYear == 0 || params.absoluteVelocityPerYearCap == 0) return 0;
        uint256 absNet = uint256(netToken < 0 ? -netToken : netToken);
        // |net| (1e18) × price (1e10) / 1e28 = whole USD
        if (absNet * price / 1e28 < params.thetaThresholdUsd) return 0;
        uint256 velocity = absNet * params.skewCoefficientPerYear / 1e26; // 1e18 × 1e26 / 1e26 = 1e18
        uint256 cap = uint256(params.absoluteVelocityPerYearCap) * 1e11; // 1e7 → 1e18
        if (velocity > cap) velocity = cap;
        return netToken < 0 ? -int256(velocity) : int256(velocity);
    }

    /// @notice The rate now and the average over `elapsed` seconds (1e18 percent per second).
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
        int256 toCap = (cap - lastRate) * ONE_YEAR / velocity;
        if (elapsed > toCap) {
            int256 weighted = (lastRate + cap) * toCap / 2 + cap * (elapsed - toCap);
            return (weighted / elapsed, cap);
        }
        current = lastRate + elapsed * velocity / ONE_YEAR;
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
            int256 toZero = -s.lastRate * ONE_YEAR / s.velocity;
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
        int256[4] memory m = multipliers(averageRate, oi, multiplierEnabled);
        s.accLong += delta * m[0] / m[1];
        s.accShort -= delta * m[2] / m[3];
    }

    /// @notice The APR multipliers of the long and short side as fractions (numerator, denominator):
    ///         the receiving side earns the paying side's OI over its own, capped at 100; the payer 1.
    function multipliers(int256 averageRate, GTradePairOiToken memory oi, bool enabled)
        internal
        pure
        returns (int256[4] memory m)
    {
        m = [int256(1), 1, 1, 1]; // long numerator, long denominator, short numerator, short denominator
        if (averageRate == 0 || !enabled) return m;
        int256 oiLong = int256(uint256(oi.oiLongToken));
        int256 oiShort = int256(uint256(oi.oiShortToken));
        if (averageRate < 0 && oiLong > 0) {
            (m[0], m[1]) = oiShort > APR_MULTIPLIER_CAP * oiLong ? (APR_MULTIPLIER_CAP, int256(1)) : (oiShort, oiLong);
        } else if (averageRate > 0 && oiShort > 0) {
            (m[2], m[3]) = oiLong > APR_MULTIPLIER_CAP * oiShort ? (APR_MULTIPLIER_CAP, int256(1)) : (oiLong, oiShort);
        }
    }

    /// @notice Borrowing v2: acc (1e20) + rate (1e10) × seconds × price (1e10).
    function pendingBorrowing(
        GTradeBorrowingFeeParams memory params,
        GTradePairBorrowingFeeData memory data,
        uint64 price,
        uint256 timestamp
    ) internal pure returns (uint256) {
        if (timestamp <= data.lastBorrowingUpdateTs) return data.accBorrowingFeeP;
        uint256 elapsed = timestamp - data.lastBorrowingUpdateTs;
        return data.accBorrowingFeeP + uint256(params.borrowingRatePerSecondP) * elapsed * price;
    }

    /// @notice A trade's fee from an accumulator delta: size (collateral units) × delta (1e20) / openPrice
    ///         (1e10) / 100 / 1e10 (the delta is percent × price at 1e20).
    function tradeFee(uint256 positionSizeCollateral, int256 accDelta, uint64 openPrice)
        internal
        pure
        returns (int256)
    {
        return int256(positionSizeCollateral) * accDelta / int256(uint256(openPrice)) / 100 / 1e10;
    }
}
