// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";

/// @title RoundHistory
/// @notice Shared core of hedger's Chainlink-compatible test feeds: a kept history of rounds behind
///         AggregatorV3Interface, and a switch that makes every read revert.
/// @dev Rounds are stored exactly as written, so tests can create stale, future-dated, zero or
///      negative rounds. `answeredInRound` equals the round id unless a test sets it apart (Chainlink
///      deprecated the field: a consumer must not rely on it being equal, nor on it at all).
abstract contract RoundHistory is AggregatorV3Interface {
    struct Round {
        int256 answer;
        uint256 startedAt;
        uint256 updatedAt;
        bool exists;
        uint80 answeredInRound; // 0: the round's own id
    }

    uint8 public immutable override decimals;
    string public override description;
    // AggregatorV3Interface's own getter name.
    // solhint-disable-next-line const-name-snakecase
    uint256 public constant override version = 4;
    address public immutable owner;

    uint80 public latestRound;
    bool public reverting;
    mapping(uint80 => Round) private rounds;

    /// @dev Chainlink's AggregatorInterface events, so log-based tooling sees familiar updates.
    /// @param current The new answer.
    /// @param roundId Its round.
    /// @param updatedAt When it was written.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    /// @param roundId The round.
    /// @param startedBy Who wrote it.
    /// @param startedAt When it started.
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);
    /// @param reverting Whether reads now revert.
    event RevertingSet(bool reverting);

    error FeedUnavailable();
    error NoDataPresent(uint80 roundId);
    error NotOwner(address caller);

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

    /// @return roundId The round's id.
    /// @return answer Its answer (decimals() decimals).
    /// @return startedAt When the round started.
    /// @return updatedAt When its answer was written.
    /// @return answeredInRound The round that answered it (deprecated upstream).
    function latestRoundData()
        external
        view
        override
        whenReadable
        returns (uint80, int256, uint256, uint256, uint80)
    {
        return _round(latestRound);
    }

    /// @param roundId The round to read (reverts NoDataPresent when it was never written).
    /// @return roundId The round's id.
    /// @return answer Its answer (decimals() decimals).
    /// @return startedAt When the round started.
    /// @return updatedAt When its answer was written.
    /// @return answeredInRound The round that answered it (deprecated upstream).
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
    /// @param reverting_ True: every read reverts (FeedUnavailable); false: reads work.
    function setReverting(bool reverting_) external onlyOwner {
        reverting = reverting_;
        emit RevertingSet(reverting_);
    }

    /// @notice Write a round with every field chosen by the caller, and make it the latest.
    /// @dev Round id 0 is allowed on purpose: consumers must treat it as broken.
    /// @param roundId The round's id (0 allowed).
    /// @param answer Its answer.
    /// @param startedAt When it started.
    /// @param updatedAt When its answer was written.
    function setRoundData(uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt)
        external
        onlyOwner
    {
        _write(roundId, answer, startedAt, updatedAt);
    }

    /// @notice Make round `roundId` report `answeredInRound` (0: its own id again).
    /// @param roundId An existing round.
    /// @param answeredInRound What getRoundData and latestRoundData report as the round that answered.
    function setAnsweredInRound(uint80 roundId, uint80 answeredInRound) external onlyOwner {
        if (!rounds[roundId].exists) revert NoDataPresent(roundId);
        rounds[roundId].answeredInRound = answeredInRound;
    }

    /// @notice Change the updatedAt of the latest round (make it stale, or future-dated).
    /// @param updatedAt The latest round's new update time.
    function setUpdatedAt(uint256 updatedAt) external onlyOwner {
        rounds[latestRound].updatedAt = updatedAt;
        emit AnswerUpdated(rounds[latestRound].answer, latestRound, updatedAt);
    }

    function _newRound(int256 answer) internal {
        _write(latestRound + 1, answer, block.timestamp, block.timestamp);
    }

    function _write(uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt) internal {
        rounds[roundId] = Round(answer, startedAt, updatedAt, true, 0);
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
        return (roundId, r.answer, r.startedAt, r.updatedAt, r.answeredInRound == 0 ? roundId : r.answeredInRound);
    }
}
