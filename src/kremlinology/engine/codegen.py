"""Python source of a scenario's compiled kernel: the IR written out as Numba ``njit`` functions.

``kernel_source(scenario)`` returns the text of a module (see ``engine.compiled``, which writes it
to a cache folder, imports it and calls it). Nothing here imports Numba; the text is plain Python
that Numba compiles on first call. The module defines:

* ``dv<k>`` for every derived quantity ``k``: its value on the current state, kept in ``D[k]``
  while ``V[k]`` equals the state's version ``C[0]`` (every write, firing and new month raises the
  version, so a cached value is never stale);
* ``gt<i>``: the office reads (``gather``) with their tables as constants;
* ``grp<j>``: the examination of a run of events in engine order, for one month of one timeline;
* ``kernel``: every timeline of a block, one after another, through a range of months, reading
  outcomes and fact checks at their months and keeping each timeline's fingerprint when asked.

The semantics are those of ``engine.vector`` (its docstring states them) and ``engine.reference``:
a month's events in engine order; a candidate fires when its trigger matches (if it has one), its
condition and ``in_play`` hold and, for a hazard event, its draw is below the hazard; a forced
event fires where it is a candidate and in play (else the refusal is counted); a firing draws its
option (unless the plan chose it), evaluates every right-hand side on the state before the event,
then assigns them in order, clipped to the slots' ranges, and writes the event's record. The draw of
``(month, event, slot)`` for timeline ``t`` is ``jitlib.uniform(seed, stream_id(...), t)``, the
same double as ``rng.uniforms``; it is computed only where it is needed, which changes no other
draw. Plans' ``set`` assignments are applied outside the kernel (``engine.compiled``).

Every function is a function of scalars and arrays passed in, so a CUDA version could be generated
from the same expression text (one thread per timeline, the arrays as its rows).
"""

from __future__ import annotations

from typing import cast

from kremlinology.engine import rng
from kremlinology.scenario.expressions import BOOL, Node
from kremlinology.scenario.model import CompiledEvent, Effect, Scenario

CODEGEN_VERSION = 2
"""Raised whenever the generated text changes meaning (it is part of the cache key)."""
EVENTS_PER_GROUP = 16
"""Events per generated group function: smaller functions compile faster in LLVM."""
_STATE = "s, L, F, O, N, m, D, V, C"
"""What every expression function reads: values, last, first, option, count, month, derived."""
_TRIGGER_DRAW = rng.EVENT_DRAW << 56


