// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// Structs of the GMX v2 (gmx-synthetics) interface that hedger reads and writes, written for
// hedger's stand-ins. Field order and types follow the deployed ABI (deployments/arbitrum/Reader.json
// and ExchangeRouter.json), so calldata and return data encode byte for byte as on Arbitrum. Enums of
// the real contracts (order type, decrease swap type) are uint8 in the ABI and here.

struct GmxMarketProps {
    address marketToken;
    address indexToken;
    address longToken;
    address shortToken;
}

struct GmxPrice {
    uint256 min;
    uint256 max;
}

struct GmxMarketPrices {
    GmxPrice indexTokenPrice;
    GmxPrice longTokenPrice;
    GmxPrice shortTokenPrice;
}

struct GmxPositionAddresses {
    address account;
    address market;
    address collateralToken;
}

struct GmxPositionNumbers {
    uint256 sizeInUsd;
    uint256 sizeInTokens;
    uint256 collateralAmount;
    int256 pendingImpactAmount;
    uint256 borrowingFactor;
    uint256 fundingFeeAmountPerSize;
    uint256 longTokenClaimableFundingAmountPerSize;
    uint256 shortTokenClaimableFundingAmountPerSize;
    uint256 increasedAtTime;
    uint256 decreasedAtTime;
}

struct GmxPositionFlags {
    bool isLong;
}

struct GmxPosition {
    GmxPositionAddresses addresses;
    GmxPositionNumbers numbers;
    GmxPositionFlags flags;
}

struct GmxReferralFees {
    bytes32 referralCode;
    address affiliate;
    address trader;
    uint256 totalRebateFactor;
    uint256 affiliateRewardFactor;
    uint256 adjustedAffiliateRewardFactor;
    uint256 traderDiscountFactor;
    uint256 totalRebateAmount;
    uint256 traderDiscountAmount;
    uint256 affiliateRewardAmount;
}

struct GmxProFees {
    uint256 traderTier;
    uint256 traderDiscountFactor;
    uint256 traderDiscountAmount;
}

struct GmxFundingFees {
    uint256 fundingFeeAmount;
    uint256 claimableLongTokenAmount;
    uint256 claimableShortTokenAmount;
    uint256 latestFundingFeeAmountPerSize;
    uint256 latestLongTokenClaimableFundingAmountPerSize;
    uint256 latestShortTokenClaimableFundingAmountPerSize;
}

struct GmxBorrowingFees {
    uint256 borrowingFeeUsd;
    uint256 borrowingFeeAmount;
    uint256 borrowingFeeReceiverFactor;
    uint256 borrowingFeeAmountForFeeReceiver;
}

struct GmxUiFees {
    address uiFeeReceiver;
    uint256 uiFeeReceiverFactor;
    uint256 uiFeeAmount;
}

struct GmxLiquidationFees {
    uint256 liquidationFeeUsd;
    uint256 liquidationFeeAmount;
    uint256 liquidationFeeReceiverFactor;
    uint256 liquidationFeeAmountForFeeReceiver;
}

struct GmxPositionFees {
    GmxReferralFees referral;
    GmxProFees pro;
    GmxFundingFees funding;
    GmxBorrowingFees borrowing;
    GmxUiFees ui;
    GmxLiquidationFees liquidation;
    GmxPrice collateralTokenPrice;
    uint256 positionFeeFactor;
    uint256 protocolFeeAmount;
    uint256 positionFeeReceiverFactor;
    uint256 feeReceiverAmount;
    uint256 feeAmountForPool;
    uint256 positionFeeAmountForPool;
    uint256 positionFeeAmount;
    uint256 totalCostAmountExcludingFunding;
    uint256 totalCostAmount;
    uint256 totalDiscountAmount;
}

struct GmxExecutionPriceResult {
    int256 priceImpactUsd;
    uint256 executionPrice;
    bool balanceWasImproved;
    int256 proportionalPendingImpactUsd;
    int256 totalImpactUsd;
    uint256 priceImpactDiffUsd;
}

struct GmxPositionInfo {
    bytes32 positionKey;
    GmxPosition position;
    GmxPositionFees fees;
    GmxExecutionPriceResult executionPriceResult;
    int256 basePnlUsd;
    int256 uncappedBasePnlUsd;
    int256 pnlAfterPriceImpactUsd;
}

struct GmxCollateralType {
    uint256 longToken;
    uint256 shortToken;
}

struct GmxPositionType {
    GmxCollateralType long;
    GmxCollateralType short;
}

struct GmxBaseFundingValues {
    GmxPositionType fundingFeeAmountPerSize;
    GmxPositionType claimableFundingAmountPerSize;
}

struct GmxNextFunding {
    bool longsPayShorts;
    uint256 fundingFactorPerSecond;
    int256 nextSavedFundingFactorPerSecond;
    GmxPositionType fundingFeeAmountPerSizeDelta;
    GmxPositionType claimableFundingAmountPerSizeDelta;
}

struct GmxVirtualInventory {
    uint256 virtualPoolAmountForLongToken;
    uint256 virtualPoolAmountForShortToken;
    int256 virtualInventoryForPositions;
}

struct GmxMarketInfo {
    GmxMarketProps market;
    uint256 borrowingFactorPerSecondForLongs;
    uint256 borrowingFactorPerSecondForShorts;
    GmxBaseFundingValues baseFunding;
    GmxNextFunding nextFunding;
    GmxVirtualInventory virtualInventory;
    bool isDisabled;
}

