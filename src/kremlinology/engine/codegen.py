"""A scenario as data for the compiled kernel: its IR flattened into two arrays (``KernelProgram``).

The compiled kernel (``engine.interp``) is one interpreter, written once in Numba and compiled once
per machine for every scenario; a scenario is the arrays built here (in tens of milliseconds for
the Thaw). Nothing here imports Numba. ``ints`` holds a header (``H_*``: sizes, where each table
starts, the layout of a timeline's working arrays), the bytecode, the office tables and the rows of
events, options, effects and reads; ``floats`` the constants, the offices' fill values and the
effects' bounds.

**Expressions** become stack bytecode: instruction ``(op, a, b)`` at ``ints[pc .. pc + 2]`` (the
opcodes below), run from an entry ``pc`` until ``RET``; every value is a float64 (booleans 1.0 /
0.0, categories their codes). A binary operation whose right operand is a constant or a slot takes
it from the instruction (``b``: ``ON_CONST`` / ``ON_SLOT``, ``a`` its index) instead of the stack,
which halves the instructions of the common ``x > 0.5``. ``and`` / ``or`` and ``if`` jump over what
need not be evaluated (expressions have no side effects, so this changes no value). A derived
quantity ``k`` read by an expression is ``FRESH k`` (which jumps to the read if ``k`` is current),
``ENSURE j`` for each ``j`` of ``derived_deps[k] + (k,)`` (it runs the subroutine of ``j``'s body,
which stores its value with ``STORED``, unless that value is current: its version equals the
timeline's version, which every firing raises, and, for a quantity that reads the month, it was
computed in this month) and then ``DREAD k``; inside a body, derived quantities are read with
``DREAD`` directly (they were ensured first, in ascending order). In an ``and``, a boolean slot
read and its jump are one instruction, ``ANDS``. An office read (``gather``) is ``GATHER`` with
``a`` the position of its slot table in ``ints`` (its length, then a slot or -1 per holder code) and
``b`` that of its fill values in ``floats``. Templates were expanded by the scenario compiler.

**Events** are rows of ``EVENT_COLUMNS`` ints (``E_*``): window, ``once``, trigger, the entry
points of their chance (``_chance``: the hazard, 1 for a triggered event, where the condition and
the in-play test hold, else 0) and in-play test (-1: always true; ``E_HAZARD`` is unused), their
options (rows of three: weight entry point, first effect, effects) and effects (rows of two: slot,
entry point; the slot's range in ``floats``). **Reads** of outcomes and fact checks at month
starts are rows of three (kind, index, entry point), those of month offset ``i`` from
``read_from[i]`` to ``read_from[i + 1]``.

The semantics are those of ``engine.vector`` (its docstring states them) and ``engine.reference``;
``engine.interp`` states how the kernel carries them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np

from kremlinology.scenario.expressions import BOOL, NUM, Node, as_number, const, walk
from kremlinology.scenario.model import CompiledEvent, Effect, Scenario

CODEGEN_VERSION = 7
"""Raised whenever the arrays' layout or meaning changes (part of the kernel cache key)."""

# opcodes, roughly by frequency (the interpreter tests them in this order). A binary operation's
# ``b`` says where its right operand is: on the stack (0), the constant ``K[a]`` (1) or the slot
# ``a`` (2); the left one is always on the stack.
SLOT, CONST, GT, LT, ADD, MUL, SUB, GE, LE, EQ, NE, DIV, MOD, FMIN, FMAX = range(15)
SLOTB, FIRED, JFK, JTK, ENSURE, DREAD, DREADB, NOT, NEG, CLIP, ABS, LOGISTIC = range(15, 27)
GATHER, GATHERB, SINCE, CHOSE, MONTH, JF, JMP, STORED, RETSUB, RET = range(27, 37)
FRESH, ANDS = 37, 38
ON_STACK, ON_CONST, ON_SLOT = 0, 1, 2

