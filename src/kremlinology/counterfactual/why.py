"""Why this timeline: actual-cause chains by but-for tests on one timeline's twins.

Stages: :func:`occurrences` replays one kept timeline of a what-if in one of its worlds and lists
the events that fired before the outcome is read; :func:`but_for_tests` simulates that timeline
again once per such event with only that event blocked (the world's own interventions kept, the
very same draws), up to the month the outcome is read; ``analysis.causes.chain`` keeps the events
without which the outcome would have been different and links each to the causes it needed.

Contract: the timeline must be kept by the twin run (``TimelineError`` otherwise); ``world`` is
``"whatif"`` or ``"factual"``; the replay is checked against the ensemble's record (RuntimeError
if it differs: an engine bug).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kremlinology.analysis.causes import ButFor, Occurrence, chain
from kremlinology.analysis.drivers import outcome_months
from kremlinology.analysis.effects import outcome_columns
from kremlinology.counterfactual.interventions import Block, Intervention, to_plan
from kremlinology.counterfactual.query import WhatIfResult
from kremlinology.counterfactual.replay import position
from kremlinology.counterfactual.twin import TwinRun
from kremlinology.engine.simulate import start_block
from kremlinology.engine.vector import VectorProgram
from kremlinology.months import format_month
from kremlinology.scenario.errors import KremlinologyError
from kremlinology.scenario.model import Scenario

WORLDS = ("whatif", "factual")


class WhyError(KremlinologyError):
    """A why-question that cannot be answered: unknown outcome or world."""


@dataclass
class CauseChain:
    """The actual causes of one outcome in one timeline (data; see ``analysis.causes``)."""

    scenario: Scenario
    timeline: int
    world: str
    outcome: str
    label: str
    value: float
    month: int
    links: list[dict[str, Any]]
    tested: int
    elapsed_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The chain as JSON: events by id and label, months as YYYY-MM, options by id."""
        events = self.scenario.events
        return {
            "timeline": self.timeline,
            "world": self.world,
            "outcome": self.outcome,
            "label": self.label,
            "value": self.value,
            "read_at": "end" if self.month > self.scenario.end else format_month(self.month),
            "events_tested": self.tested,
            "chain": [
                {
                    "event": events[link["event"]].id,
                    "label": events[link["event"]].label,
                    "month": format_month(link["month"]),
                    "option": _option_id(self.scenario, link["event"], link["option"]),
                    "without_it": link["without"],
                    "because": [events[e].id for e in link["because"]],
                    "leads_to": [
                        self.outcome if e is None else events[e].id for e in link["leads_to"]
                    ],
                }
                for link in self.links
            ],
        }


def _option_id(scenario: Scenario, event: int, option: int) -> str | None:
    options = scenario.events[event].options
    return options[option].id if 0 <= option < len(options) and options else None


def _column(scenario: Scenario, outcome: str) -> tuple[int, int, str, float | None]:
    """(outcome index, read month, label, category code or None) of an outcome column id."""
    months = outcome_months(scenario)
    for i, probe in enumerate(scenario.outcomes):
        if probe.id == outcome:
            return i, months[i], probe.label, None
        for column in outcome_columns(scenario, np.zeros((len(scenario.outcomes), 1))):
            if column.id == outcome and column.id.startswith(probe.id + "."):
                domain = getattr(probe.expr.type, "domain", ())
                category = column.id[len(probe.id) + 1 :]
                if category in domain:
                    return i, months[i], column.label, float(domain.index(category))
    known = ", ".join(o.id for o in scenario.outcomes[:8])
    raise WhyError(f"unknown outcome '{outcome}' (outcomes include {known}, ...)")


def occurrences(
    program: VectorProgram, seed: int, timeline: int, plan_items: list[Intervention], stop: int
) -> tuple[list[Occurrence], np.ndarray]:
    """The events that fired in the timeline before month ``stop`` (first firings), and its
    outcome values (the timeline simulated with ``plan_items`` from the start)."""
    scenario = program.scenario
    block = start_block(program, seed, timeline, 1)
    block.advance(to_plan(plan_items, scenario))
    first, option = block.world.first[:, 0], block.world.option[:, 0]
    found = [
        Occurrence(e.index, int(first[e.index]), int(option[e.index]) if e.options else -1)
        for e in scenario.events
        if 0 <= first[e.index] < stop
    ]
    return found, np.asarray(block.records.outcomes[:, 0])


