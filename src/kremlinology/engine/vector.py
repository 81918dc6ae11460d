"""The vectorized kernel: expressions as NumPy closures; all timelines of a block move together.

Semantics every kernel shares (see also ``scenario.expressions`` for the expression operations):

Each month, in order: the plan's ``set`` assignments for that month apply; then every event whose
window contains the month is examined in engine order (unless the plan blocks it from a month at
or before this one). An event is a *candidate* when it has not fired yet or is not ``once``; a
triggered event additionally needs its source to have fired exactly ``delay`` months ago. A
candidate fires naturally when its condition ``when`` holds, **every one of its actors is in play**
(``CompiledEvent.in_play``) and, for a hazard event, its draw ``u(month, event, 0) < hazard``.

*Actors in play*: an actor is in play when each of the boolean attributes ``alive``, ``free`` and
``exists`` that it declares is true; an office listed among an event's actors is in play when its
holder is (a vacant office, ``none``, never is). ``in_play`` is evaluated on the state at the
moment the event is examined, like ``when``.

A *forced* event (``do``) fires at its month wherever it is a candidate and ``in_play`` holds,
whatever its condition, trigger or hazard; where it is a candidate but an actor is out of play it
does not fire, and observers are told through ``Observer.refused``.

When an event fires: its option is drawn (``u(month, event, 1)`` against the cumulative weights),
observers are told (``Observer.fired``, before the effects), every right-hand side is evaluated on
the state before the event, then assigned in order, clipped to ranges; last, the event's record
(last and first month, count, option) is written.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Protocol, cast

import numpy as np

from kremlinology.engine import rng
from kremlinology.engine.state import Plan, RowPlan, WorldState
from kremlinology.scenario.expressions import BOOL, NEVER_MONTHS, Node, walk
from kremlinology.scenario.model import CompiledEvent, Effect, Scenario

Value = np.ndarray | float | bool
Closure = Callable[["WorldState | RowView"], Value]


def _const(node: Node) -> Closure:
    value = node.args[0]
    return lambda w: value  # type: ignore[return-value]


def _slot(node: Node) -> Closure:
    row = int(node.args[0])  # type: ignore[call-overload]
    if node.type == BOOL:
        return lambda w: w.values[row] != 0.0
    return lambda w: w.values[row]


def _to_number(value: Value) -> Value:
    if isinstance(value, np.ndarray):
        return value.astype(np.float64)
    return float(value)


def _divide(a: Value, b: Value) -> Value:
    if isinstance(b, np.ndarray) or isinstance(a, np.ndarray):
        a_arr, b_arr = np.broadcast_arrays(
            np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        )
        quotient: np.ndarray = np.divide(
            a_arr, b_arr, out=np.zeros(a_arr.shape), where=b_arr != 0.0
        )
        return quotient
    return a / b if b != 0.0 else 0.0  # type: ignore[operator]


def _modulo(a: Value, b: Value) -> Value:
    if isinstance(b, np.ndarray) or isinstance(a, np.ndarray):
        a_arr, b_arr = np.broadcast_arrays(
            np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        )
        remainder: np.ndarray = np.remainder(
            a_arr, b_arr, out=np.zeros(a_arr.shape), where=b_arr != 0.0
        )
        return remainder
    return float(np.remainder(a, b)) if b != 0.0 else 0.0  # type: ignore[arg-type]


def _logistic(x: Value) -> Value:
    # SciPy's expit is 1 / (1 + exp(-x)) with the C library's exp, as the compiled kernel computes
    # it; NumPy's own exp is vectorised and differs from the C library's in the last bit for about
    # one input in fifty, which made the kernels disagree.
    from scipy.special import expit  # imported here: most scenarios never call logistic

    return cast(Value, expit(np.asarray(x, dtype=np.float64)))


_BINARY: dict[str, Callable[[Value, Value], Value]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": _divide,
    "mod": _modulo,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "eq": operator.eq,
    "ne": operator.ne,
}
_REDUCE: dict[str, Callable[[Value, Value], Value]] = {
    "and": np.logical_and,
    "or": np.logical_or,
    "min": np.minimum,
    "max": np.maximum,
}


def compile_vector(
    node: Node,
    cache: dict[Node, Closure] | None = None,
    slots: int = 0,
    derived: DerivedValues | None = None,
) -> Closure:
    """Return a function of a WorldState that evaluates ``node`` for every timeline at once.

    Structurally equal subtrees share one closure through ``cache``. With ``slots`` (the number of
    state slots) a closure remembers its last value until one of the slots, event records or the
    month that it reads is written again (see WorldState.touch): derived quantities are read by
    many events, and most months change little of what they read. ``derived`` evaluates the
    ``derived`` nodes (required when the tree has any).
    """
    if cache is None:
        cache = {}
    found = cache.get(node)
    if found is not None:
        return found
    if node.op == "derived":
        if derived is None:
            raise ValueError("a derived quantity needs the scenario's table of derived values")
        closure = derived.closure(int(node.args[0]))  # type: ignore[call-overload]
        cache[node] = closure
        return closure
    closure = _build(node, cache, slots, derived)
    if slots and node.op not in ("const", "month") and (node.op != "slot" or node.type == BOOL):
        reads = derived.reads if derived is not None else ()
        closure = _memoised(closure, dependencies(node, slots, reads))
    cache[node] = closure
    return closure


def dependencies(
    node: Node, slots: int, derived_reads: tuple[tuple[int, ...], ...] = ()
) -> tuple[int, ...]:
    """Indices into WorldState.stamps of everything an expression reads (through derived
    quantities too, whose own reads are ``derived_reads[k]``)."""
    found: set[int] = set()
    for part in walk(node):
        if part.op in ("slot", "gather"):
            if part.op == "slot":
                found.add(int(part.args[0]))  # type: ignore[call-overload]
            else:
                found.update(s for s in cast(tuple[int, ...], part.args[1]) if s >= 0)
        elif part.op in ("fired", "since", "chose"):
            found.add(slots + int(part.args[0]))  # type: ignore[call-overload]
        elif part.op == "derived":
            found.update(derived_reads[int(part.args[0])])  # type: ignore[call-overload]
        if part.op in ("month", "since"):
            found.add(-1)
    return tuple(sorted(found))


class DerivedValues:
    """The derived quantities of a scenario, each evaluated at most once per state.

    On a WorldState (with stamps) each keeps its last value until something it reads changes; on
    a RowView or an unstamped state, values are kept in the view's ``cache`` for its lifetime.
    Before computing one, every quantity it needs is brought up to date in ascending index order
    (a tree refers only to lower indices), so evaluation never recurses along a chain.
    """

    def __init__(self, scenario: Scenario, cache: dict[Node, Closure], slots: int) -> None:
        self.deps = scenario.derived_deps
        self.bodies: list[Closure] = []
        self.reads: tuple[tuple[int, ...], ...] = ()
        self.memo: list[list[object]] = []
        self.closures: list[Closure] = []
        for k, body in enumerate(scenario.derived_table):
            # ascending: whatever a body refers to has its closure already
            self.bodies.append(compile_vector(body, cache, 0, self))
            self.reads = (*self.reads, dependencies(body, slots, self.reads) or (-1,))
            self.memo.append([None, -1, None])
            self.closures.append(self._closure(k))

    def closure(self, k: int) -> Closure:
        """The closure that evaluates derived value ``k``."""
        return self.closures[k]

    def _fresh(self, k: int, w: WorldState) -> bool:
        memo, stamps = self.memo[k], w.stamps
        assert stamps is not None
        return memo[0] is w and max(map(stamps.__getitem__, self.reads[k])) <= memo[1]  # type: ignore[operator]

    def _compute(self, k: int, w: WorldState | RowView) -> Value:
        cache = getattr(w, "cache", None)
        if cache is not None:
            if k not in cache:
                cache[k] = self.bodies[k](w)
            return cache[k]  # type: ignore[no-any-return]
        world = cast(WorldState, w)
        if not self._fresh(k, world):
            value = self.bodies[k](world)
            self.memo[k][:] = [world, world.clock, value]
        return self.memo[k][2]  # type: ignore[return-value]

    def _closure(self, k: int) -> Closure:
        deps = self.deps[k]

        def evaluate(w: WorldState | RowView) -> Value:
            cache = getattr(w, "cache", None)
            if cache is None:
                if w.stamps is None:  # an unstamped state: keep values for this call only
                    w = RowView(w, None)  # type: ignore[arg-type]
                elif self._fresh(k, w):  # type: ignore[arg-type]
                    return self.memo[k][2]  # type: ignore[return-value]
            elif k in cache:
                return cache[k]  # type: ignore[no-any-return]
            for j in deps:
                self._compute(j, w)
            return self._compute(k, w)

        return evaluate


def _memoised(closure: Closure, reads: tuple[int, ...]) -> Closure:
    memo: list[object] = [None, -1, None]  # world, clock at evaluation, value
    reads = reads or (-1,)

    def evaluate(w: WorldState | RowView) -> Value:
        stamps = w.stamps
        if stamps is None or isinstance(w, RowView):  # rows only: keep the full world's memo
            return closure(w)
        if memo[0] is w and max(map(stamps.__getitem__, reads)) <= memo[1]:  # type: ignore[operator]
            return memo[2]  # type: ignore[return-value]
        value = closure(w)
        memo[0], memo[1], memo[2] = w, w.clock, value
        return value

    return evaluate


def _build(
    node: Node, cache: dict[Node, Closure], slots: int, derived: DerivedValues | None
) -> Closure:
    op = node.op
    if op == "const":
        return _const(node)
    if op == "slot":
        return _slot(node)
    if op == "month":
        return lambda w: float(w.month)
    if op in ("fired", "since", "chose"):
        return _event_closure(node)
    children = [compile_vector(a, cache, slots, derived) for a in node.args if isinstance(a, Node)]
    if op == "gather":
        return _gather(node, children[0])
    if op in _BINARY:
        left, right, fn = children[0], children[1], _BINARY[op]
        return lambda w: fn(left(w), right(w))
    if op in ("and", "or"):
        return _logical(op, children)
    if op in _REDUCE:
        reducer = _REDUCE[op]
        return lambda w: functools.reduce(reducer, (c(w) for c in children))
    if op == "if" and all(isinstance(a, Node) and a.op == "const" for a in node.args[1:]):
        return _constant_branches(node, children[0])
    return _unary_or_special(op, children)


def _logical(op: str, children: list[Closure]) -> Closure:
    """Elementwise and/or that stops once the answer is settled for every timeline.

    Expressions have no side effects, so skipping the remaining operands changes no result.
    """
    settled = op == "or"  # the value that decides the answer on its own
    combine = np.logical_or if settled else np.logical_and

    def evaluate(w: WorldState | RowView) -> Value:
        result: Value = children[0](w)
        for child in children[1:]:
            if _all_equal(result, settled):
                return result
            result = combine(result, child(w))
        return result

    return evaluate


def _all_equal(value: Value, target: bool) -> bool:
    if isinstance(value, np.ndarray):
        return bool(value.all()) if target else not value.any()
    return bool(value) == target


def _constant_branches(node: Node, test: Closure) -> Closure:
    """``a if cond else b`` with constant branches: one select, without broadcasting scalars."""
    then = cast(Node, node.args[1]).args[0]
    other = cast(Node, node.args[2]).args[0]
    if node.type == BOOL:
        return lambda w: np.where(test(w), bool(then), bool(other))
    if float(then) == 1.0 and float(other) == 0.0:  # type: ignore[arg-type]
        return lambda w: _to_number(test(w))
    a, b = float(then), float(other)  # type: ignore[arg-type]
    return lambda w: np.where(test(w), a, b)


def _unary_or_special(op: str, children: list[Closure]) -> Closure:
    first = children[0]
    if op == "tonum":
        return lambda w: _to_number(first(w))
    if op == "neg":
        return lambda w: -first(w)  # type: ignore[operator]
    if op == "not":
        return lambda w: np.logical_not(first(w))
    if op == "abs":
        return lambda w: np.abs(first(w))
    if op == "logistic":
        return lambda w: _logistic(first(w))
    if op == "clip":
        low, high = children[1], children[2]
        return lambda w: np.minimum(np.maximum(first(w), low(w)), high(w))
    if op == "if":
        then, other = children[1], children[2]
        return lambda w: np.where(first(w), then(w), other(w))
    raise ValueError(f"unknown operation {op}")


def _gather(node: Node, code: Closure) -> Closure:
    """``values[slots[c]]`` (``fill[c]`` where the slot is -1) for each timeline's code ``c``."""
    table = np.asarray(node.args[1], dtype=np.int64)
    fill = np.asarray(node.args[2], dtype=np.float64)
    safe = np.where(table < 0, 0, table)
    present = table >= 0
    last = table.size - 1
    boolean = node.type == BOOL

    def evaluate(w: WorldState | RowView) -> Value:
        value = code(w)
        if not isinstance(value, np.ndarray) or not value.ndim:
            c = min(max(int(value), 0), last)  # type: ignore[call-overload]
            got: Value = w.values[int(table[c])] if present[c] else float(fill[c])
        else:
            codes = np.clip(value.astype(np.int64), 0, last)
            got = np.where(present[codes], _pick(w, safe[codes]), fill[codes])
        return got != 0.0 if boolean else got

    return evaluate


