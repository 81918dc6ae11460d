"""Replay of one timeline of a twin run, in both of its worlds, event by event.

The timeline is simulated on its own with the twin worlds' own steps (:func:`common_history` up to
the divergence, then each world from a copy of that state), logging every firing. Draws are a pure
function of (seed, timeline, month, event, slot), so the replay is the very timeline the ensemble
simulated; the replay checks that against the ensemble's record.

Contract: :func:`replay` returns data only, the (factual, what-if) firings in engine order; it
raises :class:`TimelineError` for a timeline that does not exist or was not kept, and RuntimeError
when the replay does not reproduce the ensemble (an engine bug).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kremlinology.counterfactual.query import WhatIfResult
from kremlinology.counterfactual.twin import TwinRun, World, common_history
from kremlinology.engine.parallel import Span
from kremlinology.engine.simulate import Fired
from kremlinology.engine.state import NO_PLAN
from kremlinology.engine.vector import VectorProgram
from kremlinology.scenario.errors import KremlinologyError

EXAMPLES = 5


class TimelineError(KremlinologyError):
    """A timeline that a twin run does not hold: out of range, or dropped by the conditioning."""


@dataclass(frozen=True)
class Firing:
    """One firing of an event in one world of one timeline (engine indices)."""

    month: int
    event: int
    option: int | None
    holders: tuple[int, ...] = ()
    """Codes of each office's holder when it fired (``Scenario.offices`` order)."""


def position(twin: TwinRun, timeline: int) -> int:
    """Return the column of ``timeline`` in the twin run's per-timeline arrays.

    Raises TimelineError when the timeline does not exist or was not kept (with examples of kept
    ones).
    """
    timelines = twin.timelines
    found = np.flatnonzero(timelines == timeline)
    if found.size:
        return int(found[0])
    runs = twin.runs
    if not 0 <= timeline < runs:
        raise TimelineError(
            f"timeline {timeline} does not exist: this run has timelines 0 to {runs - 1}"
        )
    examples = ", ".join(str(int(t)) for t in timelines[:EXAMPLES])
    raise TimelineError(
        f"timeline {timeline} contradicts the record before the divergence and was not kept; "
        f"{timelines.size:,} of {runs:,} timelines were kept (e.g. {examples})"
    )


class Replayer:
    """Replays timelines of one twin run; compiles the scenario for the kernel once."""

    def __init__(self, twin: TwinRun) -> None:
        self.twin = twin
        self.program = VectorProgram(twin.scenario)
        self._ready: dict[int, tuple[list[Firing], list[Firing]]] = {}

    def replay(self, timeline: int) -> tuple[list[Firing], list[Firing]]:
        """Return the (factual, what-if) firings of a kept timeline, in engine order."""
        if timeline in self._ready:
            return self._ready.pop(timeline)
        return self._replay_span([timeline])[timeline]

    def prefetch(self, timelines: list[int]) -> None:
        """Replay several kept timelines in one block (one pass of the kernel over the span
        from the lowest to the highest), so that ``replay`` of each of them returns at once.
        Raises TimelineError for a timeline that was not kept."""
        wanted = sorted({int(t) for t in timelines} - set(self._ready))
        if wanted:
            self._ready.update(self._replay_span(wanted))

    def _replay_span(self, timelines: list[int]) -> dict[int, tuple[list[Firing], list[Firing]]]:
        twin = self.twin
        columns = {t: position(twin, t) for t in timelines}
        first = min(timelines)
        span = Span(first, max(timelines) - first + 1)
        common = common_history(self.program, twin.seed, span, twin.divergence, True)
        shared = _split(common.log or [], timelines)
        found: dict[int, list[list[Firing]]] = {t: [] for t in timelines}
        for plan, world in ((NO_PLAN, twin.factual), (twin.plan, twin.whatif)):
            block = common.copy()
            block.advance(plan, log=True)
            after = _split(block.log or [], timelines)
            for t in timelines:
                j = t - first
                _check(block.world.first[:, j], block.records.outcomes[:, j], world, columns[t])
                found[t].append(shared[t] + after[t])
        return {t: (pair[0], pair[1]) for t, pair in found.items()}


def replay(source: TwinRun | WhatIfResult, timeline: int) -> tuple[list[Firing], list[Firing]]:
    """Replay one kept timeline of a twin run (or of a what-if's); see the module docstring."""
    twin = source.twin if isinstance(source, WhatIfResult) else source
    return Replayer(twin).replay(timeline)


def _split(log: list[Fired], timelines: list[int]) -> dict[int, list[Firing]]:
    """Each of ``timelines``' firings from a block's log, in engine order."""
    found: dict[int, list[Firing]] = {t: [] for t in timelines}
    for r in log:
        for k, t in enumerate(r.timelines.tolist()):
            if t in found:
                holders = () if r.holders is None else tuple(int(c) for c in r.holders[:, k])
                found[t].append(Firing(r.month, r.event, int(r.options[k]), holders))
    return found


def _check(first: np.ndarray, outcomes: np.ndarray, world: World, column: int) -> None:
    """Raise RuntimeError unless the replay matches the ensemble's record of that timeline."""
    same_events = world.first.shape[1] == 0 or np.array_equal(first, world.first[:, column])
    same_outcomes = np.allclose(outcomes, world.outcomes[:, column], equal_nan=True)
    if not (same_events and same_outcomes):
        raise RuntimeError("the replayed timeline differs from the ensemble's record of it")
