"""The reference engine: a plain per-timeline interpreter of the same semantics as the kernel.

It exists to check the vectorized kernel. It shares the parser, the random streams and the parameter
draws with it, but evaluates expressions by walking the tree over Python floats, one timeline and
one event at a time. Only ``logistic`` (SciPy's ``expit``, with the C library's ``exp``) and
``%`` (NumPy scalars) go through library code, so that all engines round identically. The
semantics (the month's order, actors in play, forced events) are stated in ``engine.vector``'s
docstring; this module is their plainest reading.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from kremlinology.engine import rng
from kremlinology.engine.state import Plan, initial_state
from kremlinology.months import NEVER
from kremlinology.scenario.expressions import BOOL, NEVER_MONTHS, Node
from kremlinology.scenario.model import CompiledEvent, Effect, Scenario

Scalar = float | bool


@dataclass
class Timeline:
    """One timeline's state: plain lists of floats and ints."""

    index: int
    month: int
    values: list[float]
    last: list[int]
    first: list[int]
    option: list[int]
    count: list[int]
    derived: tuple[Node, ...] = ()
    derived_deps: tuple[tuple[int, ...], ...] = ()
    cache: dict[int, Scalar] = field(default_factory=dict)
    """Derived values of the current state; emptied on every write (see ``changed``)."""
    refused: list[tuple[int, str]] = field(default_factory=list)
    """(month, event id) of each forced firing refused because an actor was out of play."""

    def changed(self) -> None:
        """Forget derived values after any write to the state, its records or the month."""
        self.cache.clear()


def evaluate(node: Node, t: Timeline) -> Scalar:
    """Evaluate an expression tree for one timeline."""
    op, args = node.op, node.args
    if op == "const":
        return cast(Scalar, args[0])
    if op == "slot":
        value = t.values[cast(int, args[0])]
        return value != 0.0 if node.type == BOOL else value
    if op == "month":
        return float(t.month)
    if op == "fired":
        return t.last[cast(int, args[0])] >= 0
    if op == "since":
        last = t.last[cast(int, args[0])]
        return float(t.month - last) if last >= 0 else NEVER_MONTHS
    if op == "chose":
        e, o = cast(tuple[int, int], args)
        return t.last[e] >= 0 and t.option[e] == o
    if op == "derived":
        return _derived(cast(int, args[0]), t)
    if op == "gather":
        code, slots, fill = cast(tuple[Node, tuple[int, ...], tuple[float, ...]], args)
        c = min(max(int(evaluate(code, t)), 0), len(slots) - 1)
        value = t.values[slots[c]] if slots[c] >= 0 else fill[c]
        return value != 0.0 if node.type == BOOL else value
    children = cast(tuple[Node, ...], args)
    if op == "and":
        return all([bool(evaluate(a, t)) for a in children])
    if op == "or":
        return any([bool(evaluate(a, t)) for a in children])
    return _apply(op, [evaluate(a, t) for a in children])


def _derived(k: int, t: Timeline) -> Scalar:
    """A derived value, computed once per state; what it needs is computed first, in order."""
    if k not in t.cache:
        for j in t.derived_deps[k]:
            if j not in t.cache:
                t.cache[j] = evaluate(t.derived[j], t)
        t.cache[k] = evaluate(t.derived[k], t)
    return t.cache[k]


def _apply(op: str, v: list[Scalar]) -> Scalar:
    if op == "tonum":
        return 1.0 if v[0] else 0.0
    if op == "neg":
        return -v[0]
    if op == "not":
        return not v[0]
    if op in _ARITHMETIC:
        return _ARITHMETIC[op](float(v[0]), float(v[1]))
    if op in _COMPARE:
        return _COMPARE[op](v[0], v[1])
    if op == "if":
        return v[1] if v[0] else v[2]
    if op == "min":
        return _fold(_minimum, v)
    if op == "max":
        return _fold(_maximum, v)
    if op == "clip":
        return _minimum(_maximum(float(v[0]), float(v[1])), float(v[2]))
    if op == "abs":
        return abs(v[0])
    if op == "logistic":
        from scipy.special import expit  # the C library's exp, as the other kernels

        return float(expit(np.float64(v[0])))
    raise ValueError(f"unknown operation {op}")


def _minimum(a: float, b: float) -> float:
    """``min`` as NumPy's ``minimum``: NaN if either is NaN (Python's ``min`` depends on order)."""
    if a != a or b != b:
        return math.nan
    return a if a <= b else b


def _maximum(a: float, b: float) -> float:
    """``max`` as NumPy's ``maximum``: NaN if either is NaN."""
    if a != a or b != b:
        return math.nan
    return a if a >= b else b


