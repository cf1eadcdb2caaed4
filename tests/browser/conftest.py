"""The dashboard in a real browser: Debian's Chromium (`make setup-browser`) driven by Playwright, against
the session's Anvil chain. One dashboard per module (a keeper cycle has filled its journal), a fresh
browser context per test with every request outside 127.0.0.1 aborted and recorded, and a screenshot of
every test's page under artifacts/browser/ (git-ignored)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

from hedger.app.dashboard.live import Live, open_session
from hedger.app.dashboard.server import DashboardApp, DashboardServer
from hedger.settings import parse_network
from hedger.testing import LocalChain, chain_state_for
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.keeper_helpers import DEMO_KEY, network_document_with, open_keeper, write_network

EXPLORER = "https://explorer.example"  # links only: a request to it would be aborted and recorded
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


@dataclass
class Dashboard:
    chain: LocalChain
    server: DashboardServer
    network_file: Path
    journal: Path
    kill_switch: Path
    reports: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def live(self) -> Live:
        return self.server.dashboard.live


@dataclass
class Browsed:
    """A page plus what it tried to fetch from anywhere but 127.0.0.1, and its console errors."""

    page: object
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: run `make setup-browser`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def dashboard(node, universe, tmp_path_factory) -> Iterator[Dashboard]:
    """The demo account hedged by one real keeper cycle (its journal and status), then the dashboard on it."""
    directory = tmp_path_factory.mktemp("dashboard")
    kill_switch = directory / "STOP"
    with chain_state_for(node, universe) as chain:
        doc = network_document_with(chain, keeper={"kill_switch_file": str(kill_switch)})
        doc["network"]["explorer"] = EXPLORER
        network_file = write_network(doc, directory)
        journal = directory / "journal.sqlite"
        previous = os.environ.get("HEDGER_PRIVATE_KEY")
        os.environ["HEDGER_PRIVATE_KEY"] = DEMO_KEY
        try:
            keeper = open_keeper(chain, parse_network(doc, str(network_file)), journal)
            keeper.cycle()
            keeper.session.close()
        finally:
            if previous is None:
                os.environ.pop("HEDGER_PRIVATE_KEY")
            else:
                os.environ["HEDGER_PRIVATE_KEY"] = previous
        reports = directory / "reports"  # scanned on every request: a test writes its report when it needs one
        session = open_session(str(network_file), chain.node.url, None, journal)
        server = DashboardServer(DashboardApp(Live(session, poll_interval_s=0.1), [reports])).start()
        try:
            yield Dashboard(chain, server, network_file, journal, kill_switch, reports)
        finally:
            server.stop()


@pytest.fixture
def fresh(dashboard: Dashboard) -> Iterator[Dashboard]:
    """The module's chain as it was before the test (evm snapshot and revert around it)."""
    snapshot = dashboard.chain.node.snapshot()
    yield dashboard
    dashboard.kill_switch.unlink(missing_ok=True)
    dashboard.chain.node.revert(snapshot)


@pytest.fixture
def browsed(browser, request) -> Iterator[Browsed]:
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    result = Browsed(page)

    def route(route_, req) -> None:
        if urlparse(req.url).hostname == "127.0.0.1":
            route_.continue_()
        else:
            result.outside.append(req.url)
            route_.abort()

    context.route("**/*", route)
    page.on("console", lambda message: result.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: result.errors.append(str(error)))
    yield result
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
