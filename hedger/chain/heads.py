"""Following the chain's head: an `eth_subscribe newHeads` websocket when the RPC offers one, polling otherwise.

`NewHeads.wait(after)` returns the first block number above `after` as soon as the node announces it. Modes:
- `poll`: `eth_blockNumber` every `poll_interval_s`;
- `ws`: the subscription, required: no websocket at start is an error;
- `auto` (default): the subscription if the node serves one at start, else polling for the whole run.
The websocket URL is the RPC's with the scheme swapped (http → ws, https → wss; Anvil serves both on one port).
When an open socket drops, the wait falls back to polling at once and tries to subscribe again every
`RECONNECT_S`; a head that arrived in between is never missed (a reconnection is followed by one poll). With a
subscription open, the wait still polls once after `STALL_CHECK_S` without any head, so a socket that stays
open but goes silent cannot stall the keeper. The wait returns within `poll_interval_s` (at most `STOP_CHECK_S` on
the socket) of `stop` being set.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from hedger.chain.connect import Rpc
from hedger.chain.redact import redact_url
from hedger.errors import RpcError

RECONNECT_S = 5.0
STALL_CHECK_S = 30.0
CONNECT_TIMEOUT_S = 3.0
STOP_CHECK_S = 0.25  # a wait on the socket looks at `stop` at least this often
log = logging.getLogger("hedger.chain.heads")


def websocket_url(rpc_url: str) -> str:
    """The websocket endpoint beside an HTTP RPC URL (same host, port and path)."""
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if rpc_url.startswith(http):
            return ws + rpc_url[len(http) :]
    return rpc_url


class NewHeads:
    """`mode`: one of `hedger.settings.NEW_HEADS_MODES` (validated there)."""

    def __init__(self, rpc: Rpc, rpc_url: str, mode: str, poll_interval_s: float, stop: threading.Event):
        self._rpc, self._poll_interval_s, self._stop = rpc, poll_interval_s, stop
        self._url = websocket_url(rpc_url)
        self._socket: ClientConnection | None = None
        self._retry_at: float | None = None  # when to try subscribing again; None: never (polling for good)
        self._last_head_at = time.monotonic()
        if mode != "poll":
            self._socket = self._subscribe(required=mode == "ws")

    @property
    def via(self) -> str:
        """How heads arrive right now: "ws" (the subscription) or "poll"."""
        return "ws" if self._socket is not None else "poll"

    def wait(self, after: int | None) -> int | None:
        """The first block number above `after` (the current one when None), or None once `stop` is set."""
        poll_now = after is None
        while not self._stop.is_set():
            poll_now |= self._resubscribe_if_due()
            number = self._block_number() if poll_now or self._socket is None else self._next_head()
            if number is not None and (after is None or number > after):
                return number
            poll_now = False
            if self._socket is None:
                self._stop.wait(self._poll_interval_s)
        return None

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _block_number(self) -> int:
        return int(self._rpc.request("eth_blockNumber", []), 16)

    def _next_head(self) -> int | None:
        """The next announced head, or None when none came for a while (a poll after a long silence)."""
        assert self._socket is not None
        try:
            message = self._socket.recv(timeout=min(self._poll_interval_s, STOP_CHECK_S))
        except TimeoutError:
            if time.monotonic() - self._last_head_at < STALL_CHECK_S:
                return None
            self._last_head_at = time.monotonic()
            return self._block_number()
        except (WebSocketException, OSError) as error:
            self._drop(error)
            return self._block_number()
        self._last_head_at = time.monotonic()
        return _head_number(message)

    def _subscribe(self, required: bool) -> ClientConnection | None:
        try:
            socket = connect(self._url, open_timeout=CONNECT_TIMEOUT_S, close_timeout=1.0)
            socket.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
            answer = json.loads(socket.recv(timeout=CONNECT_TIMEOUT_S))
            if not isinstance(answer, dict) or "result" not in answer:
                socket.close()
                raise WebSocketException(f"eth_subscribe refused: {str(answer)[:200]}")
        except (WebSocketException, OSError, TimeoutError, ValueError) as error:
            where = redact_url(self._url)
            if required:
                raise RpcError(
                    f"no newHeads subscription at {where} ({error})",
                    'serve a websocket on the RPC, or set new_heads = "auto" (or "poll") in [keeper]',
                ) from None
            log.info("no newHeads subscription, polling for new blocks", extra={"url": where, "error": str(error)})
            return None
        log.info("following new heads over a websocket", extra={"url": redact_url(self._url)})
        self._last_head_at = time.monotonic()
        return socket

    def _drop(self, error: Exception) -> None:
        extra = {"error": str(error)[:200], "retry_in_s": RECONNECT_S}
        log.warning("newHeads subscription dropped, polling", extra=extra)
        self.close()
        self._retry_at = time.monotonic() + RECONNECT_S

    def _resubscribe_if_due(self) -> bool:
        """Try the subscription again after a drop; True when it is back (the caller then polls once)."""
        if self._socket is not None or self._retry_at is None or time.monotonic() < self._retry_at:
            return False
        self._socket = self._subscribe(required=False)
        self._retry_at = None if self._socket is not None else time.monotonic() + RECONNECT_S
        return self._socket is not None


def _head_number(message: str | bytes) -> int | None:
    """The block number of a newHeads notification; None for anything else on the socket."""
    try:
        head = json.loads(message)["params"]["result"]
        return int(head["number"], 16)
    except (ValueError, KeyError, TypeError):
        return None
