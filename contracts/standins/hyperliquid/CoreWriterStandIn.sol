// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// NatSpec lint off: a stand-in: HyperEVM's CoreWriter interface plus test records.
// solhint-disable use-natspec

/// @title CoreWriterStandIn
/// @notice hedger's stand-in for HyperEVM's CoreWriter system contract
///         (0x3333333333333333333333333333333333333333): `sendRawAction(bytes)` with the real
///         signature and the real `RawAction(address indexed user, bytes data)` event, plus a record
///         of every action in storage, so tests assert the exact bytes an order encodes. On HyperEVM
///         the action would then run on HyperCore a few seconds later; here nothing runs.
/// @dev No constructor state: placed at the real address with anvil_setCode.
contract CoreWriterStandIn {
    struct RecordedAction {
        address sender;
        bytes data;
    }

    RecordedAction[] private actions;

    event RawAction(address indexed user, bytes data);

    function sendRawAction(bytes calldata data) external {
        actions.push(RecordedAction(msg.sender, data));
        emit RawAction(msg.sender, data);
    }

    function actionCount() external view returns (uint256) {
        return actions.length;
    }

    function action(uint256 index) external view returns (address sender, bytes memory data) {
        RecordedAction storage recorded = actions[index];
        return (recorded.sender, recorded.data);
    }
}
