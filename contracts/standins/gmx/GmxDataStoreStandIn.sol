// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// NatSpec lint off: a stand-in: its functions are GMX's DataStore interface or test seeding.
// solhint-disable use-natspec

import {
    GmxMarketProps,
    GmxPositionAddresses,
    GmxPosition,
    GmxOrder,
    GmxMarketRates,
    GmxPendingFees
} from "./GmxTypes.sol";

/// @title GmxDataStoreStandIn
/// @notice hedger's stand-in for GMX v2's DataStore: `getUint(bytes32)` answers exactly like the real
///         one (so open interest and market parameters are read under GMX's own keys), and the
///         markets, positions, pending fees, funding rates and orders that the real system keeps under
///         many keys are kept here as plain structs that tests seed. GmxReaderStandIn reads them;
///         GmxExchangeRouterStandIn stores and removes orders (as a controller).
/// @dev Test-only: the owner seeds, controllers write orders. Not GMX code.
contract GmxDataStoreStandIn {
    address public immutable owner;
    mapping(address => bool) public isController;

    mapping(bytes32 => uint256) private uints;
    mapping(address => GmxMarketProps) private markets;
    mapping(address => GmxMarketRates) private rates;
    mapping(bytes32 => GmxPosition) private positions;
    mapping(bytes32 => GmxPendingFees) private fees;
    mapping(address => bytes32[]) private accountPositionKeys;
    mapping(bytes32 => GmxOrder) private orders;
    mapping(address => bytes32[]) private accountOrderKeys;
    uint256 public nonce;

    error Unauthorized(address caller);
    error UnknownOrder(bytes32 key);

    constructor() {
        owner = msg.sender;
        isController[msg.sender] = true;
    }

    modifier onlyController() {
        if (!isController[msg.sender]) revert Unauthorized(msg.sender);
        _;
    }

    function setController(address account, bool allowed) external {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        isController[account] = allowed;
    }

    // ------------------------------------------------------------------ the real DataStore's uint store

    function getUint(bytes32 key) external view returns (uint256) {
        return uints[key];
    }

    function setUint(bytes32 key, uint256 value) external onlyController returns (uint256) {
        uints[key] = value;
        return value;
    }

    // ------------------------------------------------------------------ seeding

    function setMarket(GmxMarketProps calldata market) external onlyController {
        markets[market.marketToken] = market;
    }

    function setMarketRates(address market, GmxMarketRates calldata values) external onlyController {
        rates[market] = values;
    }

    /// @notice Store a position under GMX's key keccak256(abi.encode(account, market, collateralToken, isLong)).
    function setPosition(GmxPosition calldata position) external onlyController returns (bytes32 key) {
        GmxPositionAddresses calldata a = position.addresses;
        key = positionKey(a.account, a.market, a.collateralToken, position.flags.isLong);
        if (positions[key].addresses.account == address(0)) {
            accountPositionKeys[position.addresses.account].push(key);
        }
        positions[key] = position;
    }

    function setPendingFees(bytes32 key, GmxPendingFees calldata values) external onlyController {
        fees[key] = values;
    }

    function positionKey(address account, address market, address collateralToken, bool isLong)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(account, market, collateralToken, isLong));
    }

    // ------------------------------------------------------------------ orders (written by the router)

    /// @notice Store an order under GMX's key scheme keccak256(abi.encode(dataStore, nonce)).
    function storeOrder(GmxOrder calldata order) external onlyController returns (bytes32 key) {
        ++nonce;
        key = keccak256(abi.encode(address(this), nonce));
        orders[key] = order;
        accountOrderKeys[order.addresses.account].push(key);
    }

    function removeOrder(bytes32 key) external onlyController {
        address account = orders[key].addresses.account;
        if (account == address(0)) revert UnknownOrder(key);
        delete orders[key];
        _remove(accountOrderKeys[account], key);
    }

    // ------------------------------------------------------------------ views for the reader stand-in

    function market(address key) external view returns (GmxMarketProps memory) {
        return markets[key];
    }

    function marketRates(address key) external view returns (GmxMarketRates memory) {
        return rates[key];
    }

    function position(bytes32 key) external view returns (GmxPosition memory) {
        return positions[key];
    }

    function pendingFees(bytes32 key) external view returns (GmxPendingFees memory) {
        return fees[key];
    }

    function order(bytes32 key) external view returns (GmxOrder memory) {
        return orders[key];
    }

    function positionKeysOf(address account, uint256 start, uint256 end) external view returns (bytes32[] memory) {
        return _slice(accountPositionKeys[account], start, end);
    }

    function orderKeysOf(address account, uint256 start, uint256 end) external view returns (bytes32[] memory) {
        return _slice(accountOrderKeys[account], start, end);
    }

    /// @dev Like the real DataStore's getBytes32ValuesAt: `end` is clamped to the length.
    function _slice(bytes32[] storage keys, uint256 start, uint256 end) private view returns (bytes32[] memory out) {
        if (end > keys.length) end = keys.length;
        if (start >= end) return new bytes32[](0);
        out = new bytes32[](end - start);
        for (uint256 i = start; i < end; ++i) {
            out[i - start] = keys[i];
        }
    }

    function _remove(bytes32[] storage keys, bytes32 key) private {
        for (uint256 i = 0; i < keys.length; ++i) {
            if (keys[i] == key) {
                keys[i] = keys[keys.length - 1];
                keys.pop();
                return;
            }
        }
    }
}
