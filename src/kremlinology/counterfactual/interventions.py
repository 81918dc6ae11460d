"""The intervention language: ``do``, ``block``, ``choose`` and ``set``, combined with ``+``.

do(beria_detects_plot @ 1953-06)            force an event at a month
block(gdr_uprising)                          the event never happens (from its window's start)
block(gdr_uprising @ 1953-06)                ... from a month on
choose(zhukov_stance_1953, beria)            the event, whenever it happens, takes this option
set(us_congress.anticommunism = 0.2 @ 1953-04)   assign a value at the start of a month

Interventions that contradict each other are refused: ``do(x @ m)`` with a ``block(x)`` in force at
``m``, two ``choose`` of different options for one event, two ``set`` of different values for one
name at one month.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from kremlinology.counterfactual.twin import Onset
from kremlinology.engine.state import Plan
from kremlinology.months import MonthFormatError, format_month, parse_month
from kremlinology.scenario.compiler import ScenarioNamespace
from kremlinology.scenario.errors import KremlinologyError
from kremlinology.scenario.expressions import (
    BOOL,
    NUM,
    Categorical,
    ExpressionError,
    Node,
    as_number,
    compile_expression,
)
from kremlinology.scenario.model import Scenario

MAX_QUERY = 2000


class InterventionError(KremlinologyError):
    """An intervention that does not parse or does not fit the scenario."""


@dataclass(frozen=True)
class Do:
    event: str
    month: int

    def text(self) -> str:
        """The intervention in the query language."""
        return f"do({self.event} @ {format_month(self.month)})"


@dataclass(frozen=True)
class Block:
    event: str
    month: int | None = None

    def text(self) -> str:
        """The intervention in the query language."""
        at = f" @ {format_month(self.month)}" if self.month is not None else ""
        return f"block({self.event}{at})"


@dataclass(frozen=True)
class Choose:
    event: str
    option: str

    def text(self) -> str:
        """The intervention in the query language."""
        return f"choose({self.event}, {self.option})"


@dataclass(frozen=True)
class SetValue:
    target: str
    value: str
    month: int

    def text(self) -> str:
        """The intervention in the query language."""
        return f"set({self.target} = {self.value} @ {format_month(self.month)})"


Intervention = Do | Block | Choose | SetValue
_CALL = re.compile(r"^\s*([a-z_]+)\s*\((.*)\)\s*$", re.DOTALL)
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def looks_like_intervention(text: str) -> bool:
    """Return whether a query is written in the intervention language (rather than free text)."""
    return bool(re.match(r"^\s*[a-z_]+\s*\(", text))


def split_top_level(text: str) -> list[str]:
    """Split on '+' outside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == "+" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_interventions(text: str, scenario: Scenario) -> list[Intervention]:
    """Parse and check an intervention expression; raise InterventionError with a clear message."""
    if len(text) > MAX_QUERY:
        raise InterventionError(f"intervention is longer than {MAX_QUERY} characters")
    if text.count("(") != text.count(")"):
        raise InterventionError("unbalanced parentheses in the intervention")
    items = [_parse_one(part, scenario) for part in split_top_level(text)]
    if not items:
        raise InterventionError("empty intervention")
    check_consistent(items)
    return items


def check_consistent(items: list[Intervention]) -> None:
    """Raise InterventionError when two interventions contradict each other."""
    for i, first in enumerate(items):
        for second in items[i + 1 :]:
            why = _contradiction(first, second) or _contradiction(second, first)
            if why:
                raise InterventionError(
                    f"{first.text()} and {second.text()} contradict each other: {why}"
                )


def _contradiction(a: Intervention, b: Intervention) -> str | None:
    if (
        isinstance(a, Do)
        and isinstance(b, Block)
        and a.event == b.event
        and (b.month is None or b.month <= a.month)
    ):
        return f"'{a.event}' cannot be both forced and blocked at {format_month(a.month)}"
    if (
        isinstance(a, Choose)
        and isinstance(b, Choose)
        and a.event == b.event
        and a.option != b.option
    ):
        return f"'{a.event}' cannot take both '{a.option}' and '{b.option}'"
    if (
        isinstance(a, SetValue)
        and isinstance(b, SetValue)
        and (a.target, a.month) == (b.target, b.month)
        and a.value.strip() != b.value.strip()
    ):
        return f"'{a.target}' cannot take two values at {format_month(a.month)}"
    return None


def _parse_one(part: str, scenario: Scenario) -> Intervention:
    match = _CALL.match(part)
    if match is None:
        raise InterventionError(
            f"'{part.strip()}' is not an intervention; write do(EVENT @ YYYY-MM), block(EVENT), "
            "choose(EVENT, OPTION) or set(NAME = VALUE @ YYYY-MM)"
        )
    verb, body = match.group(1), match.group(2).strip()
    if verb == "do":
        return _parse_do(body, scenario)
    if verb == "block":
        return _parse_block(body, scenario)
    if verb == "choose":
        return _parse_choose(body, scenario)
    if verb == "set":
        return _parse_set(body, scenario)
    raise InterventionError(f"unknown intervention '{verb}' (use do, block, choose or set)")


def _at(body: str, verb: str, required: bool) -> tuple[str, str | None]:
    if "@" not in body:
        if required:
            raise InterventionError(f"{verb}(...) needs a month: {verb}(... @ YYYY-MM)")
        return body.strip(), None
    head, _, month = body.rpartition("@")
    return head.strip(), month.strip()


def _month(text: str, scenario: Scenario) -> int:
    try:
        month = parse_month(text)
    except MonthFormatError as error:
        raise InterventionError(str(error)) from None
    if not scenario.start <= month <= scenario.end:
        raise InterventionError(
            f"{text} is outside the scenario ({format_month(scenario.start)} to "
            f"{format_month(scenario.end)})"
        )
    return month


