"""Paired effects of an intervention, the divergence profile, and a first-order index.

Data in, data out: every function takes the scenario and per-timeline arrays (outcomes as
``(outcomes, timelines)``, parameters as ``(parameters, timelines)``, first firing months as
``(events, timelines)``) and returns plain rows; nothing here knows how the arrays were made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from kremlinology.analysis.intervals import Z95, newcombe_paired
from kremlinology.engine.simulate import outcome_kind
from kremlinology.months import format_month
from kremlinology.scenario.expressions import Categorical
from kremlinology.scenario.model import Scenario


@dataclass(frozen=True)
class OutcomeColumn:
    """One column of outcome values: an outcome, or one category of a categorical outcome."""

    id: str
    label: str
    values: np.ndarray  # (timelines,) float64; 0/1 when binary
    binary: bool


def outcome_columns(scenario: Scenario, values: np.ndarray) -> list[OutcomeColumn]:
    """Expand outcome values ``(outcomes, timelines)`` into columns, in scenario order.

    A categorical outcome gives one 0/1 column per category (``id.category``).
    """
    columns = []
    for i, outcome in enumerate(scenario.outcomes):
        kind = outcome_kind(scenario, i)
        row = values[i]
        if kind == "categorical":
            assert isinstance(outcome.expr.type, Categorical)
            for code, category in enumerate(outcome.expr.type.domain):
                indicator = (row == code).astype(np.float64)
                ident, label = (
                    f"{outcome.id}.{category}",
                    f"{outcome.label}: {scenario.value_name(category)}",
                )
                columns.append(OutcomeColumn(ident, label, indicator, True))
        else:
            binary = kind == "boolean"
            columns.append(OutcomeColumn(outcome.id, outcome.label, row.astype(np.float64), binary))
    return columns


def paired_effect(before: np.ndarray, after: np.ndarray, binary: bool) -> dict[str, Any]:
    """Return baseline, what-if, delta, its 95% interval and the share of pairs that changed."""
    n = before.size
    baseline, whatif = float(before.mean()), float(after.mean())
    if binary:
        b, a = before > 0.5, after > 0.5
        ci = newcombe_paired(
            float((b & a).sum()),
            float((b & ~a).sum()),
            float((~b & a).sum()),
            float((~b & ~a).sum()),
        )
    else:
        diff = after - before
        half = Z95 * float(diff.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
        ci = (float(diff.mean()) - half, float(diff.mean()) + half)
    return {
        "baseline": baseline,
        "whatif": whatif,
        "delta": whatif - baseline,
        "ci": [ci[0], ci[1]],
        "changed": float((before != after).mean()),
    }


def effects(scenario: Scenario, factual: np.ndarray, whatif: np.ndarray) -> list[dict[str, Any]]:
    """One row per outcome column (scenario order): the paired effect of the what-if.

    ``factual`` and ``whatif`` are the two worlds' outcome values, timeline ``k`` of one paired
    with timeline ``k`` of the other.
    """
    rows = []
    pairs = zip(outcome_columns(scenario, factual), outcome_columns(scenario, whatif), strict=True)
    for before, after in pairs:
        kind = "boolean" if before.binary else "number"
        effect = paired_effect(before.values, after.values, before.binary)
        rows.append({"id": before.id, "label": before.label, "kind": kind, **effect})
    return rows


def divergence_profile(differ: np.ndarray, pairs: int, divergence: int) -> list[dict[str, Any]]:
    """Month by month from ``divergence``: the share of the ``pairs`` whose states differ.

    ``differ[k]`` counts the pairs that differ at the start of month ``divergence + k``; its last
    entry is after the last month (``"end"``).
    """
    shares = differ / max(pairs, 1)
    return [
        {"month": format_month(divergence + k), "share": float(share)}
        for k, share in enumerate(shares[:-1])
    ] + [{"month": "end", "share": float(shares[-1])}]


def correlation_ratio(factor: np.ndarray, outcome: np.ndarray, bins: int = 10) -> float:
    """Share of the outcome's variance explained by the factor's bins (first-order sensitivity).

    Continuous factors are cut into quantile bins; the estimate is corrected for the spurious
    variance that ``k`` bins explain by chance in ``n`` draws ((k - 1) / (n - 1)).
    """
    n = outcome.size
    total = float(outcome.var())
    if n < 3 or total == 0.0:
        return 0.0
    levels = np.unique(factor)
    if levels.size > bins:
        edges = np.quantile(factor, np.linspace(0, 1, bins + 1)[1:-1])
        groups = np.searchsorted(edges, factor, side="right")
    else:
        groups = np.searchsorted(levels, factor)
    counts = np.bincount(groups)
    sums = np.bincount(groups, weights=outcome)
    present = counts > 0
    means = sums[present] / counts[present]
    explained = float((counts[present] * (means - outcome.mean()) ** 2).sum() / n) / total
    k = int(present.sum())
    chance = (k - 1) / (n - 1)
    return max(0.0, (explained - chance) / (1.0 - chance)) if chance < 1 else 0.0
