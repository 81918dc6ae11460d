"""Paired effects of an intervention, drivers of outcomes, and the divergence profile.

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
                ident, label = f"{outcome.id}.{category}", f"{outcome.label}: {category}"
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


@dataclass(frozen=True)
class World:
    """What the driver analysis reads of one world: per-timeline arrays (see the module doc)."""

    parameters: np.ndarray  # (parameters, timelines)
    first: np.ndarray  # (events, timelines) first firing month or -1; (events, 0) if not kept
    outcomes: np.ndarray  # (outcomes, timelines)
    divergence: int  # the month from which the world may differ from its twin


def driver_factors(
    scenario: Scenario, world: World, horizon: int = 24
) -> list[tuple[str, np.ndarray]]:
    """Parameters, and events of the first ``horizon`` months after the divergence, as factors."""
    factors = [
        (f"parameter {p.model.id}", world.parameters[i]) for i, p in enumerate(scenario.parameters)
    ]
    first, last = world.first, world.divergence + horizon
    if first.shape[1] == 0:
        return factors
    for event in scenario.events:
        happened = (first[event.index] >= 0) & (first[event.index] <= last)
        share = happened.mean()
        if 0.02 <= share <= 0.98 and event.first <= last:
            factors.append((f"event {event.id}", happened.astype(np.float64)))
    return factors


def drivers(
    scenario: Scenario,
    world: World,
    rows: list[dict[str, Any]],
    top_outcomes: int = 5,
    top: int = 3,
) -> list[dict[str, Any]]:
    """Rank what decides each headline outcome (largest changes first) in ``world``.

    ``rows`` are the rows of :func:`effects`; returns up to ``top`` factors for each of the
    ``top_outcomes`` largest changes, with their correlation ratio as importance.
    """
    columns = {c.id: c.values for c in outcome_columns(scenario, world.outcomes)}
    headline = _distinct(
        [r for r in sorted(rows, key=lambda r: -abs(r["delta"])) if columns[r["id"]].var() > 0],
        columns,
    )
    factors = driver_factors(scenario, world)
    found = []
    for row in headline[:top_outcomes]:
        outcome = columns[row["id"]]
        scored = sorted(
            ((correlation_ratio(values, outcome), name, values) for name, values in factors),
            key=lambda item: -item[0],
        )
        chosen: list[tuple[float, str, np.ndarray]] = []
        for value, name, values in scored:
            if value <= 0 or len(chosen) == top:
                break
            # Factors that (nearly) always go together carry the same information: name the first.
            if not any(_redundant(values, other) for _, _, other in chosen):
                chosen.append((value, name, values))
        found += [
            {"outcome": row["id"], "factor": name, "importance": round(value, 4)}
            for value, name, _ in chosen
        ]
    return found


def _distinct(rows: list[dict[str, Any]], columns: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Drop outcomes whose values repeat (or mirror) an earlier one's, e.g. a category and its
    flag."""
    kept: list[dict[str, Any]] = []
    for row in rows:
        values = columns[row["id"]]
        if not any(
            np.array_equal(values, columns[k["id"]]) or np.array_equal(values, 1 - columns[k["id"]])
            for k in kept
        ):
            kept.append(row)
    return kept


def _redundant(a: np.ndarray, b: np.ndarray, threshold: float = 0.95) -> bool:
    """Whether two factors are the same information (|correlation| >= threshold, or equal)."""
    if np.array_equal(a, b):
        return True
    if a.std() == 0 or b.std() == 0:
        return False
    return bool(abs(np.corrcoef(a, b)[0, 1]) >= threshold)