# the header of ``ints``: sizes, then where each table starts (in ``ints``; bounds in ``floats``),
# then the layout of a timeline's working arrays (floats: slots, derived values, stack, temp;
# ints: last, first, option and count of each event, derived values' versions, the version)
(H_SLOTS, H_EVENTS, H_DERIVED, H_STACK, H_TEMP, H_START, H_EVT, H_OPT, H_EFF, H_READS,
 H_READ_FROM, H_BOUNDS, H_DBASE, H_SBASE, H_TBASE, H_FBASE, H_OBASE, H_NBASE, H_VBASE, H_CIDX,
 H_FLOATS, H_INTS, H_MONTHLY, H_MBASE) = range(24)  # fmt: skip
HEADER = 24
E_FIRST, E_LAST, E_ONCE, E_TRIGGER, E_DELAY, E_WHEN, E_PLAY, E_HAZARD = range(8)
E_OPTIONS, E_OPTION0, E_EFFECT0, E_EFFECTS = range(8, 12)
EVENT_COLUMNS = 12
READ_OUTCOME, READ_OPEN, READ_CLOSE = 0, 1, 2

_BINARY = {
    "add": ADD, "sub": SUB, "mul": MUL, "div": DIV, "mod": MOD,
    "lt": LT, "le": LE, "gt": GT, "ge": GE, "eq": EQ, "ne": NE,
}  # fmt: skip
_UNARY = {"neg": NEG, "not": NOT, "abs": ABS, "logistic": LOGISTIC}


@dataclass
class KernelProgram:
    """A scenario as the interpreter takes it: ``ints`` (header, bytecode, office tables, events,
    options, effects, reads) and ``floats`` (constants, office fill values, effects' bounds)."""

    ints: np.ndarray
    floats: np.ndarray

    def header(self, field: int) -> int:
        """A field of the header (``H_*``)."""
        return int(self.ints[field])


def pos(index: int) -> int:
    """Where instruction ``index`` starts in ``ints``."""
    return HEADER + 3 * index


