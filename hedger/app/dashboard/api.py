"""What the dashboard shows, as JSON: one document per block, built from the same Snapshot and plan the
CLI prints, with every number formatted by hedger.app.display (so the page and `hedger status` agree to
the digit). Pure: no I/O; `live.py` gathers the inputs.

Tables are {"columns": [[key, label], ...], "rows": [{"id", "cells": {key: text}, "status", "note"}]};
the page renders them as they are and never formats a number itself. Nothing secret is ever put here:
no key, no RPC URL but its redacted form.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hedger.app.display import interval, number, short, times, utc
from hedger.model import ZERO, FundingRate, OracleReading, Side, Snapshot, Verdict, to_jsonable
from hedger.strategy.guards import GuardResult, asset_scope, market_scope
from hedger.strategy.margin import pool_key
from hedger.strategy.parameters import GuardSettings, StrategySettings
from hedger.strategy.plan import PlanDetail
from hedger.strategy.ratio.live import LiveRatio
from hedger.strategy.sizing import HedgeRatio, hedge_routes

OK, WARN, BAD = "ok", "warn", "bad"
_STATUS_OF = {Verdict.ALLOW: OK, Verdict.REDUCE_ONLY: WARN, Verdict.HALT: BAD}
_RANK = {OK: 0, WARN: 1, BAD: 2}


@dataclass(frozen=True)
class KeeperView:
    """The keeper side, read from the journal and the kill switch (nothing here is written anywhere)."""

    kill_switch: str | None = None  # why risk-adding actions are stopped, or None
    kill_switch_file: str = ""
    gas_spent_24h_wei: int | None = None
    gas_budget_per_day_wei: int | None = None
    last_cycle: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class JournalView:
    path: str
    available: bool
    intents: Sequence[Mapping[str, Any]] = ()  # newest first: intent fields plus "txs"


@dataclass(frozen=True)
class Context:
    """Everything besides the snapshot and the plan that a document needs."""

    rpc: str  # redacted
    settings: StrategySettings
    ratios: Mapping[str, HedgeRatio] = field(default_factory=dict)
    estimates: Mapping[str, LiveRatio] = field(default_factory=dict)  # `[strategy.ratio]` assets' live estimates
    explorer: str | None = None
    journal: JournalView | None = None
    keeper: KeeperView = field(default_factory=KeeperView)
    snapshot_ms: float | None = None


def table(columns: Sequence[tuple[str, str]], rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"columns": [list(c) for c in columns], "rows": list(rows)}


def row(row_id: str, cells: Mapping[str, str], status: str = OK, note: str = "") -> dict[str, Any]:
    return {"id": row_id, "cells": dict(cells), "status": status, "note": note}


def worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=_RANK.__getitem__, default=OK)


def status_of(results: Iterable[GuardResult]) -> str:
    return worst(_STATUS_OF[r.verdict] for r in results)


def blocking(results: Iterable[GuardResult]) -> list[GuardResult]:
    return [r for r in results if r.verdict is not Verdict.ALLOW]


def document(snapshot: Snapshot, detail: PlanDetail, context: Context) -> dict[str, Any]:
    """The whole page's data for one block."""
    guards = detail.guards
    panels = {
        "exposure": exposure_panel(snapshot, detail, context),
        "positions": positions_panel(snapshot, guards),
        "funding": funding_panel(snapshot, detail, context),
        "oracles": oracles_panel(snapshot, detail, context.settings.guards),
        "plan": plan_panel(detail),
        "pending": pending_panel(snapshot),
        "journal": journal_panel(context),
        "keeper": keeper_panel(context.keeper),
    }
    return {
        "meta": {
            "network": snapshot.network,
            "chain_id": snapshot.chain_id,
            "account": snapshot.account,
            "account_short": short(snapshot.account),
            "block": snapshot.block_number,
            "block_timestamp": snapshot.block_timestamp,
            "block_time": utc(snapshot.block_timestamp),
            "rpc": context.rpc,
            "rpc_round_trips": snapshot.rpc_round_trips,
            "snapshot_ms": None if context.snapshot_ms is None else round(context.snapshot_ms, 1),
            "generated_at": time.time(),
        },
        "verdict": detail.plan.verdict.value,
        "panels": panels,
        "guide": guide(snapshot, detail, context),
        "scenarios": scenarios(snapshot),
        "point": chart_point(snapshot, detail, context),
    }


