"""Drivers of outcomes as causes: statistics of interventions on twin worlds, and of parameters.

Data in, data out (nothing here simulates): the counterfactual layer runs a sample of timelines
once in a base world and once per candidate intervention with the same draws
(``counterfactual.drivers``); these functions choose the candidates, turn the paired outcomes into
effects with 95% intervals, measure the parameters, and rank everything per outcome.

Conventions (an effect is a change of the outcome's probability, or of its mean for a number):

* ``event``: the base world minus the world where the event is blocked (it cannot happen; before
  its first firing in a timeline nothing changes, so this is blocking it from its factual month).
  Positive: the event makes the outcome likelier.
* ``option``: the world where the event takes that option whenever it fires minus the base world.
  Positive: that choice makes the outcome likelier.
* ``parameter``: the outcome's mean in the timelines whose parameter value lies in its top
  quarter minus the mean in its bottom quarter. Parameters are drawn per timeline before anything
  happens, so this contrast is an effect of the parameter, not an association through later events
  (up to correlation between parameters in a fitted posterior). Each also gets its first-order
  sensitivity index (correlation ratio, the given-data estimator of the first-order Sobol index)
  with a bootstrap interval.

An event can only drive an outcome read at month ``m`` if its window opens before ``m``; a firing
at or after ``m`` cannot change the outcome in that timeline (outcomes are read at month starts),
which the paired effect respects by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from kremlinology.analysis.effects import (
    OutcomeColumn,
    correlation_ratio,
    outcome_columns,
    paired_effect,
)
from kremlinology.analysis.intervals import Z95, wilson
from kremlinology.scenario.model import Scenario

BOOTSTRAP = 200
"""Bootstrap resamples for a parameter's first-order index."""
MIN_SHARE = 0.01
"""A candidate must act in at least this share of the sample's timelines (before the outcome)."""


@dataclass(frozen=True)
class Headline:
    """An outcome column whose drivers are sought, and the month it is read (end + 1: after)."""

    column: OutcomeColumn
    month: int


@dataclass(frozen=True)
class CandidateSpec:
    """A factor to intervene on: an event (blocked) or an event's option (forced when it fires)."""

    kind: str  # "event" or "option"
    event: int
    option: int | None
    score: float
    """How strongly the factor is associated with some headline outcome (used only to choose
    which candidates to try when there are more than the cap)."""


def outcome_months(scenario: Scenario) -> list[int]:
    """Per scenario outcome: the month at whose start it is read (``end + 1`` for after the end)."""
    return [scenario.end + 1 if o.month is None else o.month for o in scenario.outcomes]


def headline_outcomes(
    scenario: Scenario, rows: list[dict[str, Any]], values: np.ndarray, top: int = 5
) -> list[Headline]:
    """The ``top`` outcome columns that change most (``rows`` of ``effects``) and vary in
    ``values`` ``(outcomes, timelines)``; a column that repeats or mirrors an earlier one is
    skipped (a category and its flag)."""
    months = outcome_months(scenario)
    columns = outcome_columns(scenario, values)
    owner = _column_owners(scenario)
    by_id = {c.id: (c, months[owner[c.id]]) for c in columns}
    chosen: list[Headline] = []
    for row in sorted(rows, key=lambda r: -abs(r["delta"])):
        column, month = by_id[row["id"]]
        if column.values.var() == 0:
            continue
        if any(
            np.array_equal(column.values, h.column.values)
            or np.array_equal(column.values, 1 - h.column.values)
            for h in chosen
        ):
            continue
        chosen.append(Headline(column, month))
        if len(chosen) == top:
            break
    return chosen


def restrict(headline: list[Headline], positions: np.ndarray) -> list[Headline]:
    """The headline columns on some of their timelines (by position)."""
    return [
        Headline(
            OutcomeColumn(h.column.id, h.column.label, h.column.values[positions], h.column.binary),
            h.month,
        )
        for h in headline
    ]


def _column_owners(scenario: Scenario) -> dict[str, int]:
    """Outcome column id -> index of the scenario outcome it comes from."""
    zeros = np.zeros((len(scenario.outcomes), 1))
    owners: dict[str, int] = {}
    for i, outcome in enumerate(scenario.outcomes):
        for column in outcome_columns(scenario, zeros):
            if column.id == outcome.id or column.id.startswith(outcome.id + "."):
                owners.setdefault(column.id, i)
    return owners


