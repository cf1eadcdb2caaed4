"""Plain-text tables for the CLI: a snapshot (`hedger status`) as a person reads it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hedger.model import OracleReading, Plan, Side, Snapshot

if TYPE_CHECKING:
    from hedger.execution.executor import ExecutionReport


def number(value: Decimal | None, places: int = 2, percent: bool = False) -> str:
    if value is None:
        return "—"
    scaled = value * 100 if percent else value
    text = f"{scaled:,.{places}f}"
    return f"{text}%" if percent else text


def times(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}x"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    if not rows:
        return f"{indent}(none)"
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        indent + "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in [headers, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def utc(timestamp: int | None) -> str:
    if timestamp is None:
        return "—"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


def interval(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds} s"


def status_text(snap: Snapshot) -> str:
    header = (
        f"hedger status — network {snap.network} (chain {snap.chain_id}), account {snap.account}\n"
        f"block {snap.block_number} at {utc(snap.block_timestamp)}; every value below is from this block "
        f"({snap.rpc_round_trips} RPC round trips)"
    )
    sections = [
        header,
        "Exposure (spot held + perp; hedged = perp offset / spot)\n" + _exposure(snap),
        "Positions\n" + _positions(snap),
        "Funding (positive: longs pay shorts; per hour and annualised ×8760)\n" + _funding(snap),
        "Oracles\n" + _oracles(snap),
        "Sequencer\n" + _sequencer(snap),
        "Pending orders\n" + _pending(snap),
        "Margin\n" + _margins(snap),
    ]
    return "\n\n".join(sections)


def _exposure(snap: Snapshot) -> str:
    rows = [
        [e.asset, number(e.spot, 6), number(e.perp, 6), number(e.net, 6), number(e.price), number(e.net_usd),
         number(e.hedge_ratio, 1, percent=True)]
        for e in snap.exposures
    ]  # fmt: skip
    return table(["asset", "spot", "perp", "net", "price", "net USD", "hedged"], rows)


def _positions(snap: Snapshot) -> str:
    rows = [
        [f"{p.venue}:{p.symbol}", p.side.value, number(p.contracts, 6), number(p.entry_price), number(p.mark_price),
         number(p.unrealized_pnl_usd), number(p.accrued_funding_usd, 4), number(p.liquidation_price), times(p.leverage)]
        for p in snap.positions
    ]  # fmt: skip
    headers = ["market", "side", "size", "entry", "valued at", "uPnL USD", "funding owed", "liq. price", "leverage"]
    return table(headers, rows)


def _funding(snap: Snapshot) -> str:
    rows = []
    for f in snap.funding:
        borrow = f"{number(f.borrowing_long_per_hour, 5, True)} / {number(f.borrowing_short_per_hour, 5, True)}"
        short_pays = f.paid_per_hour(Side.SHORT)
        rows.append([
            f"{f.venue}:{f.symbol}", number(f.per_hour, 5, True) if f.known else "unknown",
            number(f.annualized, 2, True) if f.known else "unknown", number(short_pays, 5, True),
            interval(f.interval_s), borrow, number(f.mark_price), number(f.index_price),
        ])  # fmt: skip
    headers = ["market", "longs pay/h", "annualised", "shorts pay/h", "native interval", "borrow L/S per h", "mark",
               "index"]  # fmt: skip
    return table(headers, rows)


def _oracles(snap: Snapshot) -> str:
    return table(
        ["feed", "role", "price", "round", "updated", "age", "heartbeat", "status"],
        [_oracle_row(o) for o in snap.oracles],
    )


def _oracle_row(o: OracleReading) -> list[str]:
    if not o.ok:
        return [o.feed, o.role, "—", "—", "—", "—", f"{o.heartbeat_s} s", f"FAILED: {o.error}"]
    return [o.feed, o.role, number(o.price, 4), str(o.round_id), utc(o.updated_at), f"{o.age_s} s",
            f"{o.heartbeat_s} s", _freshness(o)]  # fmt: skip


def _freshness(o: OracleReading) -> str:
    """A display hint only; the staleness guard (heartbeat + buffer) decides what may happen."""
    if o.age_s is None:
        return "no update time"
    if o.age_s < 0:
        return "future-dated"
    return "within heartbeat" if o.age_s <= o.heartbeat_s else "past heartbeat"


def _sequencer(snap: Snapshot) -> str:
    s = snap.sequencer
    if s is None:
        return "  (no sequencer feed on this network)"
    if s.error:
        return f"  FAILED: {s.error}"
    state = "up" if s.up else "DOWN"
    return f"  {state} since {utc(s.started_at)} ({s.since_change_s} s ago; grace period {s.grace_period_s} s)"


def _pending(snap: Snapshot) -> str:
    rows = [
        [f"{o.venue}:{o.symbol}", o.order_id, number(o.size_delta, 6), number(o.acceptable_price), utc(o.created_at),
         utc(o.ready_at) if o.ready_at else "—", utc(o.expires_at) if o.expires_at else "—"]
        for o in snap.pending_orders
    ]  # fmt: skip
    return table(["market", "order", "size delta", "acceptable", "created", "ready", "expires"], rows)


def _margins(snap: Snapshot) -> str:
    rows = [
        [m.venue, f"{number(m.collateral)} {m.collateral_token}", number(m.equity_usd),
         number(m.initial_requirement_usd), number(m.maintenance_requirement_usd), times(m.liquidation_buffer),
         times(m.leverage)]
        for m in snap.margins
    ]  # fmt: skip
    valued = {m.venue for m in snap.margins}
    for venue in sorted({p.venue for p in snap.positions} - valued):  # positions, but no margin read this block
        rows.append([venue, "unavailable: the venue could not value the account in this block", "—", "—", "—", "—",
                     "—"])  # fmt: skip
    return table(["venue", "collateral", "equity USD", "initial req.", "maintenance req.", "buffer", "leverage"], rows)


def plan_text(plan: Plan) -> str:
    header = (
        f"hedger plan — {plan.network}, account {plan.account}, block {plan.block_number}: verdict {plan.verdict.value}"
    )
    rows = [
        [a.kind.value, f"{a.venue}:{a.symbol}", number(a.size_delta, 6) if a.size_delta else "",
         number(a.collateral_delta, 2) if a.collateral_delta else "", number(a.acceptable_price),
         f"{a.reason.code}: {a.reason.message}"]
        for a in plan.actions
    ]  # fmt: skip
    actions = table(["action", "market", "size delta", "collateral", "acceptable price", "why"], rows)
    reasons = "\n".join(f"  - {r.code}: {r.message}{_values(r.values)}" for r in plan.reasons) or "  (none)"
    return f"{header}\n\nActions\n{actions}\n\nReasons\n{reasons}"


def _values(values: Mapping[str, Any]) -> str:
    shown = (f"{k}={format(v.normalize(), 'f') if isinstance(v, Decimal) else v}" for k, v in values.items())
    return f" ({', '.join(shown)})" if values else ""


def execution_text(report: ExecutionReport) -> str:
    lines = [f"  reconciled: {note}" for note in report.reconciled]
    if report.halted:
        lines.append("  halted by the guards: nothing sent")
    for outcome in report.outcomes:
        hashes = f" [{', '.join(outcome.tx_hashes)}]" if outcome.tx_hashes else ""
        action = outcome.action
        lines.append(
            f"  {outcome.status:<13} {action.kind.value} {action.venue}:{action.symbol} — {outcome.detail}{hashes}"
        )
    return "\n".join(lines) or "  (nothing to do)"


def exposure_change_text(before: Snapshot, after: Snapshot) -> str:
    rows = []
    for exposure in before.exposures:
        later = after.exposure(exposure.asset)
        if later is None or (later.perp == exposure.perp and later.spot == exposure.spot):
            continue
        rows.append([
            exposure.asset, f"{number(exposure.perp, 6)} → {number(later.perp, 6)}",
            f"{number(exposure.net, 6)} → {number(later.net, 6)}",
            f"{number(exposure.hedge_ratio, 1, True)} → {number(later.hedge_ratio, 1, True)}",
        ])  # fmt: skip
    return table(["asset", "perp", "net", "hedged"], rows)


def ratios_text(ratios: Sequence[Any], explicit: Mapping[str, Decimal] | None = None) -> str:
    """Hedge ratios: estimated ones (hedger.strategy.ratio.live.LiveRatio) with their statistics, --ratio ones."""
    explicit = explicit or {}
    rows = []
    for r in ratios:
        used = "--ratio " + format(explicit[r.asset], "f") if r.asset in explicit else str(r.ratio)
        stats = "—" if r.fallback else f"{r.std_error:.4f}"
        r2 = "—" if r.fallback else f"{r.r_squared:.3f}"
        window = f"{r.window_start[:16]} → {r.window_end[:16]}" if r.window_start and r.window_end else "—"
        note = f"fallback: {r.fallback}" if r.fallback else ("clamped to bounds" if r.bounded else r.source)
        rows.append([r.asset, r.hedge_with, r.method, used, stats, r2, str(r.observations), window, note])
    rows += [[a, "", "fixed (--ratio)", format(v, "f"), "", "", "", "", ""] for a, v in explicit.items()
             if a not in {r.asset for r in ratios}]  # fmt: skip
    headers = ["asset", "hedge with", "method", "ratio", "std error", "R²", "obs", "window (UTC)", "source"]
    return table(headers, rows)