# --- exposure ----------------------------------------------------------------------------------------


def stable_assets(snapshot: Snapshot) -> frozenset[str]:
    return frozenset(
        {b.asset for b in snapshot.balances if b.stablecoin} | {m.collateral_token for m in snapshot.margins}
    )


def target_ratio_text(asset: str, snapshot: Snapshot, context: Context) -> tuple[str, Decimal | None]:
    """The ratio the plan aims at for a held asset (same-asset route: that ratio), as text and value."""
    if asset in stable_assets(snapshot) and asset not in context.ratios:
        return "not hedged (stablecoin)", None
    routes = hedge_routes(asset, context.ratios.get(asset), context.settings.sizing)
    if list(routes) == [asset]:
        return number(routes[asset], 1, percent=True), routes[asset]
    text = ", ".join(f"{number(r, 1, percent=True)} on {perp}" for perp, r in routes.items())
    return text, None


def estimate_text(estimate: LiveRatio | None) -> str:
    """An estimated ratio with its uncertainty and provenance, or why the fallback is used."""
    if estimate is None:
        return "fixed"
    if estimate.fallback:
        return f"fallback {estimate.ratio}: {estimate.fallback}"
    clamped = ", clamped to bounds" if estimate.bounded else ""
    return (
        f"{estimate.estimated:.3f} ± {estimate.std_error:.3f} ({estimate.method} on {estimate.hedge_with}, "
        f"R² {estimate.r_squared:.2f}, {estimate.observations} obs{clamped})"
    )


def exposure_panel(snapshot: Snapshot, detail: PlanDetail, context: Context) -> dict[str, Any]:
    rows = []
    for e in snapshot.exposures:
        target_text, _ = target_ratio_text(e.asset, snapshot, context)
        target_units = detail.targets.get(e.asset)
        view = detail.views.get(e.asset)
        status = status_of(view.results) if view else OK
        note = "; ".join(r.message for r in blocking(view.results)) if view else ""
        cells = {
            "asset": e.asset,
            "spot": number(e.spot, 6),
            "perp": number(e.perp, 6),
            "net": number(e.net, 6),
            "price": number(e.price),
            "spot_usd": number(e.spot_usd),
            "net_usd": number(e.net_usd),
            "hedged": number(e.hedge_ratio, 1, percent=True),
            "target": target_text,
            "target_perp": number(target_units, 6) if target_units is not None else "—",
            "estimate": estimate_text(context.estimates.get(e.asset)),
        }
        rows.append(row(e.asset, cells, status, note))
    columns = [
        ("asset", "asset"),
        ("spot", "held"),
        ("perp", "perp"),
        ("net", "net"),
        ("price", "price"),
        ("spot_usd", "held USD"),
        ("net_usd", "net USD"),
        ("hedged", "hedged (realised)"),
        ("target", "target ratio"),
        ("target_perp", "target perp"),
        ("estimate", "estimate (± std error)"),
    ]
    return {"table": table(columns, rows), "status": worst(r["status"] for r in rows)}


# --- positions and margin ----------------------------------------------------------------------------


def liquidation_distance(mark: Decimal | None, liquidation: Decimal | None) -> Decimal | None:
    """How far the price can move against the position before liquidation, relative to the mark."""
    if mark is None or liquidation is None or mark <= 0:
        return None
    return abs(mark - liquidation) / mark