def _pick(w: WorldState | RowView, rows: np.ndarray) -> np.ndarray:
    """``values[rows[k], k]`` for each timeline ``k`` of ``w``."""
    if isinstance(w, RowView):
        return w.values.pick(rows)
    return w.values[rows, np.arange(rows.size)]  # type: ignore[no-any-return]


def _event_closure(node: Node) -> Closure:
    event = int(node.args[0])  # type: ignore[call-overload]
    if node.op == "fired":
        return lambda w: w.last[event] >= 0
    if node.op == "since":
        return lambda w: np.where(w.last[event] >= 0, w.month - w.last[event], NEVER_MONTHS)
    option = int(node.args[1])  # type: ignore[call-overload]
    return lambda w: (w.last[event] >= 0) & (w.option[event] == option)


class Observer(Protocol):
    """Receives what happens while the kernel advances a block."""

    def month_start(self, world: WorldState) -> None:
        """Called at the start of each month, before interventions and events."""

    def fired(self, world: WorldState, event: int, mask: np.ndarray) -> None:
        """Called when an event fires in the timelines where ``mask`` is true: after its option
        is drawn (``world.option`` holds it) and before its effects apply."""

    def refused(self, world: WorldState, event: int, mask: np.ndarray) -> None:
        """Called when a forced event cannot fire where ``mask`` is true (an actor is out of
        play)."""

    def before_write(
        self, world: WorldState, slot: int, rows: np.ndarray | slice, new: np.ndarray
    ) -> None:
        """Called before ``world.values[slot, rows]`` takes ``new`` (a value, or one per row)."""


