"""Drivers by intervention: what changes the headline outcomes when it is blocked or forced.

Stages (each returns data): :func:`driver_sample` picks the timelines, the first ``sample`` kept
ones of a twin run (by timeline number, so chunking and workers change nothing);
``analysis.drivers.screen_candidates`` lists the events and options that can precede the
outcomes, and the ``cap`` most strongly associated of them are tried; :func:`run_candidates`
simulates the sample once per candidate, from the scenario's start with the what-if's own
interventions plus the candidate's (``block(EVENT)`` or ``choose(EVENT, OPTION)``) and the very
draws of the what-if world; ``analysis.drivers`` turns the paired outcomes into ranked effects
with intervals. The what-if world's own outcomes on the sample are the base: they come from the
same timelines with the same draws, so each candidate's world is that world's twin.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kremlinology.analysis import drivers as stats
from kremlinology.analysis.effects import outcome_columns
from kremlinology.counterfactual.interventions import (
    Block,
    Choose,
    Intervention,
    SetValue,
    to_plan,
)
from kremlinology.counterfactual.twin import TwinRun
from kremlinology.engine.parallel import balanced_spans, open_executor, width
from kremlinology.engine.simulate import DEFAULT_CHUNK, start_block
from kremlinology.engine.state import Plan, RowPlan
from kremlinology.engine.vector import VectorProgram
from kremlinology.scenario.model import Scenario

DEFAULT_CAP = 24
"""Candidate factors tried by intervention (the strongest associations first)."""
DEFAULT_SAMPLE = 2000
"""Kept timelines the candidates are tried on."""
PARAMETER_SAMPLE = 5000
"""Kept timelines the parameters are measured on."""
TOTAL_SAMPLE = 1000
"""Kept timelines the parameters' total-order indices are estimated on (when asked for)."""


@dataclass
class DriverReport:
    """Ranked drivers of the headline outcomes, and what it took to find them."""

    rows: list[dict[str, Any]]
    headline: list[str]
    eligible: int
    tried: int
    timelines: int
    elapsed_s: float
    candidates: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """How the drivers were found (the ``drivers_method`` object of the JSON; no timing, so
        that the same question gives the same object)."""
        return {
            "outcomes": self.headline,
            "candidates_eligible": self.eligible,
            "candidates_tried": self.tried,
            "tried": self.candidates,
            "timelines": self.timelines,
        }


@dataclass(frozen=True)
class CandidateTask:
    """Simulate some timelines under one plan up to month ``stop`` (sent to a worker)."""

    scenario: Scenario
    seed: int
    timelines: np.ndarray
    plan: Plan
    stop: int
    overrides: tuple[tuple[int, np.ndarray], ...] = ()
    """(slot, per-timeline values) written over the parameters' draws before the first month."""
    rows: RowPlan | None = None
    """What differs between the timelines' plans (several candidates in one block)."""


def driver_sample(twin: TwinRun, sample: int = DEFAULT_SAMPLE) -> np.ndarray:
    """Positions (in the twin run's kept timelines) of the timelines the candidates are tried on."""
    return np.arange(min(sample, twin.kept))


def candidate_intervention(scenario: Scenario, spec: stats.CandidateSpec) -> Intervention:
    """The intervention that tries a candidate: block the event, or force the option."""
    event = scenario.events[spec.event]
    if spec.kind == "event":
        return Block(event.id)
    assert spec.option is not None
    return Choose(event.id, event.options[spec.option].id)


def run_candidates(
    twin: TwinRun,
    base: list[Intervention],
    specs: list[stats.CandidateSpec],
    positions: np.ndarray,
    months: list[int],
    workers: int = 1,
) -> list[np.ndarray]:
    """Outcome values ``(outcomes, sample)`` of the sampled timelines under each candidate.

    ``months[i]``: the latest month at which an outcome that candidate ``i`` may drive is read.
    Only the timelines where the candidate's event fired in the what-if world before that month
    are simulated, and only up to it: elsewhere the candidate changes nothing before then (the
    event never fired, so neither blocking it nor fixing its option acts), and those timelines keep
    the what-if world's values. Outcomes read after ``months[i]`` are not valid in world ``i``.

    Candidates on events the what-if leaves alone are simulated together, in shared blocks of
    one row per candidate and timeline (:func:`_shared_tasks`) for each month they stop at;
    each row gives what a block of its own would, so the values are those of one block per
    candidate.
    """
    scenario = twin.scenario
    world = twin.whatif
    timelines = twin.timelines[positions]
    first = world.first[:, positions]
    base_values = world.outcomes[:, positions]
    rows_of = [
        np.flatnonzero((first[spec.event] >= 0) & (first[spec.event] < month))
        for spec, month in zip(specs, months, strict=True)
    ]
    base_plan = to_plan(base, scenario)
    alone, together = _partition(specs, months, base_plan.events, scenario.end)
    tasks = [
        CandidateTask(
            scenario,
            twin.seed,
            timelines[rows_of[i]],
            to_plan([*base, candidate_intervention(scenario, specs[i])], scenario),
            min(months[i], scenario.end),
        )
        for i in alone
    ]
    shared = [
        _shared_tasks(
            scenario,
            twin.seed,
            base_plan,
            stop,
            [(specs[i], timelines[rows_of[i]]) for i in members],
            workers,
        )
        for stop, members in together.items()
    ]
    with open_executor(workers, len(tasks) + sum(len(t) for t in shared)) as executor:
        results = iter(executor.map(_candidate_task, tasks + [t for ts in shared for t in ts]))
        simulated: dict[int, np.ndarray] = {i: next(results) for i in alone}
        for members, group in zip(together.values(), shared, strict=True):
            simulated.update(_split_shared(members, [next(results) for _ in group], rows_of))
    return [_over(base_values, rows_of[i], simulated[i]) for i in range(len(specs))]