class _Writer:
    """Accumulates the module's text and the names of its constant tables."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.lines: list[str] = []
        self.gathers: dict[tuple[tuple[int, ...], tuple[float, ...]], int] = {}

    def expr(self, node: Node) -> str:
        """A Python expression for ``node`` over the names of ``_STATE``."""
        op, args = node.op, node.args
        if op == "const":
            value = args[0]
            if node.type == BOOL:
                return "True" if value else "False"
            return _float(float(cast(float, value)))
        if op == "slot":
            row = int(cast(int, args[0]))
            return f"(s[{row}] != 0.0)" if node.type == BOOL else f"s[{row}]"
        if op == "month":
            return "float(m)"
        if op == "fired":
            return f"(L[{int(cast(int, args[0]))}] >= 0)"
        if op == "since":
            return f"since(L[{int(cast(int, args[0]))}], m)"
        if op == "chose":
            e, o = cast(tuple[int, int], args)
            return f"(L[{int(e)}] >= 0 and O[{int(e)}] == {int(o)})"
        if op == "derived":
            k = int(cast(int, args[0]))
            call = f"(D[{k}] if V[{k}] == C[0] else upd({k}, {_STATE}))"
            return f"({call} != 0.0)" if node.type == BOOL else call
        if op == "gather":
            code, slots, fill = cast(tuple[Node, tuple[int, ...], tuple[float, ...]], args)
            key = (tuple(int(x) for x in slots), tuple(float(x) for x in fill))
            index = self.gathers.setdefault(key, len(self.gathers))
            call = f"gt{index}(s, {self.num(code)})"
            return f"({call} != 0.0)" if node.type == BOOL else call
        nodes = [cast(Node, a) for a in args]
        children = [self.expr(a) for a in nodes]
        if op == "and":
            return "(" + " and ".join(children) + ")"
        if op == "or":
            return "(" + " or ".join(children) + ")"
        numbers = [self.num(a) for a in nodes]
        return _apply(op, children, numbers)

    def num(self, node: Node) -> str:
        """A float expression for ``node`` (a boolean as 1.0 or 0.0)."""
        text = self.expr(node)
        return f"(1.0 if {text} else 0.0)" if node.type == BOOL else text


_INFIX = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "eq": "==",
    "ne": "!=",
}


def _apply(op: str, v: list[str], n: list[str]) -> str:
    """The text of an operation on children ``v`` (as they are) or ``n`` (as floats)."""
    if op in ("eq", "ne"):
        return f"({v[0]} {_INFIX[op]} {v[1]})"
    if op in _INFIX:
        return f"({n[0]} {_INFIX[op]} {n[1]})"
    if op == "div":
        return f"div({n[0]}, {n[1]})"
    if op == "mod":
        return f"mod({n[0]}, {n[1]})"
    if op == "tonum":
        return n[0]
    if op == "neg":
        return f"(-{v[0]})"
    if op == "not":
        return f"(not {v[0]})"
    if op == "if":
        return f"({v[1]} if {v[0]} else {v[2]})"
    if op in ("min", "max"):
        fn = "fmin" if op == "min" else "fmax"
        text = n[0]
        for part in n[1:]:
            text = f"{fn}({text}, {part})"
        return text
    if op == "clip":
        return f"fmin(fmax({n[0]}, {n[1]}), {n[2]})"
    if op == "abs":
        return f"abs({n[0]})"
    if op == "logistic":
        return f"logistic({n[0]})"
    raise ValueError(f"unknown operation {op}")


def _float(value: float) -> str:
    if value != value:
        return "math.nan"
    if value in (float("inf"), float("-inf")):
        return "math.inf" if value > 0 else "(-math.inf)"
    return repr(value)


def _bounds(scenario: Scenario, slot: int) -> tuple[str, str]:
    low, high = scenario.slots[slot].low, scenario.slots[slot].high
    return (
        "(-math.inf)" if low is None else _float(float(low)),
        "math.inf" if high is None else _float(float(high)),
    )


def _draw(w: _Writer, e: int, slot: int) -> str:
    """The draw of event ``e``'s ``slot`` in month offset ``mi`` for timeline ``t``, from the
    stream ``rng.stream_id(EVENT_DRAW, mi, e, slot)``."""
    stream = f"np.uint64({_TRIGGER_DRAW | (e << 8) | slot}) | (np.uint64(mi) << np.uint64(32))"
    return f"uniform(seed, {stream}, t)"


def _puts(w: _Writer, effects: tuple[Effect, ...], names: list[str], pad: str) -> list[str]:
    lines = []
    for effect, name in zip(effects, names, strict=True):
        low, high = _bounds(w.scenario, effect.slot)
        lines.append(f"{pad}put(s, {effect.slot}, {name}, {low}, {high}, track, W)")
    return lines


def _fire(w: _Writer, event: CompiledEvent, pad: str) -> list[str]:
    """Lines that fire ``event`` (option, effects, record) for one timeline."""
    e = event.index
    lines: list[str] = []
    if event.options:
        lines.append(f"{pad}opt = CH[{e}]")
        lines.append(f"{pad}if opt < 0:")
        inner = pad + "    "
        for i, option in enumerate(event.options):
            lines.append(f"{inner}w{i} = fmax({w.num(option.weight)}, 0.0)")
        total = " + ".join(f"w{i}" for i in range(len(event.options)))
        lines.append(f"{inner}tot = {total}")
        lines.append(f"{inner}opt = 0")
        lines.append(f"{inner}if tot > 0.0:")
        deep = inner + "    "
        lines.append(f"{deep}target = {_draw(w, e, 1)} * tot")
        lines.append(f"{deep}cum = 0.0")
        for i in range(len(event.options) - 1):
            lines.append(f"{deep}cum = cum + w{i}")
            lines.append(f"{deep}if cum <= target:")
            lines.append(f"{deep}    opt += 1")
    names = [f"v{i}" for i in range(len(event.effects))]
    for name, effect in zip(names, event.effects, strict=True):
        lines.append(f"{pad}{name} = {w.num(effect.expr)}")
    if any(o.effects for o in event.options):
        keyword = "if"
        for i, option in enumerate(event.options):
            if not option.effects:
                continue
            lines.append(f"{pad}{keyword} opt == {i}:")
            inner = pad + "    "
            extra = [f"x{i}_{j}" for j in range(len(option.effects))]
            for name, effect in zip(extra, option.effects, strict=True):
                lines.append(f"{inner}{name} = {w.num(effect.expr)}")
            lines += _puts(w, event.effects, names, inner)
            lines += _puts(w, option.effects, extra, inner)
            keyword = "elif"
        lines.append(f"{pad}else:")
        lines += _puts(w, event.effects, names, pad + "    ") or [f"{pad}    pass"]
    else:
        lines += _puts(w, event.effects, names, pad)
    lines.append(f"{pad}L[{e}] = m")
    lines.append(f"{pad}if F[{e}] < 0:")
    lines.append(f"{pad}    F[{e}] = m")
    lines.append(f"{pad}N[{e}] += 1")
    if event.options:
        lines.append(f"{pad}O[{e}] = opt")
    lines.append(f"{pad}if track:")
    lines.append(f"{pad}    W[0] = W[0] + W[{1 + len(w.scenario.slots) + e}]")
    lines.append(f"{pad}C[0] += 1")
    return lines


def _event(w: _Writer, event: CompiledEvent) -> list[str]:
    """Lines that examine ``event`` in month ``m`` (inside a group function)."""
    e = event.index
    pad = "        "
    inner = pad + "    "
    lines = [f"    if {event.first} <= m <= {event.last} and m < BL[{e}]:"]
    lines.append(f"{pad}ok = L[{e}] < 0" if event.once else f"{pad}ok = True")
    lines.append(f"{pad}fires = False")
    play = w.expr(event.in_play)
    tests = [] if event.trigger is None else [f"L[{event.trigger[0]}] == m - {event.trigger[1]}"]
    tests += [text for text in (w.expr(event.when), play) if text != "True"]
    lines.append(f"{pad}if ok and {' and '.join(tests) or 'True'}:")
    if event.trigger is not None:
        lines.append(f"{inner}fires = True")
    else:
        assert event.hazard is not None
        lines.append(f"{inner}fires = {_draw(w, e, 0)} < {w.num(event.hazard)}")
    lines.append(f"{pad}if not fires and ok and FO[{e}, mi] != 0:")
    lines.append(f"{inner}fires = {play}")
    lines.append(f"{inner}if not fires:")
    lines.append(f"{inner}    REF[{e}, k] += 1")
    lines.append(f"{pad}if fires:")
    lines += _fire(w, event, inner)
    return lines


def _derived(w: _Writer) -> list[str]:
    """``upd(k)``: derived value ``k`` and every one it needs, each computed only if stale.

    Every body appears once (one switch), and a body reads the lower-indexed values it needs
    from ``D`` directly: ``upd`` brings them up to date first, in ascending order.
    """
    scenario = w.scenario
    order: list[int] = []
    offsets = [0]
    for k in range(len(scenario.derived_table)):
        order += [*scenario.derived_deps[k], k]
        offsets.append(len(order))
    lines = [
        f"DEPS = np.array({order or [0]!r}, dtype=np.int64)",
        f"DOFF = np.array({offsets!r}, dtype=np.int64)",
        "",
        "@njit(**JIT)",
        f"def upd(k, {_STATE}):",
        "    for p in range(DOFF[k], DOFF[k + 1]):",
        "        j = DEPS[p]",
        "        if V[j] == C[0]:",
        "            continue",
    ]
    direct = _Direct(scenario)
    direct.gathers = w.gathers
    for k, body in enumerate(scenario.derived_table):
        keyword = "if" if k == 0 else "elif"
        lines.append(f"        {keyword} j == {k}:")
        lines.append(f"            D[{k}] = {direct.num(body)}")
    lines += ["        V[j] = C[0]", "    return D[k]", ""]
    return lines


class _Direct(_Writer):
    """Expressions inside ``upd``: derived values are read from ``D`` (already fresh)."""

    def expr(self, node: Node) -> str:
        if node.op == "derived":
            text = f"D[{int(cast(int, node.args[0]))}]"
            return f"({text} != 0.0)" if node.type == BOOL else text
        return super().expr(node)


def _schedule(scenario: Scenario) -> dict[int, list[tuple[str, int]]]:
    """Month -> reads due at its start, within the simulated months (``simulate._schedule``)."""
    schedule: dict[int, list[tuple[str, int]]] = {}
    for i, outcome in enumerate(scenario.outcomes):
        if outcome.month is not None and outcome.month <= scenario.end:
            schedule.setdefault(outcome.month, []).append(("OUT", i))
    for i, fact in enumerate(scenario.facts):
        opens = fact.month - fact.tolerance
        if opens > scenario.start:
            schedule.setdefault(opens, []).append(("FOPEN", i))
        closes = min(fact.month + fact.tolerance + 1, scenario.end + 1)
        if closes <= scenario.end:
            schedule.setdefault(closes, []).append(("FCLOSE", i))
    return schedule


def _reads(w: _Writer) -> list[str]:
    """A function doing the month-start reads of month ``m`` for block row ``k``."""
    scenario = w.scenario
    lines = ["@njit(**JIT)", f"def reads({_STATE}, k, OUT, FOPEN, FCLOSE):"]
    schedule = _schedule(scenario)
    if not schedule:
        lines.append("    return")
    for month in sorted(schedule):
        lines.append(f"    if m == {month}:")
        for kind, i in schedule[month]:
            if kind == "OUT":
                expr = scenario.outcomes[i].expr
                lines.append(f"        OUT[{i}, k] = {w.num(expr)}")
            else:
                expr = scenario.facts[i].condition
                lines.append(f"        {kind}[{i}, k] = {w.expr(expr)}")
    lines.append("")
    return lines


_GROUP_ARGS = f"{_STATE}, mi, t, k, seed, FO, BL, CH, REF, track, W"


def kernel_source(scenario: Scenario) -> str:
    """The text of the compiled-kernel module of ``scenario`` (see the module docstring)."""
    w = _Writer(scenario)
    body: list[str] = []
    body += _derived(w)
    groups = [
        scenario.events[i : i + EVENTS_PER_GROUP]
        for i in range(0, len(scenario.events), EVENTS_PER_GROUP)
    ]
    for j, group in enumerate(groups):
        body += ["@njit(**JIT)", f"def grp{j}({_GROUP_ARGS}):"]
        for event in group:
            body += _event(w, event)
        body += ["    return", ""]
    body += _reads(w)
    main = _main_source(scenario, len(groups))
    # the head comes last: writing the events above is what collects the gathers it declares
    return "\n".join(_head_source(scenario, w) + body + main)


def _main_source(scenario: Scenario, groups: int) -> list[str]:
    """The kernel's entry point: load one timeline, run its months through every event group,
    store it back (and keep its fingerprints when ``track``)."""
    slots, events = len(scenario.slots), len(scenario.events)
    derived = max(1, len(scenario.derived_table))
    calls = [f"            grp{j}({_GROUP_ARGS})" for j in range(groups)]
    return [
        "@njit(cache=True, nogil=True)",
        "def kernel(VAL, LAST, FIRST, OPTION, COUNT, TL, seed, m_from, stop, reads_first,",
        "           FO, BL, CH, REF, OUT, FOPEN, FCLOSE, track, WEIGHTS, DIG, dstart, FP):",
        '    """Advance every timeline (column) of the block from month ``m_from`` through',
        '    ``stop`` in place (see ``engine.compiled``)."""',
        f"    s = np.empty({slots})",
        f"    L = np.empty({events}, np.int64)",
        f"    F = np.empty({events}, np.int64)",
        f"    O = np.empty({events}, np.int64)",
        f"    N = np.empty({events}, np.int64)",
        f"    D = np.zeros({derived})",
        f"    V = np.full({derived}, -1, np.int64)",
        "    C = np.zeros(1, np.int64)",
        f"    W = np.zeros({1 + slots + events}, np.uint64)",
        "    W[1:] = WEIGHTS",
        "    for k in range(VAL.shape[1]):",
        f"        for i in range({slots}):",
        "            s[i] = VAL[i, k]",
        f"        for e in range({events}):",
        "            L[e] = LAST[e, k]",
        "            F[e] = FIRST[e, k]",
        "            O[e] = OPTION[e, k]",
        "            N[e] = COUNT[e, k]",
        "        t = np.uint64(TL[k])",
        "        C[0] += 1",
        "        if track:",
        "            fp = np.uint64(0)",
        f"            for i in range({slots}):",
        "                fp += float_bits(s[i]) * W[1 + i]",
        f"            for e in range({events}):",
        f"                fp += np.uint64(N[e]) * W[{1 + slots} + e]",
        "            W[0] = fp",
        "        for m in range(m_from, stop + 1):",
        f"            mi = m - {scenario.start}",
        "            if m != m_from or reads_first:",
        "                reads(s, L, F, O, N, m, D, V, C, k, OUT, FOPEN, FCLOSE)",
        "                if track:",
        "                    DIG[m - dstart, k] = W[0]",
        *calls,
        "            C[0] += 1",
        f"        for i in range({slots}):",
        "            VAL[i, k] = s[i]",
        f"        for e in range({events}):",
        "            LAST[e, k] = L[e]",
        "            FIRST[e, k] = F[e]",
        "            OPTION[e, k] = O[e]",
        "            COUNT[e, k] = N[e]",
        "        if track:",
        "            FP[k] = W[0]",
        "    return 0",
        "",
    ]


def _head_source(scenario: Scenario, w: _Writer) -> list[str]:
    """The module's docstring, imports and the gather tables the events use."""
    head = [
        f'"""Compiled kernel of scenario {scenario.name} {scenario.version} '
        f'(sha256 {scenario.sha256}); generated by kremlinology.engine.codegen."""',
        "import math",
        "",
        "import numpy as np",
        "from numba import njit",
        "",
        "from kremlinology.engine.jitlib import (",
        "    div, float_bits, fmax, fmin, logistic, mod, put, since, uniform,",
        ")",
        "",
        'JIT = {"cache": True, "nogil": True, "_nrt": False}',
        "",
    ]
    for (table, fill), index in w.gathers.items():
        last = len(table) - 1
        head += [
            f"GS{index} = np.array({list(table)!r}, dtype=np.int64)",
            f"GF{index} = np.array([{', '.join(_float(x) for x in fill)}], dtype=np.float64)",
            "",
            "@njit(**JIT)",
            f"def gt{index}(s, code):",
            f"    c = min(max(int(code), 0), {last})",
            f"    row = GS{index}[c]",
            f"    return s[row] if row >= 0 else GF{index}[c]",
            "",
        ]
    return head
