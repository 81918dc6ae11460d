"""Testing a causal claim of the record ("EFFECT because CAUSE") on twin worlds.

The cause is an event (it happened) or an event's option (it happened that way); the effect an
outcome (optionally negated, or one category of a categorical outcome). Two what-if worlds answer:

- probability of necessity, PN: among timelines where the cause and the effect both happened, the
  share in which the effect disappears when the cause is removed (the event blocked, or another
  option taken);
- probability of sufficiency, PS: among timelines where neither happened, the share in which the
  effect appears when the cause is imposed (the event forced at its window's start, or the option
  chosen).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from kremlinology.analysis.effects import outcome_columns
from kremlinology.analysis.intervals import wilson
from kremlinology.counterfactual.catalogue import normalise
from kremlinology.counterfactual.interventions import Block, Choose, Do, Intervention, to_plan
from kremlinology.counterfactual.reading import coverage, precision, words
from kremlinology.counterfactual.reading import negated as is_negated
from kremlinology.counterfactual.twin import TwinRun, run_twins
from kremlinology.scenario.errors import KremlinologyError
from kremlinology.scenario.model import CompiledEvent, Scenario

ACCEPT = 0.6
"""The lowest confidence (0-1) at which free text is read as a cause or an effect."""
MARGIN = 0.03
_NEGATION = re.compile(r"^\s*(not|no|never|without)\b\s*", re.IGNORECASE)


class ClaimError(KremlinologyError):
    """A cause or effect that names nothing in the scenario clearly enough."""


@dataclass(frozen=True)
class Cause:
    event: CompiledEvent
    option: str | None
    reading: dict[str, Any] | None = field(default=None, compare=False)
    """How free text was read (``{text, confidence}``); None for an id."""

    def text(self) -> str:
        """The cause as written: ``event`` or ``event.option``."""
        return self.event.id if self.option is None else f"{self.event.id}.{self.option}"

    def happened(self, twin: TwinRun) -> np.ndarray:
        """Per kept timeline of ``twin``: whether the cause happened in the factual world."""
        fired: np.ndarray = twin.factual.first[self.event.index] >= 0
        if self.option is None:
            return fired
        code = [o.id for o in self.event.options].index(self.option)
        chose: np.ndarray = twin.factual.option[self.event.index] == code
        both: np.ndarray = fired & chose
        return both


@dataclass(frozen=True)
class Effect:
    column: str
    label: str
    negated: bool
    reading: dict[str, Any] | None = field(default=None, compare=False)
    """How free text was read (``{text, confidence}``); None for an id."""

    def text(self) -> str:
        """The effect as written: the outcome column, ``not`` first when negated."""
        return ("not " if self.negated else "") + self.column


def resolve_cause(text: str, scenario: Scenario) -> Cause:
    """Resolve ``event``, ``event.option`` or free text naming an event or one of its options."""
    head, _, tail = text.strip().partition(".")
    if head in scenario.event_index:
        event = scenario.events[scenario.event_index[head]]
        if tail and tail not in [o.id for o in event.options]:
            raise ClaimError(f"event '{head}' has no option '{tail}'")
        return Cause(event, tail or None)
    candidates = []
    for event in scenario.events:
        candidates.append((event.label + " " + event.id, Cause(event, None)))
        for option in event.options:
            candidates.append(
                (f"{event.label} {option.label} {option.id}", Cause(event, option.id))
            )
    cause: Cause
    # An event and one of its options that match equally: the event (the option adds words the
    # text does not have).
    bonus = [MARGIN + 0.005 if c.option is None else 0.0 for _label, c in candidates]
    cause, reading = _best(text, candidates, "cause", lambda c: c.text(), bonus)
    what = cause.event.label
    if cause.option is not None:
        label = next(o.label for o in cause.event.options if o.id == cause.option)
        what = f"'{what}' taking the option '{label}'"
    else:
        what = f"'{what}' happening"
    return replace(cause, reading={"text": what, **reading})


def resolve_effect(text: str, scenario: Scenario) -> Effect:
    """Resolve an outcome id (``not``/``no`` negates; ``id.category`` for a category) or free
    text."""
    leading = bool(_NEGATION.match(text))
    body = _NEGATION.sub("", text).strip()
    empty = np.zeros((len(scenario.outcomes), 1))
    columns = {c.id: c.label for c in outcome_columns(scenario, empty)}
    if body in columns:
        return Effect(body, columns[body], leading)
    # Free text: a negation anywhere ("Poland was not invaded") negates it.
    negated = leading != is_negated(body)
    candidates = [
        (f"{label} {ident}", Effect(ident, label, negated)) for ident, label in columns.items()
    ]
    effect: Effect
    effect, reading = _best(body, candidates, "effect", lambda e: e.column)
    what = ("not " if negated else "") + f"'{effect.label}'"
    return replace(effect, reading={"text": what, **reading})


def _best(
    text: str,
    candidates: list[tuple[str, Any]],
    what: str,
    name: Any,
    bonus: list[float] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The candidate free text names, and ``{confidence}``; ClaimError with the closest when
    none is clear (below ACCEPT, or less than MARGIN ahead of the runner-up)."""
    query, content = normalise(text), words(text)
    scored = sorted(
        (
            (
                max(
                    0.9 * fuzz.token_set_ratio(query, normalise(label)) / 100.0,
                    coverage(content, words(label))
                    * (0.7 + 0.3 * precision(content, words(label))),
                )
                + (bonus[i] if bonus else 0.0),
                i,
            )
            for i, (label, _) in enumerate(candidates)
        ),
        reverse=True,
    )
    closest = ", ".join(f"{name(candidates[i][1])} ({s:.2f})" for s, i in scored[:3])
    if not scored or scored[0][0] < ACCEPT:
        raise ClaimError(f"the {what} '{text}' matches nothing clearly; closest: {closest}")
    if len(scored) > 1 and scored[0][0] - scored[1][0] < MARGIN:
        raise ClaimError(f"the {what} '{text}' could mean several things; closest: {closest}")
    return candidates[scored[0][1]][1], {"confidence": round(scored[0][0], 3)}