@dataclass
class _Assembler:
    """Accumulates the bytecode of a scenario's expressions."""

    scenario: Scenario
    code: list[list[int]] = field(default_factory=list)
    consts: dict[float | str, int] = field(default_factory=dict)
    values: list[float] = field(default_factory=list)
    gathers: dict[tuple[tuple[int, ...], tuple[float, ...]], int] = field(default_factory=dict)
    bodies: list[int] = field(default_factory=list)
    depth: int = 0
    most: int = 0
    label: int = -1
    """The last instruction index a jump targets (no instruction before it may be fused)."""

    def emit(self, op: int, a: int = 0, b: int = 0, change: int = 0) -> int:
        """Append an instruction that moves the stack by ``change``; return its index."""
        self.code.append([op, a, b])
        self.depth += change
        self.most = max(self.most, self.depth)
        return len(self.code) - 1

    def patch(self, at: int) -> None:
        """Point the jump at ``at`` to the next instruction."""
        self.code[at][2] = pos(len(self.code))
        self.label = len(self.code)

    def jump_keep(self, conjunction: bool) -> int:
        """``JFK`` (``JTK``): on false (true) jump keeping the value, else pop it; after a
        boolean slot read of an ``and``, the one instruction ``ANDS`` (jump pushing 0.0 where the
        slot is false, else go on with nothing pushed)."""
        last = self.code[-1]
        if conjunction and last[0] == SLOTB and self.label < len(self.code) - 1:
            last[0] = ANDS
            self.depth -= 1
            return len(self.code) - 1
        at = self.emit(JFK if conjunction else JTK)
        self.depth -= 1  # the jump pops when it falls through
        return at

    def binary(self, op: int) -> None:
        """A two-operand operation; its right operand taken from the instruction before when
        that pushes a constant or a slot (and is not a jump's target)."""
        last = self.code[-1]
        if self.label < len(self.code) - 1 and last[0] in (CONST, SLOT):
            last[0], last[2] = op, ON_CONST if last[0] == CONST else ON_SLOT
            self.depth -= 1
            return
        self.emit(op, 0, ON_STACK, change=-1)

    def const(self, value: float) -> int:
        """The index of a constant (NaN and signed zeros kept apart by their text)."""
        key: float | str = repr(value) if value != value or value == 0.0 else value
        if key not in self.consts:
            self.consts[key] = len(self.values)
            self.values.append(value)
        return self.consts[key]

    def entry(self, node: Node | None) -> int:
        """Assemble ``node`` as an expression of its own; return its entry point (-1: None)."""
        if node is None:
            return -1
        start = len(self.code)
        self.depth = 0
        self.label = start
        self.node(node)
        self.emit(RET, change=-1)
        return pos(start)

    def node(self, node: Node, direct: bool = False) -> None:
        """Code that pushes the value of ``node``."""
        op, args = node.op, node.args
        boolean = node.type == BOOL
        if op == "const":
            value = args[0]
            number = (1.0 if value else 0.0) if boolean else float(cast(float, value))
            self.emit(CONST, self.const(number), change=1)
        elif op == "slot":
            self.emit(SLOTB if boolean else SLOT, int(cast(int, args[0])), change=1)
        elif op == "month":
            self.emit(MONTH, change=1)
        elif op in ("fired", "since"):
            self.emit(FIRED if op == "fired" else SINCE, int(cast(int, args[0])), change=1)
        elif op == "chose":
            e, o = cast(tuple[int, int], args)
            self.emit(CHOSE, int(e), int(o), change=1)
        elif op == "derived":
            self.derived(int(cast(int, args[0])), boolean, direct)
        elif op == "gather":
            self.gather(node, direct)
        else:
            self.operation(node, direct)

    def derived(self, k: int, boolean: bool, direct: bool) -> None:
        if not direct:
            deps = self.scenario.derived_deps[k]
            skip = self.emit(FRESH, k) if deps else -1  # current: its needs are not looked at
            for j in (*deps, k):
                self.emit(ENSURE, j, self.bodies[j])
            if skip >= 0:
                self.patch(skip)
        self.emit(DREADB if boolean else DREAD, k, change=1)

    def gather(self, node: Node, direct: bool) -> None:
        code, slots, fill = cast(tuple[Node, tuple[int, ...], tuple[float, ...]], node.args)
        key = (tuple(int(x) for x in slots), tuple(float(x) for x in fill))
        index = self.gathers.setdefault(key, len(self.gathers))
        self.node(code, direct)
        self.emit(GATHERB if node.type == BOOL else GATHER, index)  # a: fixed up by _layout

    def operation(self, node: Node, direct: bool) -> None:
        op = node.op
        children = [cast(Node, a) for a in node.args]
        if op in ("and", "or"):
            self.node(children[0], direct)
            jumps = []
            for child in children[1:]:
                jumps.append(self.jump_keep(op == "and"))
                self.node(child, direct)
            for at in jumps:
                self.patch(at)
            return
        if op == "if":
            self.node(children[0], direct)
            skip = self.emit(JF, change=-1)
            self.node(children[1], direct)
            done = self.emit(JMP, change=-1)
            self.patch(skip)
            self.node(children[2], direct)
            self.patch(done)
            return
        for child in children:
            self.node(child, direct)
        self.fold(op, len(children))

    def fold(self, op: str, count: int) -> None:
        """The instruction(s) combining ``count`` values on the stack."""
        if op == "tonum":
            return
        if op in _UNARY:
            self.emit(_UNARY[op])
        elif op in _BINARY:
            self.binary(_BINARY[op])
        elif op in ("min", "max"):
            for _ in range(count - 1):
                self.binary(FMIN if op == "min" else FMAX)
        elif op == "clip":
            self.emit(CLIP, change=-2)
        else:
            raise ValueError(f"unknown operation {op}")


