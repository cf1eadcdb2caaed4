// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "../../interfaces/AggregatorV3Interface.sol";

/// @title AggregatorProxyStandIn
/// @notice The round-id behaviour of Chainlink's EACAggregatorProxy: each aggregator upgrade starts a new
///         phase, and the proxy reports round ids as phaseId << 64 | the aggregator's own round id, reading
///         older phases from the aggregators they were written by (`phaseAggregators`).
contract AggregatorProxyStandIn is AggregatorV3Interface {
    uint256 private constant PHASE_OFFSET = 64;

    address public immutable owner;
    uint16 public phaseId;
    mapping(uint16 => AggregatorV3Interface) public phaseAggregators;

    error NoDataPresent(uint80 roundId);
    error NotOwner(address caller);

    /// @param firstAggregator the aggregator of phase 1
    constructor(AggregatorV3Interface firstAggregator) {
        owner = msg.sender;
        _addPhase(firstAggregator);
    }

    /// @notice Point the proxy at a new aggregator: a new phase begins.
    /// @param aggregator the aggregator of the new phase
    function addPhase(AggregatorV3Interface aggregator) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _addPhase(aggregator);
    }

    /// @notice The current aggregator's decimals.
    /// @return the number of decimals of an answer
    function decimals() external view override returns (uint8) {
        return phaseAggregators[phaseId].decimals();
    }

    /// @notice The current aggregator's description.
    /// @return the feed's description
    function description() external view override returns (string memory) {
        return phaseAggregators[phaseId].description();
    }

    /// @notice The proxy interface version.
    /// @return 6, as EACAggregatorProxy reports
    function version() external pure override returns (uint256) {
        return 6;
    }

    /// @notice A round of any phase, by its phase-encoded id.
    /// @param roundId phaseId << 64 | aggregatorRoundId
    /// @return roundId_ the id asked for
    /// @return answer the round's answer
    /// @return startedAt when the round started
    /// @return updatedAt when the round was updated
    /// @return answeredInRound the phase-encoded round the answer was computed in
    function getRoundData(uint80 roundId)
        external
        view
        override
        returns (uint80 roundId_, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        uint16 phase = uint16(roundId >> PHASE_OFFSET);
        uint64 aggregatorRound = uint64(roundId);
        AggregatorV3Interface aggregator = phaseAggregators[phase];
        if (address(aggregator) == address(0)) revert NoDataPresent(roundId);
        uint80 answeredIn;
        (, answer, startedAt, updatedAt, answeredIn) = aggregator.getRoundData(aggregatorRound);
        return (roundId, answer, startedAt, updatedAt, _encode(phase, answeredIn));
    }

    /// @notice The current phase's latest round, with a phase-encoded id.
    /// @return roundId phaseId << 64 | the aggregator's latest round id
    /// @return answer the round's answer
    /// @return startedAt when the round started
    /// @return updatedAt when the round was updated
    /// @return answeredInRound the phase-encoded round the answer was computed in
    function latestRoundData()
        external
        view
        override
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        uint80 aggregatorRound;
        uint80 answeredIn;
        (aggregatorRound, answer, startedAt, updatedAt, answeredIn) = phaseAggregators[phaseId].latestRoundData();
        return (_encode(phaseId, aggregatorRound), answer, startedAt, updatedAt, _encode(phaseId, answeredIn));
    }

    function _addPhase(AggregatorV3Interface aggregator) private {
        phaseId += 1;
        phaseAggregators[phaseId] = aggregator;
    }

    function _encode(uint16 phase, uint80 aggregatorRound) private pure returns (uint80) {
        return uint80((uint256(phase) << PHASE_OFFSET) | uint64(aggregatorRound));
    }
}