@dataclass
class ClaimResult:
    """PN and PS of a claim with Wilson intervals (data only: ``narrate.verdicts`` words it)."""

    cause: Cause
    effect: Effect
    removal: Intervention
    imposition: Intervention
    necessity: dict[str, Any]
    sufficiency: dict[str, Any]
    runs: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """The claim's data as a JSON-ready dict (interventions as text)."""
        return {
            "cause": self.cause.text(),
            "effect": self.effect.text(),
            "removal": self.removal.text(),
            "imposition": self.imposition.text(),
            "read_as": {"cause": self.cause.reading, "effect": self.effect.reading},
            "runs": self.runs,
            "seed": self.seed,
            "necessity": self.necessity,
            "sufficiency": self.sufficiency,
        }


def _effect_values(twin: TwinRun, effect: Effect, world: str) -> np.ndarray:
    outcomes = getattr(twin, world).outcomes
    column = next(c for c in outcome_columns(twin.scenario, outcomes) if c.id == effect.column)
    present = column.values > 0.5
    return ~present if effect.negated else present


def _share(mask: np.ndarray, success: np.ndarray) -> dict[str, Any]:
    n = int(mask.sum())
    k = int((mask & success).sum())
    low, high = wilson(k, n)
    return {"p": (k / n) if n else None, "ci": [low, high], "timelines": n}


def _interventions(cause: Cause) -> tuple[Intervention, Intervention]:
    """(removal, imposition) of a cause: block or force the event, or take another option."""
    event = cause.event
    if cause.option is None:
        return Block(event.id), Do(event.id, event.first)
    others = [o.id for o in event.options if o.id != cause.option]
    return Choose(event.id, others[0]), Choose(event.id, cause.option)


def _share_of(
    progress: Callable[[int, int], None] | None, offset: int, runs: int
) -> Callable[[int, int], None] | None:
    """Progress of one of the claim's two runs, told as part of the whole (``2 * runs``)."""
    if progress is None:
        return None
    report = progress

    def told(done: int, _total: int) -> None:
        report(offset + done, 2 * runs)

    return told


def test_claim(
    scenario: Scenario,
    cause_text: str,
    effect_text: str,
    runs: int,
    seed: int,
    condition: bool = True,
    alternative: str | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> ClaimResult:
    """Estimate PN and PS of "effect because cause"; see the module docstring.

    ``progress(done, total)`` hears of both twin runs as one task of ``2 * runs`` timelines.
    """
    cause = resolve_cause(cause_text, scenario)
    effect = resolve_effect(effect_text, scenario)
    removal, imposition = _interventions(cause)
    if alternative is not None and cause.option is not None:
        if alternative not in [o.id for o in cause.event.options if o.id != cause.option]:
            raise ClaimError(f"'{alternative}' is not another option of '{cause.event.id}'")
        removal = Choose(cause.event.id, alternative)
    divergence = cause.event.first
    off = run_twins(
        scenario,
        to_plan([removal], scenario),
        divergence,
        runs,
        seed,
        condition,
        workers=workers,
        progress=_share_of(progress, 0, runs),
    )
    on = run_twins(
        scenario,
        to_plan([imposition], scenario),
        divergence,
        runs,
        seed,
        condition,
        workers=workers,
        progress=_share_of(progress, runs, runs),
    )
    both = cause.happened(off) & _effect_values(off, effect, "factual")
    necessity = _share(both, ~_effect_values(off, effect, "whatif"))
    neither = ~cause.happened(on) & ~_effect_values(on, effect, "factual")
    sufficiency = _share(neither, _effect_values(on, effect, "whatif"))
    return ClaimResult(cause, effect, removal, imposition, necessity, sufficiency, runs, seed)