def but_for_tests(
    program: VectorProgram,
    seed: int,
    timeline: int,
    plan_items: list[Intervention],
    found: list[Occurrence],
    stop: int,
) -> list[ButFor]:
    """One run of the timeline per occurrence, with only its event blocked, up to ``stop``."""
    scenario = program.scenario
    tests = []
    for occurrence in found:
        event = scenario.events[occurrence.event]
        plan = to_plan([*plan_items, Block(event.id)], scenario)
        block = start_block(program, seed, timeline, 1)
        block.advance(plan, stop=min(stop, scenario.end))
        tests.append(
            ButFor(
                occurrence,
                np.asarray(block.records.outcomes[:, 0]).copy(),
                block.world.first[:, 0].copy(),
                block.world.option[:, 0].copy(),
            )
        )
    return tests


def explain(
    twin: TwinRun,
    interventions: list[Intervention],
    outcome: str,
    timeline: int,
    world: str = "whatif",
    program: VectorProgram | None = None,
) -> CauseChain:
    """The actual-cause chain of ``outcome`` (an outcome or category column id) in one kept
    timeline of ``twin``, in its what-if or factual world; see the module docstring."""
    started = time.perf_counter()
    if world not in WORLDS:
        raise WhyError(f"world must be one of {', '.join(WORLDS)}, not '{world}'")
    scenario = twin.scenario
    index, month, label, category = _column(scenario, outcome)
    column = position(twin, timeline)
    program = program or VectorProgram(scenario)
    items = interventions if world == "whatif" else []
    found, values = occurrences(program, twin.seed, timeline, items, month)
    recorded = (twin.whatif if world == "whatif" else twin.factual).outcomes[index, column]
    if not np.allclose(values[index], recorded, equal_nan=True):
        raise RuntimeError("the replayed timeline differs from the ensemble's record of it")
    tests = but_for_tests(program, twin.seed, timeline, items, found, month)
    if category is not None:
        values = values.copy()
        values[index] = float(values[index] == category)
        for test in tests:
            test.outcomes[index] = float(test.outcomes[index] == category)
    links = chain(found, tests, index, float(values[index]))
    return CauseChain(
        scenario,
        timeline,
        world,
        outcome,
        label,
        float(values[index]),
        month,
        links,
        len(found),
        time.perf_counter() - started,
    )


def default_timeline(result: WhatIfResult, outcome: str, world: str = "whatif") -> int:
    """The first kept timeline where ``outcome`` holds (is non-zero) in ``world``; the first kept
    timeline when it holds in none."""
    twin = result.twin
    index, _, _, category = _column(twin.scenario, outcome)
    values = (twin.whatif if world == "whatif" else twin.factual).outcomes[index]
    holds = values == category if category is not None else values != 0
    found = np.flatnonzero(holds)
    return int(twin.timelines[found[0] if found.size else 0])


def why(
    result: WhatIfResult,
    outcome: str,
    timeline: int | None = None,
    world: str = "whatif",
    program: VectorProgram | None = None,
) -> CauseChain:
    """The actual-cause chain of ``outcome`` in one timeline of a what-if's ``world`` (by
    default the first kept timeline where it holds); see :func:`explain`."""
    if world not in WORLDS:
        raise WhyError(f"world must be one of {', '.join(WORLDS)}, not '{world}'")
    if timeline is None:
        timeline = default_timeline(result, outcome, world)
    return explain(result.twin, result.interventions, outcome, timeline, world, program)


def headline_column(result: WhatIfResult, timeline: int) -> str:
    """The outcome column to explain in a timeline: the one that changes most across the
    what-if among those whose value differs between this timeline's two worlds (else the one that
    changes most)."""
    twin = result.twin
    column = position(twin, timeline)
    factual = {
        c.id: c.values[column] for c in outcome_columns(twin.scenario, twin.factual.outcomes)
    }
    whatif = {c.id: c.values[column] for c in outcome_columns(twin.scenario, twin.whatif.outcomes)}
    ranked = sorted(result.outcomes, key=lambda r: -abs(r["delta"]))
    for row in ranked:
        if (
            row["kind"] == "boolean"
            and factual[row["id"]] != whatif[row["id"]]
            and whatif[row["id"]]
        ):
            return str(row["id"])
    return str(ranked[0]["id"])


def timeline_causes(
    result: WhatIfResult, timeline: int, program: VectorProgram | None = None
) -> list[dict[str, Any]]:
    """The why-chain (``CauseChain.to_dict()``) of the headline outcome of one timeline's what-if
    world (:func:`headline_column`): the chronicle's and the report's ``causes``."""
    outcome = headline_column(result, timeline)
    return [why(result, outcome, timeline, "whatif", program).to_dict()]
