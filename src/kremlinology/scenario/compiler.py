"""Name resolution and compilation of validated scenario files into a :class:`Scenario`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kremlinology.months import MonthFormatError, parse_month
from kremlinology.scenario import schema
from kremlinology.scenario.errors import Position, Problem, ScenarioError
from kremlinology.scenario.expressions import (
    BOOL,
    NUM,
    Categorical,
    ExpressionError,
    Node,
    ValueType,
    as_number,
    compile_expression,
    const,
    gather,
    referenced_names,
    type_name,
)
from kremlinology.scenario.model import (
    CompiledEvent,
    CompiledFact,
    CompiledOption,
    Effect,
    ParameterSpec,
    Probe,
    Scenario,
    Slot,
)
from kremlinology.scenario.posterior import posterior_matrix

if TYPE_CHECKING:
    from kremlinology.scenario.loader import SourceFile


def default_split(manifest: schema.Manifest, month: int) -> str:
    """A fact's split unless it names one: held out from the manifest's ``holdout_from`` on."""
    if manifest.holdout_from is not None and month >= parse_month(manifest.holdout_from):
        return "holdout"
    return "fit"


@dataclass
class Located:
    """A validated item with the file and path it came from, for error positions."""

    item: Any
    source: SourceFile
    path: tuple[str | int, ...]

    def at(self, *keys: str | int, key: bool = False) -> Position:
        """The position of ``path`` in the item's file."""
        return self.source.at((*self.path, *keys), key=key)


class _Namespace:
    """Resolves names for the expression compiler; derived quantities are compiled beforehand,
    in dependency order, and referred to by index (see ``_Builder.compile_derived``)."""

    def __init__(self, builder: _Builder) -> None:
        self.builder = builder
        self.done: dict[str, Node] = {}

    def slot(self, dotted: str) -> tuple[int, ValueType] | None:
        index = self.builder.slot_index.get(dotted)
        return None if index is None else (index, self.builder.slots[index].type)

    def derived(self, name: str) -> Node | None:
        return self.done.get(name)

    def event(self, name: str) -> int | None:
        return self.builder.event_order.get(name)

    def option(self, event: int, name: str) -> int | None:
        options = self.builder.option_ids[event]
        return options.index(name) if name in options else None

    def is_prefix(self, dotted: str) -> bool:
        return dotted in self.builder.prefixes

    def actor_domain(self) -> Categorical:
        return Categorical(self.builder.actor_domain())

    def gather(self, attribute: str) -> tuple[tuple[int, ...], ValueType] | str:
        return gather_table(self.builder.actor_domain(), attribute, self.slot)


def gather_table(
    domain: tuple[str, ...],
    attribute: str,
    slot: Callable[[str], tuple[int, ValueType] | None],
) -> tuple[tuple[int, ...], ValueType] | str:
    """The slot of ``actor.attribute`` for each code of the actor domain (-1 if absent), and its
    type; or a message when no actor has it or actors give it different types."""
    found = [slot(f"{actor}.{attribute}") if actor != "none" else None for actor in domain]
    types = {f[1] for f in found if f is not None}
    if not types:
        return f"no actor has an attribute '{attribute}'"
    if len(types) > 1:
        shown = " and ".join(sorted(type_name(t) for t in types))
        return (
            f"'{attribute}' is a {shown} for different actors; a holder's attribute needs one type"
        )
    return tuple(-1 if f is None else f[0] for f in found), types.pop()