def _over(base_values: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The what-if world's outcomes with a candidate's simulated timelines written over them."""
    combined = base_values.copy()
    combined[:, rows] = values
    return combined


def _partition(
    specs: list[stats.CandidateSpec], months: list[int], acted: set[int], end: int
) -> tuple[list[int], dict[int, list[int]]]:
    """Split candidates into those run in a block of their own (their event is in the what-if's
    plan, which a row plan may not override) and, by the month they stop at, those run together."""
    alone: list[int] = []
    together: dict[int, list[int]] = {}
    for i, (spec, month) in enumerate(zip(specs, months, strict=True)):
        if spec.event in acted:
            alone.append(i)
        else:
            together.setdefault(min(month, end), []).append(i)
    return alone, together


def _split_shared(
    members: list[int], parts: list[np.ndarray], rows_of: list[np.ndarray]
) -> dict[int, np.ndarray]:
    """Each member's outcomes out of its shared blocks' (rows in member order, as laid out)."""
    joined = np.concatenate(parts, axis=1)
    cuts = np.cumsum([rows_of[i].size for i in members])[:-1]
    return dict(zip(members, np.split(joined, cuts, axis=1), strict=True))


def _shared_tasks(
    scenario: Scenario,
    seed: int,
    plan: Plan,
    stop: int,
    members: list[tuple[stats.CandidateSpec, np.ndarray]],
    workers: int,
) -> list[CandidateTask]:
    """Several candidates (each with its timelines) as blocks of rows, one row per candidate
    and timeline, each row under ``plan`` plus its own candidate (a :class:`RowPlan`).

    The kernel's cost per block and month is paid once for all of them instead of once per
    candidate; every row gives what a block of its own would (the draws are keyed by timeline),
    so the cut into blocks changes nothing. Rows are cut into a multiple of the workers' count.
    """
    timelines = np.concatenate([rows for _, rows in members])
    size = timelines.size
    if not size:
        return [CandidateTask(scenario, seed, timelines, plan, stop)]
    blocked: dict[int, tuple[int, np.ndarray]] = {}
    chosen: dict[int, np.ndarray] = {}
    offset = 0
    for spec, rows in members:
        span = slice(offset, offset + rows.size)
        offset += rows.size
        if spec.kind == "event":
            mask = blocked.setdefault(spec.event, (scenario.start, np.zeros(size, bool)))[1]
            mask[span] = True
        else:
            assert spec.option is not None
            chosen.setdefault(spec.event, np.full(size, -1, dtype=np.int16))[span] = spec.option
    every = RowPlan(blocked, chosen)
    return [
        CandidateTask(
            scenario,
            seed,
            timelines[cut.first : cut.first + cut.count],
            plan,
            stop,
            rows=every.take(slice(cut.first, cut.first + cut.count)),
        )
        for cut in balanced_spans(size, DEFAULT_CHUNK, width(workers))
    ]


def _candidate_task(task: CandidateTask) -> np.ndarray:
    """Simulate the task's timelines from the start under its plan; return their outcomes."""
    scenario = task.scenario
    if not task.timelines.size:
        return np.zeros((len(scenario.outcomes), 0))
    program = VectorProgram(scenario)
    last = int(task.timelines.max()) + 1
    block = start_block(program, task.seed, 0, last).take(task.timelines)
    for slot, values in task.overrides:
        block.world.values[slot] = values
    block.advance(task.plan, stop=task.stop, rows=task.rows)
    return np.asarray(block.records.outcomes)


def find_drivers(
    twin: TwinRun,
    interventions: list[Intervention],
    rows: list[dict[str, Any]],
    top_outcomes: int = 5,
    cap: int = DEFAULT_CAP,
    sample: int = DEFAULT_SAMPLE,
    top: int = 5,
    workers: int = 1,
    total_order: bool = False,
) -> DriverReport:
    """Drivers of the ``top_outcomes`` outcomes that change most (``rows`` of ``effects``) in the
    what-if world of ``twin``: events and options by intervention on at most ``cap`` candidates
    and ``sample`` timelines, parameters from the kept timelines; ``top`` per outcome."""
    started = time.perf_counter()
    scenario = twin.scenario
    world = twin.whatif
    if world.first.shape[1] == 0:
        raise ValueError("drivers need the what-if world's events (a run that keeps timelines)")
    headline = stats.headline_outcomes(scenario, rows, world.outcomes, top_outcomes)
    positions = driver_sample(twin, sample)
    local = stats.restrict(headline, positions)
    acted = {scenario.event_index[i.event] for i in interventions if not isinstance(i, SetValue)}
    specs = stats.screen_candidates(
        scenario, world.first[:, positions], world.option[:, positions], local, acted
    )
    tried = specs[:cap]
    months = [
        max(h.month for h in headline if scenario.events[spec.event].first < h.month)
        for spec in tried
    ]
    worlds = run_candidates(twin, interventions, tried, positions, months, workers)
    found = stats.intervention_rows(
        scenario, local, world.outcomes[:, positions], list(zip(tried, worlds, strict=True))
    )
    some = np.arange(min(PARAMETER_SAMPLE, twin.kept))
    found += stats.parameter_rows(
        scenario, stats.restrict(headline, some), twin.parameters[:, some], seed=twin.seed
    )
    if total_order:
        few = np.arange(min(TOTAL_SAMPLE, twin.kept))
        indices = total_order_indices(twin, interventions, headline, few, workers)
        for row in found:
            if row["kind"] == "parameter" and (row["outcome"], row["factor"]) in indices:
                row["total_order"] = indices[(row["outcome"], row["factor"])]
    return DriverReport(
        rows=stats.rank(found, headline, top),
        headline=[h.column.id for h in headline],
        eligible=len(specs),
        tried=len(tried),
        timelines=int(positions.size),
        elapsed_s=time.perf_counter() - started,
        candidates=[_name(scenario, s) for s in tried],
    )


def _name(scenario: Scenario, spec: stats.CandidateSpec) -> str:
    event = scenario.events[spec.event]
    return event.id if spec.option is None else f"{event.id}.{event.options[spec.option].id}"


def total_order_indices(
    twin: TwinRun,
    interventions: list[Intervention],
    headline: list[stats.Headline],
    positions: np.ndarray,
    workers: int = 1,
) -> dict[tuple[str, str], dict[str, Any]]:
    """Total-order Sobol index of each parameter on each headline outcome, by intervention.

    For each parameter the sampled timelines are simulated again (what-if interventions kept,
    same draws) with that parameter alone redrawn: its values permuted across the timelines, an
    independent draw from its distribution. Jansen's estimator ``E[(Y - Y_i)^2] / (2 Var Y)``
    counts everything the parameter does, alone and with the other inputs (the other parameters
    and the timeline's own draws); a 200-resample bootstrap over the timelines gives the interval.
    """
    scenario = twin.scenario
    world = twin.whatif
    rng = np.random.default_rng(twin.seed)
    timelines = twin.timelines[positions]
    stop = min(max(h.month for h in headline), scenario.end)
    base = world.outcomes[:, positions]
    tasks, names = [], []
    for i, spec in enumerate(scenario.parameters):
        values = twin.parameters[i, positions]
        if np.ptp(values) == 0:
            continue
        redrawn = values[rng.permutation(values.size)]
        plan = to_plan(list(interventions), scenario)
        tasks.append(
            CandidateTask(scenario, twin.seed, timelines, plan, stop, ((spec.slot, redrawn),))
        )
        names.append(spec.model.id)
    with open_executor(workers, len(tasks)) as executor:
        worlds = list(executor.map(_candidate_task, tasks))
    local = stats.restrict(headline, positions)
    picks = rng.integers(0, positions.size, size=(stats.BOOTSTRAP, positions.size))
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for name, values in zip(names, worlds, strict=True):
        changed = {c.id: c.values for c in outcome_columns(scenario, values)}
        before = {c.id: c.values for c in outcome_columns(scenario, base)}
        for h in local:
            y, y_i = before[h.column.id], changed[h.column.id]
            index = stats.jansen_total(y, y_i)
            boot = np.array([stats.jansen_total(y[p], y_i[p]) for p in picks])
            low, high = np.quantile(boot, [0.025, 0.975])
            found[(h.column.id, name)] = {"index": index, "ci": [float(low), float(high)]}
    return found
