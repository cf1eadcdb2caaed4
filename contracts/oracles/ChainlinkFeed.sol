// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoundHistory} from "./RoundHistory.sol";

/// @title ChainlinkFeed
/// @notice A price feed with the AggregatorV3Interface that tests drive: set a price (a new
///         round at the current block time), backdate or future-date it, write any round, or make
///         reads revert. Stale, broken, jumping and failing feeds are all one call away.
contract ChainlinkFeed is RoundHistory {
    constructor(uint8 decimals_, string memory description_, int256 initialAnswer)
        RoundHistory(decimals_, description_)
    {
        _newRound(initialAnswer);
    }

    /// @notice Publish a new round with `answer`, started and updated now.
    /// @param answer The new round's answer (decimals() decimals).
    function setAnswer(int256 answer) external onlyOwner {
        _newRound(answer);
    }

    /// @notice Publish a new round with `answer` and an explicit update time.
    /// @param answer The new round's answer.
    /// @param updatedAt Its start and update time.
    function setAnswerAt(int256 answer, uint256 updatedAt) external onlyOwner {
        _write(latestRound + 1, answer, updatedAt, updatedAt);
    }

    /// @return The latest round's answer (AggregatorInterface's legacy read).
    function latestAnswer() external view whenReadable returns (int256) {
        return _latest().answer;
    }
}