def _event(name: str, scenario: Scenario) -> str:
    if name not in scenario.event_index:
        close = difflib.get_close_matches(name, list(scenario.event_index), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InterventionError(f"unknown event '{name}'{hint}")
    return name


def _parse_do(body: str, scenario: Scenario) -> Do:
    name, month_text = _at(body, "do", required=True)
    event = scenario.events[scenario.event_index[_event(name, scenario)]]
    month = _month(month_text or "", scenario)
    if not event.first <= month <= event.last:
        raise InterventionError(
            f"event '{name}' can only happen from {format_month(event.first)} to "
            f"{format_month(event.last)}, not at {format_month(month)}"
        )
    return Do(name, month)


def _parse_block(body: str, scenario: Scenario) -> Block:
    name, month_text = _at(body, "block", required=False)
    _event(name, scenario)
    return Block(name, None if month_text is None else _month(month_text, scenario))


def _parse_choose(body: str, scenario: Scenario) -> Choose:
    pieces = [p.strip() for p in body.split(",")]
    if len(pieces) != 2:
        raise InterventionError(
            "choose(...) takes an event and one of its options: choose(EVENT, OPTION)"
        )
    event = scenario.events[scenario.event_index[_event(pieces[0], scenario)]]
    options = [o.id for o in event.options]
    if pieces[1] not in options:
        listed = ", ".join(options) if options else "none"
        raise InterventionError(
            f"event '{event.id}' has no option '{pieces[1]}' (options: {listed})"
        )
    return Choose(event.id, pieces[1])


def _parse_set(body: str, scenario: Scenario) -> SetValue:
    assignment, month_text = _at(body, "set", required=True)
    target, equals, value = assignment.partition("=")
    target, value = target.strip(), value.strip()
    if not equals or not target or not value:
        raise InterventionError("set(...) takes NAME = VALUE @ YYYY-MM")
    if target not in scenario.slot_index:
        close = difflib.get_close_matches(target, list(scenario.slot_index), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InterventionError(f"unknown name '{target}'{hint}")
    month = _month(month_text or "", scenario)
    _compile_value(scenario, target, value)
    return SetValue(target, value, month)


def _compile_value(scenario: Scenario, target: str, value: str) -> Node:
    """Compile the value of a ``set`` for its target (numbers take booleans as 1 and 0)."""
    slot = scenario.slots[scenario.slot_index[target]]
    expect = slot.type if isinstance(slot.type, Categorical) else None
    try:
        node = compile_expression(value, ScenarioNamespace(scenario), expect)
    except ExpressionError as error:
        raise InterventionError(f"set({target} = {value}): {error.message}") from None
    if (slot.type == NUM and node.type not in (NUM, BOOL)) or (
        slot.type != NUM and node.type != slot.type
    ):
        raise InterventionError(f"set({target} = {value}): value has the wrong type for '{target}'")
    return as_number(node) if slot.type == NUM else node


def divergence_month(interventions: list[Intervention], scenario: Scenario) -> int:
    """Return the first month at which any intervention can change anything."""
    months = []
    for item in interventions:
        if isinstance(item, Do | SetValue):
            months.append(item.month)
        elif isinstance(item, Block) and item.month is not None:
            months.append(max(item.month, scenario.events[scenario.event_index[item.event]].first))
        else:
            months.append(scenario.events[scenario.event_index[item.event]].first)
    return min(months)


def onset(interventions: list[Intervention], scenario: Scenario) -> Onset:
    """Where the interventions first change something, per timeline (see :class:`Onset`).

    A ``do`` or a ``set`` acts at its month in every timeline; a ``block`` from the month the
    event becomes impossible (its month, or the start of the event's window: from then on the
    world is one where it cannot happen); a ``choose`` when its event first fires in the factual
    world (before that nobody has chosen anything).
    """
    fixed: list[int] = []
    events: list[int] = []
    for item in interventions:
        if isinstance(item, Do | SetValue):
            fixed.append(item.month)
        elif isinstance(item, Block):
            first = scenario.events[scenario.event_index[item.event]].first
            fixed.append(first if item.month is None else max(item.month, first))
        else:
            events.append(scenario.event_index[item.event])
    return Onset(min(fixed) if fixed else None, tuple(sorted(set(events))))


def to_plan(interventions: list[Intervention], scenario: Scenario) -> Plan:
    """Translate parsed interventions into the engines' Plan."""
    forced: dict[int, set[int]] = {}
    blocked: dict[int, int] = {}
    chosen: dict[int, int] = {}
    sets: dict[int, list[tuple[int, Node]]] = {}
    for item in interventions:
        if isinstance(item, SetValue):
            node = _compile_value(scenario, item.target, item.value)
            sets.setdefault(item.month, []).append((scenario.slot_index[item.target], node))
            continue
        index = scenario.event_index[item.event]
        if isinstance(item, Do):
            forced.setdefault(index, set()).add(item.month)
        elif isinstance(item, Block):
            start = item.month if item.month is not None else scenario.start
            blocked[index] = min(blocked.get(index, start), start)
        else:
            options = [o.id for o in scenario.events[index].options]
            chosen[index] = options.index(item.option)
    return Plan(
        forced={k: frozenset(v) for k, v in forced.items()},
        blocked=blocked,
        chosen=chosen,
        sets={k: tuple(v) for k, v in sets.items()},
    )


def describe(interventions: list[Intervention]) -> str:
    """Return the canonical text of a list of interventions."""
    return " + ".join(item.text() for item in interventions)