def positions_panel(snapshot: Snapshot, guards: Sequence[GuardResult]) -> dict[str, Any]:
    rows = []
    for p in snapshot.positions:
        market = snapshot.market(p.venue, p.symbol)
        scope = pool_key(market) if market else ""
        pool = blocking(r for r in guards if r.scope == scope)
        cells = {
            "market": f"{p.venue}:{p.symbol}",
            "side": p.side.value,
            "size": number(p.contracts, 6),
            "entry": number(p.entry_price),
            "mark": number(p.mark_price),
            "notional": number(p.notional_usd),
            "upnl": number(p.unrealized_pnl_usd),
            "funding": number(p.accrued_funding_usd, 4),
            "liq": number(p.liquidation_price),
            "distance": number(liquidation_distance(p.mark_price, p.liquidation_price), 2, percent=True),
            "leverage": times(p.leverage),
        }
        rows.append(row(f"{p.venue}:{p.symbol}", cells, status_of(pool), "; ".join(r.message for r in pool)))
    columns = [
        ("market", "market"),
        ("side", "side"),
        ("size", "size"),
        ("entry", "entry"),
        ("mark", "valued at"),
        ("notional", "notional USD"),
        ("upnl", "uPnL USD"),
        ("funding", "funding owed USD"),
        ("liq", "liq. price"),
        ("distance", "to liquidation"),
        ("leverage", "leverage"),
    ]
    margin_rows = []
    for m in snapshot.margins:
        pool = blocking(r for r in guards if r.scope == f"venue:{m.venue}")
        cells = {
            "venue": m.venue,
            "collateral": f"{number(m.collateral)} {m.collateral_token}",
            "equity": number(m.equity_usd),
            "maintenance": number(m.maintenance_requirement_usd),
            "buffer": times(m.liquidation_buffer),
            "leverage": times(m.leverage),
        }
        margin_rows.append(row(m.venue, cells, status_of(pool), "; ".join(r.message for r in pool)))
    margin_columns = [
        ("venue", "venue"),
        ("collateral", "collateral"),
        ("equity", "equity USD"),
        ("maintenance", "maintenance USD"),
        ("buffer", "buffer (equity / maint.)"),
        ("leverage", "leverage"),
    ]
    statuses = [r["status"] for r in rows + margin_rows]
    return {"table": table(columns, rows), "margins": table(margin_columns, margin_rows), "status": worst(statuses)}


# --- funding -----------------------------------------------------------------------------------------


def hedge_side(snapshot: Snapshot, detail: PlanDetail, f: FundingRate) -> Side | None:
    position = snapshot.position(f.venue, f.symbol)
    if position is not None:
        return position.side
    market = snapshot.market(f.venue, f.symbol)
    target = detail.targets.get(market.asset) if market else None
    return None if not target else Side.of(target)


def funding_panel(snapshot: Snapshot, detail: PlanDetail, context: Context) -> dict[str, Any]:
    horizon_h = context.settings.sizing.carry_horizon_h
    rows = []
    for f in snapshot.funding:
        key = f"{f.venue}:{f.symbol}"
        results = [r for r in detail.guards if r.scope == market_scope(key) and r.code.startswith("funding")]
        position = snapshot.position(f.venue, f.symbol)
        held = hedge_side(snapshot, detail, f)
        for side in (Side.LONG, Side.SHORT):
            paid = f.paid_per_hour(side)
            notional = position.notional_usd if position is not None and position.side is side else None
            carry_rel = None if paid is None else paid * horizon_h
            carry_usd = None if carry_rel is None or notional is None else carry_rel * notional
            mine = side is held
            status = status_of(results) if mine else OK
            cells = {
                "market": key,
                "side": side.value + (" (hedge)" if mine else ""),
                "rate": (number(f.rate if side is Side.LONG else _short_rate(f), 6, True) if f.known else "unknown"),
                "interval": interval(f.interval_s),
                "per_hour": number(paid, 5, True) if paid is not None else "unknown",
                "annualised": number(paid * 8760, 2, True) if paid is not None else "unknown",
                "carry": number(carry_rel, 4, True) if carry_rel is not None else "unknown",
                "carry_usd": number(carry_usd) if carry_usd is not None else "—",
            }
            note = "; ".join(r.message for r in blocking(results)) if mine else ""
            rows.append(row(f"{key}:{side.value}", cells, status, note))
    columns = [
        ("market", "market"),
        ("side", "side"),
        ("rate", "pays per interval"),
        ("interval", "interval"),
        ("per_hour", "pays per hour"),
        ("annualised", "annualised (×8760)"),
        ("carry", f"carry over {horizon_h} h"),
        ("carry_usd", f"carry USD over {horizon_h} h"),
    ]
    return {
        "table": table(columns, rows),
        "status": worst(r["status"] for r in rows),
        "caption": "funding plus borrowing a side pays (negative: it receives); positive rate: longs pay shorts",
        "horizon_h": str(horizon_h),
    }