def _bodies(asm: _Assembler) -> None:
    """The subroutines of the derived quantities (a body: its value, STORED, RETSUB)."""
    for k, body in enumerate(asm.scenario.derived_table):
        asm.bodies.append(pos(len(asm.code)))
        asm.depth = 0
        asm.label = len(asm.code)
        asm.node(body, direct=True)
        asm.emit(STORED, k, change=-1)
        asm.emit(RETSUB)


def _effects(asm: _Assembler, effects: tuple[Effect, ...], rows: list[list[int]]) -> int:
    """Append effect rows; return the first one's index."""
    first = len(rows)
    rows.extend([e.slot, asm.entry(e.expr)] for e in effects)
    return first


def _event_row(
    asm: _Assembler, event: CompiledEvent, options: list[list[int]], effects: list[list[int]]
) -> list[int]:
    """The events row of an event (its options' and effects' rows appended)."""
    row = [0] * EVENT_COLUMNS
    row[E_FIRST], row[E_LAST], row[E_ONCE] = event.first, event.last, int(event.once)
    row[E_TRIGGER], row[E_DELAY] = event.trigger if event.trigger is not None else (-1, 0)
    row[E_WHEN] = asm.entry(_chance(event))
    row[E_PLAY] = -1 if _always(event.in_play) else asm.entry(event.in_play)
    row[E_HAZARD] = -1
    row[E_OPTIONS], row[E_OPTION0] = len(event.options), len(options)
    for option in event.options:
        options.append([asm.entry(option.weight), 0, len(option.effects)])
        options[-1][1] = _effects(asm, option.effects, effects)
    row[E_EFFECT0] = _effects(asm, event.effects, effects)
    row[E_EFFECTS] = len(event.effects)
    return row


def _chance(event: CompiledEvent) -> Node:
    """One expression for a candidate's natural firing: its hazard (1 for a triggered event)
    where its condition and in-play test hold (evaluated in that order, as the kernels do), else
    0: the kernel evaluates one expression per candidate instead of three."""
    hazard = const(1.0, NUM)
    if event.trigger is None:
        assert event.hazard is not None
        hazard = as_number(event.hazard)
    tests = [t for t in (event.when, event.in_play) if not _always(t)]
    if not tests:
        return hazard
    condition = tests[0] if len(tests) == 1 else Node("and", tuple(tests), BOOL)
    return Node("if", (condition, hazard, const(0.0, NUM)), NUM)


def _always(node: Node) -> bool:
    return node.op == "const" and bool(node.args[0])


def _reads(asm: _Assembler) -> tuple[list[list[int]], list[int]]:
    """Rows of the month-start reads and their offsets by month offset (``simulate._schedule``)."""
    scenario = asm.scenario
    due: dict[int, list[list[int]]] = {}
    for i, outcome in enumerate(scenario.outcomes):
        if outcome.month is not None and outcome.month <= scenario.end:
            due.setdefault(outcome.month, []).append([READ_OUTCOME, i, asm.entry(outcome.expr)])
    for i, fact in enumerate(scenario.facts):
        opens = fact.month - fact.tolerance
        if opens > scenario.start:
            due.setdefault(opens, []).append([READ_OPEN, i, asm.entry(fact.condition)])
        closes = min(fact.month + fact.tolerance + 1, scenario.end + 1)
        if closes <= scenario.end:
            due.setdefault(closes, []).append([READ_CLOSE, i, asm.entry(fact.condition)])
    rows: list[list[int]] = []
    offsets = [0]
    for month in range(scenario.start, scenario.end + 1):
        rows += due.get(month, [])
        offsets.append(len(rows))
    return rows, offsets


def kernel_program(scenario: Scenario) -> KernelProgram:
    """The arrays of ``scenario`` for the compiled kernel (see the module docstring)."""
    asm = _Assembler(scenario)
    _bodies(asm)
    body_depth = asm.most
    asm.most = 0
    options: list[list[int]] = []
    effects: list[list[int]] = []
    rows = [_event_row(asm, event, options, effects) for event in scenario.events]
    reads, offsets = _reads(asm)
    temp = max(
        [len(e.effects) + max([len(o.effects) for o in e.options] + [0]) for e in scenario.events]
        + [len(e.options) for e in scenario.events]
        + [1]
    )
    sizes = [len(scenario.slots), len(scenario.events), max(1, len(scenario.derived_table)),
             body_depth + asm.most + 1, temp, scenario.start]  # fmt: skip
    return _layout(asm, sizes, rows, options, effects, reads, offsets)


