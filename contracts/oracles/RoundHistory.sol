// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";

/// @title RoundHistory
/// @notice Shared core of hedger's Chainlink-compatible test feeds: a kept history of rounds behind
///         AggregatorV3Interface, and a switch that makes every read revert.
/// @dev Rounds are stored exactly as written, so tests can create stale, future-dated, zero or
///      negative rounds; `answeredInRound` always equals the round id (it is deprecated upstream).
abstract contract RoundHistory is AggregatorV3Interface {
    struct Round {
        int256 answer;
        uint256 startedAt;
        uint256 updatedAt;
        bool exists;
    }

    uint8 public immutable override decimals;
    string public override description;
    uint256 public constant override version = 4;
    address public immutable owner;

    uint80 public latestRound;
    bool public reverting;
    mapping(uint80 => Round) private rounds;

    /// @dev Chainlink's AggregatorInterface events, so log-based tooling sees familiar updates.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);
    event RevertingSet(bool reverting);

    error FeedUnavailable();
    error NoDataPresent(uint80 roundId);
    error NotOwner(address caller);
    error LengthMismatch(uint256 roundIds, uint256 answers, uint256 updatedAts);

    constructor(uint8 decimals_, string memory description_) {
        decimals = decimals_;
        description = description_;
        owner = msg.sender;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    modifier whenReadable() {
        if (reverting) revert FeedUnavailable();
        _;
    }

    function latestRoundData()
        external
        view
        override
        whenReadable
        returns (uint80, int256, uint256, uint256, uint80)
    {
        return _round(latestRound);
    }

    function getRoundData(uint80 roundId)
        external
        view
        override
        whenReadable
        returns (uint80, int256, uint256, uint256, uint80)
    {
        return _round(roundId);
    }

    /// @notice Make every read revert (true) or work again (false): a feed that is down.
    function setReverting(bool reverting_) external onlyOwner {
        reverting = reverting_;
        emit RevertingSet(reverting_);
    }

    /// @notice Write a round with every field chosen by the caller, and make it the latest.
    /// @dev Round id 0 is allowed on purpose: consumers must treat it as broken.
    function setRoundData(uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt)
        external
        onlyOwner
    {
        _write(roundId, answer, startedAt, updatedAt);
    }

    /// @notice Write many rounds in one call (a seeded price history); the last one becomes the latest.
    /// @dev Each round is written as `setRoundData` would, with startedAt = updatedAt. Ids may be
    ///      phase-encoded (phaseId << 64 | aggregatorRoundId), as a Chainlink proxy reports them.
    /// @param roundIds the rounds' ids, in the order they are written
    /// @param answers each round's answer
    /// @param updatedAts each round's update time (also its start time)
    function writeRounds(uint80[] calldata roundIds, int256[] calldata answers, uint256[] calldata updatedAts)
        external
        onlyOwner
    {
        if (roundIds.length != answers.length || roundIds.length != updatedAts.length) {
            revert LengthMismatch(roundIds.length, answers.length, updatedAts.length);
        }
        for (uint256 i = 0; i < roundIds.length; i++) {
            _write(roundIds[i], answers[i], updatedAts[i], updatedAts[i]);
        }
    }

    /// @notice Change the updatedAt of the latest round (make it stale, or future-dated).
    function setUpdatedAt(uint256 updatedAt) external onlyOwner {
        rounds[latestRound].updatedAt = updatedAt;
        emit AnswerUpdated(rounds[latestRound].answer, latestRound, updatedAt);
    }

    function _newRound(int256 answer) internal {
        _write(latestRound + 1, answer, block.timestamp, block.timestamp);
    }

    function _write(uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt) internal {
        rounds[roundId] = Round(answer, startedAt, updatedAt, true);
        latestRound = roundId;
        emit NewRound(roundId, msg.sender, startedAt);
        emit AnswerUpdated(answer, roundId, updatedAt);
    }

    function _latest() internal view returns (Round storage) {
        return rounds[latestRound];
    }

    function _round(uint80 roundId) private view returns (uint80, int256, uint256, uint256, uint80) {
        Round storage r = rounds[roundId];
        if (!r.exists) revert NoDataPresent(roundId);
        return (roundId, r.answer, r.startedAt, r.updatedAt, roundId);
    }
}
