"""Hypothesis strategies: random small scenarios (as YAML text) and random intervention plans.

Every generated scenario is valid: it uses a fixed set of declared quantities (numbers with
ranges, a boolean, a categorical, an actor, two parameters, a derived quantity) and 1 to 6 random
events with random windows, conditions, hazards or triggers (acyclic, delay 0 to 2, in either
direction so delay-0 reordering happens), once or repeating, options with random weights (negative
ones too) and random effects. One variable is unbounded and starts huge, and 1e300 is among the
constants, so infinities and NaN arise and both engines must treat them alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hypothesis import strategies as st

from conftest import ScenarioNamespace
from kremlinology.engine.state import Plan
from kremlinology.scenario.expressions import (
    BOOL,
    NUM,
    Categorical,
    Node,
    as_number,
    compile_expression,
)
from kremlinology.scenario.model import Scenario

START, END = "2000-01", "2000-08"
MONTHS = 8
NUMBERS = ["a", "b", "hero.power", "p1", "d1", "big"]
BOOLEANS = ["flag", "hero.alive"]
MOOD = ["calm", "angry", "wild"]
CONSTANTS = ["0", "0.1", "0.25", "0.5", "1", "2", "3", "-1", "0.3", "1e300"]

BASE = """\
actors:
  - id: hero
    name: The Hero
    kind: person
    attributes:
      alive: true
      power: {value: 0.5, min: 0, max: 1}
variables:
  - {id: a, type: number, initial: 1, min: 0, max: 5}
  - {id: b, type: number, initial: 0, min: -50, max: 50}
  - {id: big, type: number, initial: 1e200}
  - {id: flag, type: boolean, initial: false}
  - {id: mood, type: categorical, values: [calm, angry, wild], initial: calm}
parameters:
  - id: p1
    prior: {dist: uniform, low: 0, high: 1}
  - id: cat
    prior: {dist: categorical, values: [x, y], probs: [0.4, 0.6]}
derived:
  - {id: d1, expr: "a * 0.1 + p1 * 0.5"}
