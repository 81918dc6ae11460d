"""The coherence audit of a what-if (or of the baseline): data in, counts and examples out.

Over every firing of every logged world (``counterfactual.audit``) it counts:

- ``firings_out_of_play``: firings (one per timeline) of an event one of whose actors, listed or
  through an office, was not in play when it fired (a vacant office's holder never is);
- ``sentences_naming_absent``: chronicle sentences that name an actor (by his name, or for a
  person his short name: the actor file's ``short``, else the last word of his name) who was not in
  play when the event fired, or who is neither among the event's actors nor the holder of one of
  its offices or of an office its sentence names. Two kinds of men are not listed actors and may
  still be named: the man the event's effects (or the option taken) give an office or another
  categorical (the new premier of a succession), who must be in play like an actor; and the
  event's subject, whose ``alive``, ``free`` or ``exists`` its effects (or any option's) set and
  whose condition reads that attribute and his ``alive``: the event befalls him, so he may be
  named though out of play (a prisoner tried, released or dying, an institution created);
- ``forced_at_window_end``: firings of a forced event at or after the last month of its window.

Sentences come from a function the caller passes (the narrator), so this module needs no words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kremlinology.engine.firings import StatusFiring
from kremlinology.engine.state import Plan
from kremlinology.months import format_month
from kremlinology.scenario.compiler import STATUS
from kremlinology.scenario.expressions import Categorical, Node, walk
from kremlinology.scenario.model import CompiledEvent, Effect, Scenario
from kremlinology.scenario.templates import short_name

Sentence = Callable[[CompiledEvent, int, "int | None", Mapping[str, str]], str]
MAX_EXAMPLES = 20
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class AuditedWorlds(Protocol):
    """What the audit reads of logged worlds (the counterfactual layer's ``AuditedWorlds``)."""

    plan: Plan
    runs: int
    seed: int
    kept: int
    worlds: dict[str, list[StatusFiring]]


@dataclass
class AuditReport:
    """The counts of an audit and a few examples of each problem found."""

    query: str
    runs: int
    seed: int
    kept: int
    firings_out_of_play: int = 0
    sentences_naming_absent: int = 0
    forced_at_window_end: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Whether every count is zero."""
        counts = (self.firings_out_of_play, self.sentences_naming_absent, self.forced_at_window_end)
        return not any(counts)

    def to_dict(self) -> dict[str, Any]:
        """The report as the JSON object of ``audit --json``."""
        return {
            "query": self.query,
            "runs": self.runs,
            "seed": self.seed,
            "kept": self.kept,
            "firings_out_of_play": self.firings_out_of_play,
            "sentences_naming_absent": self.sentences_naming_absent,
            "forced_at_window_end": self.forced_at_window_end,
            "examples": self.examples,
        }


class _Names:
    """Finds the actors a sentence names."""

    def __init__(self, scenario: Scenario) -> None:
        self.ids: dict[str, set[str]] = {}
        for actor in scenario.actors:
            forms = {actor.name}
            if actor.kind == "person":
                forms.add(short_name(actor.model_dump()))
            for form in forms:
                self.ids.setdefault(form, set()).add(actor.id)
        alternatives = "|".join(re.escape(f) for f in sorted(self.ids, key=len, reverse=True))
        self.pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])") if self.ids else None

    def named(self, text: str) -> list[set[str]]:
        """For each mention, the actors it may stand for (several when they share a name)."""
        if self.pattern is None:
            return []
        return [self.ids[m.group(0)] for m in self.pattern.finditer(text)]


def installed(scenario: Scenario, effects: tuple[Effect, ...]) -> set[str]:
    """The actors that ``effects`` make the value of a categorical (an office, a ruler)."""
    ids = {a.id for a in scenario.actors}
    found: set[str] = set()
    for effect in effects:
        expr = effect.expr
        if expr.op == "const" and isinstance(expr.type, Categorical):
            value = expr.type.domain[int(expr.args[0])]  # type: ignore[call-overload]
            if value in ids:
                found.add(value)
    return found


def _slots_read(scenario: Scenario, node: Node) -> set[int]:
    """The state slots an expression reads, through the derived quantities it uses."""
    read: set[int] = set()
    stack, seen = [node], set()
    while stack:
        for part in walk(stack.pop()):
            if part.op == "slot":
                read.add(int(part.args[0]))  # type: ignore[call-overload]
            elif part.op == "derived" and part.args[0] not in seen:
                seen.add(part.args[0])
                stack.append(scenario.derived_table[int(part.args[0])])  # type: ignore[call-overload]
    return read


def subjects(scenario: Scenario, event: CompiledEvent) -> set[str]:
    """The actors ``event`` befalls: its effects (or an option's) set a status attribute of
    theirs (``alive``, ``free``, ``exists``) and its condition reads that attribute and, where
    they have one, their ``alive``, so it says in what state they must be."""
    read = _slots_read(scenario, event.when)
    effects = [*event.effects, *(f for option in event.options for f in option.effects)]
    status: dict[str, set[str]] = {}
    for effect in effects:
        actor, _dot, attribute = scenario.slots[effect.slot].name.partition(".")
        if attribute in STATUS:
            status.setdefault(actor, set()).add(attribute)
    found = set()
    for actor, attributes in status.items():
        needed = attributes | ({"alive"} if f"{actor}.alive" in scenario.slot_index else set())
        if all(scenario.slot_index.get(f"{actor}.{a}") in read for a in needed):
            found.add(actor)
    return found


class _Auditor:
    def __init__(self, scenario: Scenario, worlds: AuditedWorlds, sentence: Sentence) -> None:
        self.scenario = scenario
        self.worlds = worlds
        self.sentence = sentence
        self.names = _Names(scenario)
        self.actor_row = {a.id: i for i, a in enumerate(scenario.actors)}
        self.office_row = {name: i for i, name in enumerate(scenario.offices)}
        self.domain = scenario.actor_domain
        self.cache: dict[tuple[int, int, tuple[int, ...]], tuple[str, list[set[str]]]] = {}
        self.subjects = {e.index: subjects(scenario, e) for e in scenario.events}

    def holders_in_play(self, firing: StatusFiring, office: str) -> tuple[np.ndarray, np.ndarray]:
        """(holder codes, holder in play) of an office for each fired timeline."""
        codes = firing.holders[self.office_row[office]]
        rows = np.clip(codes - 1, 0, max(len(self.actor_row) - 1, 0))
        cols = np.arange(codes.size)
        in_play = (codes > 0) & firing.in_play[rows, cols] if self.actor_row else codes > 0
        return codes, in_play

    def out_of_play(self, firing: StatusFiring, event: CompiledEvent) -> tuple[np.ndarray, list]:
        """Per fired timeline: whether an actor was out of play, and which (for examples)."""
        bad = np.zeros(firing.timelines.size, dtype=bool)
        who: list[str | None] = [None] * firing.timelines.size
        for ref in event.actors:
            if ref in self.actor_row:
                gone = ~firing.in_play[self.actor_row[ref]]
                names = [ref] * gone.size
            elif ref in self.office_row:
                codes, held = self.holders_in_play(firing, ref)
                gone = ~held
                names = [self.domain[int(c)] for c in codes]
            else:
                continue
            for k in np.flatnonzero(gone & ~bad):
                who[k] = names[k]
            bad |= gone
        return bad, who

    def text(
        self, firing: StatusFiring, event: CompiledEvent, k: int
    ) -> tuple[str, list[set[str]]]:
        """The sentence of fired timeline ``k`` and the actors it names (cached by content)."""
        option = int(firing.options[k]) if event.options else None
        codes = tuple(int(c) for c in firing.holders[:, k])
        key = (event.index, -1 if option is None else option, codes)
        found = self.cache.get(key)
        if found is None:
            holders = {
                office: self.domain[c] for office, c in zip(self.office_row, codes, strict=True)
            }
            text = self.sentence(event, firing.month, option, holders)
            found = (text, self.names.named(text))
            self.cache[key] = found
        return found

    def absent(
        self, firing: StatusFiring, event: CompiledEvent, rows: np.ndarray
    ) -> tuple[np.ndarray, list[str | None]]:
        """For fired timelines ``rows`` that share one sentence (same option and holders): which
        name an actor who should not be there, and the first such actor."""
        k = int(rows[0])
        _text, mentions = self.text(firing, event, k)
        allowed = {a for a in event.actors if a in self.actor_row}
        allowed |= installed(self.scenario, event.effects)
        if event.options:
            allowed |= installed(self.scenario, event.options[int(firing.options[k])].effects)
        offices = [a for a in event.actors if a in self.office_row]
        offices += [o for o in self._named_offices(event, k, firing) if o not in offices]
        for office in offices:
            allowed.add(self.domain[int(firing.holders[self.office_row[office], k])])
        bad = np.zeros(rows.size, dtype=bool)
        who: list[str | None] = [None] * rows.size
        for candidates in mentions:
            if candidates & self.subjects[event.index]:
                continue
            fine = np.zeros(rows.size, dtype=bool)
            for actor in candidates & allowed:
                fine |= firing.in_play[self.actor_row[actor], rows]
            for j in np.flatnonzero(~fine & ~bad):
                who[j] = sorted(candidates)[0]
            bad |= ~fine
        return bad, who

    def _named_offices(self, event: CompiledEvent, k: int, firing: StatusFiring) -> list[str]:
        option = int(firing.options[k]) if event.options else None
        templates = [event.narrate or ""]
        if option is not None and event.options[option].narrate:
            templates = [event.options[option].narrate or ""]
        return [
            name
            for template in templates
            for name in _PLACEHOLDER.findall(template)
            if name in self.office_row
        ]


def audit(scenario: Scenario, worlds: AuditedWorlds, sentence: Sentence, query: str) -> AuditReport:
    """Count the firings and sentences of ``worlds`` that break the rules of a coherent world."""
    auditor = _Auditor(scenario, worlds, sentence)
    report = AuditReport(query, worlds.runs, worlds.seed, worlds.kept)
    for world, firings in worlds.worlds.items():
        for firing in firings:
            if firing.timelines.size:
                _audit_firing(auditor, report, world, firing)
    return report


def _audit_firing(auditor: _Auditor, report: AuditReport, world: str, firing: StatusFiring) -> None:
    event = auditor.scenario.events[firing.event]
    bad, who = auditor.out_of_play(firing, event)
    report.firings_out_of_play += int(bad.sum())
    for k in np.flatnonzero(bad)[:2]:
        _example(auditor, report, world, firing, int(k), "firing_out_of_play", who[k])
    key = np.vstack([firing.options[None, :].astype(np.int64), firing.holders])
    _unique, inverse = np.unique(key, axis=1, return_inverse=True)
    inverse = inverse.reshape(-1)
    for group in range(int(inverse.max()) + 1):
        rows = np.flatnonzero(inverse == group)
        absent, who = auditor.absent(firing, event, rows)
        report.sentences_naming_absent += int(absent.sum())
        for j in np.flatnonzero(absent)[:1]:
            _example(auditor, report, world, firing, int(rows[j]), "sentence_naming_absent", who[j])
    forced = auditor.worlds.plan.forced.get(firing.event, frozenset())
    if world == "whatif" and firing.month in forced and firing.month >= event.last:
        report.forced_at_window_end += int(firing.timelines.size)
        _example(auditor, report, world, firing, 0, "forced_at_window_end", None)


def _example(
    auditor: _Auditor,
    report: AuditReport,
    world: str,
    firing: StatusFiring,
    k: int,
    rule: str,
    actor: str | None,
) -> None:
    if len(report.examples) >= MAX_EXAMPLES or sum(e["rule"] == rule for e in report.examples) >= 7:
        return
    event = auditor.scenario.events[firing.event]
    report.examples.append(
        {
            "rule": rule,
            "world": world,
            "timeline": int(firing.timelines[k]),
            "month": format_month(firing.month),
            "event": event.id,
            "actor": actor,
            "text": auditor.text(firing, event, k)[0],
        }
    )
