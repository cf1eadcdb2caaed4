// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// NatSpec lint off: a stand-in: its functions are GMX's Router, OrderVault and ExchangeRouter interfaces.
// solhint-disable use-natspec

import {
    GmxMarketProps,
    GmxOrderAddresses,
    GmxOrderNumbers,
    GmxOrderFlags,
    GmxOrder,
    GmxCreateOrderParams,
    GmxAddressKeyValue,
    GmxBytes32KeyValue,
    GmxBytesKeyValue,
    GmxStringKeyValue,
    GmxEventLogData
} from "./GmxTypes.sol";
import {GmxDataStoreStandIn} from "./GmxDataStoreStandIn.sol";
import {GmxEventEmitterStandIn} from "./GmxEventEmitterStandIn.sol";
import {IERC20} from "../../interfaces/IERC20.sol";

interface IGmxWrappedNative {
    function deposit() external payable;
    function transfer(address to, uint256 value) external returns (bool);
}

/// @title GmxRouterStandIn
/// @notice GMX's Router: the contract users approve; the exchange router pulls tokens through it.
contract GmxRouterStandIn {
    address public immutable owner;
    mapping(address => bool) public isPlugin;

    error Unauthorized(address caller);

    constructor() {
        owner = msg.sender;
    }

    function setPlugin(address plugin, bool allowed) external {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        isPlugin[plugin] = allowed;
    }

    function pluginTransfer(address token, address account, address receiver, uint256 amount) external {
        if (!isPlugin[msg.sender]) revert Unauthorized(msg.sender);
        IERC20(token).transferFrom(account, receiver, amount);
    }
}

/// @title GmxOrderVaultStandIn
/// @notice GMX's OrderVault: holds order collateral and execution fees; `recordTransferIn` returns
///         how much of a token arrived since it was last recorded (how createOrder learns amounts).
contract GmxOrderVaultStandIn {
    address public immutable owner;
    mapping(address => bool) public isController;
    mapping(address => uint256) public tokenBalances;

    error Unauthorized(address caller);

    constructor() {
        owner = msg.sender;
    }

    function setController(address account, bool allowed) external {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        isController[account] = allowed;
    }

    function recordTransferIn(address token) external returns (uint256 received) {
        if (!isController[msg.sender]) revert Unauthorized(msg.sender);
        uint256 balance = IERC20(token).balanceOf(address(this));
        received = balance - tokenBalances[token];
        tokenBalances[token] = balance;
    }
}

