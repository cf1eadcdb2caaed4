// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// NatSpec lint off: stand-ins: HyperCore's precompiles answer raw calldata.
// solhint-disable use-natspec
// Fallback lint off: a precompile answers raw calldata, so the fallback is the whole interface.
// solhint-disable no-complex-fallback

// hedger's stand-ins for the HyperEVM read precompiles hedger calls. On HyperEVM these answer a raw
// `staticcall(abi.encode(args))` (no selector) with `abi.encode(result)`; each stand-in does the
// same from its fallback, so a test places its runtime code at the real address with anvil_setCode
// and seeds it through the setters (which have ordinary selectors: a raw input always starts with
// four zero bytes, so it can never hit one). No constructor state: everything is seeded after
// setCode. Units are HyperCore's raw integers (docs/venues.md). As the real precompiles ("Interacting
// with HyperCore": invalid inputs "consume all gas passed into the precompile call frame"), an input of
// the wrong length or naming an unknown asset burns all the gas it was given (the INVALID opcode).

/// @dev All the gas of the frame, gone, with no return data: what a real precompile does on bad input.
function burnAllGas() pure {
    // solhint-disable-next-line no-inline-assembly
    assembly {
        invalid()
    }
}

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
        if (input.length != 64) burnAllGas();
        (address user, uint16 perp) = abi.decode(input, (address, uint16));
        return abi.encode(positions[user][perp]);
    }
}

/// @notice 0x…0806 markPx(uint32) and 0x…0807 oraclePx(uint32) → uint64: one contract, placed twice.
contract HyperCorePxStandIn {
    mapping(uint32 => uint64) private prices;

    function setPx(uint32 index, uint64 px) external {
        prices[index] = px;
    }

    fallback(bytes calldata input) external returns (bytes memory) {
        if (input.length != 32) burnAllGas();
        uint32 index = abi.decode(input, (uint32));
        uint64 px = prices[index];
        if (px == 0) burnAllGas();
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

    function setPerpAssetInfo(uint32 perp, PerpAssetInfo calldata info) external {
        infos[perp] = info;
    }

    fallback(bytes calldata input) external returns (bytes memory) {
        if (input.length != 32) burnAllGas();
        uint32 perp = abi.decode(input, (uint32));
        PerpAssetInfo memory info = infos[perp];
        if (bytes(info.coin).length == 0) burnAllGas();
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
        if (input.length != 64) burnAllGas();
        (uint32 perpDexIndex, address user) = abi.decode(input, (uint32, address));
        return abi.encode(summaries[perpDexIndex][user]);
    }
}

/// @notice 0x…0809: l1BlockNumber() → uint64, HyperCore's block number (the input is abi.encode(): empty).
contract HyperCoreL1BlockNumberStandIn {
    uint64 private l1Block;

    /// @param number The HyperCore block number the precompile answers.
    function setL1BlockNumber(uint64 number) external {
        l1Block = number;
    }

    fallback(bytes calldata input) external returns (bytes memory) {
        if (input.length != 0) burnAllGas();
        return abi.encode(l1Block);
    }
}

/// @notice 0x…0810: coreUserExists(address user) → CoreUserExists {bool exists}.
contract HyperCoreUserExistsStandIn {
    mapping(address => bool) private exists;

    /// @param user A HyperEVM address.
    /// @param exists_ Whether HyperCore has an account for it.
    function setCoreUserExists(address user, bool exists_) external {
        exists[user] = exists_;
    }

    fallback(bytes calldata input) external returns (bytes memory) {
        if (input.length != 32) burnAllGas();
        address user = abi.decode(input, (address));
        return abi.encode(exists[user]);
    }
}
