"""One call, one block, a constant number of RPC round trips: an account's whole picture.

Round trips: one for the block header, then one per round of batched reads (the readers' depth:
oracles need a second round for the previous round's price, GMX for position info priced with the
first round's answers). Three at most, from one market to a hundred.

A network whose node answers eth_call only at its head (`read_at = "latest"`, HyperEVM) is read at
"latest", and the snapshot is labelled with the block number and time Multicall3 saw inside the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hedger.chain.abi import to_checksum_address
from hedger.chain.connect import Chain
from hedger.chain.multicall import latest_block, read_block, run_steps
from hedger.model import Snapshot
from hedger.oracles.chainlink import read_feed, read_sequencer
from hedger.settings import NetworkConfig
from hedger.venues.base import Venue, VenueState, venue_for
from hedger.wallet import exposures, read_balances

if TYPE_CHECKING:
    from web3 import Web3


class SnapshotReader:
    """Reads snapshots of accounts on one network (venue adapters are built once)."""

    def __init__(self, chain: Chain | Web3, network: NetworkConfig, venues: Sequence[Venue] | None = None):
        self.chain, self.network = Chain.of(chain), network
        self.rpc = self.chain.rpc
        self.venues = (
            list(venues) if venues is not None else [venue_for(self.chain, network, v) for v in network.venues.values()]
        )

    def take(self, account: str) -> Snapshot:
        account = to_checksum_address(account)
        before = self.rpc.round_trips
        block = latest_block(self.rpc)
        feeds = list(self.network.feeds.values())
        steps: list[Any] = [read_balances(self.network, account, block)]
        steps += [read_feed(feed, block) for feed in feeds]
        steps += [venue.read(account, block) for venue in self.venues]
        if self.network.sequencer:
            steps.append(read_sequencer(self.network.sequencer, block))
        latest = self.network.read_at == "latest"
        if latest:  # the node serves only its head: label the snapshot with the block the batch really read
            steps.append(read_block(self.network.multicall))
        at = "latest" if latest else block.number
        outputs = run_steps(self.rpc, steps, at, self.network.multicall, self.network.eth_call_gas_cap)
        if latest:
            block = outputs.pop()
        balances = outputs[0]
        oracles = tuple(outputs[1 : 1 + len(feeds)])
        states: list[VenueState] = outputs[1 + len(feeds) : 1 + len(feeds) + len(self.venues)]
        positions = tuple(p for s in states for p in s.positions)
        return Snapshot(
            network=self.network.name,
            chain_id=self.network.chain_id,
            account=account,
            block_number=block.number,
            block_timestamp=block.timestamp,
            balances=balances,
            markets=tuple(m for s in states for m in s.markets),
            positions=positions,
            funding=tuple(f for s in states for f in s.funding),
            oracles=oracles,
            sequencer=outputs[-1] if self.network.sequencer else None,
            pending_orders=tuple(o for s in states for o in s.pending_orders),
            margins=tuple(s.margin for s in states if s.margin is not None),
            exposures=exposures(balances, positions, oracles),
            rpc_round_trips=self.rpc.round_trips - before,
        )
