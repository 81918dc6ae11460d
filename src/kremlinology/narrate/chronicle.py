"""Chronicles: one timeline of a what-if, told month by month in both of its worlds.

The timeline is replayed on its own (``start_block(first=k, count=1)``): the common history up to
the divergence, then the factual and the what-if world from a copy of that state, logging every
firing. Draws are a pure function of (seed, timeline, month, event, slot), so the replay is the
very timeline the ensemble simulated; ``replay`` checks that against the ensemble's record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kremlinology.months import format_month
from kremlinology.narrate.templates import Narrator
from kremlinology.scenario.errors import KremlinologyError

if TYPE_CHECKING:
    from kremlinology.counterfactual.query import WhatIfResult
    from kremlinology.engine.simulate import Fired
    from kremlinology.engine.vector import VectorProgram
    from kremlinology.scenario.model import Scenario

PICKS = ("typical", "surprising")
FORMATS = ("text", "markdown", "bbcode", "html", "json")


class ChronicleError(KremlinologyError):
    """A chronicle that cannot be told: unknown timeline, pick or format."""


@dataclass(frozen=True)
class Firing:
    """One firing of an event in one world of one timeline (engine indices)."""

    month: int
    event: int
    option: int | None
    holders: tuple[int, ...] = ()
    """Codes of each office's holder when it fired (``Scenario.offices`` order)."""


@dataclass(frozen=True)
class Entry:
    """One dated sentence of a chronicle and the event behind it."""

    month: str  # YYYY-MM
    event: str
    option: str | None
    text: str
    departure: bool  # not in the other world at the same month (with the same option)

    def to_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "event": self.event,
            "option": self.option,
            "text": self.text,
            "departure": self.departure,
        }