class _CompiledEffects:
    """An event's (or option's) assignments, with targets' ranges."""

    def __init__(self, program: VectorProgram, effects: tuple[Effect, ...]) -> None:
        slots = program.scenario.slots
        self.items = [
            (e.slot, program.compile(e.expr), slots[e.slot].low, slots[e.slot].high)
            for e in effects
        ]

    def values(
        self, world: WorldState | RowView
    ) -> list[tuple[int, Value, float | None, float | None]]:
        """Evaluate every right-hand side on the current state.

        A bare name may evaluate to a view of its row of ``world.values``; callers take the fired
        rows (a copy) of every value before assigning any, so no assignment changes a value that a
        later one assigns.
        """
        return [(slot, fn(world), low, high) for slot, fn, low, high in self.items]


def _detach(value: Value) -> Value:
    return value.copy() if isinstance(value, np.ndarray) else value


SPARSE = 16
"""Below one candidate row in SPARSE, an event is evaluated on those rows only."""


class _GatherRows:
    """``array[i]`` of the full block, restricted to some rows, gathered on demand."""

    def __init__(self, array: np.ndarray, rows: np.ndarray) -> None:
        self.array = array
        self.rows = rows

    def __getitem__(self, index: int) -> np.ndarray:
        return self.array[index, self.rows]  # type: ignore[no-any-return]

    def pick(self, indices: np.ndarray) -> np.ndarray:
        """``array[indices[k], rows[k]]`` for each position ``k``."""
        return self.array[indices, self.rows]  # type: ignore[no-any-return]