class _Builder:
    """Collects problems while turning validated items into compiled parts."""

    def __init__(self, manifest: schema.Manifest, files: list[SourceFile], content: list[dict]):
        self.manifest = manifest
        self.start = parse_month(manifest.start)
        self.end = parse_month(manifest.end)
        self.problems: list[Problem] = []
        self.sections: dict[str, list[Located]] = {name: [] for name in schema.SECTIONS}
        for source, sections in zip(files, content, strict=True):
            for name, items in sections.items():
                for i, item in enumerate(items):
                    if item is not None:
                        self.sections[name].append(Located(item, source, (name, i)))
        self.slots: list[Slot] = []
        self.slot_index: dict[str, int] = {}
        self.prefixes: set[str] = set()
        self.derived = {d.item.id: d for d in self.sections["derived"]}
        self.derived_table: list[Node] = []
        self.derived_names: list[str] = []
        self.derived_deps: list[tuple[int, ...]] = []
        self.event_order: dict[str, int] = {}
        self.option_ids: list[list[str]] = []
        self.namespace = _Namespace(self)

    def problem(self, position: Position, message: str) -> None:
        self.problems.append(Problem(position, message))

    def expression_problem(
        self, located: Located, key: str | tuple, error: ExpressionError
    ) -> None:
        keys = key if isinstance(key, tuple) else (key,)
        position = located.source.inside((*located.path, *keys), error.line, error.col)
        self.problem(position, error.message)

    def expression(
        self, located: Located, key: str | tuple, source: Any, expect: Categorical | None = None
    ) -> Node | None:
        try:
            return compile_expression(source, self.namespace, expect)
        except ExpressionError as error:
            self.expression_problem(located, key, error)
            return None

    def month(self, located: Located, text: str, *keys: str | int) -> int | None:
        try:
            value = parse_month(text)
        except MonthFormatError as error:
            self.problem(located.at(*keys), str(error))
            return None
        return value

    def in_span(
        self, located: Located, month: int | None, *keys: str | int, slack: int = 0
    ) -> None:
        if month is not None and not self.start <= month <= self.end + slack:
            span = f"{self.manifest.start} to {self.manifest.end}"
            self.problem(located.at(*keys), f"month is outside the scenario's span ({span})")

    # -- identity ---------------------------------------------------------------------------

    def check_duplicates(self) -> None:
        groups = {
            "name": ["actors", "variables", "parameters", "derived"],
            "event": ["events"],
            "group": ["groups"],
            "outcome": ["outcomes"],
            "fact": ["facts"],
            "what-if": ["whatifs"],
        }
        for kind, sections in groups.items():
            seen: dict[str, Position] = {}
            for located in (x for s in sections for x in self.sections[s]):
                ident = located.item.id
                if ident in seen:
                    first = seen[ident]
                    self.problem(
                        located.at("id"),
                        f"duplicate {kind} id '{ident}' (first defined at {first})",
                    )
                else:
                    seen[ident] = located.at("id")

    # -- state slots ------------------------------------------------------------------------

    def add_slot(self, located: Located, slot: Slot, *keys: str | int) -> None:
        if slot.name in self.slot_index:
            self.problem(located.at(*keys), f"'{slot.name}' is declared twice")
            return
        self.slot_index[slot.name] = len(self.slots)
        self.slots.append(slot)
        parts = slot.name.split(".")
        self.prefixes.update(".".join(parts[:i]) for i in range(1, len(parts)))

    def actor_domain(self) -> tuple[str, ...]:
        return ("none", *(a.item.id for a in self.sections["actors"] if a.item.id != "none"))

    def domain(self, values: Any) -> Categorical:
        if values == "actors":
            return Categorical(self.actor_domain())
        return Categorical(tuple(values))

    def build_actor_slots(self) -> None:
        """Each actor's attributes, then those that ``attributes`` items add to it, in order."""
        extra: dict[str, list[Located]] = {}
        actors = {a.item.id for a in self.sections["actors"]}
        for located in self.sections["attributes"]:
            if located.item.actor not in actors:
                self.problem(located.at("actor"), f"unknown actor '{located.item.actor}'")
                continue
            extra.setdefault(located.item.actor, []).append(located)
        for located in self.sections["actors"]:
            self._attributes(located, located.item.id, located.item.attributes, ("attributes",))
            for more in extra.get(located.item.id, []):
                self._attributes(more, located.item.id, more.item.attributes, ("attributes",))
        for located in self.sections["actors"]:
            for status in STATUS:
                index = self.slot_index.get(f"{located.item.id}.{status}")
                if index is not None and self.slots[index].type != BOOL:
                    self.problem(
                        located.at("attributes", status),
                        f"'{status}' says whether {located.item.id} is in play: "
                        "it must be a boolean",
                    )

    def check_groups(self) -> None:
        actors = {a.item.id for a in self.sections["actors"]}
        for located in self.sections["groups"]:
            for i, member in enumerate(located.item.members):
                if member not in actors:
                    self.problem(located.at("members", i), f"unknown actor '{member}'")

    # -- derived quantities -----------------------------------------------------------------

    def compile_derived(self) -> None:
        """Compile derived quantities in dependency order, each once, referred to by index.

        Nothing here recurses along a chain of derived quantities, so a chain of any length or a
        DAG whose inlined expansion would double at each level compiles in linear time.
        """
        names = list(self.derived)
        direct = {
            name: sorted(referenced_names(self.derived[name].item.expr) & self.derived.keys())
            for name in names
        }
        order, cyclic = _topological(names, direct)
        for cycle in cyclic:
            chain = " -> ".join([*cycle, cycle[0]])
            self.problem(
                self._mention(self.derived[cycle[-1]], cycle[0]),
                f"derived quantities form a cycle: {chain}",
            )
            for name in cycle:
                self.namespace.done[name] = const(0.0, NUM)
        reads: dict[int, frozenset[int]] = {}
        for name in order:
            located = self.derived[name]
            try:
                node = compile_expression(located.item.expr, self.namespace)
            except ExpressionError as error:
                self.expression_problem(located, "expr", error)
                node = const(0.0, NUM)
            if not any(isinstance(a, Node) for a in node.args):
                self.namespace.done[name] = node  # a constant or a plain name: used as it is
                continue
            index = len(self.derived_table)
            needs = frozenset(
                j for part in _derived_refs(node) for j in (part, *reads.get(part, frozenset()))
            )
            reads[index] = needs
            self.derived_table.append(node)
            self.derived_names.append(name)
            self.derived_deps.append(tuple(sorted(needs)))
            self.namespace.done[name] = Node("derived", (index,), node.type)

    def _mention(self, located: Located, name: str) -> Position:
        """The position of the first mention of ``name`` in a derived quantity's expression."""
        text = str(located.item.expr)
        found = re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", text)
        if found is None:
            return located.at("expr")
        line = text.count("\n", 0, found.start()) + 1
        col = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
        return located.source.inside((*located.path, "expr"), line, col)

    # -- actors in play ---------------------------------------------------------------------

    def actor_in_play(self, actor: str) -> Node:
        """Whether an actor is in play: every one of alive, free and exists that it declares."""
        terms = [
            Node("slot", (self.slot_index[f"{actor}.{s}"],), BOOL)
            for s in STATUS
            if f"{actor}.{s}" in self.slot_index
        ]
        return _conjunction(terms)

    def office_in_play(self, office: int) -> Node:
        """Whether an office's holder is in play (a vacant office's holder never is)."""
        code = Node("slot", (office,), self.slots[office].type)
        domain = self.actor_domain()
        terms = []
        for status in STATUS:
            slots = tuple(self.slot_index.get(f"{a}.{status}", -1) for a in domain)
            if any(s >= 0 for k, s in enumerate(slots) if k):
                fill = tuple(0.0 if a == "none" else 1.0 for a in domain)
                terms.append(gather(code, slots, fill, BOOL))
        if not terms:
            terms.append(Node("ne", (code, const(0.0, code.type)), BOOL))
        return _conjunction(terms)

    def offices(self) -> dict[str, int]:
        """Every office: a categorical slot whose values are the actors."""
        domain = Categorical(self.actor_domain())
        return {s.name: i for i, s in enumerate(self.slots) if s.type == domain}

    def event_in_play(self, located: Located, refs: list[str], actors: set[str]) -> Node:
        offices = self.offices()
        terms = []
        for i, ref in enumerate(refs):
            if ref in actors:
                terms.append(self.actor_in_play(ref))
            elif ref in offices:
                terms.append(self.office_in_play(offices[ref]))
            elif "." in ref:
                self.problem(
                    located.at("actors", i), f"'{ref}' is not an office (a categorical of actors)"
                )
            else:
                self.problem(located.at("actors", i), f"unknown actor '{ref}'")
        flat: list[Node] = []
        for term in terms:
            flat += [t for t in term.args if isinstance(t, Node)] if term.op == "and" else [term]
        return _conjunction([t for t in flat if t.op != "const"])

    def _attributes(self, located: Located, prefix: str, table: Any, keys: tuple) -> None:
        for name, value in table.items():
            here = (*keys, name)
            if not _is_id(name):
                self.problem(located.at(*here, key=True), f"'{name}' is not an attribute name")
                continue
            dotted = f"{prefix}.{name}"
            if isinstance(value, dict) and "value" not in value:
                self._attributes(located, dotted, value, here)
                continue
            slot = self._attribute_slot(located, dotted, value, here)
            if slot is not None:
                self.add_slot(located, slot, *here)

    def _attribute_slot(
        self, located: Located, dotted: str, value: Any, keys: tuple
    ) -> Slot | None:
        if isinstance(value, bool):
            return Slot(dotted, BOOL, float(value), "attribute")
        if isinstance(value, int | float):
            return Slot(dotted, NUM, float(value), "attribute")
        if isinstance(value, dict):
            unknown = set(value) - {"value", "min", "max", "values"}
            if unknown:
                self.problem(located.at(*keys, key=True), f"unknown key '{sorted(unknown)[0]}'")
                return None
            if "values" in value:
                return self._categorical_slot(
                    located, dotted, value["value"], value["values"], keys
                )
            return self._number_slot(located, dotted, value.get("value"), value, keys, "attribute")
        self.problem(
            located.at(*keys),
            f"'{dotted}': give a boolean, a number, {{value, min, max}} or {{value, values}}",
        )
        return None

    def _number_slot(
        self, located: Located, name: str, value: Any, bounds: dict, keys: tuple, kind: str
    ) -> Slot | None:
        low, high = bounds.get("min"), bounds.get("max")
        numbers = [v for v in (value, low, high) if v is not None]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
            self.problem(located.at(*keys), f"'{name}': value, min and max must be numbers")
            return None
        if value is None:
            self.problem(located.at(*keys), f"'{name}': a value is required")
            return None
        if low is not None and high is not None and low > high:
            self.problem(located.at(*keys), f"'{name}': min is above max")
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            self.problem(located.at(*keys), f"'{name}': initial value {value} is outside its range")
            return None
        return Slot(name, NUM, float(value), kind, _opt(low), _opt(high))

    def _categorical_slot(
        self,
        located: Located,
        name: str,
        value: Any,
        values: Any,
        keys: tuple,
        kind: str = "attribute",
    ) -> Slot | None:
        if values != "actors" and not (
            isinstance(values, list)
            and values
            and all(isinstance(v, str) and _is_id(v) for v in values)
        ):
            self.problem(located.at(*keys), f"'{name}': values must be a list of ids or 'actors'")
            return None
        domain = self.domain(values)
        if str(value) not in domain.domain:
            self.problem(located.at(*keys), f"'{name}': '{value}' is not one of its values")
            return None
        return Slot(name, domain, float(domain.domain.index(str(value))), kind)

    def build_variable_slots(self) -> None:
        for located in self.sections["variables"]:
            item: schema.Variable = located.item
            slot: Slot | None
            if item.type == "categorical":
                slot = self._categorical_slot(
                    located, item.id, item.initial, item.values, ("initial",), "variable"
                )
                known = item.values if isinstance(item.values, list) else []
                for value in item.value_labels:
                    if value not in known:
                        self.problem(
                            located.at("value_labels", value, key=True),
                            f"'{item.id}': value_labels names '{value}', which is not one of "
                            "its values",
                        )
            elif item.type == "boolean":
                if not isinstance(item.initial, bool):
                    self.problem(located.at("initial"), f"'{item.id}': initial must be a boolean")
                    continue
                slot = Slot(item.id, BOOL, float(item.initial), "variable")
            else:
                bounds = {"min": item.min, "max": item.max}
                slot = self._number_slot(
                    located, item.id, item.initial, bounds, ("initial",), "variable"
                )
            if slot is not None:
                self.add_slot(located, slot, "id")

    def build_parameter_slots(self) -> list[ParameterSpec]:
        specs = []
        for located in self.sections["parameters"]:
            item: schema.Parameter = located.item
            prior = item.prior
            if not self._prior_ok(located, prior):
                continue
            value_type: ValueType = NUM
            if isinstance(prior, schema.CategoricalPrior):
                value_type = Categorical(tuple(prior.values))
            self.add_slot(located, Slot(item.id, value_type, float("nan"), "parameter"), "id")
            specs.append(ParameterSpec(self.slot_index[item.id], item))
        return specs

    def _prior_ok(self, located: Located, prior: Any) -> bool:
        if isinstance(prior, schema.Uniform | schema.TruncNormal) and prior.low >= prior.high:
            self.problem(located.at("prior"), "prior: low must be below high")
            return False
        if isinstance(prior, schema.CategoricalPrior):
            if len(prior.values) != len(prior.probs):
                self.problem(located.at("prior"), "prior: values and probs differ in length")
                return False
            if abs(sum(prior.probs) - 1.0) > 1e-6:
                self.problem(located.at("prior", "probs"), "prior: probs must sum to 1")
                return False
        return True

    # -- events -----------------------------------------------------------------------------

    def order_events(self) -> list[Located]:
        """Return events in engine order: declared order, each delay-0 trigger after its source."""
        events = self.sections["events"]
        ids = {e.item.id for e in events}
        for located in events:
            trigger = located.item.trigger
            if trigger is not None and trigger.on not in ids:
                self.problem(located.at("trigger", "on"), f"unknown event '{trigger.on}'")
            if trigger is not None and located.item.hazard is not None:
                self.problem(located.at("hazard", key=True), "give a hazard or a trigger, not both")
        self._check_cycles(events, ids)
        placed: list[Located] = []
        pending = list(events)
        while pending:
            for located in pending:
                trigger = located.item.trigger
                source = trigger.on if trigger is not None and trigger.delay == 0 else None
                if source not in ids or any(p.item.id == source for p in placed):
                    placed.append(located)
                    pending.remove(located)
                    break
            else:  # only reachable with a cycle, which is reported already
                placed.extend(pending)
                break
        return placed

    def _check_cycles(self, events: list[Located], ids: set[str]) -> None:
        edges = {
            e.item.id: e.item.trigger.on
            for e in events
            if e.item.trigger and e.item.trigger.on in ids
        }
        reported: set[str] = set()
        for located in events:
            path: list[str] = []
            current: str | None = located.item.id
            while current is not None and current not in path:
                path.append(current)
                current = edges.get(current)
            if current is not None and current == located.item.id and current not in reported:
                cycle = path[path.index(current) :]
                reported.update(cycle)
                chain = " -> ".join([*cycle, current])
                self.problem(located.at("trigger", "on"), f"triggered events form a cycle: {chain}")

    def compile_events(self, ordered: list[Located]) -> list[CompiledEvent]:
        self.event_order = {e.item.id: i for i, e in enumerate(ordered)}
        self.option_ids = [[o.id for o in e.item.options] for e in ordered]
        actors = {a.item.id for a in self.sections["actors"]}
        return [c for i, e in enumerate(ordered) if (c := self._event(i, e, actors)) is not None]

    def _event(self, index: int, located: Located, actors: set[str]) -> CompiledEvent | None:
        item: schema.Event = located.item
        first, last = self.start, self.end
        if item.window is not None:
            months = [self.month(located, m, "window", i) for i, m in enumerate(item.window)]
            for i, m in enumerate(months):
                self.in_span(located, m, "window", i)
            if months[0] is not None and months[1] is not None:
                first, last = months[0], months[1]
                if first > last:
                    self.problem(located.at("window"), "window ends before it starts")
        in_play = self.event_in_play(located, list(item.actors), actors)
        when = self._boolean(located, "when", item.when)
        hazard = None
        if item.hazard is not None:
            hazard = self._number(located, "hazard", item.hazard)
        trigger = None
        if item.trigger is not None and item.trigger.on in self.event_order:
            trigger = (self.event_order[item.trigger.on], item.trigger.delay)
        effects = self._effects(located, ("effects",), item.effects)
        options = tuple(self._option(located, i, o) for i, o in enumerate(item.options))
        self._unique_options(located, item)
        if when is None or (item.hazard is not None and hazard is None):
            return None
        if hazard is None and trigger is None:
            hazard = Node("const", (1.0,), NUM)
        return CompiledEvent(
            index,
            item.id,
            item.label,
            first,
            last,
            when,
            hazard if trigger is None else None,
            trigger,
            item.once,
            tuple(item.actors),
            effects,
            options,
            tuple(item.sources),
            item.narrate,
            in_play,
        )

    def _unique_options(self, located: Located, item: schema.Event) -> None:
        seen: set[str] = set()
        for i, option in enumerate(item.options):
            if option.id in seen:
                self.problem(located.at("options", i, "id"), f"duplicate option id '{option.id}'")
            seen.add(option.id)

    def _option(self, located: Located, i: int, option: schema.Option) -> CompiledOption:
        weight = self._number(located, ("options", i, "weight"), option.weight)
        effects = self._effects(located, ("options", i, "effects"), option.effects)
        return CompiledOption(
            option.id,
            option.label or option.id.replace("_", " "),
            weight or Node("const", (0.0,), NUM),
            effects,
            option.narrate,
        )

    def _boolean(self, located: Located, key: str | tuple, source: Any) -> Node | None:
        node = self.expression(located, key, source)
        if node is not None and node.type != BOOL:
            keys = key if isinstance(key, tuple) else (key,)
            self.problem(
                located.at(*keys), f"must be a condition (boolean), not a {type_name(node.type)}"
            )
            return None
        return node

    def _number(self, located: Located, key: str | tuple, source: Any) -> Node | None:
        node = self.expression(located, key, source)
        if node is not None and node.type not in (NUM, BOOL):
            keys = key if isinstance(key, tuple) else (key,)
            self.problem(located.at(*keys), f"must be a number, not a {type_name(node.type)}")
            return None
        return None if node is None else as_number(node)

    def _effects(
        self, located: Located, keys: tuple, effects: dict[str, Any]
    ) -> tuple[Effect, ...]:
        compiled = []
        for target, source in effects.items():
            here = (*keys, target)
            index = self.slot_index.get(target)
            if index is None or self.slots[index].kind == "parameter":
                why = "a parameter cannot be assigned" if index is not None else "unknown name"
                self.problem(located.at(*here, key=True), f"effect target '{target}': {why}")
                continue
            slot = self.slots[index]
            expect = slot.type if isinstance(slot.type, Categorical) else None
            node = self.expression(located, here, source, expect)
            if node is None:
                continue
            if not _assignable(slot.type, node.type):
                self.problem(
                    located.at(*here),
                    f"'{target}' is a {type_name(slot.type)}; "
                    f"cannot assign a {type_name(node.type)}",
                )
                continue
            compiled.append(Effect(index, as_number(node) if slot.type == NUM else node))
        return tuple(compiled)

    # -- outcomes and facts -----------------------------------------------------------------

    def compile_outcomes(self) -> list[Probe]:
        probes = []
        for located in self.sections["outcomes"]:
            item: schema.Outcome = located.item
            month = None if item.at == "end" else self.month(located, item.at, "at")
            self.in_span(located, month, "at", slack=1)
            if month is not None and month == self.end + 1:
                month = None
            node = self.expression(located, "expr", item.expr)
            if node is not None and node.type == "str":
                self.problem(located.at("expr"), "an outcome must be a number, boolean or category")
            elif node is not None:
                probes.append(Probe(item.id, item.label, node, month))
        return probes

    def compile_facts(self) -> list[CompiledFact]:
        facts = []
        for located in self.sections["facts"]:
            item: schema.Fact = located.item
            month = self.month(located, item.month, "month")
            self.in_span(located, month, "month")
            condition = self._boolean(located, "condition", item.condition)
            if month is None or condition is None:
                continue
            split = item.split or default_split(self.manifest, month)
            facts.append(
                CompiledFact(
                    item.id,
                    item.label,
                    month,
                    item.tolerance,
                    condition,
                    split,
                    tuple(item.sources),
                )
            )
        return facts


