"""The compiled kernel: one interpreter of ``engine.codegen``'s arrays, written once in Numba.

Numba compiles this module once per machine (``engine.compiled`` copies it into the kernel cache
and imports it from there, so the machine code is cached next to it); every scenario is then data
passed to the same machine code, so nothing is compiled per scenario and the first compile's cost
does not grow with the scenario. Importing this module imports Numba but compiles nothing.

``kernel`` advances every timeline of a block, one after another, through a range of months:

* at each month start (the first one only if ``reads_first``): the reads due (outcomes, fact
  checks) and, when ``track``, the timeline's fingerprint into ``DIG``;
* then every event in engine order, as ``engine.vector`` states: within its window and not blocked
  (``m < BL[e]``), a candidate (not ``once`` or not fired) whose trigger matches (if it has one)
  and whose condition and in-play test hold fires, a hazard event only where its draw is below the
  hazard; a forced event (``FO[e, month offset]``) fires where it is a candidate and in play, else
  the refusal is counted in ``REF[e, k]``;
* a firing draws its option (unless ``CH[e]`` chose it), evaluates every right-hand side on the
  state before the event, assigns them in order clipped to the slots' ranges, and writes the
  event's record (raising the version, which makes every cached derived value stale; a new
  month makes those stale that read the month).

The draw of ``(month offset, event, slot)`` for timeline ``t`` is ``jitlib.uniform(seed,
stream, t)``, the same double as ``rng.uniforms``. It is computed only where its value matters: a
hazard that is not above 0 never fires and one of at least 1 always does (a draw lies in [0, 1)),
which changes no result and no other draw.

A timeline's working state is two arrays (``scratch``): floats ``Fs`` (slots, derived values,
the expression stack, temporaries) and ints ``Is`` (each event's last and first month, option and
count, the derived values' versions, the version), laid out as the program's header says; with the
program's ``X`` (ints) and ``K`` (floats), every function takes four arrays, so calls are cheap.

**For a GPU**: ``timeline`` is the whole work of one timeline; it reads only the program and its
own column of the block, and writes its own column and its own ``Fs`` / ``Is``. A CUDA kernel would
run it as a device function with one thread per timeline (``k = cuda.grid(1)``) and ``Fs`` / ``Is``
as per-thread rows of two scratch arrays; ``ev``, ``fire`` and the ``jitlib`` functions are plain
scalar code that ``numba.cuda.jit(device=True)`` compiles as they are (``mulhi`` and
``float_bits`` have CUDA counterparts, ``cuda.mulhi`` and a bitcast).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from kremlinology.engine import codegen as g
from kremlinology.engine.jitlib import div, float_bits, fmax, fmin, logistic, mod, since, uniform
from kremlinology.engine.rng import EVENT_DRAW

JIT: dict[str, Any] = {"cache": True, "nogil": True, "_nrt": False}
"""Nothing here allocates (the caller passes the working arrays): without reference counting,
arrays cost nothing to pass."""
Arrays = Any  # the arrays and tuples of arrays the kernel takes, as Numba sees them

SLOT, CONST, GT, LT, ADD, MUL, SUB = g.SLOT, g.CONST, g.GT, g.LT, g.ADD, g.MUL, g.SUB
GE, LE, EQ, NE, DIV, MOD, FMIN, FMAX = g.GE, g.LE, g.EQ, g.NE, g.DIV, g.MOD, g.FMIN, g.FMAX
SLOTB, FIRED, JFK, JTK, ENSURE, DREAD = g.SLOTB, g.FIRED, g.JFK, g.JTK, g.ENSURE, g.DREAD
DREADB, NOT, NEG, CLIP, ABS, LOGISTIC = g.DREADB, g.NOT, g.NEG, g.CLIP, g.ABS, g.LOGISTIC
GATHER, GATHERB, SINCE, CHOSE, MONTH = g.GATHER, g.GATHERB, g.SINCE, g.CHOSE, g.MONTH
JF, JMP, STORED, RETSUB, RET = g.JF, g.JMP, g.STORED, g.RETSUB, g.RET
FRESH, ANDS = g.FRESH, g.ANDS
ON_STACK, ON_CONST = g.ON_STACK, g.ON_CONST
_DRAW = np.uint64(EVENT_DRAW << 56)
_32 = np.uint64(32)
_8 = np.uint64(8)


@njit(**JIT)
def _binary(op: int, x: float, y: float) -> float:  # pragma: no cover
    """A two-operand operation."""
    if op == GT:
        return 1.0 if x > y else 0.0
    if op == LT:
        return 1.0 if x < y else 0.0
    if op == ADD:
        return x + y
    if op == MUL:
        return x * y
    if op == SUB:
        return x - y
    if op == GE:
        return 1.0 if x >= y else 0.0
    if op == LE:
        return 1.0 if x <= y else 0.0
    if op == EQ:
        return 1.0 if x == y else 0.0
    if op == NE:
        return 1.0 if x != y else 0.0
    if op == DIV:
        return float(div(x, y))
    if op == MOD:
        return float(mod(x, y))
    if op == FMIN:
        return float(fmin(x, y))
    return float(fmax(x, y))


@njit(**JIT)
def _unary(op: int, x: float) -> float:  # pragma: no cover
    """A one-operand operation."""
    if op == NOT:
        return 1.0 if x == 0.0 else 0.0
    if op == NEG:
        return -x
    if op == ABS:
        return abs(x)
    return float(logistic(x))  # LOGISTIC


@njit(**JIT)
def _leaf(op: int, a: int, b: int, X: Arrays, K: Arrays, Fs: Arrays, Is: Arrays, m: int,
          code: float) -> float:  # pragma: no cover  # fmt: skip
    """The less frequent reads (``code``: an office read's holder code)."""
    if op == DREAD:
        return float(Fs[X[g.H_DBASE] + a])
    if op == DREADB:
        return 1.0 if Fs[X[g.H_DBASE] + a] != 0.0 else 0.0
    if op in (GATHER, GATHERB):
        c = min(max(int(code), 0), X[a] - 1)
        row = X[a + 1 + c]
        value = Fs[row] if row >= 0 else K[b + c]
        return value if op == GATHER else (1.0 if value != 0.0 else 0.0)
    if op == SINCE:
        return float(since(Is[a], m))
    if op == CHOSE:
        return 1.0 if Is[a] >= 0 and Is[X[g.H_OBASE] + a] == b else 0.0
    return float(m)  # MONTH


@njit(**JIT)
def _current(k: int, X: Arrays, Is: Arrays, m: int) -> bool:  # pragma: no cover
    """Whether derived value ``k`` is current (see ``codegen``)."""
    if Is[X[g.H_VBASE] + k] != Is[X[g.H_CIDX]]:
        return False
    return bool(X[X[g.H_MONTHLY] + k] == 0 or Is[X[g.H_MBASE] + k] == m)


@njit(**JIT)
def ev(pc: int, X: Arrays, K: Arrays, Fs: Arrays, Is: Arrays, m: int) -> float:  # pragma: no cover
    """Run the bytecode from ``pc`` to its ``RET``; return the value it leaves. (One chain of
    equality tests on the opcode, which the compiler turns into a jump table.)"""
    sp = X[g.H_SBASE] - 1
    back = 0
    while True:
        op, a, b = X[pc], X[pc + 1], X[pc + 2]
        pc += 3
        if op == SLOT:
            sp += 1
            Fs[sp] = Fs[a]
        elif op == CONST:
            sp += 1
            Fs[sp] = K[a]
        # equality tests, not ``in``: the chain stays one the compiler makes a jump table of
        elif op == GT or op == LT or op == ADD or op == MUL or op == SUB or op == GE or \
                op == LE or op == EQ or op == NE or op == DIV or op == MOD or op == FMIN or \
                op == FMAX:  # noqa: SIM109  # fmt: skip
            if b == ON_STACK:
                sp -= 1
                y = Fs[sp + 1]
            else:
                y = K[a] if b == ON_CONST else Fs[a]
            Fs[sp] = _binary(op, Fs[sp], y)
        elif op == SLOTB:
            sp += 1
            Fs[sp] = 1.0 if Fs[a] != 0.0 else 0.0
        elif op == FIRED:
            sp += 1
            Fs[sp] = 1.0 if Is[a] >= 0 else 0.0
        elif op == ANDS:
            if Fs[a] == 0.0:
                sp += 1
                Fs[sp] = 0.0
                pc = b
        elif op == JFK or op == JTK:  # noqa: SIM109
            if (Fs[sp] == 0.0) == (op == JFK):
                pc = b
            else:
                sp -= 1
        elif op == ENSURE:
            if not _current(a, X, Is, m):
                back = pc
                pc = b
        elif op == FRESH:
            if _current(a, X, Is, m):
                pc = b
        elif op == RETSUB:
            pc = back
        elif op == JF:
            sp -= 1
            if Fs[sp + 1] == 0.0:
                pc = b
        elif op == JMP:
            pc = b
        elif op == RET:
            return float(Fs[sp])
        else:
            sp = _other(op, a, b, sp, X, K, Fs, Is, m)


@njit(**JIT)
def _other(op: int, a: int, b: int, sp: int, X: Arrays, K: Arrays, Fs: Arrays, Is: Arrays,
           m: int) -> int:  # pragma: no cover  # fmt: skip
    """The less frequent instructions (none of them jumps); return the new stack top."""
    if op == STORED:
        Fs[X[g.H_DBASE] + a] = Fs[sp]
        Is[X[g.H_VBASE] + a] = Is[X[g.H_CIDX]]
        Is[X[g.H_MBASE] + a] = m
        return sp - 1
    if op == NOT:
        Fs[sp] = 1.0 if Fs[sp] == 0.0 else 0.0
    elif op == NEG or op == ABS or op == LOGISTIC:  # noqa: SIM109
        Fs[sp] = _unary(op, Fs[sp])
    elif op == CLIP:
        sp -= 2
        Fs[sp] = fmin(fmax(Fs[sp], Fs[sp + 1]), Fs[sp + 2])
    elif op == GATHER or op == GATHERB:  # noqa: SIM109
        Fs[sp] = _leaf(op, a, b, X, K, Fs, Is, m, Fs[sp])
    else:  # DREAD, DREADB, SINCE, CHOSE, MONTH
        sp += 1
        Fs[sp] = _leaf(op, a, b, X, K, Fs, Is, m, 0.0)
    return sp


@njit(**JIT)
def _draw(seed: np.uint64, mi: int, e: int, slot: int, t: np.uint64) -> float:  # pragma: no cover
    """Timeline ``t``'s draw of ``rng.stream_id(EVENT_DRAW, mi, e, slot)``."""
    stream = _DRAW | (np.uint64(mi) << _32) | (np.uint64(e) << _8) | np.uint64(slot)
    return float(uniform(seed, stream, t))


@njit(**JIT)
def _choose(row: int, X: Arrays, K: Arrays, Fs: Arrays, Is: Arrays, m: int,
            draw: Arrays) -> int:  # pragma: no cover  # fmt: skip
    """The option a firing of the event at ``X[row]`` takes by weight (``draw``: seed, month
    offset, event, timeline)."""
    count, first = X[row + g.E_OPTIONS], X[g.H_OPT] + 3 * X[row + g.E_OPTION0]
    temp = X[g.H_TBASE]
    total = 0.0
    for i in range(count):
        Fs[temp + i] = fmax(ev(X[first + 3 * i], X, K, Fs, Is, m), 0.0)
        total = Fs[temp + i] if i == 0 else total + Fs[temp + i]
    option = 0
    if total > 0.0:
        seed, mi, e, t = np.uint64(draw[0]), draw[1], draw[2], np.uint64(draw[3])
        target = _draw(seed, mi, e, 1, t) * total
        cumulative = 0.0
        for i in range(count - 1):
            cumulative = cumulative + Fs[temp + i]
            if cumulative <= target:
                option += 1
    return option


@njit(**JIT)
def _put(slot: int, value: float, low: float, high: float, Fs: Arrays, track: bool,
         W: Arrays) -> None:  # pragma: no cover  # fmt: skip
    """Assign ``value`` clipped to ``[low, high]`` (NaN stays NaN), keeping the fingerprint."""
    if value < low:
        value = low
    if value > high:
        value = high
    if track:
        W[0] = W[0] + W[1 + slot] * (float_bits(value) - float_bits(Fs[slot]))
    Fs[slot] = value


@njit(**JIT)
def fire(e: int, X: Arrays, K: Arrays, Fs: Arrays, Is: Arrays, m: int, draw: Arrays,
         chosen: int, track: bool, W: Arrays) -> None:  # pragma: no cover  # fmt: skip
    """Fire event ``e`` in this timeline: option, effects, record."""
    row = X[g.H_EVT] + g.EVENT_COLUMNS * e
    options = X[row + g.E_OPTIONS]
    opt = 0
    if options:
        opt = chosen if chosen >= 0 else _choose(row, X, K, Fs, Is, m, draw)
    effects, first, count = X[g.H_EFF], X[row + g.E_EFFECT0], X[row + g.E_EFFECTS]
    extra, more = 0, 0
    if options:
        option = X[g.H_OPT] + 3 * (X[row + g.E_OPTION0] + opt)
        extra, more = X[option + 1], X[option + 2]
    temp = X[g.H_TBASE]
    for i in range(count + more):
        j = first + i if i < count else extra + i - count
        Fs[temp + i] = ev(X[effects + 2 * j + 1], X, K, Fs, Is, m)
    bounds = X[g.H_BOUNDS]
    for i in range(count + more):
        j = first + i if i < count else extra + i - count
        low, high = K[bounds + 2 * j], K[bounds + 2 * j + 1]
        _put(X[effects + 2 * j], Fs[temp + i], low, high, Fs, track, W)
    Is[e] = m
    if Is[X[g.H_FBASE] + e] < 0:
        Is[X[g.H_FBASE] + e] = m
    Is[X[g.H_NBASE] + e] += 1
    if options:
        Is[X[g.H_OBASE] + e] = opt
    if track:
        W[0] = W[0] + W[1 + X[g.H_SLOTS] + e]
    Is[X[g.H_CIDX]] += 1


@njit(**JIT)
def _reads(k: int, X: Arrays, K: Arrays, Fs: Arrays, Is: Arrays, m: int, mi: int,
           records: Arrays) -> None:  # pragma: no cover  # fmt: skip
    """The outcome and fact reads due at the start of month ``m`` (offset ``mi``)."""
    OUT, FOPEN, FCLOSE = records
    reads, due = X[g.H_READS], X[g.H_READ_FROM] + mi
    for r in range(X[due], X[due + 1]):
        kind, index, pc = X[reads + 3 * r], X[reads + 3 * r + 1], X[reads + 3 * r + 2]
        value = ev(pc, X, K, Fs, Is, m)
        if kind == g.READ_OUTCOME:
            OUT[index, k] = value
        elif kind == g.READ_OPEN:
            FOPEN[index, k] = value != 0.0
        else:
            FCLOSE[index, k] = value != 0.0


@njit(inline="always", **JIT)
def _examine(e: int, k: int, X: Arrays, K: Arrays, Fs: Arrays, Is: Arrays, m: int,
             draw: Arrays, plan: Arrays) -> bool:  # pragma: no cover  # fmt: skip
    """Whether event ``e`` fires in month ``m`` of block row ``k`` (counting a refusal)."""
    FO, BL, _, REF = plan
    row = X[g.H_EVT] + g.EVENT_COLUMNS * e
    if m < X[row + g.E_FIRST] or m > X[row + g.E_LAST] or m >= BL[e]:
        return False
    ok = Is[e] < 0 if X[row + g.E_ONCE] else True
    fires = False
    source, play = X[row + g.E_TRIGGER], X[row + g.E_PLAY]
    if ok and (source < 0 or Is[source] == m - X[row + g.E_DELAY]):
        chance = ev(X[row + g.E_WHEN], X, K, Fs, Is, m)  # hazard where the tests hold, else 0
        if chance >= 1.0:
            fires = True
        elif chance > 0.0:
            fires = _draw(np.uint64(draw[0]), draw[1], e, 0, np.uint64(draw[3])) < chance
    if not fires and ok and FO[e, draw[1]] != 0:
        fires = play < 0 or ev(play, X, K, Fs, Is, m) != 0.0
        if not fires:
            REF[e, k] += 1
    return fires


@njit(**JIT)
def _fingerprint(X: Arrays, Fs: Arrays, Is: Arrays, W: Arrays) -> np.uint64:  # pragma: no cover
    """A timeline's fingerprint from scratch (slot bits and firing counts under the weights)."""
    slots, base = X[g.H_SLOTS], X[g.H_NBASE]
    fp = np.uint64(0)
    for i in range(slots):
        fp += float_bits(Fs[i]) * W[1 + i]
    for e in range(X[g.H_EVENTS]):
        fp += np.uint64(Is[base + e]) * W[1 + slots + e]
    return fp


@njit(**JIT)
def _load(k: int, X: Arrays, Fs: Arrays, Is: Arrays, world: Arrays,
          back: bool) -> None:  # pragma: no cover  # fmt: skip
    """Copy block row ``k`` into the working arrays (or, ``back``, the working arrays into it)."""
    VAL, LAST, FIRST, OPTION, COUNT, _ = world
    fb, ob, nb = X[g.H_FBASE], X[g.H_OBASE], X[g.H_NBASE]
    for i in range(X[g.H_SLOTS]):
        if back:
            VAL[i, k] = Fs[i]
        else:
            Fs[i] = VAL[i, k]
    for e in range(X[g.H_EVENTS]):
        if back:
            LAST[e, k], FIRST[e, k] = Is[e], Is[fb + e]
            OPTION[e, k], COUNT[e, k] = Is[ob + e], Is[nb + e]
        else:
            Is[e], Is[fb + e] = LAST[e, k], FIRST[e, k]
            Is[ob + e], Is[nb + e] = OPTION[e, k], COUNT[e, k]


@njit(**JIT)
def timeline(k: int, X: Arrays, K: Arrays, Fs: Arrays, Is: Arrays, world: Arrays,
             seed: np.uint64, months: Arrays, plan: Arrays, records: Arrays, track: bool,
             W: Arrays, DIG: Arrays, dstart: int) -> np.uint64:  # pragma: no cover  # fmt: skip
    """Advance block row ``k`` through ``months = (from, stop, reads_first)``; return its
    fingerprint (0 unless ``track``)."""
    _load(k, X, Fs, Is, world, False)
    draw = months[3:7]  # seed, month offset, event, timeline
    draw[0], draw[3] = np.int64(seed), world[5][k]
    version = X[g.H_CIDX]
    Is[version] += 1
    if track:
        W[0] = _fingerprint(X, Fs, Is, W)
    chosen = plan[2]
    for m in range(months[0], months[1] + 1):
        mi = m - X[g.H_START]
        draw[1] = mi
        if m != months[0] or months[2] != 0:
            _reads(k, X, K, Fs, Is, m, mi, records)
            if track:
                DIG[m - dstart, k] = W[0]
        for e in range(X[g.H_EVENTS]):
            if _examine(e, k, X, K, Fs, Is, m, draw, plan):
                draw[2] = e
                fire(e, X, K, Fs, Is, m, draw, chosen[e], track, W)
    _load(k, X, Fs, Is, world, True)
    return W[0] if track else np.uint64(0)


@njit(**JIT)
def kernel(X: Arrays, K: Arrays, Fs: Arrays, Is: Arrays, world: Arrays, seed: np.uint64,
           months: Arrays, plan: Arrays, records: Arrays, track: bool, W: Arrays, DIG: Arrays,
           dstart: int, FP: Arrays) -> int:  # pragma: no cover  # fmt: skip
    """Advance every timeline (column) of the block in place (see the module docstring).

    ``Fs`` / ``Is``: ``scratch(X)``; ``months``: (from, stop, reads_first), four ints of room,
    then the block rows to advance (``months[7] .. months[8] - 1``); ``W``: the fingerprint
    (``W[0]``) and the weights (``W[1:]``)."""
    for k in range(months[7], months[8]):
        fp = timeline(k, X, K, Fs, Is, world, seed, months, plan, records, track, W, DIG, dstart)
        if track:
            FP[k] = fp
    return 0


def scratch(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A timeline's working arrays (floats, ints) for the program ``X`` (derived values' versions
    at -1: none is cached)."""
    floats = np.zeros(int(X[g.H_FLOATS]))
    ints = np.zeros(int(X[g.H_INTS]), dtype=np.int64)
    ints[int(X[g.H_VBASE]) : int(X[g.H_CIDX])] = -1
    return floats, ints
