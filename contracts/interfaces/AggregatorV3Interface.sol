// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The Chainlink price-feed read interface, as consumers call it.
// Chainlink's own name for it (no I- prefix).
// solhint-disable-next-line interface-starts-with-i
interface AggregatorV3Interface {
    /// @return Decimals of every answer.
    function decimals() external view returns (uint8);

    /// @return What the feed prices, e.g. "ETH / USD".
    function description() external view returns (string memory);

    /// @return The aggregator's version.
    function version() external view returns (uint256);

    /// @param roundId The round to read.
    /// @return roundId_ The round's id.
    /// @return answer Its answer (decimals() decimals).
    /// @return startedAt When the round started.
    /// @return updatedAt When its answer was written.
    /// @return answeredInRound The round that answered it (deprecated upstream).
    function getRoundData(uint80 roundId)
        external
        view
        returns (uint80 roundId_, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    /// @return roundId The round's id.
    /// @return answer Its answer (decimals() decimals).
    /// @return startedAt When the round started.
    /// @return updatedAt When its answer was written.
    /// @return answeredInRound The round that answered it (deprecated upstream).
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}
