// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// hedger's stand-ins for the HyperEVM read precompiles hedger calls. On HyperEVM these answer a raw
// `staticcall(abi.encode(args))` (no selector) with `abi.encode(result)`; each stand-in does the
// same from its fallback, so a test places its runtime code at the real address with anvil_setCode
// and seeds it through the setters (which have ordinary selectors: a raw input always starts with
// four zero bytes, so it can never hit one). No constructor state: everything is seeded after
// setCode. Units are HyperCore's raw integers (docs/venues.md). Invalid inputs revert plainly here;
// the real precompiles burn all the gas they were given.

/// @notice 0x…0800: position(address user, uint16 perp) → Position.
contract HyperCorePositionStandIn {
    struct Position {
        int64 szi;
        uint64 entryNtl;
        int64 isolatedRawUsd;
        uint32 leverage;
        bool isIsolated;
    }

    mapping(address => mapping(uint16 => Position)) private positions;

    function setPosition(address user, uint16 perp, Position calldata position) external {
        positions[user][perp] = position;
    }

    fallback(bytes calldata input) external returns (bytes memory) {
        (address user, uint16 perp) = abi.decode(input, (address, uint16));
        return abi.encode(positions[user][perp]);
    }
}

/// @notice 0x…0806 markPx(uint32) and 0x…0807 oraclePx(uint32) → uint64: one contract, placed twice.
contract HyperCorePxStandIn {
    mapping(uint32 => uint64) private prices;

    error UnknownAsset(uint32 index);

    function setPx(uint32 index, uint64 px) external {
        prices[index] = px;
    }

    fallback(bytes calldata input) external returns (bytes memory) {
        uint32 index = abi.decode(input, (uint32));
        uint64 px = prices[index];
        if (px == 0) revert UnknownAsset(index);
        return abi.encode(px);
    }
}

/// @notice 0x…080a: perpAssetInfo(uint32 perp) → PerpAssetInfo (a struct with a string: dynamic).
contract HyperCorePerpAssetInfoStandIn {
    struct PerpAssetInfo {
        string coin;
        uint32 marginTableId;
        uint8 szDecimals;
        uint8 maxLeverage;
        bool onlyIsolated;
    }

    mapping(uint32 => PerpAssetInfo) private infos;

    error UnknownPerp(uint32 perp);

    function setPerpAssetInfo(uint32 perp, PerpAssetInfo calldata info) external {
        infos[perp] = info;
    }

    fallback(bytes calldata input) external returns (bytes memory) {
        uint32 perp = abi.decode(input, (uint32));
        PerpAssetInfo memory info = infos[perp];
        if (bytes(info.coin).length == 0) revert UnknownPerp(perp);
        return abi.encode(info);
    }
}

/// @notice 0x…080F: accountMarginSummary(uint32 perpDexIndex, address user) → AccountMarginSummary.
contract HyperCoreMarginSummaryStandIn {
    struct AccountMarginSummary {
        int64 accountValue;
        uint64 marginUsed;
        uint64 ntlPos;
        int64 rawUsd;
    }

    mapping(uint32 => mapping(address => AccountMarginSummary)) private summaries;

    function setAccountMarginSummary(uint32 perpDexIndex, address user, AccountMarginSummary calldata summary)
        external
    {
        summaries[perpDexIndex][user] = summary;
    }

    fallback(bytes calldata input) external returns (bytes memory) {
        (uint32 perpDexIndex, address user) = abi.decode(input, (uint32, address));
        return abi.encode(summaries[perpDexIndex][user]);
    }
}
