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
    GTradeTradeHoldingFees,
    GTradePairParams
} from "./GTradeTypes.sol";
import {GTradeFeesMath} from "./GTradeFeesMath.sol";

/// @title GTradeStorage
/// @notice The state of hedger's gTrade diamond stand-in, shared by its facets (each runs by delegatecall
///         from GTradeDiamondStandIn, so all of them read and write the diamond's storage), and the holding
///         fee reads both facets need.
abstract contract GTradeStorage {
    uint8 internal constant MARKET_OPEN = 0;
    uint8 internal constant MARKET_CLOSE = 1;
    uint8 internal constant UPDATE_LEVERAGE = 7;
    uint8 internal constant MARKET_PARTIAL_OPEN = 8;
    uint8 internal constant MARKET_PARTIAL_CLOSE = 9;
    uint8 internal constant CANCEL_NONE = 0;
    uint8 internal constant CANCEL_MARKET_CLOSED = 2;
    uint8 internal constant CANCEL_SLIPPAGE = 3;
    uint8 internal constant CONTRACTS_VERSION_V10 = 2;

    address internal oracle; // the one address the stand-in takes oracle answers and set-up from
    GTradeCollateral[] internal collaterals;
    mapping(uint8 => uint256) internal collateralPriceUsd; // 1e8
    mapping(uint256 => GTradePairParams) internal pairParams;
    mapping(uint256 => bool) internal pairClosed;
    mapping(uint8 => mapping(uint16 => GTradeFundingFeeParams)) internal fundingParams;
    mapping(uint8 => mapping(uint16 => GTradePairFundingFeeData)) internal fundingData;
    mapping(uint8 => mapping(uint16 => GTradeBorrowingFeeParams)) internal borrowingParams;
    mapping(uint8 => mapping(uint16 => GTradePairBorrowingFeeData)) internal borrowingData;
    mapping(uint8 => mapping(uint16 => GTradePairOiToken)) internal oiToken;
    mapping(address => GTradeTrade[]) internal trades;
    mapping(address => GTradeTradeInfo[]) internal tradeInfos;
    mapping(address => mapping(uint32 => int256)) internal initialAccFunding;
    mapping(address => mapping(uint32 => uint256)) internal initialAccBorrowing;
    mapping(address => GTradePendingOrder[]) internal pendingOrders;
    mapping(address => mapping(uint32 => uint256)) internal pendingDelta; // collateral or leverage of a pending order

    error Unauthorized(address caller);
    error WrongTrade(address user, uint32 index);
    error WrongLeverage(uint256 leverage);
    error BelowMinPositionSize(uint256 positionSizeUsd);
    error NoSuchOrder(address user, uint32 index);

    modifier onlyOracle() {
        if (msg.sender != oracle) revert Unauthorized(msg.sender);
        _;
    }

    function _pendingAccFunding(uint8 c, uint16 p, uint64 price)
        internal
        view
        returns (int128 accFundingFeeLongP, int128 accFundingFeeShortP, int56 currentFundingRatePerSecondP)
    {
        (int256 accLong, int256 accShort, int256 rate) =
            GTradeFeesMath.pendingFunding(fundingParams[c][p], fundingData[c][p], oiToken[c][p], price, block.timestamp);
        return (int128(accLong), int128(accShort), int56(rate));
    }

    function _pendingAccBorrowing(uint8 c, uint16 p, uint64 price)
        internal
        view
        returns (uint128 accBorrowingFeeP)
    {
        return uint128(GTradeFeesMath.pendingBorrowing(borrowingParams[c][p], borrowingData[c][p], price, block.timestamp));
    }

    function _holdingFees(address trader, uint32 index, uint64 price)
        internal
        view
        returns (GTradeTradeHoldingFees memory fees)
    {
        GTradeTrade storage t = trades[trader][index];
        uint256 size = uint256(t.collateralAmount) * t.leverage / 1e3;
        (int256 accLong, int256 accShort,) = GTradeFeesMath.pendingFunding(
            fundingParams[t.collateralIndex][t.pairIndex],
            fundingData[t.collateralIndex][t.pairIndex],
            oiToken[t.collateralIndex][t.pairIndex],
            price,
            block.timestamp
        );
        int256 fundingDelta = (t.long ? accLong : accShort) - initialAccFunding[trader][index];
        uint256 accBorrowing = GTradeFeesMath.pendingBorrowing(
            borrowingParams[t.collateralIndex][t.pairIndex], borrowingData[t.collateralIndex][t.pairIndex], price, block.timestamp
        );
        fees.fundingFeeCollateral = GTradeFeesMath.tradeFee(size, fundingDelta, t.openPrice);
        int256 borrowing =
            GTradeFeesMath.tradeFee(size, int256(accBorrowing - initialAccBorrowing[trader][index]), t.openPrice);
        fees.borrowingFeeCollateral = uint256(borrowing);
        fees.totalFeeCollateral = fees.fundingFeeCollateral + borrowing;
    }

    function _countOpen(address trader) internal view returns (uint256 count) {
        GTradeTrade[] storage all = trades[trader];
        for (uint256 i = 0; i < all.length; ++i) {
            if (all[i].isOpen) ++count;
        }
    }
}