def screen_candidates(
    scenario: Scenario,
    first: np.ndarray,
    option: np.ndarray,
    headline: list[Headline],
    excluded: set[int],
) -> list[CandidateSpec]:
    """Every event and option that could drive some headline outcome, strongest association first.

    ``first``/``option`` are the base world's ``(events, timelines)`` first firing months and
    options. An event is a candidate when its window opens before the latest headline month and it
    fires before that outcome's month in at least ``MIN_SHARE`` of the timelines; an option when,
    in addition, the event takes another option in at least ``MIN_SHARE`` of them (forcing it then
    changes something). Events in ``excluded`` (those the what-if itself acts on) are left out.
    """
    found: list[CandidateSpec] = []
    for event in scenario.events:
        if event.index in excluded:
            continue
        months = [h.month for h in headline if event.first < h.month]
        if not months:
            continue
        fired = first[event.index]
        score, acts = 0.0, False
        for h in headline:
            if event.first >= h.month:
                continue
            before = (fired >= 0) & (fired < h.month)
            if before.mean() < MIN_SHARE:
                continue
            acts = True
            score = max(score, _gap(h.column.values, before))
        if not acts:
            continue
        found.append(CandidateSpec("event", event.index, None, score))
        if len(event.options) < 2:
            continue
        for code in range(len(event.options)):
            best, useful = 0.0, False
            for h in headline:
                if event.first >= h.month:
                    continue
                before = (fired >= 0) & (fired < h.month)
                other = before & (option[event.index] != code)
                if other.mean() < MIN_SHARE:
                    continue
                useful = True
                best = max(best, _gap(h.column.values, before & (option[event.index] == code)))
            if useful:
                found.append(CandidateSpec("option", event.index, code, max(best, score / 2)))
    return sorted(found, key=lambda c: -c.score)


def _gap(values: np.ndarray, group: np.ndarray) -> float:
    """|mean in the group - mean outside it| (0 when either side is empty)."""
    if group.all() or not group.any():
        return 0.0
    return abs(float(values[group].mean()) - float(values[~group].mean()))


def intervention_rows(
    scenario: Scenario,
    headline: list[Headline],
    base: np.ndarray,
    tried: list[tuple[CandidateSpec, np.ndarray]],
) -> list[dict[str, Any]]:
    """Paired effects of each tried candidate on each headline outcome it can precede.

    ``base`` and each world of ``tried`` are ``(outcomes, timelines)`` outcome values of the same
    timelines with the same draws; see the module docstring for the sign of each kind.
    """
    rows = []
    base_columns = {c.id: c for c in outcome_columns(scenario, base)}
    for spec, values in tried:
        event = scenario.events[spec.event]
        changed = {c.id: c for c in outcome_columns(scenario, values)}
        for h in headline:
            if event.first >= h.month:
                continue
            before = base_columns[h.column.id].values
            after = changed[h.column.id].values
            if spec.kind == "event":
                effect = paired_effect(after, before, h.column.binary)
                factor, label = event.id, event.label
                method = "block the event (paired twin worlds, Newcombe interval)"
            else:
                assert spec.option is not None
                effect = paired_effect(before, after, h.column.binary)
                option = event.options[spec.option]
                factor, label = f"{event.id}.{option.id}", f"{event.label}: {option.label}"
                method = "force the option (paired twin worlds, Newcombe interval)"
            rows.append(
                {
                    "outcome": h.column.id,
                    "outcome_label": h.column.label,
                    "factor": factor,
                    "label": label,
                    "kind": spec.kind,
                    "effect": effect["delta"],
                    "ci": effect["ci"],
                    "changed": effect["changed"],
                    "method": method,
                    "timelines": int(before.size),
                }
            )
    return rows


