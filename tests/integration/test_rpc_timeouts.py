"""Timeouts, garbage replies and redaction, against real sockets on 127.0.0.1: a node that accepts TCP and
never answers, one that answers nonsense, and a refused port, each reached through URLs that carry a key.
No error message, log line or CLI output may show the key."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from hedger.app.cli import EXIT_ERROR, main
from hedger.chain.connect import connect
from hedger.chain.redact import redact_text, redact_url
from hedger.errors import RpcError, RpcGarbage, RpcTimeout
from tests.support.rpc_servers import answering_server, refused_port

pytestmark = pytest.mark.integration
KEY = "k3y9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SECRET = "hunter2pass"


def key_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/v2/{KEY}",
        f"http://user:{SECRET}@127.0.0.1:{port}/",
        f"http://127.0.0.1:{port}/rpc?apikey={KEY}",
        f"https://127.0.0.1:{port}/{KEY}/",
    ]


def assert_clean(text: str) -> None:
    assert KEY not in text and SECRET not in text, text


@contextlib.contextmanager
def hanging_server() -> Iterator[int]:
    """Accepts connections and reads, never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                client, _ = server.accept()
                held.append(client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for sock in [*held, server]:
            sock.close()


@pytest.mark.slow
def test_a_hanging_rpc_is_a_clear_error_within_the_budget(caplog):
    with hanging_server() as port:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING), pytest.raises(RpcTimeout) as error:
            connect(f"http://127.0.0.1:{port}/v2/{KEY}", 31337, timeout_s=6)
        elapsed = time.monotonic() - started
    assert elapsed < 6 + 1.5, elapsed
    assert "eth_chainId" in str(error.value) and "no answer" in str(error.value)
    assert_clean(str(error.value))
    progress = [r.getMessage() for r in caplog.records if "still waiting" in r.getMessage()]
    assert progress and all(KEY not in line for line in progress)  # a progress line once past 5 s


@pytest.mark.slow
def test_by_default_a_hanging_rpc_fails_within_30_s():
    with hanging_server() as port:
        started = time.monotonic()
        with pytest.raises(RpcTimeout):
            connect(f"http://127.0.0.1:{port}", 31337)
        assert time.monotonic() - started < 31.5


@pytest.mark.parametrize(
    "body",
    [b"hello, not json", b'{"jsonrpc": "2.0", "id": 1}', b"[1, 2, 3]", b'{"jsonrpc":"2.0","id":0,"result":"zz"}'],
)
def test_garbage_replies_are_typed_errors(body):
    with answering_server(body) as port:
        for url in key_urls(port)[:3]:
            with pytest.raises(RpcGarbage) as error:
                connect(url, 31337, timeout_s=3)
            assert_clean(str(error.value))


def test_an_http_error_status_is_an_rpc_error_without_the_key():
    with answering_server(b"bad gateway", status=502) as port:
        for url in key_urls(port)[1:2]:
            with pytest.raises(RpcError) as error:
                connect(url, 31337, timeout_s=2)
            assert_clean(str(error.value))


def test_a_refused_port_never_shows_the_key():
    port = refused_port()
    for url in key_urls(port)[::2]:
        with pytest.raises(RpcError) as error:
            connect(url, 31337, timeout_s=2)
        assert_clean(str(error.value))
        assert "127.0.0.1" in str(error.value)


def test_the_cli_prints_no_key_for_an_unreachable_rpc(tmp_path, monkeypatch, capsys):
    import tomli_w

    from tests.unit.test_settings import DOC

    doc = {**DOC, "network": {**DOC["network"], "name": "local", "chain_id": 31337, "rpc_timeout_s": 2}}
    (tmp_path / "local.toml").write_text(tomli_w.dumps(doc))
    monkeypatch.setenv("HEDGER_NETWORKS_DIR", str(tmp_path))
    monkeypatch.setenv("HEDGER_LOG_LEVEL", "DEBUG")
    port = refused_port()
    for url in key_urls(port)[:2]:
        monkeypatch.setenv("HEDGER_RPC_LOCAL", url)
        assert main(["status", "--account", "0x" + "11" * 20]) == EXIT_ERROR
        captured = capsys.readouterr()
        assert_clean(captured.out + captured.err)
        assert "cannot reach the RPC at" in captured.err


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (f"https://arb-mainnet.g.alchemy.com/v2/{KEY}", "https://arb-mainnet.g.alchemy.com/v2/…"),
        (f"https://mainnet.infura.io/v3/{KEY}", "https://mainnet.infura.io/v3/…"),
        (f"https://u:{SECRET}@node.example:8545/rpc?key={KEY}", "https://node.example:8545/rpc?…"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://127.0.0.1:8545/", "http://127.0.0.1:8545/"),
    ],
)
def test_redact_url(url, redacted):
    assert redact_url(url) == redacted


def test_redact_text_covers_urllib3_paths():
    message = f"HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: /v2/{KEY} (Caused by x)"
    assert_clean(redact_text(message))
    assert "127.0.0.1" in redact_text(message)