class RowView:
    """What expressions read of a world, for a subset of its timelines (or all of them, with
    ``rows`` None), without writes: derived values are kept in ``cache`` for its lifetime."""

    stamps = None

    def __init__(self, world: WorldState, rows: np.ndarray | None) -> None:
        if rows is None:
            rows = np.arange(world.size)
        self.month = world.month
        self.values = _GatherRows(world.values, rows)
        self.last = _GatherRows(world.last, rows)
        self.option = _GatherRows(world.option, rows)
        self.size = int(rows.size)
        self.cache: dict[int, Value] = {}


class VectorProgram:
    """A scenario compiled for the vectorized kernel (built once per process and scenario)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.cache: dict[Node, Closure] = {}
        cache = self.cache
        self.slots = len(scenario.slots)
        self.derived = DerivedValues(scenario, cache, self.slots)
        self.when = [self.compile(e.when) for e in scenario.events]
        self.in_play = [self.compile(e.in_play) for e in scenario.events]
        self.hazard = [self.compile(e.hazard) if e.hazard else None for e in scenario.events]
        self.effects = [_CompiledEffects(self, e.effects) for e in scenario.events]
        self.weights = [[self.compile(o.weight) for o in e.options] for e in scenario.events]
        self.option_effects = [
            [_CompiledEffects(self, o.effects) for o in e.options] for e in scenario.events
        ]
        self.not_fired = [
            self.compile(Node("not", (Node("fired", (e.index,), BOOL),), BOOL))
            if e.once
            else _const(Node("const", (True,), BOOL))
            for e in scenario.events
        ]
        self.active = _active_by_month(scenario)
        facts = [self.compile(f.condition) for f in scenario.facts]
        self.probes = {
            "outcome": [self.compile(o.expr) for o in scenario.outcomes],
            "open": facts,
            "close": facts,
        }

    def compile(self, node: Node) -> Closure:
        """Return the closure of an expression of this scenario (shared with equal subtrees)."""
        return compile_vector(node, self.cache, self.slots, self.derived)

    def probe_closures(self) -> dict[str, list[Closure]]:
        """Return closures reading outcomes and fact conditions, by kind of read."""
        return self.probes

    def advance(
        self,
        world: WorldState,
        plan: Plan,
        seed: int,
        stop: int,
        observer: Observer | None = None,
        *,
        rows: RowPlan | None = None,
    ) -> None:
        """Simulate months ``world.month .. stop`` in place; ``world.month`` ends at ``stop+1``.
        ``rows``: overrides of the plan that differ between rows (:class:`RowPlan`)."""
        if rows is not None:
            rows.check(plan, world.size)
        set_closures = {
            m: [(slot, self.compile(expr)) for slot, expr in items]
            for m, items in plan.sets.items()
        }
        draws = _Draws(seed, self.scenario.start, world.timelines)
        world.touch(-1)
        # The language's arithmetic overflows to infinities as IEEE does (the reference and
        # compiled kernels alike, docs/scenario-format.md); NumPy's warnings would only be noise.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            while world.month <= stop:
                month = world.month
                if observer is not None:
                    observer.month_start(world)
                for slot, fn in set_closures.get(month, ()):
                    _assign(world, slot, _detach(fn(world)), None, self.scenario, observer)
                for event in self.active.get(month, ()):
                    if not plan.is_blocked(event, month):
                        self._step(world, event, plan, draws, observer, rows)
                world.month = month + 1
                world.touch(-1)

    def _step(
        self,
        world: WorldState,
        e: int,
        plan: Plan,
        draws: _Draws,
        observer: Observer | None,
        rows: RowPlan | None = None,
    ) -> None:
        event = self.scenario.events[e]
        month, size = world.month, world.size
        once_ok = _full(self.not_fired[e](world), size)
        forced = plan.is_forced(e, month)
        candidates = once_ok
        if event.trigger is not None:
            source, delay = event.trigger
            candidates = once_ok & (world.last[source] == month - delay)
        held = rows.blocked.get(e) if rows is not None else None
        if held is not None and month >= held[0]:
            candidates = candidates & ~held[1]  # as if not examined in those rows
        if not forced and not candidates.any():
            return  # nothing can happen: skip evaluating the condition
        if not forced and candidates.sum() * SPARSE < size:
            fires = self._sparse_step(world, e, np.flatnonzero(candidates), draws)
        else:
            fires = self._dense_step(world, e, candidates, draws)
        if forced:
            fires = self._forced(world, e, once_ok, fires, observer)
        if fires.any():
            self._fire(world, event, fires, plan, draws, observer, rows)

    def _forced(
        self,
        world: WorldState,
        e: int,
        once_ok: np.ndarray,
        fires: np.ndarray,
        observer: Observer | None,
    ) -> np.ndarray:
        """Fire a forced event wherever it may fire again and its actors are in play."""
        in_play = _full(self.in_play[e](world), world.size)
        refused = once_ok & ~in_play & ~fires
        if observer is not None and refused.any():
            observer.refused(world, e, refused)
        forced: np.ndarray = fires | (once_ok & in_play)
        return forced

    def _dense_step(
        self, world: WorldState, e: int, candidates: np.ndarray, draws: _Draws
    ) -> np.ndarray:
        eligible: np.ndarray = candidates & self.when[e](world)
        if eligible.any():
            eligible = eligible & _full(self.in_play[e](world), world.size)
        hazard = self.hazard[e]
        if hazard is None or not eligible.any():
            return eligible
        return eligible & (draws.get(world.month, e, 0) < hazard(world))

    def _sparse_step(
        self, world: WorldState, e: int, rows: np.ndarray, draws: _Draws
    ) -> np.ndarray:
        """The same decision evaluated only on the few candidate rows."""
        view = RowView(world, rows)
        eligible = _full(self.when[e](view), rows.size)
        if eligible.any():
            eligible = eligible & _full(self.in_play[e](view), rows.size)
        hazard = self.hazard[e]
        if hazard is not None and eligible.any():
            eligible = eligible & (draws.get(world.month, e, 0)[rows] < hazard(view))
        fires = np.zeros(world.size, dtype=bool)
        fires[rows[eligible]] = True
        return fires

    def _fire(
        self,
        world: WorldState,
        event: CompiledEvent,
        fires: np.ndarray,
        plan: Plan,
        draws: _Draws,
        observer: Observer | None,
        overrides: RowPlan | None = None,
    ) -> None:
        e = event.index
        rows = np.flatnonzero(fires)
        sparse = rows.size * SPARSE < world.size
        source: WorldState | RowView = RowView(world, rows) if sparse else world

        def cut(value: Value, positions: np.ndarray | None = None) -> Value:
            """The values of the fired rows (``positions`` among them) from ``source``'s result."""
            if not isinstance(value, np.ndarray) or not value.ndim:
                return value
            if sparse:
                return value if positions is None else value[positions]
            return value[rows if positions is None else rows[positions]]

        chosen = None
        if event.options:
            chosen = self._choose(source, event, plan, draws, rows, cut)
            fixed = overrides.chosen.get(e) if overrides is not None else None
            if fixed is not None:  # the drawn option is replaced where the row fixes one
                here = fixed[rows]
                chosen = np.where(here >= 0, here, chosen).astype(np.int16)
        pending = [
            (rows, cut(v), slot, low, high) for slot, v, low, high in self.effects[e].values(source)
        ]
        if chosen is not None:
            for k, option_effects in enumerate(self.option_effects[e]):
                if option_effects.items:
                    positions = np.flatnonzero(chosen == k)
                    if positions.size:
                        pending.extend(
                            (rows[positions], cut(v, positions), slot, low, high)
                            for slot, v, low, high in option_effects.values(source)
                        )
        if chosen is not None:
            world.option[e, rows] = chosen
        if observer is not None:
            observer.fired(world, e, fires)
        for where, value, slot, low, high in pending:
            _assign_rows(world, slot, value, where, low, high, observer)
        month = world.month
        world.last[e, rows] = month
        first = world.first[e, rows]
        world.first[e, rows] = np.where(first < 0, month, first)
        world.count[e, rows] += 1
        world.touch(self.slots + e)

    def _choose(
        self,
        source: WorldState | RowView,
        event: CompiledEvent,
        plan: Plan,
        draws: _Draws,
        rows: np.ndarray,
        cut: Callable[[Value], Value],
    ) -> np.ndarray:
        """The option taken in each fired row (in the order of ``rows``)."""
        size = rows.size
        if event.index in plan.chosen:
            return np.full(size, plan.chosen[event.index], dtype=np.int16)
        weights = [
            np.maximum(np.broadcast_to(np.asarray(cut(w(source)), dtype=np.float64), (size,)), 0.0)
            for w in self.weights[event.index]
        ]
        total = functools.reduce(operator.add, weights)
        target = draws.get(source.month, event.index, 1)[rows] * total
        cumulative = np.zeros(size)
        chosen = np.zeros(size, dtype=np.int16)
        for weight in weights[:-1]:
            cumulative = cumulative + weight
            chosen += cumulative <= target
        return np.where(total > 0.0, chosen, 0).astype(np.int16)


