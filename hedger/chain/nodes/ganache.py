"""Ganache 7 (npm `ganache`, its last release): the second node kind, behind the same LocalNode helpers.

How it differs from Anvil, and how each helper copes (docs/nodes.md has the whole list):
- EVM up to shanghai (contracts are compiled for shanghai, hedger.chain.contracts).
- No anvil_* methods: balances, code, storage through evm_setAccount*; a storage slot must be a
  32-byte zero-padded word (a short hex slot breaks the node until it restarts).
- No evm_setNextBlockTimestamp: `evm_setTime` moves the clock (a block mined within the second gets
  the timestamp exactly); `mine` after it mines at the timestamp itself (evm_mine({timestamp})).
- Automine off/on is miner_stop/miner_start, and miner_start always mines a block.
- Impersonation: evm_addAccount + personal_unlockAccount.
- No state dump/load (NodeUnsupported).
- The HTTP server drops idle keep-alive connections after a few seconds: a request that meets a dropped
  connection is retried on a new one (hedger.chain.connect retries a reset; web3's own provider, this
  node's `w3`, retries reads). Closing every connection instead ("Connection: close") makes Ganache
  drop about one reply in ten: not done.
- A fork of block N starts by mining block N + 1 of its own.
- A fork needs the chain id given (--chain.chainId); it is read from the forked RPC when not configured.
  Its dev accounts overwrite the forked balances of their addresses: `accounts=0` keeps those.
"""

from __future__ import annotations

from typing import Any, ClassVar

from web3 import Web3
from web3.providers import HTTPProvider

from hedger.chain.nodes.base import DEFAULT_CHAIN_ID, DEFAULT_MNEMONIC, LocalNode, NodeConfig, hex_code, word
from hedger.chain.redact import redact_text, redact_url
from hedger.chain.toolchain import find_ganache, find_node
from hedger.errors import ChainIdMismatch, NodeError

_PASSPHRASE = "hedger-impersonation"  # evm_addAccount wants one; nothing secret is behind it


class Ganache(LocalNode):
    name: ClassVar[str] = "Ganache"
    client_prefix: ClassVar[str] = "ganache"
    hardfork: ClassVar[str] = "shanghai"
    blocks_mined_at_fork: ClassVar[int] = 1

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._next_timestamp: tuple[int, int] | None = None  # (timestamp, the block number when set)

    @classmethod
    def command(cls, config: NodeConfig) -> list[str]:
        if config.load_state:
            raise cls._unsupported("state files (NodeConfig.load_state)")
        args = [str(find_node()), str(find_ganache()), "--logging.quiet", "--chain.hardfork", cls.hardfork]
        args += ["--wallet.mnemonic", DEFAULT_MNEMONIC, "--wallet.totalAccounts", str(config.accounts)]
        args += ["--wallet.defaultBalance", str(config.balance_eth)]
        if config.fork_url:
            args += ["--fork.url", config.fork_url]
            if config.fork_block is not None:
                args += ["--fork.blockNumber", str(config.fork_block)]
        args += ["--chain.chainId", str(_chain_id(config))]
        if config.block_time:
            args += ["--miner.blockTime", str(config.block_time)]
        if config.code_size_limit_disabled:
            args.append("--chain.allowUnlimitedContractSize")
        return args + config.extra_args

    @classmethod
    def port_args(cls, port: int) -> list[str]:
        return ["--server.host", "127.0.0.1", "--server.port", str(port)]

    def mine(self, blocks: int = 1) -> None:
        timestamp, self._next_timestamp = self._next_timestamp, None
        if timestamp is not None and timestamp[1] == int(self.rpc("eth_blockNumber"), 16):
            self.rpc("evm_mine", {"timestamp": timestamp[0]})  # no block has been mined since it was set
            blocks -= 1
        if blocks > 0:
            self.rpc("evm_mine", {"blocks": blocks})

    def set_next_block_timestamp(self, timestamp: int) -> None:
        self.rpc("evm_setTime", timestamp * 1000)  # milliseconds
        self._next_timestamp = (timestamp, int(self.rpc("eth_blockNumber"), 16))

    def increase_time(self, seconds: int, mine: bool = True) -> None:
        self._next_timestamp = None
        super().increase_time(seconds, mine)

    def revert(self, snapshot_id: str) -> None:
        self._next_timestamp = None
        super().revert(snapshot_id)

    def set_automine(self, enabled: bool) -> None:
        self.rpc("miner_start" if enabled else "miner_stop")

    def set_balance(self, address: str, wei: int) -> None:
        self._set("evm_setAccountBalance", address, hex(wei))

    def set_code(self, address: str, code: str | bytes) -> None:
        self._set("evm_setAccountCode", address, hex_code(code))

    def set_storage_at(self, address: str, slot: int, value: int) -> None:
        self._set("evm_setAccountStorageAt", address, word(slot), word(value))

    def impersonate(self, address: str) -> None:
        checksummed = Web3.to_checksum_address(address)
        self.rpc("evm_addAccount", checksummed, _PASSPHRASE)  # False when the node knows it already: fine
        if not self.rpc("personal_unlockAccount", checksummed, _PASSPHRASE, 0):
            raise NodeError(f"Ganache would not unlock {checksummed} for impersonation")

    def stop_impersonating(self, address: str) -> None:
        self.rpc("personal_lockAccount", Web3.to_checksum_address(address))

    def _set(self, method: str, address: str, *values: str) -> None:
        if not self.rpc(method, Web3.to_checksum_address(address), *values):
            raise NodeError(f"{method} on {address} failed")


def _chain_id(config: NodeConfig) -> int:
    """The chain id a Ganache node must be started with. A fork's is the forked chain's own (Ganache would
    report any id it is given: a configured id that is not the forked chain's is a ChainIdMismatch)."""
    if not config.fork_url:
        return config.chain_id or DEFAULT_CHAIN_ID
    try:
        forked = int(Web3(HTTPProvider(config.fork_url, request_kwargs={"timeout": 30})).eth.chain_id)
    except Exception as error:
        raise NodeError(f"cannot read the chain id of the chain to fork: {redact_text(str(error))}") from None
    if config.chain_id is not None and config.chain_id != forked:
        raise ChainIdMismatch(config.chain_id, forked, f"Ganache fork of {redact_url(config.fork_url)}")
    return forked
