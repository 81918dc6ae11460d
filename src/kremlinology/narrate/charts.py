"""Report charts with matplotlib (Agg, no pyplot state): outcomes, drivers, divergence curve.

Every chart is WIDTH x HEIGHT pixels as PNG and the same figure as SVG, with a title, axis labels
with units, and 95% intervals where the estimate has one.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kremlinology.analysis.effects import outcome_columns
from kremlinology.analysis.intervals import mean_interval, wilson

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from kremlinology.counterfactual.query import WhatIfResult

WIDTH, HEIGHT, DPI = 1200, 700, 100
BASELINE, WHATIF, DRIVER = "#8a8f98", "#b03a2e", "#2e6da4"
HEADLINE = 8
"""Outcomes shown in the outcome chart (largest changes first)."""
DRIVERS = 12
RC: dict[str, Any] = {"svg.hashsalt": "kremlinology", "font.size": 10, "axes.titlesize": 13}


@dataclass(frozen=True)
class Bar:
    """One outcome's estimate in both worlds, with 95% intervals."""

    label: str
    binary: bool
    baseline: float
    whatif: float
    baseline_ci: tuple[float, float]
    whatif_ci: tuple[float, float]
    delta: float


def outcome_bars(result: WhatIfResult, limit: int = HEADLINE) -> list[Bar]:
    """The headline outcomes: largest change first, leaving out columns constant in both worlds."""
    twin = result.twin
    factual = outcome_columns(twin.scenario, twin.factual.outcomes)
    whatif = outcome_columns(twin.scenario, twin.whatif.outcomes)
    bars = []
    for column, other in zip(factual, whatif, strict=True):
        before, after, binary = column.values, other.values, column.binary
        if before.min() == before.max() == after.min() == after.max():
            continue
        bars.append(
            Bar(
                column.label,
                binary,
                float(before.mean()),
                float(after.mean()),
                _interval(before, binary),
                _interval(after, binary),
                float(after.mean() - before.mean()),
            )
        )
    bars.sort(key=lambda b: -abs(b.delta) / (1.0 if b.binary else _scale(b)))
    return bars[:limit]


def _scale(bar: Bar) -> float:
    return max(abs(bar.baseline), abs(bar.whatif), 1e-9)


def _interval(values: np.ndarray, binary: bool) -> tuple[float, float]:
    if binary:
        return wilson(float((values > 0.5).sum()), float(values.size))
    return mean_interval(values)


def _figure() -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)


def _wrap(label: str, width: int = 38) -> str:
    return "\n".join(textwrap.wrap(label, width)) or label


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=12)
    ax.set_xticks([])
    ax.set_yticks([])


def outcome_chart(result: WhatIfResult) -> Figure:
    """Grouped horizontal bars: baseline against what-if for the headline outcomes."""
    bars = outcome_bars(result)
    binary = [b for b in bars if b.binary]
    numeric = [b for b in bars if not b.binary]
    figure = _figure()
    if binary and numeric:
        axes = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        panels = [(axes[0], binary, True), (axes[1], numeric, False)]
    else:
        panels = [(figure.subplots(), binary or numeric, bool(binary) or not numeric)]
    for ax, group, is_binary in panels:
        if not group:
            _empty(ax, "No outcome differs between the worlds")
            continue
        _bar_panel(ax, group, is_binary)
    figure.suptitle(
        f"Baseline against what-if: {_title(result)}\n"
        f"{result.twin.kept:,} paired timelines; whiskers are 95% intervals",
        fontsize=13,
    )
    if bars:
        handles, names = panels[0][0].get_legend_handles_labels()
        figure.legend(handles, names, loc="upper center", ncol=2, bbox_to_anchor=(0.5, 0.915))
    figure.tight_layout(rect=(0, 0, 1, 0.87))
    return figure


@dataclass(frozen=True)
class _Series:
    """One world's bars in a panel: where they sit, their name and colour, values, intervals."""

    offset: float
    name: str
    colour: str
    values: list[float]
    intervals: list[tuple[float, float]]