def _assign_rows(
    world: WorldState,
    slot: int,
    value: Value,
    rows: np.ndarray,
    low: float | None,
    high: float | None,
    observer: Observer | None = None,
) -> None:
    """Assign ``value`` (a scalar, or one value per row of ``rows``) to ``slot`` in ``rows``."""
    number = np.asarray(value, dtype=np.float64)
    if low is not None:
        number = np.maximum(number, low)
    if high is not None:
        number = np.minimum(number, high)
    if observer is not None:
        observer.before_write(world, slot, rows, number)
    world.values[slot, rows] = number
    world.touch(slot)


def _assign(
    world: WorldState,
    slot: int,
    value: Value,
    mask: np.ndarray | None,
    scenario: Scenario,
    observer: Observer | None = None,
    low: float | None = None,
    high: float | None = None,
) -> None:
    if low is None and high is None and mask is None:
        low, high = scenario.slots[slot].low, scenario.slots[slot].high
    number = np.asarray(value, dtype=np.float64)
    if low is not None:
        number = np.maximum(number, low)
    if high is not None:
        number = np.minimum(number, high)
    full = np.broadcast_to(number, (world.size,))
    if mask is not None:
        full = np.where(mask, full, world.values[slot])
    if observer is not None:
        observer.before_write(world, slot, slice(None), full)
    world.values[slot] = full
    world.touch(slot)


