"""The compiled scenario: everything the engines need, with names resolved to indices."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kremlinology.scenario import schema
from kremlinology.scenario.expressions import Categorical, Node, ValueType


@dataclass(frozen=True)
class Slot:
    """One quantity of a timeline's state: an actor's attribute, a variable or a parameter."""

    name: str
    type: ValueType
    initial: float
    kind: str  # "attribute", "variable" or "parameter"
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Effect:
    """An assignment ``slot <- expression``; numbers are clipped to the slot's range."""

    slot: int
    expr: Node


@dataclass(frozen=True)
class CompiledOption:
    id: str
    label: str
    weight: Node
    effects: tuple[Effect, ...]
    narrate: str | None


@dataclass(frozen=True)
class CompiledEvent:
    """An event with names resolved; ``index`` is its position in the engine's order."""

    index: int
    id: str
    label: str
    first: int
    last: int
    when: Node
    hazard: Node | None
    trigger: tuple[int, int] | None  # (source event index, delay in months)
    once: bool
    actors: tuple[str, ...]
    effects: tuple[Effect, ...]
    options: tuple[CompiledOption, ...]
    sources: tuple[str, ...]
    narrate: str | None
    in_play: Node = field(default_factory=lambda: Node("const", (True,), "bool"))
    """True where every actor of ``actors`` (and the holder of every office among them) is in
    play; the engines never fire the event, forced or not, where it is false."""


@dataclass(frozen=True)
class Probe:
    """An expression read at the start of a month (``month``) or after the last month (None)."""

    id: str
    label: str
    expr: Node
    month: int | None


@dataclass(frozen=True)
class CompiledFact:
    id: str
    label: str
    month: int
    tolerance: int
    condition: Node
    split: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class ParameterSpec:
    slot: int
    model: schema.Parameter


@dataclass
class Scenario:
    """A loaded, validated and compiled scenario. Immutable by convention once loaded."""

    manifest: schema.Manifest
    path: Path
    sha256: str
    start: int
    end: int
    slots: list[Slot]
    slot_index: dict[str, int]
    parameters: list[ParameterSpec]
    events: list[CompiledEvent]
    event_index: dict[str, int]
    outcomes: list[Probe]
    facts: list[CompiledFact]
    actors: list[schema.Actor]
    variables: list[schema.Variable]
    derived: list[schema.Derived]
    whatifs: list[schema.WhatIf]
    derived_nodes: dict[str, Node] = field(default_factory=dict)
    """Name -> the node that reads it: ``derived (k,)``, or a constant or slot used as it is."""
    derived_table: tuple[Node, ...] = ()
    """The tree of each derived quantity by index; a tree refers only to lower indices."""
    derived_names: tuple[str, ...] = ()
    derived_deps: tuple[tuple[int, ...], ...] = ()
    """For each derived quantity, every one it needs (directly or not), in ascending order."""
    offices: dict[str, int] = field(default_factory=dict)
    """Office name (a categorical slot over the actors) -> slot index."""
    in_play: dict[str, Node] = field(default_factory=dict)
    """Actor id -> the condition that it is in play (alive, free, exists: those it declares)."""
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    posterior: np.ndarray | None = None  # rows of parameter values, columns in `parameters` order
    files: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The scenario's id (from its manifest)."""
        return self.manifest.name

    @property
    def version(self) -> str:
        """The scenario's version (from its manifest)."""
        return self.manifest.version

    @property
    def actor_domain(self) -> tuple[str, ...]:
        """The categories of an office: ``none``, then every actor in declaration order."""
        return ("none", *(a.id for a in self.actors if a.id != "none"))

    def value_name(self, value: str) -> str:
        """A categorical value as people write it: a person's short name (``short``, else the last
        word of the name) or another actor's name, ``no one`` for ``none``, a variable's
        ``value_labels`` entry, else the id with spaces for underscores."""
        if value == "none":
            return "no one"
        for actor in self.actors:
            if actor.id == value:
                if actor.short:
                    return actor.short
                return actor.name.split()[-1] if actor.kind == "person" else actor.name
        for variable in self.variables:
            if value in variable.value_labels:
                return variable.value_labels[value]
        return value.replace("_", " ")

    @property
    def months(self) -> int:
        """Number of simulated months."""
        return self.end - self.start + 1

    def initial_state(self) -> np.ndarray:
        """Return the initial value of every slot (parameters as NaN until drawn)."""
        return np.array([s.initial for s in self.slots], dtype=np.float64)

    def category(self, slot: int, code: float) -> str:
        """Return the category name of a categorical slot's code."""
        value_type = self.slots[slot].type
        assert isinstance(value_type, Categorical)
        return value_type.domain[int(code)]

    def describe(self) -> dict[str, object]:
        """Return the identity of this scenario as results record it."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    def __repr__(self) -> str:
        return (
            f"<Scenario {self.name} {self.version}: {len(self.actors)} actors, "
            f"{len(self.events)} events, {len(self.parameters)} parameters, "
            f"{len(self.outcomes)} outcomes>"
        )
