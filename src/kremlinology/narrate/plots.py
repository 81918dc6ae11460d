"""Displays for the Python API: the baseline's outcome chart, and two what-ifs side by side.

Words and formats only: each function reads results (data) and returns a matplotlib Figure or
HTML text; nothing here computes an estimate the results do not already hold.
"""

from __future__ import annotations

import textwrap
from html import escape
from typing import TYPE_CHECKING, Any

from kremlinology.counterfactual.interventions import describe

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from kremlinology.analysis.outcomes import SimulationResult
    from kremlinology.counterfactual.query import WhatIfResult

SHOWN = 15
"""Outcomes in the baseline chart (the likeliest first)."""


def simulation_chart(result: SimulationResult, limit: int = SHOWN) -> Figure:
    """Horizontal bars: the share of timelines (or the mean) of the ``limit`` largest outcomes,
    with 95% intervals; outcomes that never happen are left out."""
    from matplotlib.figure import Figure

    rows = [r for r in result.outcome_rows() if r["p"] > 0 or r["kind"] == "number"]
    rows = sorted(rows, key=lambda r: -r["p"])[:limit][::-1]
    figure = Figure(figsize=(10, 0.45 * max(len(rows), 3) + 1.6), dpi=100)
    ax = figure.subplots()
    labels = ["\n".join(textwrap.wrap(r["label"], 48)) for r in rows]
    values = [r["p"] for r in rows]
    low = [r["p"] - r["ci"][0] for r in rows]
    high = [r["ci"][1] - r["p"] for r in rows]
    ax.barh(labels, values, xerr=[low, high], color="#8a8f98", capsize=3)
    ax.set_xlabel("share of timelines (95% interval)")
    ax.set_title(
        f"{result.scenario.manifest.title}: {result.runs:,} timelines, seed {result.seed}",
        fontsize=12,
    )
    figure.tight_layout()
    return figure


def comparison_html(a: WhatIfResult, b: WhatIfResult, rows: list[dict[str, Any]]) -> str:
    """An HTML table of two what-ifs' changes, outcome by outcome, largest difference first."""

    def change(value: float, binary: bool) -> str:
        return f"{100 * value:+.1f}" if binary else f"{value:+.2f}"

    def cell(value: float, ci: list[float], binary: bool) -> str:
        return f"{change(value, binary)} [{change(ci[0], binary)}, {change(ci[1], binary)}]"

    ordered = sorted(rows, key=lambda r: -abs(r["difference"]))
    body = "".join(
        f"<tr><td>{escape(r['label'], quote=False)}</td>"
        f"<td>{cell(r['delta_a'], r['ci_a'], r['binary'])}</td>"
        f"<td>{cell(r['delta_b'], r['ci_b'], r['binary'])}</td>"
        f"<td>{cell(r['difference'], r['ci'], r['binary'])}</td></tr>"
        for r in ordered
    )
    first = escape(describe(a.interventions), quote=False)
    second = escape(describe(b.interventions), quote=False)
    return (
        f"<p><b>A</b>: {first} ({a.twin.kept:,} timelines kept); <b>B</b>: {second} "
        f"({b.twin.kept:,} kept). Changes in percentage points (means: in their own units), 95% "
        "intervals.</p>"
        "<table><tr><th>outcome</th><th>change under A</th><th>change under B</th>"
        f"<th>B minus A</th></tr>{body}</table>"
    )