def _short_rate(f: FundingRate) -> Decimal | None:
    if f.rate is None:
        return None
    return -f.rate if f.short_rate is None else f.short_rate


# --- oracles and sequencer ---------------------------------------------------------------------------


def _feed_results(detail: PlanDetail, reading: OracleReading) -> list[GuardResult]:
    view = detail.views.get(reading.asset)
    results = view.results if view else ()
    mine = [r for r in results if r.values.get("feed") == reading.feed or r.values.get("primary") == reading.feed]
    if reading.role != "primary":
        mine += [r for r in results if r.code in ("oracle_sources_apart", "sources_agree")]
    return mine


def oracles_panel(snapshot: Snapshot, detail: PlanDetail, guards: GuardSettings) -> dict[str, Any]:
    rows = []
    for o in snapshot.oracles:
        results = _feed_results(detail, o)
        if o.role != "primary":
            results = list(results)
        primary = snapshot.oracle(o.asset) if o.role != "primary" else None
        gap = None
        if primary is not None and primary.price and o.price:
            gap = abs(o.price - primary.price) / min(o.price, primary.price)
        limit_s = Decimal(o.heartbeat_s) * (1 + guards.oracle_staleness_buffer_rel)
        cells = {
            "feed": o.feed,
            "role": o.role,
            "price": number(o.price, 4) if o.ok else "—",
            "round": str(o.round_id) if o.round_id is not None else "—",
            "updated": utc(o.updated_at) if o.updated_at else "—",
            "age": f"{o.age_s} s" if o.age_s is not None else "—",
            "heartbeat": f"{o.heartbeat_s} s",
            "limit": f"{number(limit_s, 0)} s",
            "gap": number(gap, 3, True) if gap is not None else "—",
        }
        bad = blocking(results)
        note = "; ".join(r.message for r in bad) or ("" if o.ok else f"FAILED: {o.error}")
        rows.append(row(o.feed, cells, status_of(results) if o.ok else BAD, note))
    asset_notes = [
        r for view in detail.views.values() for r in blocking(view.results) if r.code in ("oracle_recovering",)
    ]
    sequencer = sequencer_view(snapshot, detail, guards)
    notes = [r["note"] for r in rows if r["note"]] + [r.message for r in asset_notes]
    if sequencer and sequencer["note"]:
        notes.append(sequencer["note"])
    statuses = [r["status"] for r in rows] + ([sequencer["status"]] if sequencer else [])
    columns = [
        ("feed", "feed"),
        ("role", "role"),
        ("price", "price"),
        ("round", "round"),
        ("updated", "updated"),
        ("age", "age"),
        ("heartbeat", "heartbeat"),
        ("limit", "stale after"),
        ("gap", "gap to primary"),
    ]
    return {"table": table(columns, rows), "sequencer": sequencer, "status": worst(statuses), "notes": notes}


def sequencer_view(snapshot: Snapshot, detail: PlanDetail, guards: GuardSettings) -> dict[str, Any] | None:
    s = snapshot.sequencer
    if s is None:
        return None
    results = [r for r in detail.guards if r.code.startswith(("sequencer", "no_sequencer"))]
    grace_s = max(s.grace_period_s, guards.sequencer_grace_period_s)
    if s.error:
        text = f"unreadable: {s.error}"
    else:
        state = "up" if s.up else "DOWN"
        text = f"{state} since {utc(s.started_at or 0)} ({s.since_change_s} s ago); grace period {grace_s} s"
    return {"text": text, "status": status_of(results), "note": "; ".join(r.message for r in blocking(results))}


# --- plan, guards, pending orders --------------------------------------------------------------------


def _values_text(values: Mapping[str, Any]) -> str:
    shown = []
    for k, v in values.items():
        if k in ("scope", "verdict"):
            continue
        shown.append(f"{k}={to_jsonable(v)}")
    return ", ".join(shown)


