"""`hedger dashboard`'s server on the session chain, without a browser: GET only, a CSP on every response,
loopback Host names only, a token when bound elsewhere, no key and no RPC secret in anything it serves,
and the signer never loaded."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request

import pytest
import tomli_w

from hedger.app.dashboard.live import Live, open_session
from hedger.app.dashboard.server import CSP, DashboardApp, DashboardServer
from hedger.chain.universe import write_network_file
from hedger.execution import signer
from tests.support.keeper_helpers import DEMO_KEY, cli_env, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def network_file(chain, tmp_path, monkeypatch):
    path = tmp_path / "local.toml"
    write_network_file(chain.universe, path)
    for variable in ("HEDGER_ACCOUNT", "HEDGER_KEYSTORE", "HEDGER_RPC_LOCAL", "HEDGER_KILL_SWITCH"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return path


@pytest.fixture
def served(chain, network_file, tmp_path, monkeypatch):
    """A dashboard with the demo's key in the environment and the signer booby-trapped: loading it fails."""
    monkeypatch.setenv("HEDGER_PRIVATE_KEY", DEMO_KEY)

    def no_signer():
        raise AssertionError("the dashboard loaded the signer")

    monkeypatch.setattr(signer, "load_signer", no_signer)
    session = open_session(str(network_file), chain.anvil.url, None, tmp_path / "journal.sqlite")
    server = DashboardServer(DashboardApp(Live(session, poll_interval_s=0.1))).start()
    wait_until(lambda: server.dashboard.live.current, 10, "the first snapshot")
    yield server
    server.stop()


def fetch(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def sse_events(url: str, count: int, timeout_s: float = 10) -> list[tuple[str, dict]]:
    """The first `count` server-sent events of /api/events."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
    connection.request("GET", "/api/events")
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("content-type").startswith("text/event-stream")
    events, name, data = [], None, []
    while len(events) < count:
        line = response.fp.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and name:
            events.append((name, json.loads("".join(data))))
            name, data = None, []
    connection.close()
    return events


def test_every_response_has_the_csp_and_only_get_is_served(served):
    for path in ("/", "/guide", "/backtests", "/api/state", "/static/app.js", "/static/vendor/uPlot.iife.min.js"):
        status, headers, _ = fetch(served.url + path)
        assert status == 200, path
        assert headers["content-security-policy"] == CSP
        assert headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in CSP and "connect-src 'self'" in CSP and "unsafe-inline" not in CSP
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in ("/", "/api/state", "/api/events"):
            assert fetch(served.url + path, method)[0] == 405, (method, path)


def test_a_foreign_host_name_is_refused_on_loopback(served):
    assert fetch(served.url + "/api/state", headers={"Host": "attacker.example"})[0] == 400
    assert fetch(served.url + "/api/state", headers={"Host": f"localhost:{served.port}"})[0] == 200


def test_nothing_secret_reaches_the_page_and_the_signer_is_never_loaded(served, chain):
    state = json.loads(fetch(served.url + "/api/state")[2])
    key = DEMO_KEY.removeprefix("0x").lower()
    bodies = [fetch(served.url + path)[2].decode().lower() for path in ("/", "/api/state", "/api/full")]
    bodies.append(json.dumps(sse_events(served.url, 1)).lower())
    assert all(key not in body for body in bodies)
    assert state["meta"]["rpc"] == chain.anvil.url.rstrip("/")  # no key in it: shown whole (hedger.chain.redact)
    assert state["meta"]["account"] == chain.universe.demo_account  # the network file's, not the key's
    assert not served.dashboard.live.session.journal_path.exists()  # read only: no journal is created
    assert state["panels"]["journal"]["available"] is False


def test_updates_stream_on_every_new_block(served, chain):
    first_block = served.dashboard.live.current["meta"]["block"]
    chain.transact(chain.feed("ETH/USD").functions.setAnswer(3_100 * 10**8))
    (full, full_data), (update, update_data) = sse_events(served.url, 2)
    assert full == "full" and {"state", "history", "prices"} <= set(full_data)
    assert update == "update"
    blocks = {full_data["state"]["meta"]["block"], update_data["state"]["meta"]["block"]}
    assert max(blocks) == first_block + 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_binding_elsewhere_warns_and_requires_the_token(chain, network_file, tmp_path):
    port = _free_port()
    env = cli_env(tmp_path, HEDGER_RPC_LOCAL=chain.anvil.url, HEDGER_DASHBOARD_TOKEN="s3cret-token")
    command = [sys.executable, "-m", "hedger.app.cli", "dashboard", "--network", str(network_file), "--host",
               "0.0.0.0", "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url), 30, "the dashboard to listen")
        assert fetch(url + "/api/state")[0] == 401
        assert fetch(url + "/api/state?token=wrong")[0] == 401
        status, headers, _ = fetch(url + "/?token=s3cret-token")
        assert status == 200 and "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
        cookie = headers["set-cookie"].split(";")[0]
        assert fetch(url + "/api/full", headers={"Cookie": cookie})[0] == 200
        assert fetch(url + "/api/full", headers={"Authorization": "Bearer s3cret-token"})[0] == 200
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    assert "warning: binding 0.0.0.0" in err.decode() and "access token" in err.decode()
    assert "?token=s3cret-token" in out.decode()


def _answers(url: str) -> bool:
    try:
        return fetch(url + "/api/state")[0] in (401, 503, 200)
    except OSError:
        return False


def test_the_cli_needs_an_account_without_a_demo(network_file, tmp_path, capsys):
    from hedger.app.cli import main

    doc = tomllib.loads(network_file.read_text())
    doc.pop("accounts")
    stripped = tmp_path / "nodemo.toml"
    stripped.write_text(tomli_w.dumps(doc))
    assert main(["dashboard", "--network", str(stripped)]) == 1
    assert "pass --account" in capsys.readouterr().err