struct GmxOrderAddresses {
    address account;
    address receiver;
    address cancellationReceiver;
    address callbackContract;
    address uiFeeReceiver;
    address market;
    address initialCollateralToken;
    address[] swapPath;
}

struct GmxOrderNumbers {
    uint8 orderType;
    uint8 decreasePositionSwapType;
    uint256 sizeDeltaUsd;
    uint256 initialCollateralDeltaAmount;
    uint256 triggerPrice;
    uint256 acceptablePrice;
    uint256 executionFee;
    uint256 callbackGasLimit;
    uint256 minOutputAmount;
    uint256 updatedAtTime;
    uint256 validFromTime;
    uint256 srcChainId;
}

struct GmxOrderFlags {
    bool isLong;
    bool shouldUnwrapNativeToken;
    bool isFrozen;
    bool autoCancel;
}

struct GmxOrder {
    GmxOrderAddresses addresses;
    GmxOrderNumbers numbers;
    GmxOrderFlags flags;
    bytes32[] _dataList; // GMX's own name in Order.Props (the Reader's ABI)
}

struct GmxOrderInfo {
    bytes32 orderKey;
    GmxOrder order;
}

struct GmxCreateOrderAddresses {
    address receiver;
    address cancellationReceiver;
    address callbackContract;
    address uiFeeReceiver;
    address market;
    address initialCollateralToken;
    address[] swapPath;
}

struct GmxCreateOrderNumbers {
    uint256 sizeDeltaUsd;
    uint256 initialCollateralDeltaAmount;
    uint256 triggerPrice;
    uint256 acceptablePrice;
    uint256 executionFee;
    uint256 callbackGasLimit;
    uint256 minOutputAmount;
    uint256 validFromTime;
}

struct GmxCreateOrderParams {
    GmxCreateOrderAddresses addresses;
    GmxCreateOrderNumbers numbers;
    uint8 orderType;
    uint8 decreasePositionSwapType;
    bool isLong;
    bool shouldUnwrapNativeToken;
    bool autoCancel;
    bytes32 referralCode;
    bytes32[] dataList;
}

/// @dev What a test seeds for a market's funding and borrowing (the real Reader derives these from
///      DataStore state and the prices it is given; the stand-in returns what was seeded).
// Field order is the seeding ABI tests use (setMarketRates' tuple), not a storage layout to pack.
// solhint-disable-next-line gas-struct-packing
struct GmxMarketRates {
    bool longsPayShorts;
    uint256 fundingFactorPerSecond;
    uint256 borrowingFactorPerSecondForLongs;
    uint256 borrowingFactorPerSecondForShorts;
    bool isDisabled;
}

/// @dev What a test seeds for a position's pending fees (the real Reader computes them).
struct GmxPendingFees {
    uint256 fundingFeeAmount;
    uint256 claimableLongTokenAmount;
    uint256 claimableShortTokenAmount;
    uint256 borrowingFeeUsd;
}

// EventUtils.EventLogData: what GMX attaches to every EventLog2 (items by type, each a key and a value).
struct GmxAddressKeyValue {
    string key;
    address value;
}

struct GmxAddressArrayKeyValue {
    string key;
    address[] value;
}

struct GmxAddressItems {
    GmxAddressKeyValue[] items;
    GmxAddressArrayKeyValue[] arrayItems;
}

struct GmxUintKeyValue {
    string key;
    uint256 value;
}

struct GmxUintArrayKeyValue {
    string key;
    uint256[] value;
}

struct GmxUintItems {
    GmxUintKeyValue[] items;
    GmxUintArrayKeyValue[] arrayItems;
}

struct GmxIntKeyValue {
    string key;
    int256 value;
}

struct GmxIntArrayKeyValue {
    string key;
    int256[] value;
}

struct GmxIntItems {
    GmxIntKeyValue[] items;
    GmxIntArrayKeyValue[] arrayItems;
}

struct GmxBoolKeyValue {
    string key;
    bool value;
}

struct GmxBoolArrayKeyValue {
    string key;
    bool[] value;
}

struct GmxBoolItems {
    GmxBoolKeyValue[] items;
    GmxBoolArrayKeyValue[] arrayItems;
}

struct GmxBytes32KeyValue {
    string key;
    bytes32 value;
}

struct GmxBytes32ArrayKeyValue {
    string key;
    bytes32[] value;
}

struct GmxBytes32Items {
    GmxBytes32KeyValue[] items;
    GmxBytes32ArrayKeyValue[] arrayItems;
}

struct GmxBytesKeyValue {
    string key;
    bytes value;
}

struct GmxBytesArrayKeyValue {
    string key;
    bytes[] value;
}

struct GmxBytesItems {
    GmxBytesKeyValue[] items;
    GmxBytesArrayKeyValue[] arrayItems;
}

struct GmxStringKeyValue {
    string key;
    string value;
}

struct GmxStringArrayKeyValue {
    string key;
    string[] value;
}

struct GmxStringItems {
    GmxStringKeyValue[] items;
    GmxStringArrayKeyValue[] arrayItems;
}

struct GmxEventLogData {
    GmxAddressItems addressItems;
    GmxUintItems uintItems;
    GmxIntItems intItems;
    GmxBoolItems boolItems;
    GmxBytes32Items bytes32Items;
    GmxBytesItems bytesItems;
    GmxStringItems stringItems;
}
