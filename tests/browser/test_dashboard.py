"""`hedger dashboard` in headless Chromium against a live Anvil chain: the numbers on screen are the
snapshot's, a price move shows within two blocks, a stale oracle and the kill switch turn their panels to
warnings with the reason, and the page never requests anything outside 127.0.0.1."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest

from hedger.app.dashboard.live import Live, open_session
from hedger.app.dashboard.server import DashboardApp, DashboardServer
from hedger.app.display import number
from hedger.chain.universe import write_network_file
from hedger.model import Side
from hedger.snapshot import SnapshotReader
from tests.browser.conftest import ARTIFACTS
from tests.support.browser import write_backtest_report
from tests.support.keeper_helpers import DEMO, DroppingProxy

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def cell(page, key: str) -> str:
    return page.locator(f'[data-cell="{key}"]').inner_text()


def shown_block(page) -> int:
    return int(page.locator("#block").inner_text())


def open_live(browsed, dashboard):
    page = browsed.page
    page.goto(dashboard.url + "/")
    page.wait_for_selector('[data-cell="exposure.ETH.spot"]', timeout=5_000)
    return page


def wait_for_block(page, block: int, timeout_ms: int = 5_000) -> None:
    page.wait_for_function(f"() => Number(document.getElementById('block').textContent) >= {block}",
                           timeout=timeout_ms)  # fmt: skip


def test_the_numbers_on_screen_are_the_snapshots(fresh, browsed):
    page = open_live(browsed, fresh)
    snapshot = SnapshotReader(fresh.chain.w3, fresh.live.session.network).take(DEMO)
    wait_for_block(page, snapshot.block_number)
    assert shown_block(page) == snapshot.block_number
    for e in snapshot.exposures:
        assert cell(page, f"exposure.{e.asset}.spot") == number(e.spot, 6)
        assert cell(page, f"exposure.{e.asset}.perp") == number(e.perp, 6)
        assert cell(page, f"exposure.{e.asset}.hedged") == number(e.hedge_ratio, 1, percent=True)
    assert {p.symbol for p in snapshot.positions} == {"ETH", "BTC"}  # the keeper's cycle opened both hedges
    for p in snapshot.positions:
        key = f"positions.{p.venue}:{p.symbol}"
        assert cell(page, f"{key}.size") == number(p.contracts, 6)
        assert cell(page, f"{key}.liq") == number(p.liquidation_price)
        assert cell(page, f"{key}.upnl") == number(p.unrealized_pnl_usd)
    for f in snapshot.funding:
        for side in Side:
            assert cell(page, f"funding.{f.venue}:{f.symbol}:{side.value}.per_hour") == number(
                f.paid_per_hour(side), 5, True
            )
    for o in snapshot.oracles:
        assert cell(page, f"oracles.{o.feed}.price") == number(o.price, 4)
    # the keeper's real cycle: its intents and transactions in the journal, and its status
    assert page.locator("[data-intent]").count() == 3
    assert page.locator("[data-intent] .state").all_inner_texts() == ["done"] * 3
    links = page.locator("#journal a").evaluate_all("(links) => links.map((a) => a.href)")
    assert len(links) == 4 and all(re.fullmatch(r"https://explorer\.example/tx/0x[0-9a-f]{64}", h) for h in links)
    assert "block" in page.locator('[data-item="last cycle"]').inner_text()
    assert page.locator("#verdict").inner_text().lower() == "allow"
    page.wait_for_function("() => document.querySelectorAll('#chart-ratio canvas').length > 0")
    assert browsed.outside == [] and browsed.errors == []


def test_a_price_move_on_chain_shows_within_two_blocks(fresh, browsed):
    page = open_live(browsed, fresh)
    before = shown_block(page)
    started = time.perf_counter()
    receipt = fresh.chain.transact(fresh.chain.feed("ETH/USD").functions.setAnswer(3_030 * 10**8))
    page.wait_for_function(
        "() => document.querySelector('[data-cell=\"oracles.ETH/USD.price\"]').textContent === '3,030.0000'",
        timeout=5_000,
    )
    elapsed = time.perf_counter() - started
    assert receipt["blockNumber"] > before
    assert shown_block(page) <= receipt["blockNumber"] + 1  # at most two blocks: the move's and the next
    assert cell(page, "exposure.ETH.price") == "3,030.00"
    assert elapsed < 5
    assert browsed.outside == []


def test_a_stale_oracle_turns_its_panel_to_a_warning_with_the_reason(fresh, browsed):
    page = open_live(browsed, fresh)
    feed = fresh.chain.feed("ETH/USD")
    answer = feed.functions.latestRoundData().call()[1]
    fresh.chain.transact(feed.functions.setAnswerAt(answer, fresh.chain.now() - 4_000))
    page.wait_for_selector('[data-panel="oracles"][data-status="bad"]', timeout=5_000)
    notes = page.locator('[data-panel="oracles"] ul.notes').inner_text()
    assert re.search(r"ETH/USD: 400\d s old, limit 3780", notes), notes
    assert page.locator('[data-row="oracles.ETH/USD"]').get_attribute("class") == "status-bad"
    assert page.locator("#verdict").inner_text().lower() == "halt"
    assert browsed.outside == []


def test_the_kill_switch_shows(fresh, browsed):
    page = open_live(browsed, fresh)
    assert page.locator('[data-panel="keeper"]').get_attribute("data-kill-switch") == "off"
    fresh.kill_switch.touch()  # no new block needed: the dashboard watches the switch
    page.wait_for_selector('[data-panel="keeper"][data-kill-switch="engaged"]', timeout=5_000)
    assert "ENGAGED" in page.locator('[data-item="kill switch"]').inner_text()
    assert page.locator('[data-panel="keeper"]').get_attribute("data-status") == "warn"
    assert page.locator("#verdict").inner_text().lower() == "reduce-only"
    fresh.kill_switch.unlink()
    page.wait_for_selector('[data-panel="keeper"][data-kill-switch="off"]', timeout=5_000)
    assert browsed.outside == []


def test_the_guide_uses_the_users_numbers(fresh, browsed):
    page = browsed.page
    page.goto(fresh.url + "/guide")
    page.wait_for_selector("#guide section", timeout=5_000)
    snapshot = SnapshotReader(fresh.chain.w3, fresh.live.session.network).take(DEMO)
    eth = snapshot.exposure("ETH")
    text = page.locator("#guide").inner_text()
    assert f"You hold {number(eth.spot, 6)} ETH at {number(eth.price)} USD" in text
    assert f"the hedge ratio is {number(eth.hedge_ratio, 1, True)}" in text
    assert "oracle_staleness_buffer_rel = 0.05" in text
    page.wait_for_selector("#scenario-ETH canvas", timeout=5_000)
    (scenario,) = [s for s in fresh.live.current["scenarios"] if s["asset"] == "ETH"]
    assert scenario["unhedged_usd"][0] == pytest.approx(float(-eth.spot * eth.price / 5), rel=1e-9)  # a 20 % fall
    assert abs(scenario["hedged_usd"][0]) < 1  # hedged: the book barely moves
    assert Decimal(eth.hedge_ratio) > 0
    assert browsed.outside == [] and browsed.errors == []


def test_a_backtest_report_opens_in_the_same_app(fresh, browsed):
    write_backtest_report(fresh.reports)
    page = browsed.page
    page.goto(fresh.url + "/backtests")
    page.wait_for_selector('[data-row="metrics.one_to_one"]', timeout=5_000)
    assert page.locator("#report-list li").count() == 1
    assert "ETH spot hedged with the ETH perp" in page.locator("#report-title").inner_text()
    he = float(page.locator('[data-cell="metrics.one_to_one.he_1h"]').inner_text())
    assert he == pytest.approx(1.0, abs=0.05)  # a same-asset 1:1 hedge on a synthetic walk removes ~all variance
    page.wait_for_function(
        "() => [...document.querySelectorAll('#report-charts img')].every((i) => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator("#report-charts img").count() == 4
    assert browsed.outside == [] and browsed.errors == []


@pytest.mark.slow
def test_an_rpc_outage_shows_a_banner_and_the_page_recovers(chain, browsed, tmp_path, monkeypatch):
    monkeypatch.delenv("HEDGER_ACCOUNT", raising=False)
    network_file = tmp_path / "local.toml"
    write_network_file(chain.universe, network_file)
    proxy = DroppingProxy(chain.node.port)
    session = open_session(str(network_file), proxy.url, None, tmp_path / "journal.sqlite")
    server = DashboardServer(DashboardApp(Live(session, poll_interval_s=0.1))).start()
    try:
        page = browsed.page
        page.goto(server.url + "/")
        page.wait_for_selector('[data-cell="exposure.ETH.spot"]', timeout=5_000)
        spot = cell(page, "exposure.ETH.spot")
        proxy.cut()
        page.wait_for_selector("#banner:not([hidden])", timeout=30_000)
        banner = page.locator("#banner").inner_text()
        assert banner.startswith("Chain unavailable:")
        assert re.search(r"://[^\s/]+/[^…]", banner) is None, banner  # any URL in it is cut to its host
        assert cell(page, "exposure.ETH.spot") == spot  # the last good block's numbers stay on screen
        page.screenshot(path=str(ARTIFACTS / "rpc_outage_banner.png"), full_page=False)
        proxy.restore()
        chain.transact(chain.feed("ETH/USD").functions.setAnswer(3_010 * 10**8))
        page.wait_for_selector("#banner", state="hidden", timeout=30_000)
        page.wait_for_function(
            "() => document.querySelector('[data-cell=\"oracles.ETH/USD.price\"]').textContent === '3,010.0000'"
        )
    finally:
        server.stop()
        proxy.close()
    assert browsed.outside == []