def _fold(fn: Callable[[float, float], float], values: list[Scalar]) -> float:
    result = float(values[0])
    for value in values[1:]:
        result = fn(result, float(value))
    return result


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b if b != 0.0 else 0.0,
    "mod": lambda a, b: float(np.remainder(np.float64(a), np.float64(b))) if b != 0.0 else 0.0,
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
}


def start_timeline(
    scenario: Scenario, seed: int, index: int, use_posterior: bool = True
) -> Timeline:
    """Return timeline ``index`` at the scenario's first month."""
    state = initial_state(scenario, seed, index, 1, use_posterior)
    events = len(scenario.events)
    return Timeline(
        index,
        scenario.start,
        [float(x) for x in state.values[:, 0]],
        [NEVER] * events,
        [NEVER] * events,
        [0] * events,
        [0] * events,
        scenario.derived_table,
        scenario.derived_deps,
    )


LogEntry = tuple[int, str, str | None]


def run_timeline(
    scenario: Scenario, seed: int, t: Timeline, plan: Plan, stop: int | None = None
) -> list[LogEntry]:
    """Advance one timeline to ``stop`` (default: the end); return its log.

    The log lists (month, event id, option id or None) in the order the events fired.
    """
    log: list[LogEntry] = []
    stop = scenario.end if stop is None else stop
    while t.month <= stop:
        for slot, expr in plan.sets.get(t.month, ()):
            _assign(scenario, t, slot, evaluate(expr, t))
        for event in scenario.events:
            if event.first <= t.month <= event.last and not plan.is_blocked(event.index, t.month):
                _step(scenario, seed, t, event, plan, log)
        t.month += 1
        t.changed()
    return log


def _step(
    scenario: Scenario,
    seed: int,
    t: Timeline,
    event: CompiledEvent,
    plan: Plan,
    log: list[LogEntry],
) -> None:
    e, month = event.index, t.month
    once_ok = t.last[e] < 0 or not event.once
    fires = False
    if once_ok and evaluate(event.when, t) and evaluate(event.in_play, t):
        if event.trigger is not None:
            source, delay = event.trigger
            fires = t.last[source] == month - delay
        else:
            assert event.hazard is not None
            fires = _draw(scenario, seed, t, e, 0) < float(evaluate(event.hazard, t))
    if not fires and once_ok and plan.is_forced(e, month):
        fires = bool(evaluate(event.in_play, t))
        if not fires:
            t.refused.append((month, event.id))
    if fires:
        _fire(scenario, seed, t, event, plan, log)


def _draw(scenario: Scenario, seed: int, t: Timeline, event: int, slot: int) -> float:
    stream = rng.stream_id(rng.EVENT_DRAW, t.month - scenario.start, event, slot)
    return rng.uniform(seed, stream, t.index)


def _fire(
    scenario: Scenario,
    seed: int,
    t: Timeline,
    event: CompiledEvent,
    plan: Plan,
    log: list[LogEntry],
) -> None:
    e = event.index
    option = _choose(scenario, seed, t, event, plan) if event.options else None
    effects: list[Effect] = list(event.effects)
    if option is not None:
        effects += event.options[option].effects
    values = [(effect.slot, evaluate(effect.expr, t)) for effect in effects]
    for slot, value in values:
        _assign(scenario, t, slot, value)
    t.last[e] = t.month
    if t.first[e] < 0:
        t.first[e] = t.month
    t.count[e] += 1
    if option is not None:
        t.option[e] = option
    t.changed()
    log.append((t.month, event.id, None if option is None else event.options[option].id))


def _choose(scenario: Scenario, seed: int, t: Timeline, event: CompiledEvent, plan: Plan) -> int:
    if event.index in plan.chosen:
        return plan.chosen[event.index]
    weights = [max(float(evaluate(o.weight, t)), 0.0) for o in event.options]
    total = 0.0
    for weight in weights:
        total += weight
    if total <= 0.0:
        return 0
    target = _draw(scenario, seed, t, event.index, 1) * total
    cumulative, chosen = 0.0, 0
    for weight in weights[:-1]:
        cumulative += weight
        chosen += cumulative <= target
    return chosen


def _assign(scenario: Scenario, t: Timeline, slot: int, value: Scalar) -> None:
    number = float(value)
    low, high = scenario.slots[slot].low, scenario.slots[slot].high
    if low is not None:
        number = max(number, low)
    if high is not None:
        number = min(number, high)
    t.values[slot] = number
    t.changed()


def reference_run(
    scenario: Scenario, seed: int, runs: int, plan: Plan | None = None
) -> list[list[LogEntry]]:
    """Run ``runs`` timelines one by one; return each timeline's event log."""
    plan = plan or Plan()
    logs = []
    for index in range(runs):
        t = start_timeline(scenario, seed, index)
        logs.append(run_timeline(scenario, seed, t, plan))
    return logs