def _bar_panel(ax: Axes, group: list[Bar], is_binary: bool) -> None:
    y = np.arange(len(group))[::-1].astype(float)
    factor = 100.0 if is_binary else 1.0
    height = 0.38
    baseline = _Series(
        height / 2,
        "baseline",
        BASELINE,
        [b.baseline for b in group],
        [b.baseline_ci for b in group],
    )
    whatif = _Series(
        -height / 2, "what-if", WHATIF, [b.whatif for b in group], [b.whatif_ci for b in group]
    )
    for series in (baseline, whatif):
        offset = series.offset
        values = np.array(series.values) * factor
        low = np.array([c[0] for c in series.intervals]) * factor
        high = np.array([c[1] for c in series.intervals]) * factor
        errors = np.vstack([np.maximum(values - low, 0), np.maximum(high - values, 0)])
        ax.barh(
            y + offset,
            values,
            height,
            color=series.colour,
            label=series.name,
            xerr=errors,
            error_kw={"ecolor": "#222222", "capsize": 3, "elinewidth": 1},
        )
        for yy, v, hi in zip(y + offset, values, high, strict=True):
            text = f"{v:.0f}%" if is_binary else f"{v:.3g}"
            ax.text(hi, yy, f"  {text}", va="center", fontsize=8)
    ax.set_yticks(y, [_wrap(b.label) for b in group], fontsize=9)
    ax.set_ylim(-0.6, max(len(group), 4) - 0.4)
    if is_binary:
        ax.set_xlim(0, 112)
        ax.set_xlabel("probability (% of timelines)")
        ax.set_title("Outcomes that happen or not")
    else:
        right = max(max(b.whatif_ci[1], b.baseline_ci[1]) for b in group)
        ax.set_xlim(
            min(0.0, *(min(b.whatif_ci[0], b.baseline_ci[0]) for b in group)),
            right * 1.2 if right > 0 else 1.0,
        )
        ax.set_xlabel("mean value (scenario units)")
        ax.set_title("Quantities (mean)")
    ax.grid(axis="x", alpha=0.3)


def _title(result: WhatIfResult) -> str:
    matched = result.resolved.whatif
    return matched.title if matched is not None else result.resolved.query


def driver_chart(result: WhatIfResult) -> Figure:
    """Horizontal bars: each driver's signed effect on its outcome, with its 95% interval."""
    figure = _figure()
    ax = figure.subplots()
    labels = _outcome_labels(result)
    rows = result.drivers[:DRIVERS]
    if not rows:
        _empty(ax, "No factor explains any headline outcome")
    else:
        y = np.arange(len(rows))[::-1]
        values = np.array([r["effect"] for r in rows])
        errors = np.array(
            [[r["effect"] - r["ci"][0] for r in rows], [r["ci"][1] - r["effect"] for r in rows]]
        )
        ax.barh(y, values, 0.6, color=DRIVER, xerr=np.clip(errors, 0, None), capsize=2)
        for yy, v in zip(y, values, strict=True):
            side = "left" if v >= 0 else "right"
            ax.text(v, yy, f"  {v:+.2f}  ", va="center", ha=side, fontsize=8)
        names = [
            f"{_wrap(labels.get(r['outcome'], r['outcome']), 44)}\n  <- {_wrap(r['label'], 44)}"
            for r in rows
        ]
        ax.set_yticks(y, names, fontsize=8)
        ax.set_ylim(-0.6, max(len(rows), 6) - 0.4)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_xlim(-1.1, 1.1)
        ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("change of the outcome when the factor is intervened on (95% interval)")
    ax.set_title(f"What decides the headline outcomes in the what-if world\n{_title(result)}")
    figure.tight_layout()
    return figure


def _outcome_labels(result: WhatIfResult) -> dict[str, str]:
    return {row["id"]: row["label"] for row in result.outcomes}


def divergence_chart(result: WhatIfResult) -> Figure:
    """The share of twin pairs whose states differ, month by month from the divergence."""
    figure = _figure()
    ax = figure.subplots()
    points = [p for p in result.divergence if p["month"] != "end"]
    n = max(result.twin.kept, 1)
    if not points:
        _empty(ax, "No month after the divergence")
    else:
        x = np.arange(len(points))
        share = np.array([p["share"] for p in points])
        bounds = np.array([wilson(s * n, n) for s in share])
        ax.fill_between(
            x,
            bounds[:, 0] * 100,
            bounds[:, 1] * 100,
            color=WHATIF,
            alpha=0.2,
            label="95% interval",
            step="mid",
        )
        ax.step(x, share * 100, where="mid", color=WHATIF, label="pairs that differ")
        step = max(1, len(points) // 12)
        ax.set_xticks(x[::step], [p["month"] for p in points[::step]], rotation=45, ha="right")
        ax.set_xlim(-0.5, len(points) - 0.5)
        ax.legend(loc="lower right")
    ax.set_ylim(0, 105)
    ax.set_xlabel("month (state at the start of the month)")
    ax.set_ylabel("twin pairs whose worlds differ (%)")
    ax.set_title(f"How fast the two worlds part: {_title(result)}")
    ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


CHARTS = {
    "outcomes": outcome_chart,
    "drivers": driver_chart,
    "divergence": divergence_chart,
}


def save_charts(result: WhatIfResult, folder: Path) -> list[str]:
    """Write every chart as PNG and SVG into ``folder``; return the file names."""
    import matplotlib

    written = []
    with matplotlib.rc_context(RC):  # type: ignore[arg-type]
        for stem, make in CHARTS.items():
            figure = make(result)
            for fmt in ("png", "svg"):
                name = f"{stem}.{fmt}"
                metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {}
                figure.savefig(folder / name, format=fmt, dpi=DPI, metadata=metadata)
                written.append(name)
    return written
