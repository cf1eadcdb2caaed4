"""Backtest reports: metrics.json, PNG charts (matplotlib) and one self-contained HTML page.

The HTML embeds every chart as a base64 PNG and carries its own CSS: it opens anywhere, offline.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hedger.backtest.engine import BacktestResult

SUMMARY_COLUMNS = (
    ("he_1h", "HE 1h", "{:.2%}"),
    ("he_1d", "HE 1d", "{:.2%}"),
    ("tracking_error_annualised", "TE/yr", "{:.2%}"),
    ("rebalances", "rebal", "{:d}"),
    ("trading_fees_usd", "fees $", "{:,.0f}"),
    ("funding_pnl_usd", "funding $", "{:,.0f}"),
    ("net_carry_pct_per_year", "carry %/yr", "{:.2f}"),
    ("max_drawdown_pct", "maxDD %", "{:.2f}"),
    ("liquidations", "liq", "{:d}"),
)
CHARTS = (
    ("value", "Hedged book value vs unhedged spot"),
    ("ratio", "Hedge ratio over time: target (dashed) and held"),
    ("funding", "Cumulative funding received by the hedge"),
    ("drift", "Drift of the held ratio against the target, with the rebalance band"),
)


@dataclass(frozen=True)
class ReportFiles:
    metrics_json: Path
    charts: tuple[Path, ...]
    html: Path


def write_report(
    results: Sequence[BacktestResult], metrics: Mapping[str, Mapping[str, float]], out_dir: str | Path
) -> ReportFiles:
    """Write metrics.json, one PNG per chart and report.html into `out_dir` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    document = metrics_document(results, metrics)
    metrics_path = out / "metrics.json"
    metrics_path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    charts = tuple(_save(figure, out / f"{name}.png") for name, figure in _figures(results))
    html_path = out / "report.html"
    html_path.write_text(render_html(document, charts))
    return ReportFiles(metrics_path, charts, html_path)


def metrics_document(
    results: Sequence[BacktestResult], metrics: Mapping[str, Mapping[str, float]]
) -> dict[str, object]:
    """What metrics.json holds: the data and its gaps, costs and margin, each policy and its metrics."""
    first = results[0]
    document = {
        "data": first.history.describe(),
        "config": _plain(first.config),
        "policies": {r.policy.name: {"policy": _policy_json(r), "metrics": metrics[r.policy.name]} for r in results},
        "liquidations": {r.policy.name: [_plain(e) for e in r.liquidations] for r in results if r.liquidations},
    }
    return {key: _json_safe(value) for key, value in document.items()}


def _policy_json(result: BacktestResult) -> dict[str, object]:
    """The estimator, the rebalance thresholds as the planner ran them (costs from the backtest), and how
    often each of `rebalance_decision`'s answers came up."""
    policy = result.policy
    return {
        "estimator": repr(policy.estimator),
        "fallback_ratio": policy.fallback_ratio,
        "rebalance": _plain(result.rebalance),
        "decision_codes": result.decision_codes,
    }


