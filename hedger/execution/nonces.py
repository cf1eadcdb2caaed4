"""A local nonce manager that knows what it handed out and notices what others sent.

The node's pending count is the floor: when it is ahead of us, another process or wallet used the
same key, and we move forward. We never move backwards because a load-balanced or lagging node
reports a lower count than the nonces we already used.
"""

from __future__ import annotations

import logging

from hedger.chain.connect import Rpc

log = logging.getLogger(__name__)


class NonceManager:
    def __init__(self, rpc: Rpc, address: str):
        self.rpc, self.address = rpc, address
        self._next: int | None = None

    def chain_count(self, block: str = "pending") -> int:
        return int(self.rpc.request("eth_getTransactionCount", [self.address, block]), 16)

    def allocate(self) -> int:
        """The next nonce to use, after checking the node for transactions sent by others."""
        pending = self.chain_count("pending")
        if self._next is None:
            self._next = pending
        elif pending > self._next:
            log.warning(
                "nonce moved forward",
                extra={"account": self.address, "local_next": self._next, "chain_pending": pending},
            )
            self._next = pending
        nonce = self._next
        self._next += 1
        return nonce

    def resync(self) -> None:
        """Forget the local count: the next allocation starts from the chain's pending count (each cycle,
        and after a nonce rejection). A nonce the chain no longer knows (a reorg, a revert) is never held."""
        self._next = None

    def used(self, nonce: int) -> bool:
        """True once a mined transaction of this account carries `nonce`."""
        return self.chain_count("latest") > nonce
