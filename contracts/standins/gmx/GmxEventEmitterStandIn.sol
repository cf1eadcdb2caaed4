// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// NatSpec lint off: a stand-in: its function is GMX's EventEmitter interface.
// solhint-disable use-natspec

import {GmxEventLogData} from "./GmxTypes.sol";

/// @title GmxEventEmitterStandIn
/// @notice GMX v2's EventEmitter for the events hedger follows: `emitEventLog2` and the `EventLog2`
///         event with the real signatures (eventName hashed as the first indexed topic, then topic1 and
///         topic2: for orders, the order key and the account). Controllers (the exchange router
///         stand-in, and tests playing the order keeper) emit through it.
contract GmxEventEmitterStandIn {
    address public immutable owner;
    mapping(address => bool) public isController;

    event EventLog2(
        address msgSender,
        string eventName,
        string indexed eventNameHash,
        bytes32 indexed topic1,
        bytes32 indexed topic2,
        GmxEventLogData eventData
    );

    error Unauthorized(address caller);

    constructor() {
        owner = msg.sender;
        isController[msg.sender] = true;
    }

    function setController(address account, bool allowed) external {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        isController[account] = allowed;
    }

    function emitEventLog2(
        string calldata eventName,
        bytes32 topic1,
        bytes32 topic2,
        GmxEventLogData calldata eventData
    )
        external
    {
        if (!isController[msg.sender]) revert Unauthorized(msg.sender);
        emit EventLog2(msg.sender, eventName, eventName, topic1, topic2, eventData);
    }
}
