"""The what-if pipeline as named stages: resolve, admit, simulate twins, estimate, explain."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kremlinology.analysis.effects import divergence_profile, effects
from kremlinology.analysis.tables import event_effects
from kremlinology.counterfactual.catalogue import ResolvedQuery, resolve_query
from kremlinology.counterfactual.drivers import DriverReport, find_drivers
from kremlinology.counterfactual.interventions import (
    Block,
    Choose,
    Do,
    Intervention,
    InterventionError,
    SetValue,
    divergence_month,
    onset,
    to_plan,
)
from kremlinology.counterfactual.twin import TwinRun, run_twins
from kremlinology.months import format_month
from kremlinology.scenario.compiler import STATUS
from kremlinology.scenario.model import Scenario
from kremlinology.version import __version__


@dataclass
class WhatIfResult:
    """The answer to a what-if: paired effects, drivers, divergence and admissibility (data only;
    its sentences are in ``narrate.verdicts``)."""

    scenario: Scenario
    resolved: ResolvedQuery
    twin: TwinRun
    outcomes: list[dict[str, Any]]
    divergence: list[dict[str, Any]]
    admissibility: list[dict[str, Any]]
    elapsed_s: float
    extra: dict[str, Any] = field(default_factory=dict)
    driver_report: DriverReport | None = None
    """The drivers once found (:meth:`find_drivers`; they are found when first asked for)."""
    workers: int = 1

    def find_drivers(self) -> DriverReport | None:
        """Find (once) the drivers of the headline outcomes by intervention on the twin worlds
        (``counterfactual.drivers``); None when the run kept no per-timeline events."""
        if self.driver_report is None and self.twin.whatif.first.shape[1]:
            self.driver_report = find_drivers(
                self.twin, self.interventions, self.outcomes, workers=self.workers
            )
        return self.driver_report

    @property
    def drivers(self) -> list[dict[str, Any]]:
        """Ranked drivers: ``{outcome, factor, label, kind, effect, ci, method, direction,
        clear, ...}`` (see ``analysis.drivers``)."""
        report = self.find_drivers()
        return [] if report is None else report.rows

    @property
    def interventions(self) -> list[Intervention]:
        """The interventions the query resolved to."""
        return self.resolved.interventions

    def to_dict(self, drivers: bool = True) -> dict[str, Any]:
        """The answer as the CLI's ``whatif --json`` object; without ``drivers`` they are not
        sought (``drivers`` is then empty and ``drivers_method`` null)."""
        whatif = self.resolved.whatif
        return {
            "scenario": self.scenario.describe(),
            "package_version": __version__,
            "query": self.resolved.query,
            "matched": None if whatif is None else {"id": whatif.id, "title": whatif.title},
            "read_as": None if self.resolved.reading is None else self.resolved.reading.to_dict(),
            "interventions": [item.text() for item in self.interventions],
            "divergence_month": format_month(self.twin.divergence),
            "runs": self.twin.runs,
            "conditioned_runs": self.twin.kept,
            "conditioning": self.conditioning(),
            "seed": self.twin.seed,
            "elapsed_s": round(self.elapsed_s, 3),
            "outcomes": self.outcomes,
            "events": self.event_rows(),
            "drivers": self.drivers if drivers else [],
            "drivers_method": self._driver_summary() if drivers else None,
            "divergence": self.divergence,
            "admissibility": self.admissibility,
        }

    def event_rows(self) -> list[dict[str, Any]]:
        """Per event: the share of the paired timelines where it fired in the baseline and in
        the what-if world, the change and its 95% interval (``analysis.tables.event_effects``);
        empty when the run kept no per-timeline events (very large runs)."""
        factual, whatif = self.twin.factual.first, self.twin.whatif.first
        if factual.shape[1] != self.twin.kept or self.twin.kept == 0:
            return []
        return event_effects(self.scenario, factual, whatif)

    def _driver_summary(self) -> dict[str, Any] | None:
        report = self.find_drivers()
        return None if report is None else report.summary()

    def conditioning(self) -> dict[str, Any]:
        """How the record conditioned the timelines: the facts before the earliest divergence,
        the contradictions allowed and, when the divergence month varies between timelines, its
        distribution and the number of facts each timeline was held to."""
        twin = self.twin
        found: dict[str, Any] = {
            "facts_before_divergence": twin.prior_facts,
            "contradictions_allowed": twin.tolerance,
        }
        if twin.diverges is not None and twin.facts_used is not None:
            found["divergence_months"] = month_shares(twin.diverges, self.scenario.end)
            used = twin.facts_used
            found["facts_used"] = {
                "min": int(used.min()),
                "median": float(np.median(used)),
                "max": int(used.max()),
            }
        return found

    def to_json(self, indent: int | None = None, drivers: bool = True) -> str:
        """The answer as one JSON object (no NaN)."""
        return json.dumps(self.to_dict(drivers), indent=indent, allow_nan=False)

    def sorted_outcomes(self) -> list[dict[str, Any]]:
        """Outcomes sorted by the size of the change, largest first."""
        return sorted(self.outcomes, key=lambda r: -abs(r["delta"]))


def month_shares(months: np.ndarray, end: int, top: int = 12) -> list[dict[str, Any]]:
    """The distribution of per-timeline months, commonest first (at most ``top`` rows, the rest
    as ``"other"``); a month after ``end`` reads ``"never"``."""
    values, counts = np.unique(months, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    total = max(int(counts.sum()), 1)
    rows: list[dict[str, Any]] = [
        {
            "month": "never" if int(values[i]) > end else format_month(int(values[i])),
            "share": float(counts[i]) / total,
        }
        for i in order[:top]
    ]
    rest = int(counts[order[top:]].sum())
    if rest:
        rows.append({"month": "other", "share": rest / total})
    return rows


def admissibility(twin: TwinRun, interventions: list[Intervention]) -> list[dict[str, Any]]:
    """For each intervention: what it changes at its month, and how many timelines already had it.

    Raises InterventionError when the record before its month already rules it out everywhere
    (the intervention would rewrite fixed history, or change nothing).
    """
    scenario, first = twin.scenario, twin.factual.first
    report = []
    for item in interventions:
        entry: dict[str, Any] = {"intervention": item.text()}
        if isinstance(item, SetValue):
            entry["changes"] = f"sets {item.target} from {format_month(item.month)}"
            entry.update(_inert(twin, item))
            report.append(entry)
            continue
        event = scenario.events[scenario.event_index[item.event]]
        if isinstance(item, Do):
            _check_actors(twin, event.actors, item)
            refused = twin.whatif.refused.get(event.index, 0)
            entry["not_fired_out_of_play"] = refused
            entry["not_fired_out_of_play_share"] = refused / max(twin.kept, 1)
        if first.shape[1] == 0:
            entry["changes"] = "see outcomes"
            report.append(entry)
            continue
        fired = first[event.index]
        month = _month_of(item, event.first)
        before = (fired >= 0) & (fired < month)
        entry["already_settled_before"] = float(before.mean())
        entry["already_had_it"] = float(_had_it(item, twin, event.index, month).mean())
        entry["changes"] = _changes_text(item, event.label)
        if event.once and before.all() and not isinstance(item, Choose):
            raise InterventionError(
                f"{item.text()} contradicts fixed history: '{event.label}' already happened before "
                f"{format_month(month)} in every timeline that matches the record"
            )
        report.append(entry)
    return report


def _inert(twin: TwinRun, item: SetValue) -> dict[str, Any]:
    """A ``set`` of an attribute of an actor who is out of play in every timeline at its month
    (other than the attributes that decide whether he is in play) is inert."""
    actor, _, attribute = item.target.partition(".")
    status = twin.whatif.in_play_at.get((item.month, actor))
    if status is None or attribute in STATUS or not status.size or status.any():
        return {"inert": False}
    return {
        "inert": True,
        "why": f"{actor} is out of play at {format_month(item.month)} in every timeline",
    }


def _check_actors(twin: TwinRun, actors: tuple[str, ...], item: Do) -> None:
    for actor in actors:
        for state in STATUS:
            values = twin.status.get(f"{actor}.{state}")
            if values is not None and values.size and not values.any():
                gone = {"alive": "dead", "free": "under arrest or removed"}.get(state, "gone")
                raise InterventionError(
                    f"{item.text()}: {actor} is {gone} by {format_month(twin.divergence)} in every "
                    "timeline that matches the record"
                )


def _month_of(item: Intervention, window_start: int) -> int:
    if isinstance(item, Do):
        return item.month
    if isinstance(item, Block) and item.month is not None:
        return item.month
    return window_start


def _had_it(item: Intervention, twin: TwinRun, event: int, month: int) -> np.ndarray:
    fired = twin.factual.first[event]
    if isinstance(item, Do):
        return np.asarray(fired == month)
    if isinstance(item, Block):
        return np.asarray(fired < 0)
    assert isinstance(item, Choose)
    options = [o.id for o in twin.scenario.events[event].options]
    return np.asarray((fired >= 0) & (twin.factual.option[event] == options.index(item.option)))


def _changes_text(item: Intervention, label: str) -> str:
    if isinstance(item, Do):
        return f"'{label}' happens in {format_month(item.month)}"
    if isinstance(item, Block):
        return f"'{label}' cannot happen"
    assert isinstance(item, Choose)
    return f"'{label}' takes the option '{item.option}' whenever it happens"


def run_whatif(
    scenario: Scenario,
    query: str,
    runs: int,
    seed: int,
    condition: bool = True,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> WhatIfResult:
    """Resolve a query and answer it on twin worlds (see docs/counterfactuals.md). The drivers
    are found by intervention when first asked for (:meth:`WhatIfResult.find_drivers`)."""
    started = time.perf_counter()
    resolved = resolve_query(query, scenario)
    plan = to_plan(resolved.interventions, scenario)
    divergence = divergence_month(resolved.interventions, scenario)
    twin = run_twins(
        scenario,
        plan,
        divergence,
        runs,
        seed,
        condition,
        workers=workers,
        progress=progress,
        onset=onset(resolved.interventions, scenario),
    )
    admitted = admissibility(twin, resolved.interventions)
    rows = effects(scenario, twin.factual.outcomes, twin.whatif.outcomes)
    return WhatIfResult(
        scenario=scenario,
        resolved=resolved,
        twin=twin,
        outcomes=rows,
        divergence=divergence_profile(twin.differ, twin.kept, twin.divergence),
        admissibility=admitted,
        elapsed_s=time.perf_counter() - started,
        workers=workers,
    )
