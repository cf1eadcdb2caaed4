"""A loopback forwarder for a fork's upstream RPC: a node launched as a fork is given
http://127.0.0.1:<port>/ instead of the upstream URL, so an API key in that URL (userinfo, query or a path
segment) never appears on the child's command line, where `ps` and /proc/<pid>/cmdline show it to every user
of the host. The forwarder lives in hedger's own process and stops with the node."""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from typing import Any

import urllib3

from hedger.chain.redact import redact_text, redact_url


def needs_forwarding(url: str) -> bool:
    """Whether `url` carries more than a scheme, host and port: userinfo, a path, a query or a fragment may each
    hold a key, and no pattern recognises every key, so anything beyond the bare endpoint is forwarded."""
    parts = urllib.parse.urlsplit(url)
    return bool(parts.username or parts.password or parts.path.strip("/") or parts.query or parts.fragment)


class ForkForwarder:
    """POST bodies relayed to one upstream URL, answers relayed back (status, body); an upstream failure is a
    502 whose body names the redacted URL."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        pool = urllib3.PoolManager(maxsize=8, retries=False, headers={"Content-Type": "application/json"})
        forwarder = self

        class Relay(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    answer = pool.request("POST", forwarder.upstream, body=body, timeout=60.0)
                    status, data = answer.status, answer.data
                except urllib3.exceptions.HTTPError as error:
                    status = 502
                    data = f"{redact_url(forwarder.upstream)}: {redact_text(str(error))}".encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Relay)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fork-forwarder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
