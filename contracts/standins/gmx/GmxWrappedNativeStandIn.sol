// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// NatSpec lint off: a stand-in: WETH's interface.
// solhint-disable use-natspec

import {TestToken} from "../../tokens/TestToken.sol";

/// @title GmxWrappedNativeStandIn
/// @notice A WETH-like token (GMX's "WNT"): `deposit` wraps the native coin 1:1. Enough for
///         ExchangeRouter.sendWnt, which wraps the transaction's value for the OrderVault.
contract GmxWrappedNativeStandIn is TestToken {
    constructor() TestToken("Wrapped Ether", "WETH", 18) {}

    receive() external payable {
        _wrap();
    }

    function deposit() external payable {
        _wrap();
    }

    function _wrap() private {
        totalSupply += msg.value;
        balanceOf[msg.sender] += msg.value;
        emit Transfer(address(0), msg.sender, msg.value);
    }
}
