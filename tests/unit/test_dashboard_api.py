"""The dashboard's page data (hedger.app.dashboard.api) from hand-built snapshots: pure, no chain."""

from __future__ import annotations

from decimal import Decimal

from hedger.app.dashboard import api
from hedger.app.display import number
from hedger.model import Balance, Exposure, FundingRate, Market, OracleReading, Side, Snapshot, Source
from hedger.strategy.parameters import StrategySettings
from hedger.strategy.plan import build_plan, explain_plan
from hedger.strategy.ratio.live import LiveRatio

NOW = 1_700_000_000
SOURCE = Source("0x" + "11" * 20, 100, NOW)


def reading(feed: str, asset: str, price: int, age_s: int, role: str = "primary") -> OracleReading:
    return OracleReading(feed, asset, SOURCE, 8, 3600, Decimal(1), Decimal(10**6), role, price * 10**8, 5,
                         NOW - age_s, NOW - age_s, price * 10**8, NOW - age_s - 60)  # fmt: skip


def snapshot(eth_age_s: int = 10) -> Snapshot:
    market = Market("reference", "ETH", "ETH", "1", Decimal("0.1"), Decimal("0.05"), Decimal("0.0005"))
    funding = FundingRate("reference", "ETH", Decimal("0.00002"), 3600, SOURCE, mark_price=Decimal(3000))
    return Snapshot(
        network="unit", chain_id=1, account="0x" + "22" * 20, block_number=100, block_timestamp=NOW,
        balances=(Balance("WETH", "ETH", 10 * 10**18, 18, SOURCE, "0x" + "33" * 20),),
        markets=(market,), funding=(funding,),
        oracles=(reading("ETH/USD", "ETH", 3000, eth_age_s), reading("ETH/USD-2", "ETH", 3030, 10, "secondary")),
        exposures=(Exposure("ETH", Decimal(10), Decimal(0), Decimal(3000)),),
    )  # fmt: skip


def document(snap: Snapshot, **context) -> dict:
    settings = StrategySettings()
    detail = explain_plan(snap, settings)
    return api.document(snap, detail, api.Context(rpc="http://node/…", settings=settings, **context))


def test_explain_plan_is_build_plan_with_every_guard_behind_it():
    snap = snapshot()
    detail = explain_plan(snap)
    assert detail.plan == build_plan(snap)
    codes = {r.code for r in detail.guards}
    assert {"oracle_fresh", "sources_agree", "funding_known", "no_sequencer_feed"} <= codes
    assert detail.targets == {"ETH": Decimal(-10)}


def test_exposure_and_funding_rows_are_formatted_like_the_cli():
    doc = document(snapshot())
    (eth,) = doc["panels"]["exposure"]["table"]["rows"]
    assert eth["cells"]["spot"] == number(Decimal(10), 6) and eth["cells"]["target"] == "100.0%"
    assert eth["cells"]["target_perp"] == number(Decimal(-10), 6)
    rows = {r["id"]: r["cells"] for r in doc["panels"]["funding"]["table"]["rows"]}
    funding = snapshot().funding[0]
    assert rows["reference:ETH:long"]["per_hour"] == number(funding.paid_per_hour(Side.LONG), 5, True)
    assert rows["reference:ETH:short"]["annualised"] == number(funding.paid_per_hour(Side.SHORT) * 8760, 2, True)
    assert rows["reference:ETH:short"]["side"] == "short (hedge)"  # the plan's target is a short
    assert rows["reference:ETH:long"]["interval"] == "1 h"


def test_a_stale_primary_turns_the_oracle_panel_red_with_the_reason():
    doc = document(snapshot(eth_age_s=4000))
    oracles = doc["panels"]["oracles"]
    assert oracles["status"] == api.BAD
    assert any("ETH/USD: 4000 s old, limit 3780.00 s" in note for note in oracles["notes"])
    secondary = next(r for r in oracles["table"]["rows"] if r["id"] == "ETH/USD-2")
    assert secondary["cells"]["gap"] == "1.000%"  # 3030 vs 3000, relative to the lower
    assert doc["verdict"] == "halt" and doc["panels"]["plan"]["status"] == api.BAD


def test_keeper_panel_shows_the_kill_switch_the_gas_and_the_last_cycle():
    last = {"at": 1_000.0, "block": 7, "verdict": "reduce_only", "actions": 0, "cycles": 3}
    keeper = api.KeeperView("kill switch engaged (STOP or HEDGER_KILL_SWITCH)", "STOP", 2 * 10**15, 10**15, last)
    panel = api.keeper_panel(keeper, now=1_030.0)
    items = {i["label"]: i for i in panel["items"]}
    assert panel["engaged"] and panel["status"] == api.WARN
    assert items["kill switch"]["value"].startswith("ENGAGED")
    assert items["gas"]["value"] == "0.002000 native in 24 h of 0.001000 — SPENT"
    assert "block 7" in items["last cycle"]["value"] and "30 s ago" in items["last cycle"]["value"]


def test_liquidation_distance_and_explorer_links():
    assert api.liquidation_distance(Decimal(3000), Decimal(3600)) == Decimal("0.2")
    assert api.liquidation_distance(None, Decimal(1)) is None
    assert api.tx_link("https://arbiscan.io", "0xab") == "https://arbiscan.io/tx/0xab"
    assert api.tx_link(None, "0xab") is None


def test_a_network_file_may_name_its_explorer():
    from hedger.settings import load_network

    assert load_network("arbitrum-one").explorer == "https://arbiscan.io"
    assert load_network("hyperevm").explorer is None


def live_ratio(**changes) -> LiveRatio:
    fields = dict(asset="ETH", hedge_with="BTC", method="ewma", ratio=Decimal("0.84"), estimated=0.8412,
                  std_error=0.031, r_squared=0.72, observations=720, gaps=0, window_start="2023-11-01T00:00",
                  window_end="2023-12-01T00:00", interval="1h", source="rounds", estimated_at=NOW)  # fmt: skip
    return LiveRatio(**{**fields, **changes})


def test_an_estimated_ratio_shows_with_its_uncertainty_on_the_exposure_row_and_the_guide():
    doc = document(snapshot(), estimates={"ETH": live_ratio()})
    (eth,) = doc["panels"]["exposure"]["table"]["rows"]
    assert eth["cells"]["estimate"] == "0.841 ± 0.031 (ewma on BTC, R² 0.72, 720 obs)"
    guide = next(s for s in doc["guide"] if s["title"] == "Hedge ratio")
    assert any("from 0.780 to 0.902" in line for line in guide["lines"])  # 0.8412 ∓ 1.96 × 0.031


def test_a_fallback_or_fixed_ratio_says_so():
    assert api.estimate_text(None) == "fixed"
    fallback = live_ratio(fallback="12 observations, 48 needed", ratio=Decimal(1))
    assert api.estimate_text(fallback) == "fallback 1: 12 observations, 48 needed"
    assert api.estimate_text(live_ratio(bounded=True)).endswith("720 obs, clamped to bounds)")