STATUS = ("alive", "free", "exists")
"""The boolean attributes that decide whether an actor is in play (those it declares)."""


def _conjunction(terms: list[Node]) -> Node:
    if not terms:
        return const(True, BOOL)
    return terms[0] if len(terms) == 1 else Node("and", tuple(terms), BOOL)


def _derived_refs(node: Node) -> set[int]:
    """Indices of the derived quantities a tree refers to directly."""
    found: set[int] = set()
    stack = [node]
    while stack:
        part = stack.pop()
        if part.op == "derived":
            found.add(int(part.args[0]))  # type: ignore[call-overload]
        stack.extend(a for a in part.args if isinstance(a, Node))
    return found


def _topological(
    names: list[str], direct: dict[str, list[str]]
) -> tuple[list[str], list[list[str]]]:
    """Order names so that each comes after what it uses (declaration order otherwise), without
    recursion; return the order and the cycles found (names in a cycle are left out)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    order: list[str] = []
    cycles: list[list[str]] = []
    for root in names:
        if root in state:
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            name, next_child = stack.pop()
            if next_child == 0:
                if state.get(name) == 2:
                    continue
                state[name] = 1
                path.append(name)
            children = direct[name]
            if next_child < len(children):
                stack.append((name, next_child + 1))
                child = children[next_child]
                if state.get(child) == 1:
                    cycle = path[path.index(child) :]
                    if not any(set(cycle) == set(c) for c in cycles):
                        cycles.append(cycle)
                elif child not in state:
                    stack.append((child, 0))
                continue
            state[name] = 2
            path.pop()
            order.append(name)
    in_cycle = {n for c in cycles for n in c}
    return [n for n in order if n not in in_cycle], cycles


def _is_id(name: str) -> bool:
    return bool(name) and name[0].isalpha() and name.islower() and name.replace("_", "a").isalnum()


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def _assignable(target: ValueType, value: ValueType) -> bool:
    if target == NUM:
        return value in (NUM, BOOL)
    return target == value


def compile_scenario(
    manifest: schema.Manifest,
    manifest_file: SourceFile,
    files: list[SourceFile],
    content: list[dict],
    folder: Path,
    digest: str,
    posterior: tuple[list[str], list[list[str]]] | None,
) -> Scenario:
    """Resolve names and compile every section; raise ScenarioError with all problems found."""
    builder = _Builder(manifest, files, content)
    builder.check_duplicates()
    builder.check_groups()
    builder.build_actor_slots()
    builder.build_variable_slots()
    parameters = builder.build_parameter_slots()
    builder.compile_derived()
    events = builder.compile_events(builder.order_events())
    outcomes = builder.compile_outcomes()
    facts = builder.compile_facts()
    matrix = _posterior(builder, manifest_file, parameters, posterior)
    if builder.problems:
        raise ScenarioError(builder.problems)
    return Scenario(
        manifest=manifest,
        path=folder,
        sha256=digest,
        start=builder.start,
        end=builder.end,
        slots=builder.slots,
        slot_index=builder.slot_index,
        parameters=parameters,
        events=events,
        event_index={e.id: e.index for e in events},
        outcomes=outcomes,
        facts=facts,
        actors=[x.item for x in builder.sections["actors"]],
        variables=[x.item for x in builder.sections["variables"]],
        derived=[x.item for x in builder.sections["derived"]],
        whatifs=[x.item for x in builder.sections["whatifs"]],
        posterior=matrix,
        derived_nodes=dict(builder.namespace.done),
        derived_table=tuple(builder.derived_table),
        derived_names=tuple(builder.derived_names),
        derived_deps=tuple(builder.derived_deps),
        offices=builder.offices(),
        in_play={a.item.id: builder.actor_in_play(a.item.id) for a in builder.sections["actors"]},
        groups={g.item.id: tuple(g.item.members) for g in builder.sections["groups"]},
        files=[f.name for f in files],
    )


def _posterior(
    builder: _Builder,
    manifest_file: SourceFile,
    parameters: list[ParameterSpec],
    posterior: tuple[list[str], list[list[str]]] | None,
) -> np.ndarray | None:
    if posterior is None:
        return None
    header, rows = posterior
    columns = [p.model.id for p in parameters]
    missing = [c for c in columns if c not in header]
    if missing:
        builder.problem(
            manifest_file.at(("posterior",)), f"posterior lacks parameters: {', '.join(missing)}"
        )
        return None
    domains = [_domain_of(builder.slots[p.slot].type) for p in parameters]
    try:
        return posterior_matrix(header, rows, columns, domains)
    except (ValueError, IndexError) as error:
        message = f"posterior has a malformed value ({error})"
        builder.problem(manifest_file.at(("posterior",)), message)
        return None


def _domain_of(value_type: ValueType) -> tuple[str, ...] | None:
    return value_type.domain if isinstance(value_type, Categorical) else None


def iter_nodes(scenario: Scenario) -> Iterator[Node]:
    """Yield the root of every compiled expression of a scenario."""
    for event in scenario.events:
        yield event.when
        yield event.in_play
        if event.hazard is not None:
            yield event.hazard
        yield from (e.expr for e in event.effects)
        for option in event.options:
            yield option.weight
            yield from (e.expr for e in option.effects)
    yield from (o.expr for o in scenario.outcomes)
    yield from (f.condition for f in scenario.facts)
    yield from scenario.derived_table


class ScenarioNamespace:
    """Resolves names against an already compiled scenario (for interventions and extra facts)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.prefixes = {
            ".".join(name.split(".")[:i])
            for name in scenario.slot_index
            for i in range(1, name.count(".") + 1)
        }

    def slot(self, dotted: str) -> tuple[int, ValueType] | None:
        """The slot index and type of a dotted name, or None."""
        index = self.scenario.slot_index.get(dotted)
        return None if index is None else (index, self.scenario.slots[index].type)

    def derived(self, name: str) -> Node | None:
        """The expression of a derived value, or None."""
        return self.scenario.derived_nodes.get(name)

    def event(self, name: str) -> int | None:
        """The index of an event, or None."""
        return self.scenario.event_index.get(name)

    def option(self, event: int, name: str) -> int | None:
        """The index of an option of ``event``, or None."""
        options = [o.id for o in self.scenario.events[event].options]
        return options.index(name) if name in options else None

    def is_prefix(self, dotted: str) -> bool:
        """Whether ``dotted`` starts some slot name (an actor, say)."""
        return dotted in self.prefixes

    def actor_domain(self) -> Categorical:
        """The categorical type whose values are the actors (and none)."""
        return Categorical(self.scenario.actor_domain)

    def gather(self, attribute: str) -> tuple[tuple[int, ...], ValueType] | str:
        """Each actor's slot of ``attribute`` and its type, or an error message."""
        return gather_table(self.scenario.actor_domain, attribute, self.slot)
