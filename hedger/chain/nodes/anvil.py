"""Anvil (Foundry's local node): the default node kind, the one every helper of LocalNode is native to."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import ClassVar

from web3 import Web3

from hedger.chain.nodes.base import DEFAULT_CHAIN_ID, DEFAULT_MNEMONIC, LocalNode, NodeConfig, hex_code, word
from hedger.chain.toolchain import find_anvil
from hedger.errors import NodeError


class Anvil(LocalNode):
    name: ClassVar[str] = "Anvil"
    client_prefix: ClassVar[str] = "anvil"
    hardfork: ClassVar[str] = "prague"

    @classmethod
    def command(cls, config: NodeConfig) -> list[str]:
        args = [str(find_anvil()), "--accounts", str(config.accounts), "--balance", str(config.balance_eth)]
        args += ["--mnemonic", DEFAULT_MNEMONIC]
        if config.fork_url:
            args += ["--fork-url", config.fork_url, "--no-rate-limit"]
            if config.fork_block is not None:
                args += ["--fork-block-number", str(config.fork_block)]
        else:
            args += ["--chain-id", str(config.chain_id or DEFAULT_CHAIN_ID)]
        if config.block_time:
            args += ["--block-time", str(config.block_time)]
        if config.load_state:
            args += ["--load-state", str(config.load_state)]
        if config.code_size_limit_disabled:
            args.append("--disable-code-size-limit")
        return args + config.extra_args

    @classmethod
    def port_args(cls, port: int) -> list[str]:
        return ["--host", "127.0.0.1", "--port", str(port)]

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def set_next_block_timestamp(self, timestamp: int) -> None:
        self.rpc("evm_setNextBlockTimestamp", hex(timestamp))

    def set_automine(self, enabled: bool) -> None:
        self.rpc("evm_setAutomine", enabled)

    def set_balance(self, address: str, wei: int) -> None:
        self.rpc("anvil_setBalance", Web3.to_checksum_address(address), hex(wei))

    def set_code(self, address: str, code: str | bytes) -> None:
        self.rpc("anvil_setCode", Web3.to_checksum_address(address), hex_code(code))

    def set_storage_at(self, address: str, slot: int, value: int) -> None:
        self.rpc("anvil_setStorageAt", Web3.to_checksum_address(address), hex(slot), word(value))

    def impersonate(self, address: str) -> None:
        self.rpc("anvil_impersonateAccount", Web3.to_checksum_address(address))

    def stop_impersonating(self, address: str) -> None:
        self.rpc("anvil_stopImpersonatingAccount", Web3.to_checksum_address(address))

    def dump_state(self) -> str:
        """The whole chain state as Anvil's hex-encoded dump (restore with `load_state`)."""
        return self.rpc("anvil_dumpState")

    def load_state(self, dump: str) -> None:
        if not self.rpc("anvil_loadState", dump):
            raise NodeError("anvil_loadState refused the dump")

    def save_state(self, path: Path) -> None:
        """Write a state file that `NodeConfig(load_state=path)` starts from."""
        path.write_bytes(gzip.decompress(bytes.fromhex(self.dump_state().removeprefix("0x"))))