"""


@dataclass
class Shape:
    """The skeleton of the events, drawn before any expression (so expressions can name them)."""

    options: list[int] = field(default_factory=list)  # number of options per event

    def option_id(self, event: int, option: int) -> str:
        return f"o{option}"


class Expressions:
    """Draws random expression text of a given type from a Hypothesis ``data`` object."""

    def __init__(self, data: st.DataObject, shape: Shape) -> None:
        self.data = data
        self.shape = shape

    def choice(self, items: list[str]) -> str:
        return self.data.draw(st.sampled_from(items))

    def number(self, depth: int = 3) -> str:
        kinds = ["const", "name", "month", "since"]
        if depth > 0:
            kinds += ["binary", "binary", "call", "if", "neg", "bool"]
        kind = self.choice(kinds)
        if kind == "const":
            return self.choice(CONSTANTS)
        if kind == "name":
            return self.choice(NUMBERS)
        if kind == "month":
            return "(month - 2000-01)"
        if kind == "since":
            return f"months_since('e{self.event()}')"
        if kind == "binary":
            op = self.choice(["+", "-", "*", "/", "%"])
            return f"({self.number(depth - 1)} {op} {self.number(depth - 1)})"
        if kind == "neg":
            return f"-{self.number(depth - 1)}"
        if kind == "bool":
            return f"({self.boolean(depth - 1)}) * 1"
        if kind == "if":
            return (
                f"({self.number(depth - 1)} if {self.boolean(depth - 1)} "
                f"else {self.number(depth - 1)})"
            )
        fn = self.choice(["min", "max", "clip", "abs", "logistic"])
        if fn in ("abs", "logistic"):
            return f"{fn}({self.number(depth - 1)})"
        if fn == "clip":
            return f"clip({self.number(depth - 1)}, 0, 1)"
        count = self.data.draw(st.integers(2, 3))
        return f"{fn}({', '.join(self.number(depth - 1) for _ in range(count))})"

    def boolean(self, depth: int = 3) -> str:
        kinds = ["name", "const", "compare", "fired", "mood", "cat"]
        if depth > 0:
            kinds += ["and", "or", "not", "compare", "chain"]
        if any(self.shape.options):
            kinds.append("chose")
        kind = self.choice(kinds)
        if kind == "name":
            return self.choice(BOOLEANS)
        if kind == "const":
            return self.choice(["true", "false", "True", "False"])
        if kind == "compare":
            op = self.choice(["<", "<=", ">", ">=", "==", "!="])
            return f"({self.number(depth - 1)} {op} {self.number(depth - 1)})"
        if kind == "chain":
            return f"(0.2 < {self.number(depth - 1)} <= 2)"
        if kind == "fired":
            return f"fired('e{self.event()}')"
        if kind == "mood":
            op = self.choice(["==", "!="])
            value = self.choice([*MOOD, "'calm'", "'wild'"])
            return (
                f"(mood {op} {value})" if self.choice(["l", "r"]) == "l" else f"({value} {op} mood)"
            )
        if kind == "cat":
            return f"(cat == {self.choice(['x', 'y'])})"
        if kind == "chose":
            events = [i for i, n in enumerate(self.shape.options) if n]
            event = self.data.draw(st.sampled_from(events))
            option = self.data.draw(st.integers(0, self.shape.options[event] - 1))
            return f"chose('e{event}', 'o{option}')"
        if kind == "not":
            return f"not {self.boolean(depth - 1)}"
        word = "and" if kind == "and" else "or"
        return f"({self.boolean(depth - 1)} {word} {self.boolean(depth - 1)})"

    def mood(self, depth: int = 2) -> str:
        if depth > 0 and self.choice(["plain", "if"]) == "if":
            return f"({self.mood(0)} if {self.boolean(1)} else {self.mood(0)})"
        return self.choice([*MOOD, "mood", "'angry'"])

    def event(self) -> int:
        return self.data.draw(st.integers(0, len(self.shape.options) - 1))

    def effects(self) -> dict[str, str]:
        targets = self.data.draw(
            st.lists(
                st.sampled_from(["a", "b", "big", "flag", "mood", "hero.power", "hero.alive"]),
                max_size=3,
                unique=True,
            )
        )
        out = {}
        for target in targets:
            if target in ("flag", "hero.alive"):
                out[target] = self.boolean(2)
            elif target == "mood":
                out[target] = self.mood()
            else:
                out[target] = self.number(2)
        return out


def _yaml_effects(effects: dict[str, str], indent: str) -> list[str]:
    if not effects:
        return []
    lines = [f"{indent}effects:"]
    lines += [f"{indent}  {k}: {json.dumps(v)}" for k, v in effects.items()]
    return lines


def _reaches(triggers: dict[int, int], start: int, goal: int) -> bool:
    current: int | None = start
    seen = set()
    while current is not None and current not in seen:
        if current == goal:
            return True
        seen.add(current)
        current = triggers.get(current)
    return False


def draw_events_yaml(data: st.DataObject, max_events: int = 6) -> str:
    """Draw the text of an events file (with BASE prepended and an outcome)."""
    count = data.draw(st.integers(1, max_events), label="events")
    shape = Shape([data.draw(st.sampled_from([0, 0, 1, 2, 3])) for _ in range(count)])
    ex = Expressions(data, shape)
    triggers: dict[int, int] = {}
    lines = [BASE.rstrip(), "events:"]
    for i in range(count):
        lines.append(f"  - id: e{i}")
        lines.append(f"    label: event {i}")
        if data.draw(st.booleans()):
            lo = data.draw(st.integers(0, MONTHS - 1))
            hi = data.draw(st.integers(lo, MONTHS - 1))
            lines.append(f"    window: [2000-{lo + 1:02d}, 2000-{hi + 1:02d}]")
        if data.draw(st.booleans()):
            lines.append(f"    when: {json.dumps(ex.boolean())}")
        kind = data.draw(st.sampled_from(["hazard", "hazard", "trigger", "certain"]))
        if kind == "trigger" and count > 1:
            source = data.draw(st.integers(0, count - 1).filter(lambda j, i=i: j != i))
            if not _reaches(triggers, source, i):
                triggers[i] = source
                delay = data.draw(st.integers(0, 2))
                lines.append(f"    trigger: {{on: e{source}, delay: {delay}}}")
            else:
                kind = "hazard"
        if kind == "hazard" or (kind == "trigger" and i not in triggers):
            hazard = data.draw(st.sampled_from(["0.3", "0.5", "0.9", "p1", "expr"]))
            lines.append(f"    hazard: {json.dumps(ex.number() if hazard == 'expr' else hazard)}")
        if not data.draw(st.booleans()):
            lines.append("    once: false")
        if data.draw(st.booleans()):
            lines.append("    actors: [hero]")
        lines += _yaml_effects(ex.effects(), "    ")
        if shape.options[i]:
            lines.append("    options:")
            for j in range(shape.options[i]):
                lines.append(f"      - id: o{j}")
                weight = data.draw(st.sampled_from(["1", "2", "0", "-1", "expr"]))
                text = ex.number(2) if weight == "expr" else weight
                lines.append(f"        weight: {json.dumps(text)}")
                lines += _yaml_effects(ex.effects(), "        ")
    lines += [
        "outcomes:",
        '  - {id: out_a, label: a at the end, expr: "a"}',
        '  - {id: out_mood, label: mood, expr: "mood"}',
        '  - {id: out_mid, label: flag in April, expr: "flag", at: 2000-04}',
        "facts:",
        "  - {id: f1, month: 2000-03, tolerance: 1, label: fact, condition: \"fired('e0')\"}",
    ]
    return "\n".join(lines) + "\n"


def draw_plan(data: st.DataObject, scenario: Scenario) -> Plan:
    """Draw a random engine-level plan: forced, blocked and chosen events and set values."""
    namespace = ScenarioNamespace(scenario)
    events = range(len(scenario.events))
    months = st.integers(scenario.start, scenario.end)
    forced = data.draw(
        st.dictionaries(st.sampled_from(events), st.frozensets(months, min_size=1), max_size=2)
    )
    blocked = data.draw(st.dictionaries(st.sampled_from(events), months, max_size=2))
    with_options = [e.index for e in scenario.events if e.options]
    chosen: dict[int, int] = {}
    if with_options:
        for e in data.draw(st.lists(st.sampled_from(with_options), max_size=2, unique=True)):
            chosen[e] = data.draw(st.integers(0, len(scenario.events[e].options) - 1))
    settable = [i for i, s in enumerate(scenario.slots) if s.kind != "parameter"]
    numbers = [s.name for s in scenario.slots if s.type == NUM]
    sets: dict[int, tuple[tuple[int, Node], ...]] = {}
    for month in data.draw(st.lists(months, max_size=2, unique=True)):
        items = []
        for slot in data.draw(st.lists(st.sampled_from(settable), min_size=1, max_size=2)):
            value_type = scenario.slots[slot].type
            if isinstance(value_type, Categorical):
                text = data.draw(st.sampled_from(value_type.domain))
                node = compile_expression(text, namespace, value_type)
            elif value_type == BOOL:
                text = data.draw(st.sampled_from(["true", "false", *numbers[:1]]))
                text = text if text in ("true", "false") else f"{text} > 0.3"
                node = compile_expression(text, namespace)
            else:
                name = data.draw(st.sampled_from(numbers))
                op = data.draw(st.sampled_from(["+", "*", "-"]))
                value = data.draw(st.sampled_from(["0.5", "2", "-3", "0"]))
                node = as_number(compile_expression(f"{name} {op} {value}", namespace))
            items.append((slot, node))
        sets[month] = tuple(items)
    return Plan(forced=forced, blocked=blocked, chosen=chosen, sets=sets)