def plan_panel(detail: PlanDetail) -> dict[str, Any]:
    plan = detail.plan
    actions = [
        row(
            f"action-{i}",
            {
                "action": a.kind.value,
                "market": f"{a.venue}:{a.symbol}",
                "size": number(a.size_delta, 6) if a.size_delta else "",
                "collateral": number(a.collateral_delta) if a.collateral_delta else "",
                "price": number(a.acceptable_price),
                "why": f"{a.reason.code}: {a.reason.message}",
            },
        )
        for i, a in enumerate(plan.actions)
    ]
    guards = [
        row(
            f"guard-{i}",
            {
                "scope": r.scope,
                "guard": r.code,
                "verdict": r.verdict.value,
                "reason": r.message or _values_text(r.values),
            },
            _STATUS_OF[r.verdict],
        )
        for i, r in enumerate(sorted(detail.guards, key=lambda r: (-_RANK[_STATUS_OF[r.verdict]], r.scope, r.code)))
    ]
    reasons = [{"code": r.code, "message": r.message, "values": _values_text(r.values)} for r in plan.reasons]
    action_columns = [
        ("action", "action"),
        ("market", "market"),
        ("size", "size delta"),
        ("collateral", "collateral"),
        ("price", "acceptable price"),
        ("why", "why"),
    ]
    guard_columns = [("scope", "scope"), ("guard", "guard"), ("verdict", "verdict"), ("reason", "reason")]
    return {
        "verdict": plan.verdict.value,
        "status": _STATUS_OF[plan.verdict],
        "actions": table(action_columns, actions),
        "guards": table(guard_columns, guards),
        "reasons": reasons,
    }


def pending_panel(snapshot: Snapshot) -> dict[str, Any]:
    rows = [
        row(
            o.order_id,
            {
                "market": f"{o.venue}:{o.symbol}",
                "order": o.order_id,
                "size": number(o.size_delta, 6),
                "collateral": number(o.collateral_delta) if o.collateral_delta else "",
                "price": number(o.acceptable_price),
                "created": utc(o.created_at),
                "ready": utc(o.ready_at) if o.ready_at else "—",
                "expires": utc(o.expires_at) if o.expires_at else "—",
            },
            WARN if o.expired(snapshot.block_timestamp) else OK,
            "expired" if o.expired(snapshot.block_timestamp) else "",
        )
        for o in snapshot.pending_orders
    ]
    columns = [
        ("market", "market"),
        ("order", "order"),
        ("size", "size delta"),
        ("collateral", "collateral"),
        ("price", "acceptable"),
        ("created", "created"),
        ("ready", "ready"),
        ("expires", "expires"),
    ]
    return {"table": table(columns, rows), "status": worst(r["status"] for r in rows)}


# --- journal and keeper ------------------------------------------------------------------------------


def tx_link(explorer: str | None, tx_hash: str) -> str | None:
    return f"{explorer}/tx/{tx_hash}" if explorer else None


def journal_panel(context: Context) -> dict[str, Any]:
    journal = context.journal
    if journal is None or not journal.available:
        path = journal.path if journal else ""
        return {"available": False, "path": path, "intents": [], "status": OK}
    intents = []
    for intent in journal.intents:
        status = intent["status"]
        txs = [
            {
                "hash": t["tx_hash"],
                "short": short(t["tx_hash"]),
                "link": tx_link(context.explorer, t["tx_hash"]),
                "status": t["status"],
                "purpose": t["purpose"],
                "nonce": t["nonce"],
                "block": t["block_number"],
                "error": t["error"],
            }
            for t in intent["txs"]
        ]
        intents.append(
            {
                "id": intent["id"][:8],
                "created": utc(int(intent["created_at"])),
                "market": f"{intent['venue']}:{intent['symbol']}",
                "kind": intent["kind"],
                "status": status,
                "error": intent["error"] or "",
                "plan_block": intent["plan_block"],
                "txs": txs,
                "level": BAD if status == "failed" else WARN if status not in ("done", "abandoned") else OK,
            }
        )
    return {"available": True, "path": journal.path, "intents": intents, "status": OK}