/// @title GmxExchangeRouterStandIn
/// @notice hedger's stand-in for GMX v2's ExchangeRouter: `multicall`, `sendWnt`, `sendTokens`,
///         `createOrder` and `cancelOrder` with the real signatures. createOrder validates and stores
///         the order as GMX does on creation (collateral and fee measured from what reached the
///         OrderVault, WNT collateral carrying the fee, market orders without validFromTime, a
///         receiver, a cancellation receiver that is not the vault); nothing executes it. Creation and
///         cancellation are announced through the EventEmitter as GMX does ("OrderCreated",
///         "OrderCancelled": topic1 the order key, topic2 the account). Every call inside a multicall
///         is recorded with its calldata and the transaction's value, so tests can decode exactly what
///         hedger sent.
///         As GMX, a market order can be cancelled only once it is REQUEST_EXPIRATION_TIME old
///         (RequestNotYetCancellable). `keeperExecutesIncrease` plays GMX's order keeper for an
///         increase: it applies GMX's collateral check with the open-interest multiplier and cancels
///         the order with the custom error in "reasonBytes" (and an empty "reason") when it fails.
/// @dev Simplifications (docs/venues.md): no execution-fee floor from gas prices, no callback or
///      referral handling, cancellation refunds nothing, an executed order creates no position (tests
///      seed positions). Not GMX code.
contract GmxExchangeRouterStandIn {
    struct RecordedCall {
        address sender;
        uint256 value;
        bytes data;
    }

    GmxDataStoreStandIn public immutable dataStore;
    GmxRouterStandIn public immutable router;
    GmxOrderVaultStandIn public immutable orderVault;
    GmxEventEmitterStandIn public immutable eventEmitter;
    address public immutable wnt;
    address public immutable keeper;
    RecordedCall[] private recorded;

    uint256 private constant FLOAT_PRECISION = 1e30;
    bytes32 private constant REQUEST_EXPIRATION_TIME = keccak256(abi.encode("REQUEST_EXPIRATION_TIME"));
    bytes32 private constant OPEN_INTEREST = keccak256(abi.encode("OPEN_INTEREST"));
    bytes32 private constant MIN_COLLATERAL_FACTOR = keccak256(abi.encode("MIN_COLLATERAL_FACTOR"));
    bytes32 private constant MIN_COLLATERAL_FACTOR_FOR_OPEN_INTEREST_MULTIPLIER =
        keccak256(abi.encode("MIN_COLLATERAL_FACTOR_FOR_OPEN_INTEREST_MULTIPLIER"));

    event MulticallRecorded(uint256 indexed index, address indexed sender, uint256 value, bytes data);

    error OrderTypeCannotBeCreated(uint256 orderType);
    error InsufficientWntAmountForExecutionFee(uint256 wntAmount, uint256 executionFee);
    error InvalidPositionMarket(address market);
    error UnexpectedValidFromTime(uint256 orderType);
    error EmptyReceiver();
    error InvalidReceiver(address receiver);
    error EmptyOrder();
    error Unauthorized(address caller, string reason);
    error RequestNotYetCancellable(uint256 requestAge, uint256 requestExpirationAge, string requestType);
    error InsufficientCollateralUsd(int256 remainingCollateralUsd);

    constructor(
        GmxDataStoreStandIn dataStore_,
        GmxRouterStandIn router_,
        GmxOrderVaultStandIn orderVault_,
        GmxEventEmitterStandIn eventEmitter_,
        address wnt_
    ) {
        dataStore = dataStore_;
        router = router_;
        orderVault = orderVault_;
        eventEmitter = eventEmitter_;
        wnt = wnt_;
        keeper = msg.sender;
    }

    function multicall(bytes[] calldata data) external payable returns (bytes[] memory results) {
        results = new bytes[](data.length);
        for (uint256 i = 0; i < data.length; ++i) {
            recorded.push(RecordedCall(msg.sender, msg.value, data[i]));
            emit MulticallRecorded(recorded.length - 1, msg.sender, msg.value, data[i]);
            // As GMX's multicall: each call runs as this contract, its revert bubbled up unchanged.
            // solhint-disable-next-line avoid-low-level-calls
            (bool success, bytes memory result) = address(this).delegatecall(data[i]);
            if (!success) {
                // solhint-disable-next-line no-inline-assembly
                assembly {
                    revert(add(result, 32), mload(result))
                }
            }
            results[i] = result;
        }
    }

    /// @notice Wrap `amount` of the native coin sent with the transaction and send it to `receiver`.
    function sendWnt(address receiver, uint256 amount) external payable {
        IGmxWrappedNative(wnt).deposit{value: amount}();
        IGmxWrappedNative(wnt).transfer(receiver, amount);
    }

    /// @notice Move `amount` of `token` from the caller to `receiver` through the Router allowance.
    function sendTokens(address token, address receiver, uint256 amount) external payable {
        router.pluginTransfer(token, msg.sender, receiver, amount);
    }

    function createOrder(GmxCreateOrderParams calldata params) external payable returns (bytes32 key) {
        _validate(params);
        (uint256 collateral, uint256 fee) = _amountsReceived(params);
        key = dataStore.storeOrder(_order(params, collateral, fee));
        eventEmitter.emitEventLog2("OrderCreated", key, _topic(msg.sender), _keyAndAccount(key, msg.sender));
    }

    /// @notice Cancel the caller's order: a market order only once it is REQUEST_EXPIRATION_TIME old, as
    ///         GMX's OrderHandler (BaseHandler.validateRequestCancellation, measured from updatedAtTime).
    /// @param key The order's key.
    function cancelOrder(bytes32 key) external payable {
        GmxOrder memory order = dataStore.order(key);
        address account = order.addresses.account;
        if (account == address(0)) revert EmptyOrder();
        if (account != msg.sender) revert Unauthorized(msg.sender, "account for cancelOrder");
        if (_isMarketOrder(order.numbers.orderType)) {
            uint256 expiration = dataStore.getUint(REQUEST_EXPIRATION_TIME);
            uint256 age = block.timestamp - order.numbers.updatedAtTime;
            if (age < expiration) revert RequestNotYetCancellable(age, expiration, "Order");
        }
        _cancel(key, account, "USER_INITIATED_CANCEL", "");
    }

    /// @notice GMX's order keeper executing a market increase: GMX requires collateral of at least
    ///         size × max(MIN_COLLATERAL_FACTOR, open interest after the order × the side's
    ///         MIN_COLLATERAL_FACTOR_FOR_OPEN_INTEREST_MULTIPLIER) (PositionUtils.willPositionCollateralBeSufficient),
    ///         else the execution reverts with InsufficientCollateralUsd and the order is cancelled with
    ///         that revert as "reasonBytes". Otherwise the order is removed as executed.
    /// @dev The order is taken as opening a new position (no existing collateral or size is added).
    /// @param key The order's key.
    /// @param collateralPriceMin The collateral token's min price, 30-decimal USD per smallest unit.
    /// @return executed Whether the order executed (false: it was cancelled).
    function keeperExecutesIncrease(bytes32 key, uint256 collateralPriceMin) external returns (bool executed) {
        if (msg.sender != keeper) revert Unauthorized(msg.sender, "keeper");
        GmxOrder memory order = dataStore.order(key);
        if (order.addresses.account == address(0)) revert EmptyOrder();
        GmxOrderNumbers memory n = order.numbers;
        int256 collateralUsd = int256(n.initialCollateralDeltaAmount * collateralPriceMin);
        uint256 factor = _minCollateralFactorForIncrease(order.addresses.market, order.flags.isLong, n.sizeDeltaUsd);
        if (collateralUsd < int256(n.sizeDeltaUsd * factor / FLOAT_PRECISION)) {
            bytes memory reason = abi.encodeWithSelector(InsufficientCollateralUsd.selector, collateralUsd);
            _cancel(key, order.addresses.account, "", reason);
            return false;
        }
        dataStore.removeOrder(key);
        eventEmitter.emitEventLog2(
            "OrderExecuted", key, _topic(order.addresses.account), _keyAndAccount(key, order.addresses.account)
        );
        return true;
    }

    function _minCollateralFactorForIncrease(address market, bool isLong, uint256 sizeDeltaUsd)
        private
        view
        returns (uint256 factor)
    {
        GmxMarketProps memory props = dataStore.market(market);
        uint256 openInterest = _openInterest(market, props.longToken, isLong);
        if (props.shortToken != props.longToken) {
            openInterest += _openInterest(market, props.shortToken, isLong);
        }
        uint256 multiplier = dataStore.getUint(
            keccak256(abi.encode(MIN_COLLATERAL_FACTOR_FOR_OPEN_INTEREST_MULTIPLIER, market, isLong))
        );
        factor = (openInterest + sizeDeltaUsd) * multiplier / FLOAT_PRECISION;
        uint256 marketFactor = dataStore.getUint(keccak256(abi.encode(MIN_COLLATERAL_FACTOR, market)));
        if (marketFactor > factor) factor = marketFactor;
    }

    function _openInterest(address market, address collateralToken, bool isLong) private view returns (uint256) {
        return dataStore.getUint(keccak256(abi.encode(OPEN_INTEREST, market, collateralToken, isLong)));
    }

    function _cancel(bytes32 key, address account, string memory reason, bytes memory reasonBytes) private {
        dataStore.removeOrder(key);
        GmxEventLogData memory data = _keyAndAccount(key, account);
        data.stringItems.items = new GmxStringKeyValue[](1);
        data.stringItems.items[0] = GmxStringKeyValue("reason", reason);
        data.bytesItems.items = new GmxBytesKeyValue[](1);
        data.bytesItems.items[0] = GmxBytesKeyValue("reasonBytes", reasonBytes);
        eventEmitter.emitEventLog2("OrderCancelled", key, _topic(account), data);
    }

    function _topic(address account) private pure returns (bytes32) {
        return bytes32(uint256(uint160(account)));
    }

    function _keyAndAccount(bytes32 key, address account) private pure returns (GmxEventLogData memory data) {
        data.bytes32Items.items = new GmxBytes32KeyValue[](1);
        data.bytes32Items.items[0] = GmxBytes32KeyValue("key", key);
        data.addressItems.items = new GmxAddressKeyValue[](1);
        data.addressItems.items[0] = GmxAddressKeyValue("account", account);
    }

    function recordedCallCount() external view returns (uint256) {
        return recorded.length;
    }

    function recordedCall(uint256 index) external view returns (address sender, uint256 value, bytes memory data) {
        RecordedCall storage call = recorded[index];
        return (call.sender, call.value, call.data);
    }

    function _validate(GmxCreateOrderParams calldata params) private view {
        if (dataStore.market(params.addresses.market).marketToken == address(0)) {
            revert InvalidPositionMarket(params.addresses.market);
        }
        if (_isMarketOrder(params.orderType) && params.numbers.validFromTime != 0) {
            revert UnexpectedValidFromTime(params.orderType);
        }
        if (params.addresses.receiver == address(0)) revert EmptyReceiver();
        if (params.addresses.cancellationReceiver == address(orderVault)) {
            revert InvalidReceiver(params.addresses.cancellationReceiver);
        }
    }

    /// @dev As GMX: increase (and swap) orders take their collateral from what reached the vault, the
    ///      execution fee comes from the WNT that reached it (net of collateral when WNT is the collateral);
    ///      decrease orders take the amount to withdraw from the parameters.
    function _amountsReceived(GmxCreateOrderParams calldata params) private returns (uint256 collateral, uint256 fee) {
        uint8 orderType = params.orderType;
        fee = params.numbers.executionFee;
        bool feeSentSeparately = true;
        if (_isIncreaseOrSwap(orderType)) {
            collateral = orderVault.recordTransferIn(params.addresses.initialCollateralToken);
            if (params.addresses.initialCollateralToken == wnt) {
                if (collateral < fee) revert InsufficientWntAmountForExecutionFee(collateral, fee);
                collateral -= fee;
                feeSentSeparately = false;
            }
        } else if (orderType == 4 || orderType == 5 || orderType == 6) {
            collateral = params.numbers.initialCollateralDeltaAmount;
        } else {
            revert OrderTypeCannotBeCreated(orderType);
        }
        if (feeSentSeparately) {
            uint256 wntReceived = orderVault.recordTransferIn(wnt);
            if (wntReceived < fee) revert InsufficientWntAmountForExecutionFee(wntReceived, fee);
            fee = wntReceived;
        }
    }

    function _order(GmxCreateOrderParams calldata params, uint256 collateral, uint256 fee)
        private
        view
        returns (GmxOrder memory order)
    {
        order.addresses = GmxOrderAddresses(
            msg.sender,
            params.addresses.receiver,
            params.addresses.cancellationReceiver,
            params.addresses.callbackContract,
            params.addresses.uiFeeReceiver,
            params.addresses.market,
            params.addresses.initialCollateralToken,
            params.addresses.swapPath
        );
        order.numbers.orderType = params.orderType;
        order.numbers.decreasePositionSwapType = params.decreasePositionSwapType;
        order.numbers.sizeDeltaUsd = params.numbers.sizeDeltaUsd;
        order.numbers.initialCollateralDeltaAmount = collateral;
        order.numbers.triggerPrice = params.numbers.triggerPrice;
        order.numbers.acceptablePrice = params.numbers.acceptablePrice;
        order.numbers.executionFee = fee;
        order.numbers.callbackGasLimit = params.numbers.callbackGasLimit;
        order.numbers.minOutputAmount = params.numbers.minOutputAmount;
        order.numbers.updatedAtTime = block.timestamp;
        order.numbers.validFromTime = params.numbers.validFromTime;
        order.flags = GmxOrderFlags(params.isLong, params.shouldUnwrapNativeToken, false, params.autoCancel);
        order._dataList = params.dataList;
    }

    function _isIncreaseOrSwap(uint8 orderType) private pure returns (bool) {
        return orderType <= 3 || orderType == 8;
    }

    function _isMarketOrder(uint8 orderType) private pure returns (bool) {
        return orderType == 0 || orderType == 2 || orderType == 4 || orderType == 7;
    }
}