def _layout(
    asm: _Assembler,
    sizes: list[int],
    rows: list[list[int]],
    options: list[list[int]],
    effects: list[list[int]],
    reads: list[list[int]],
    offsets: list[int],
) -> KernelProgram:
    """Lay the tables out in ``ints`` and ``floats`` (offsets in the header)."""
    ints = [0] * HEADER + [x for instruction in asm.code for x in instruction]
    floats = list(asm.values)
    tables: list[tuple[int, int]] = []
    for slots, fill in asm.gathers:
        tables.append((len(ints), len(floats)))
        ints += [len(slots), *slots]
        floats += fill
    for i, (op, a, _) in enumerate(asm.code):
        if op in (GATHER, GATHERB):
            ints[pos(i) + 1], ints[pos(i) + 2] = tables[a]
    header = dict.fromkeys(range(HEADER), 0)
    for field_, value in zip((H_SLOTS, H_EVENTS, H_DERIVED, H_STACK, H_TEMP, H_START), sizes,
                             strict=True):  # fmt: skip
        header[field_] = value
    for field_, table in ((H_EVT, rows), (H_OPT, options), (H_EFF, effects), (H_READS, reads)):
        header[field_] = len(ints)
        ints += [x for row in table for x in row]
    header[H_READ_FROM] = len(ints)
    ints += offsets
    header[H_MONTHLY] = len(ints)
    ints += _monthly(asm.scenario) or [0]
    header[H_BOUNDS] = len(floats)
    declared = asm.scenario.slots
    for slot, _ in effects:
        low, high = declared[slot].low, declared[slot].high
        floats += [-np.inf if low is None else low, np.inf if high is None else high]
    _working_layout(header)
    for field_, value in header.items():
        ints[field_] = value
    return KernelProgram(np.array(ints, dtype=np.int64), np.array([*floats, 0.0]))


def _working_layout(h: dict[int, int]) -> None:
    """Where a timeline's working values lie in its float and int arrays (``interp.scratch``)."""
    slots, events, derived = h[H_SLOTS], h[H_EVENTS], h[H_DERIVED]
    h[H_DBASE] = slots
    h[H_SBASE] = slots + derived
    h[H_TBASE] = h[H_SBASE] + h[H_STACK]
    h[H_FLOATS] = h[H_TBASE] + h[H_TEMP]
    h[H_FBASE], h[H_OBASE], h[H_NBASE], h[H_VBASE] = events, 2 * events, 3 * events, 4 * events
    h[H_CIDX] = 4 * events + derived
    h[H_MBASE] = h[H_CIDX] + 1
    h[H_INTS] = h[H_MBASE] + derived


def _monthly(scenario: Scenario) -> list[int]:
    """1 for each derived quantity whose value can change with the month alone (it reads the
    month or a ``months_since``, or needs one that does), else 0."""
    flags: list[int] = []
    for k, body in enumerate(scenario.derived_table):
        reads = any(part.op in ("month", "since") for part in walk(body))
        flags.append(int(reads or any(flags[j] for j in scenario.derived_deps[k])))
    return flags


def empty_program() -> KernelProgram:
    """A program of no slots, events or reads (to compile the kernel with the right types)."""
    header = dict.fromkeys(range(HEADER), 0)
    header.update({H_DERIVED: 1, H_STACK: 1, H_TEMP: 1})
    _working_layout(header)
    ints = [header[i] for i in range(HEADER)]
    ints[H_READ_FROM] = ints[H_MONTHLY] = HEADER
    return KernelProgram(np.array([*ints, 0], dtype=np.int64), np.zeros(1))