class _Draws:
    """This block's uniforms for (month, event, slot), drawn on demand from counter streams."""

    def __init__(self, seed: int, start: int, timelines: np.ndarray) -> None:
        self.seed = seed
        self.start = start
        self.timelines = timelines
        self.low = int(timelines[0]) if timelines.size else 0
        span = int(timelines[-1]) - self.low + 1 if timelines.size else 0
        self.contiguous = span == timelines.size and bool(np.all(np.diff(timelines) == 1))
        self.span = span if self.contiguous else int(timelines.max()) - int(timelines.min()) + 1
        if not self.contiguous:
            self.low = int(timelines.min())

    def get(self, month: int, event: int, slot: int) -> np.ndarray:
        stream = rng.stream_id(rng.EVENT_DRAW, month - self.start, event, slot)
        values = rng.uniforms(self.seed, stream, self.low, self.span)
        return values if self.contiguous else values[self.timelines - self.low]


def _full(value: Value, size: int) -> np.ndarray:
    """A boolean or number as an array over the block (arrays pass through)."""
    if isinstance(value, np.ndarray) and value.ndim:
        return value
    return np.full(size, value)


def _active_by_month(scenario: Scenario) -> dict[int, list[int]]:
    active: dict[int, list[int]] = {}
    for event in scenario.events:
        for month in range(event.first, event.last + 1):
            active.setdefault(month, []).append(event.index)
    return active