def summary_table(metrics: Mapping[str, Mapping[str, float]]) -> str:
    """A fixed-width table, one row per policy."""
    header = ["policy", *(title for _, title, _ in SUMMARY_COLUMNS)]
    rows = [
        [name, *(_format(values.get(key), fmt) for key, _, fmt in SUMMARY_COLUMNS)] for name, values in metrics.items()
    ]
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    lines = [
        "  ".join(cell.rjust(w) if c else cell.ljust(w) for c, (cell, w) in enumerate(zip(row, widths, strict=True)))
        for row in [header, *rows]
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def render_html(document: Mapping, charts: Sequence[Path]) -> str:
    """One page: data, metrics table, the charts inlined as base64 PNGs, policies, costs and liquidations."""
    data, policies = document["data"], document["policies"]
    title = f"hedger backtest: {data['spot_asset']} spot hedged with the {data['hedge_asset']} perp"
    captions = dict(CHARTS)
    figures = "\n".join(
        f"<figure><img alt='{chart.stem}' src='data:image/png;base64,{_base64(chart)}'>"
        f"<figcaption>{html.escape(captions[chart.stem])}</figcaption></figure>"
        for chart in charts
    )
    warnings = "".join(f"<p class='warning'>Warning: {html.escape(w)}.</p>" for w in data.get("warnings", ()))
    return _HTML.format(
        title=html.escape(title),
        warnings=warnings,
        data=_definition_list(data | {"gaps": json.dumps(data["gaps"])}),
        summary=_metrics_table({name: entry["metrics"] for name, entry in policies.items()}),
        figures=figures,
        policies=_json_block({name: entry["policy"] for name, entry in policies.items()}),
        config=_json_block(document["config"]),
        liquidations=_json_block(document["liquidations"]),
    )


def _json_block(value: object) -> str:
    return f"<pre>{html.escape(json.dumps(value, indent=2))}</pre>"


def _figures(results: Sequence[BacktestResult]) -> Iterator[tuple[str, Figure]]:
    yield "value", _value_figure(results)
    yield "ratio", _ratio_figure(results)
    yield "funding", _funding_figure(results)
    yield "drift", _drift_figure(results)


def _daily(values: np.ndarray, result: BacktestResult) -> pd.Series:
    """Last valid value of each UTC day (charts only: statistics never use this)."""
    return pd.Series(values, index=result.history.close_time).dropna().resample("D").last()


def _value_figure(results: Sequence[BacktestResult]) -> Figure:
    figure, axis = _subplots(figsize=(11, 5))
    _daily(results[0].unhedged_value_usd, results[0]).plot(ax=axis, color="black", linewidth=1.2, label="unhedged spot")
    for result in results:
        _daily(result.book_value_usd, result).plot(ax=axis, linewidth=0.9, label=result.policy.name)
    axis.set_ylabel("USD")
    return _finish(figure, axis)


def _ratio_figure(results: Sequence[BacktestResult]) -> Figure:
    figure, axis = _subplots(figsize=(11, 5))
    for result in results:
        line = _daily(result.realised_ratio, result).plot(ax=axis, linewidth=0.9, label=result.policy.name).lines[-1]
        _daily(result.target_ratio, result).plot(
            ax=axis, linewidth=0.7, linestyle="--", color=line.get_color(), label="_"
        )
    axis.set_ylabel("perp value short per unit of spot value")
    return _finish(figure, axis)


def _funding_figure(results: Sequence[BacktestResult]) -> Figure:
    figure, axis = _subplots(figsize=(11, 5))
    for result in results:
        _daily(np.cumsum(result.funding_usd), result).plot(ax=axis, linewidth=0.9, label=result.policy.name)
    axis.set_ylabel("USD (positive: received)")
    return _finish(figure, axis)


def _drift_figure(results: Sequence[BacktestResult]) -> Figure:
    hedged = [r for r in results if np.nanmax(np.abs(r.target_ratio)) > 0] or list(results)
    columns = min(3, len(hedged))
    rows = math.ceil(len(hedged) / columns)
    figure, axes = _subplots(rows, columns, figsize=(11, 2.6 * rows), sharex=True, squeeze=False)
    for axis, result in zip(axes.flat, hedged, strict=False):
        with np.errstate(invalid="ignore", divide="ignore"):
            drift = result.drift_ratio / result.target_ratio - 1.0
        axis.plot(_matplotlib_days(result.history.close_time), drift, linewidth=0.4)
        axis.xaxis_date()
        band = float(result.rebalance.band_rel)
        axis.axhline(band, color="red", linewidth=0.8)
        axis.axhline(-band, color="red", linewidth=0.8)
        axis.set_title(f"{result.policy.name} (band ±{band:.1%})", fontsize=9)
        axis.set_ylim(-3 * band - 0.01, 3 * band + 0.01)
    axes[0, 0].xaxis.set_major_locator(mdates.YearLocator())
    axes[0, 0].xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    for axis in list(axes.flat)[len(hedged) :]:
        axis.set_visible(False)
    figure.supylabel("held / target − 1")
    figure.tight_layout()
    return figure


def _matplotlib_days(times: pd.DatetimeIndex) -> np.ndarray:
    """Days since 1970 (matplotlib's date unit), computed in one vectorised step."""
    return times.as_unit("s").asi8 / 86400.0


def _subplots(rows: int = 1, columns: int = 1, **options: Any) -> tuple[Figure, Any]:
    """A figure and its axes without pyplot: no global state, no GUI backend."""
    figure = Figure(figsize=options.pop("figsize"))
    return figure, figure.subplots(rows, columns, **options)


def _finish(figure: Figure, axis: Axes) -> Figure:
    axis.grid(alpha=0.3)
    axis.set_xlabel("")
    axis.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    return figure


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=100)
    return path


def _base64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _metrics_table(metrics: Mapping[str, Mapping[str, float]]) -> str:
    keys = list(next(iter(metrics.values())))
    head = "".join(f"<th>{html.escape(k)}</th>" for k in ["policy", *keys])
    body = "".join(
        f"<tr><th>{html.escape(name)}</th>"
        + "".join(f"<td>{_format(values[k], '{:,.4g}')}</td>" for k in keys)
        + "</tr>"
        for name, values in metrics.items()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _definition_list(values: Mapping[str, object]) -> str:
    items = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in values.items())
    return f"<dl>{items}</dl>"


def _format(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return fmt.format(value)


def _plain(value: object) -> object:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value


def _json_safe(value: object) -> object:
    """NaN and infinities become null (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; font-size: 12px; display: block; overflow-x: auto; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: right; white-space: nowrap; }}
thead th {{ background: #f0f0f0; }}
tbody th {{ text-align: left; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 2px 12px; font-size: 13px; }}
dt {{ font-weight: 600; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; }}
pre {{ background: #f7f7f7; padding: 8px; font-size: 12px; overflow-x: auto; }}
.warning {{ background: #fff3cd; border: 1px solid #e0c060; padding: 6px 10px; }}
</style></head><body>
<h1>{title}</h1>{warnings}
<h2>Data</h2>{data}
<h2>Metrics</h2>{summary}
<p>HE: Ederington hedge effectiveness, 1 − Var(hedged)/Var(unhedged), on returns that never span a data gap.
Estimated ratios are applied out of sample only: the ratio set at a close uses returns up to that close.</p>
<h2>Charts</h2>{figures}
<h2>Policies</h2>{policies}
<h2>Costs and margin</h2>{config}
<h2>Liquidations</h2>{liquidations}
</body></html>
"""