def parameter_rows(
    scenario: Scenario,
    headline: list[Headline],
    parameters: np.ndarray,
    seed: int = 0,
    resamples: int = BOOTSTRAP,
) -> list[dict[str, Any]]:
    """Each parameter's effect on each headline outcome: the top-minus-bottom-quarter contrast
    with its 95% interval, and the first-order index with a bootstrap interval.

    ``parameters`` is ``(parameters, timelines)``, the timelines of the headline columns. The
    bootstrap draws from ``numpy.random.default_rng(seed)``: fixed for a fixed seed.
    """
    rows: list[dict[str, Any]] = []
    n = parameters.shape[1] if parameters.ndim == 2 else 0
    if n < 8:
        return rows
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(resamples, n))
    for i, spec in enumerate(scenario.parameters):
        theta = parameters[i]
        if np.ptp(theta) == 0:
            continue
        low_edge, high_edge = np.quantile(theta, [0.25, 0.75])
        low, high = theta <= low_edge, theta >= high_edge
        groups = _bins(theta)
        if not low.any() or not high.any() or np.array_equal(low, high):
            continue
        for h in headline:
            y = h.column.values
            effect, ci = _contrast(y[high], y[low], h.column.binary)
            index = correlation_ratio(theta, y)
            boot = _boot_ratio(groups, y, picks)
            lo, hi = np.quantile(boot, [0.025, 0.975])
            rows.append(
                {
                    "outcome": h.column.id,
                    "outcome_label": h.column.label,
                    "factor": spec.model.id,
                    "label": spec.model.label or spec.model.id,
                    "kind": "parameter",
                    "effect": effect,
                    "ci": list(ci),
                    "first_order": {"index": index, "ci": [float(lo), float(hi)]},
                    "method": "top minus bottom quarter of the parameter's draws; first-order "
                    "index (correlation ratio) with a bootstrap interval",
                    "timelines": int(n),
                }
            )
    return rows


def _bins(factor: np.ndarray, bins: int = 10) -> np.ndarray:
    """The bin of each value: its level, or its quantile bin when there are more than ``bins``
    levels (the bins of :func:`~kremlinology.analysis.effects.correlation_ratio`)."""
    levels = np.unique(factor)
    if levels.size > bins:
        edges = np.quantile(factor, np.linspace(0, 1, bins + 1)[1:-1])
        return np.asarray(np.searchsorted(edges, factor, side="right"))
    return np.asarray(np.searchsorted(levels, factor))


def _boot_ratio(groups: np.ndarray, y: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """The chance-corrected correlation ratio of ``y`` on ``groups`` in each bootstrap resample
    (rows of ``picks``), the bins held at those of the full sample."""
    k = int(groups.max()) + 1
    n = picks.shape[1]
    out = np.zeros(picks.shape[0])
    for r, p in enumerate(picks):
        g, v = groups[p], y[p]
        total = float(v.var())
        if total == 0.0:
            continue
        counts = np.bincount(g, minlength=k)
        sums = np.bincount(g, weights=v, minlength=k)
        present = counts > 0
        means = sums[present] / counts[present]
        explained = float((counts[present] * (means - v.mean()) ** 2).sum() / n) / total
        chance = (int(present.sum()) - 1) / (n - 1)
        out[r] = max(0.0, (explained - chance) / (1.0 - chance)) if chance < 1 else 0.0
    return out


def _contrast(high: np.ndarray, low: np.ndarray, binary: bool) -> tuple[float, tuple[float, float]]:
    """Difference of two independent means with a 95% interval (Newcombe's method 10 for two
    proportions, a normal interval for numbers)."""
    a, b = float(high.mean()), float(low.mean())
    if binary:
        l1, u1 = wilson(float(high.sum()), float(high.size))
        l2, u2 = wilson(float(low.sum()), float(low.size))
        delta = a - b
        return delta, (
            delta - math.sqrt((a - l1) ** 2 + (u2 - b) ** 2),
            delta + math.sqrt((u1 - a) ** 2 + (b - l2) ** 2),
        )
    se = math.sqrt(float(high.var(ddof=1)) / high.size + float(low.var(ddof=1)) / low.size)
    return a - b, (a - b - Z95 * se, a - b + Z95 * se)


def rank(
    rows: list[dict[str, Any]], headline: list[Headline], top: int = 5
) -> list[dict[str, Any]]:
    """Per headline outcome (in order), its ``top`` factors by the size of their effect; each row
    gains ``direction`` ("makes it likelier", "makes it less likely", or for a number "raises it"
    / "lowers it") and ``clear`` (whether its interval excludes zero)."""
    ranked = []
    for h in headline:
        mine = [r for r in rows if r["outcome"] == h.column.id]
        mine.sort(key=lambda r: (-abs(r["effect"]), r["factor"]))
        for row in mine[:top]:
            up = row["effect"] > 0
            if h.column.binary:
                direction = "makes it likelier" if up else "makes it less likely"
            else:
                direction = "raises it" if up else "lowers it"
            low, high = row["ci"]
            ranked.append({**row, "direction": direction, "clear": bool(low > 0 or high < 0)})
    return ranked


def jansen_total(y: np.ndarray, y_i: np.ndarray) -> float:
    """Jansen's total-order estimate ``mean((y - y_i)^2) / (2 var(y))`` (0 when y is constant)."""
    variance = float(y.var())
    if variance == 0.0:
        return 0.0
    return float(((y - y_i) ** 2).mean() / (2.0 * variance))
