// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoundHistory} from "./RoundHistory.sol";

/// @title SequencerUptimeFeed
/// @notice An L2 sequencer uptime feed with the AggregatorV3Interface: answer 0 means the
///         sequencer is up, 1 means down, and startedAt is when the status last changed.
contract SequencerUptimeFeed is RoundHistory {
    int256 public constant UP = 0;
    int256 public constant DOWN = 1;

    error InvalidStatus(int256 answer);

    constructor() RoundHistory(0, "L2 Sequencer Uptime Status Feed") {
        _newRound(UP);
    }

    /// @notice Flip the sequencer status now: startedAt becomes the current block time.
    /// @param down True: the sequencer is down (answer 1); false: up (0).
    function setDown(bool down) external onlyOwner {
        _newRound(down ? DOWN : UP);
    }

    /// @notice Set a status with an explicit startedAt (0 reproduces an uninitialised feed).
    /// @param answer 0 (up) or 1 (down).
    /// @param startedAt When the status changed (0: an uninitialised feed).
    function setStatusAt(int256 answer, uint256 startedAt) external onlyOwner {
        if (answer != UP && answer != DOWN) revert InvalidStatus(answer);
        _write(latestRound + 1, answer, startedAt, block.timestamp);
    }
}