def keeper_panel(keeper: KeeperView, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    last = keeper.last_cycle
    items = []
    status = OK
    if keeper.kill_switch:
        items.append({"label": "kill switch", "value": f"ENGAGED: {keeper.kill_switch}", "status": WARN})
        status = WARN
    else:
        items.append({"label": "kill switch", "value": f"off ({keeper.kill_switch_file} absent)", "status": OK})
    spent, budget = keeper.gas_spent_24h_wei, keeper.gas_budget_per_day_wei
    if spent is not None:
        used = number(Decimal(spent).scaleb(-18), 6)
        text = f"{used} native in 24 h" + (
            f" of {number(Decimal(budget).scaleb(-18), 6)}" if budget else " (no budget)"
        )
        over = budget is not None and spent >= budget
        items.append({"label": "gas", "value": text + (" — SPENT" if over else ""), "status": WARN if over else OK})
        status = worst([status, WARN if over else OK])
    if last:
        age = now - float(last.get("at", 0))
        mode = "dry run" if last.get("dry_run") else "executing"
        text = (
            f"block {last.get('block')} · verdict {last.get('verdict')} · {last.get('actions')} actions · "
            f"{mode} · {age:.0f} s ago · cycle {last.get('cycles')}"
        )
        items.append({"label": "last cycle", "value": text, "status": OK})
        if last.get("gate"):
            items.append({"label": "keeper gate", "value": str(last["gate"]), "status": WARN})
    else:
        items.append({"label": "last cycle", "value": "no keeper has written to this journal", "status": OK})
    return {"items": items, "status": status, "engaged": bool(keeper.kill_switch)}


# --- charts ------------------------------------------------------------------------------------------


def chart_point(snapshot: Snapshot, detail: PlanDetail, context: Context) -> dict[str, Any]:
    """One point per block for the charts (floats: display only; the tables carry the exact values)."""
    stables = stable_assets(snapshot)
    risky = [e for e in snapshot.exposures if e.asset not in stables and (e.spot != 0 or e.perp != 0)]
    unhedged = sum((e.spot_usd or ZERO for e in risky), ZERO)
    pnl = sum((p.unrealized_pnl_usd or ZERO) - p.accrued_funding_usd for p in snapshot.positions)
    funding_owed = sum((p.accrued_funding_usd for p in snapshot.positions), ZERO)
    ratios, targets = {}, {}
    for e in risky:
        ratios[e.asset] = None if e.hedge_ratio is None else float(e.hedge_ratio)
        _, target = target_ratio_text(e.asset, snapshot, context)
        targets[e.asset] = None if target is None else float(target)
    prices = {
        e.asset: float(e.price or 0) for e in snapshot.exposures if e.price is not None and e.asset not in stables
    }
    rounds = {
        o.asset: [o.updated_at, float(o.price or 0)]
        for o in snapshot.oracles
        if o.role == "primary" and o.ok and o.updated_at and o.asset not in stables
    }
    return {
        "t": snapshot.block_timestamp,
        "block": snapshot.block_number,
        "prices": prices,
        "rounds": rounds,
        "ratio": ratios,
        "target": targets,
        "unhedged_usd": float(unhedged),
        "hedged_usd": float(unhedged + pnl),
        "funding_owed_usd": float(funding_owed),
    }


# --- the guide, with the user's numbers --------------------------------------------------------------


def guide(snapshot: Snapshot, detail: PlanDetail, context: Context) -> list[dict[str, Any]]:
    """Sections of plain sentences built on this block's numbers."""
    stables = stable_assets(snapshot)
    ratio_lines = []
    for e in snapshot.exposures:
        if e.asset in stables or e.spot == 0 or e.price is None:
            continue
        target_text, _ = target_ratio_text(e.asset, snapshot, context)
        move = e.price / 10
        ratio_lines.append(
            f"You hold {number(e.spot, 6)} {e.asset} at {number(e.price)} USD ({number(e.spot_usd)} USD) and your "
            f"perps hold {number(e.perp, 6)} {e.asset}: the hedge ratio is {number(e.hedge_ratio, 1, True)} "
            f"(target {target_text}). If {e.asset} fell 10 % ({number(move)} USD), the holding alone would change "
            f"by {number(-e.spot * move)} USD; with the perp, the book (net {number(e.net, 6)} {e.asset}) changes by "
            f"{number(-e.net * move)} USD."
        )
        estimate = context.estimates.get(e.asset)
        if estimate is not None and not estimate.fallback:
            low, high = (estimate.estimated + k * 1.96 * estimate.std_error for k in (-1, 1))
            ratio_lines.append(
                f"The {e.asset} target is estimated ({estimate.method} of {e.asset} on {estimate.hedge_with} returns, "
                f"{estimate.observations} observations, R² {estimate.r_squared:.2f}): {estimate.estimated:.3f} with a "
                f"standard error of {estimate.std_error:.3f}, so ratios from {low:.3f} to {high:.3f} fit the history "
                f"about as well (95 %); the rebalancing band keeps noise inside that range from trading."
            )
    funding_lines = []
    horizon = context.settings.sizing.carry_horizon_h
    for f in snapshot.funding:
        side = hedge_side(snapshot, detail, f)
        if side is None or not f.known:
            continue
        paid = f.paid_per_hour(side)
        if paid is None:
            continue
        position = snapshot.position(f.venue, f.symbol)
        notional = position.notional_usd if position is not None else None
        usd = f" ({number(paid * horizon * notional)} USD on {number(notional)} USD of notional)" if notional else ""
        verb = "pays" if paid > 0 else "receives"
        funding_lines.append(
            f"{f.venue}:{f.symbol} charges funding every {interval(f.interval_s)}: {number(f.rate, 6, True)} per "
            f"interval, positive meaning longs pay shorts. Your {side.value} {verb} {number(abs(paid), 5, True)} "
            f"per hour, {number(abs(paid) * 8760, 2, True)} a year; over the {horizon} h carry horizon that is "
            f"{number(paid * horizon, 4, True)} of notional{usd}."
        )
    guard_lines = []
    settings = context.settings.guards
    for o in snapshot.oracles:
        if o.ok and o.age_s is not None:
            limit_s = Decimal(o.heartbeat_s) * (1 + settings.oracle_staleness_buffer_rel)
            guard_lines.append(
                f"Your {o.feed} ({o.role}) was updated {o.age_s} s ago; its heartbeat is {o.heartbeat_s} s, so it "
                f"counts as stale after {number(limit_s, 0)} s, and hedger then stops trusting it."
            )
    for m in snapshot.margins:
        if m.liquidation_buffer is not None:
            guard_lines.append(
                f"{m.venue}: equity {number(m.equity_usd)} USD is {times(m.liquidation_buffer)} the maintenance "
                f"margin; below {times(settings.min_liquidation_buffer)} hedger adds collateral or reduces."
            )
    for setting in dataclasses.fields(GuardSettings):  # each carries its documentation (strategy.fields.setting)
        value = to_jsonable(getattr(settings, setting.name))
        guard_lines.append(f"{setting.name} = {value}: {setting.metadata.get('doc', '')}")
    now_lines = [
        f"Now: verdict {detail.plan.verdict.value}. "
        + (
            "Guards holding things back: " + "; ".join(r.message for r in blocking(detail.guards))
            if blocking(detail.guards)
            else "every guard allows."
        )
    ]
    return [
        {"title": "Hedge ratio", "lines": ratio_lines or ["You hold nothing that hedger hedges."]},
        {"title": "Funding", "lines": funding_lines or ["No hedge position or target on a market with known funding."]},
        {"title": "Guards (this network's settings)", "lines": now_lines + guard_lines},
    ]


def scenarios(snapshot: Snapshot, steps: int = 20, widest: Decimal = Decimal("0.2")) -> list[dict[str, Any]]:
    """For the guide's charts: the USD change of the holding alone and of holding plus perp, for price moves
    from −20 % to +20 % (funding and fees left out; floats: display only)."""
    stables = stable_assets(snapshot)
    out = []
    for e in snapshot.exposures:
        if e.asset in stables or e.spot == 0 or e.price is None:
            continue
        moves = [widest * (2 * i - steps) / steps for i in range(steps + 1)]
        out.append({
            "asset": e.asset,
            "moves": [float(m * 100) for m in moves],
            "unhedged_usd": [float(e.spot * e.price * m) for m in moves],
            "hedged_usd": [float(e.net * e.price * m) for m in moves],
        })  # fmt: skip
    return out


def intents_for_view(journal: Any, account: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest intents of an account with their transactions (no raw bytes), as plain dicts."""
    out = []
    for intent in journal.recent_intents(account, limit):
        data = dataclasses.asdict(intent)
        data["txs"] = [
            {k: v for k, v in dataclasses.asdict(t).items() if k != "raw_tx"} for t in journal.txs(intent.id)
        ]
        out.append(data)
    return out


__all__ = ["Context", "JournalView", "KeeperView", "asset_scope", "document", "intents_for_view"]