@dataclass
class Chronicle:
    """A timeline of a what-if in both worlds, each a list of dated entries."""

    timeline: int
    query: str
    title: str
    interventions: list[str]
    divergence_month: str
    whatif: list[Entry]
    factual: list[Entry]
    pick: str | None = None  # "typical", "surprising", or None for a timeline chosen by index
    note: str = ""
    scenario: str = ""
    prose: str | None = None  # checked prose from a language model (``--narrator openai``)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "timeline": self.timeline,
            "query": self.query,
            "title": self.title,
            "scenario": self.scenario,
            "pick": self.pick,
            "note": self.note,
            "interventions": list(self.interventions),
            "divergence_month": self.divergence_month,
            "whatif": [e.to_dict() for e in self.whatif],
            "factual": [e.to_dict() for e in self.factual],
        }
        if self.prose is not None:
            data["prose"] = self.prose
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def render(self, fmt: str = "text") -> str:
        """Return the chronicle as text, markdown, bbcode, html or json."""
        from kremlinology.narrate import formats

        if fmt == "json":
            return self.to_json() + "\n"
        renderers = {
            "text": formats.text,
            "markdown": formats.markdown,
            "bbcode": formats.bbcode,
            "html": formats.html,
        }
        if fmt not in renderers:
            raise ChronicleError(f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")
        return renderers[fmt](self)

    @property
    def departures(self) -> int:
        """How many entries of either world are not matched in the other."""
        return sum(e.departure for e in self.whatif) + sum(e.departure for e in self.factual)


def position(result: WhatIfResult, timeline: int) -> int:
    """Return the column of ``timeline`` in the result's per-timeline arrays."""
    timelines = result.twin.timelines
    found = np.flatnonzero(timelines == timeline)
    if found.size == 0:
        runs = result.twin.runs
        if not 0 <= timeline < runs:
            raise ChronicleError(
                f"timeline {timeline} does not exist: this run has timelines 0 to {runs - 1}"
            )
        raise ChronicleError(
            f"timeline {timeline} contradicts the record before the divergence and was not kept; "
            f"{timelines.size:,} of {runs:,} timelines were kept (e.g. {_examples(timelines)})"
        )
    return int(found[0])


def _examples(timelines: np.ndarray) -> str:
    return ", ".join(str(int(t)) for t in timelines[:5])


def replay(result: WhatIfResult, timeline: int) -> tuple[list[Firing], list[Firing]]:
    """Replay one kept timeline; return its (factual, what-if) firings in engine order.

    Raises ChronicleError for a timeline that was not kept, and RuntimeError if the replay does
    not reproduce the ensemble's record of that timeline (which would be an engine bug).
    """
    from kremlinology.counterfactual.twin import NO_PLAN
    from kremlinology.engine.simulate import start_block

    column = position(result, timeline)
    twin = result.twin
    program = _program(twin.scenario)
    common = start_block(program, twin.seed, timeline, 1)
    common.advance(NO_PLAN, stop=twin.divergence - 1, log=True)
    shared = _firings(common.log or [])
    worlds = []
    for plan, world in ((NO_PLAN, twin.factual), (twin.plan, twin.whatif)):
        block = common.copy()
        block.advance(plan, log=True)
        firings = shared + _firings(block.log or [])
        _check(
            block.world.first[:, 0],
            world.first,
            world.outcomes,
            block.records.outcomes[:, 0],
            column,
        )
        worlds.append(firings)
    return worlds[0], worlds[1]


_PROGRAMS: list[tuple[Scenario, VectorProgram]] = []


def _program(scenario: Scenario) -> VectorProgram:
    """The scenario compiled for the kernel, kept for the last few scenarios (by identity)."""
    from kremlinology.engine.vector import VectorProgram

    for known, program in _PROGRAMS:
        if known is scenario:
            return program
    program = VectorProgram(scenario)
    _PROGRAMS[:] = [*_PROGRAMS[-3:], (scenario, program)]
    return program


def _firings(log: list[Fired]) -> list[Firing]:
    return [
        Firing(
            r.month,
            r.event,
            int(r.options[0]),
            () if r.holders is None else tuple(int(c) for c in r.holders[:, 0]),
        )
        for r in log
        if r.timelines.size
    ]


def _check(
    first: np.ndarray,
    ensemble_first: np.ndarray,
    ensemble_outcomes: np.ndarray,
    outcomes: np.ndarray,
    column: int,
) -> None:
    same_events = ensemble_first.shape[1] == 0 or np.array_equal(first, ensemble_first[:, column])
    same_outcomes = np.allclose(outcomes, ensemble_outcomes[:, column], equal_nan=True)
    if not (same_events and same_outcomes):
        raise RuntimeError("the replayed timeline differs from the ensemble's record of it")


def entries(
    result: WhatIfResult, firings: list[Firing], other: list[Firing], narrator: Narrator
) -> list[Entry]:
    """Turn firings into entries; an entry departs when ``other`` lacks it at that month."""
    scenario = result.scenario
    others = {(f.month, f.event, f.option) for f in other}
    found = []
    for firing in firings:
        event = scenario.events[firing.event]
        option = firing.option if event.options else None
        found.append(
            Entry(
                format_month(firing.month),
                event.id,
                event.options[option].id if option is not None else None,
                narrator.sentence(event, firing.month, option, holders(scenario, firing.holders)),
                (firing.month, firing.event, firing.option) not in others,
            )
        )
    return found


def holders(scenario: Scenario, codes: tuple[int, ...]) -> dict[str, str]:
    """Office -> id of its holder, from the codes a firing recorded."""
    domain = scenario.actor_domain
    return {office: domain[c] for office, c in zip(scenario.offices, codes, strict=False)}


def _normalise(firings: list[Firing], result: WhatIfResult) -> list[Firing]:
    events = result.scenario.events
    return [
        Firing(f.month, f.event, f.option if events[f.event].options else None, f.holders)
        for f in firings
    ]


def choose_timeline(result: WhatIfResult, pick: str) -> tuple[int, str]:
    """Return (timeline, why) for ``pick`` in PICKS."""
    from kremlinology.narrate.families import families, surprising

    if pick == "typical":
        largest = families(result)[0]
        return largest.representative, (
            f"the most typical timeline of the largest family of what-if worlds "
            f"({largest.share:.0%} of them: {largest.label})"
        )
    if pick == "surprising":
        found = surprising(result)
        return found.timeline, (
            f"the least likely timeline that still happened: its course of events is rarer than "
            f"that of any other of the {result.twin.kept:,} what-if worlds"
        )
    raise ChronicleError(f"unknown pick '{pick}'; use one of {', '.join(PICKS)}")


def chronicle(
    result: WhatIfResult, timeline: int | None = None, pick: str = "typical"
) -> Chronicle:
    """Tell one timeline of ``result`` in both worlds.

    ``timeline`` is a timeline index among ``result.twin.timelines``; without one, ``pick`` chooses
    the representative of the largest family ("typical") or the least likely timeline
    ("surprising").
    """
    if pick not in PICKS:
        raise ChronicleError(f"unknown pick '{pick}'; use one of {', '.join(PICKS)}")
    if timeline is None:
        timeline, note, chosen = *choose_timeline(result, pick), pick
    else:
        if isinstance(timeline, bool) or not isinstance(timeline, int | np.integer):
            raise ChronicleError(f"timeline must be a whole number, not {timeline!r}")
        timeline, note, chosen = int(timeline), "a timeline chosen by its number", None
    factual, whatif = (_normalise(w, result) for w in replay(result, timeline))
    narrator = Narrator(result.scenario)
    matched = result.resolved.whatif
    return Chronicle(
        timeline=timeline,
        query=result.resolved.query,
        title=matched.title if matched is not None else result.resolved.query,
        interventions=[item.text() for item in result.interventions],
        divergence_month=format_month(result.twin.divergence),
        whatif=entries(result, whatif, factual, narrator),
        factual=entries(result, factual, whatif, narrator),
        pick=chosen,
        note=note,
        scenario=result.scenario.name,
    )
