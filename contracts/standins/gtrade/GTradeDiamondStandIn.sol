// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GTradeStorage} from "./GTradeStorage.sol";

/// @title GTradeDiamondStandIn
/// @notice hedger's stand-in for Gains Network's GNSMultiCollatDiamond (gTrade v10), a diamond like the real
///         one: one address whose functions are served by facets (GTradeViewsFacet, GTradeTradingFacet) through
///         delegatecall, with the diamond's signatures and encodings (its ABI in the Gains Network SDK 1.8.7).
///         Market orders are filled asynchronously by an oracle callback, as gTrade's oracle network does.
contract GTradeDiamondStandIn is GTradeStorage {
    mapping(bytes4 => address) public facetAddress;

    error FunctionNotFound(bytes4 selector);

    /// @param facets the facet contracts; selectors[i] are the functions facets[i] serves.
    constructor(address[] memory facets, bytes4[][] memory selectors) {
        oracle = msg.sender;
        for (uint256 i = 0; i < facets.length; ++i) {
            for (uint256 j = 0; j < selectors[i].length; ++j) {
                facetAddress[selectors[i][j]] = facets[i];
            }
        }
    }

    fallback() external {
        address facet = facetAddress[msg.sig];
        if (facet == address(0)) revert FunctionNotFound(msg.sig);
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), facet, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch ok
            case 0 { revert(0, returndatasize()) }
            default { return(0, returndatasize()) }
        }
    }
}
