"""The compiled kernel: one Numba interpreter (``engine.interp``) of a scenario's arrays
(``engine.codegen``), behind VectorProgram's interface.

``CompiledProgram(scenario)`` is a :class:`VectorProgram` whose ``advance`` runs the kernel when the
observer is one whose effects the kernel reproduces exactly:

* a plain ``simulate.Recorder`` without a log (outcomes, fact checks, refused forced firings);
* an observer class that declares ``COMPILED = "digests"`` in its own body (the twin worlds'
  ``DigestRecorder``): as above, and it keeps ``digests`` (months from ``start``, timelines) of
  fingerprints under ``weights``, its ``current`` fingerprints, and its own ``month_start`` is
  called at the months where the plan sets values.

Refused forced firings are counted per timeline in the kernel and told to the observer afterwards
(``refused`` once per count: the timelines refused at least once, at least twice, ...), so totals
and per-timeline counts come out as under the NumPy kernel. Any other observer (logs of firings,
casts, audits) gets the NumPy kernel, which gives the same state and records.

Plans' ``set`` assignments run in NumPy between two kernel calls, at the start
of their month, after that month's reads, as in the NumPy kernel.

The kernel is compiled once per machine, for every scenario: ``engine/interp.py`` is copied to
``<cache dir>/kernels/interp_<key>.py`` (written atomically) and imported from there, and Numba
caches its machine code next to it, so a later process loads it instead of compiling. The key
covers the kernel's source, the package files it imports (``jitlib``, ``codegen``, ``rng``), the
Numba and Python versions. A scenario is only arrays (built in tens of milliseconds, kept per
process). Importing this module compiles nothing and does not import Numba; the first compile
prints a line on stderr before and after (``KREMLINOLOGY_QUIET=1`` silences them).

Engines by name: ``"compiled"``, ``"numpy"`` (the vectorized kernel) and ``"reference"`` (the
per-timeline interpreter, for checks; baseline runs only). All three give the same results, so the
choice is one of speed. ``resolve_engine`` picks: the name given, else the one chosen with
``use_engine`` (the CLI's ``--engine``), else ``$KREMLINOLOGY_ENGINE``, else ``"numpy"``: on the
Thaw the NumPy kernel, vectorised over blocks of 16,384 timelines, does about 2.9 times the
timeline-months per second of this interpreter (README, "Engines and clusters"), so the compiled
kernel is not the default even though its first compile now takes seconds. Resolving to
``"compiled"`` loads (or first compiles) the kernel in the calling process, so worker processes
find it in the cache.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import sys
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from kremlinology.engine.codegen import (
    CODEGEN_VERSION,
    KernelProgram,
    empty_program,
    kernel_program,
)
from kremlinology.engine.state import Plan, RowPlan, WorldState
from kremlinology.engine.vector import Observer, VectorProgram, _assign
from kremlinology.scenario.cache import cache_dir
from kremlinology.scenario.model import Scenario

ENGINES = ("compiled", "numpy", "reference")
_MODULES: dict[str, ModuleType] = {}
_PROGRAMS: dict[str, KernelProgram] = {}
_SOURCES = ("interp.py", "jitlib.py", "codegen.py", "rng.py")
"""The package files the kernel's machine code depends on (its cache key hashes them)."""
_MEMO: dict[int, tuple[weakref.ref[Scenario], str]] = {}
_CHOICE: ContextVar[str | None] = ContextVar("kremlinology_engine", default=None)


@contextmanager
def use_engine(name: str | None) -> Iterator[None]:
    """Within the block, runs that are not given an engine use ``name`` (None: the default).
    Raises ValueError for an unknown name."""
    if name is not None and name not in ENGINES:
        raise ValueError(f"unknown engine '{name}'; choose one of {', '.join(ENGINES)}")
    token = _CHOICE.set(name)
    try:
        yield
    finally:
        _CHOICE.reset(token)


def numba_available() -> bool:
    """Whether Numba can be imported here."""
    return importlib.util.find_spec("numba") is not None


def resolve_engine(name: str | None = None, scenario: Scenario | None = None) -> str:
    """The engine to use (see the module docstring; ``scenario`` names the scenario in the line
    a first compile prints). Raises ValueError for an unknown name or for ``"compiled"`` without
    Numba."""
    chosen = name or _CHOICE.get() or os.environ.get("KREMLINOLOGY_ENGINE") or None
    if chosen is None:
        return "numpy"  # the faster at scale, as measured (see the module docstring)
    if chosen not in ENGINES:
        raise ValueError(f"unknown engine '{chosen}'; choose one of {', '.join(ENGINES)}")
    if chosen == "compiled":
        if not numba_available():
            raise ValueError(
                "the compiled engine needs numba (pip install numba); use --engine numpy"
            )
        load_kernel(scenario)
    return chosen


def _memo_key(scenario: Scenario) -> str:
    """What the kernel's arrays depend on beyond the scenario's files: a scenario changed in
    memory keeps its files' ``sha256`` but may carry other facts, events or outcomes (a ledger
    added by ``history --ledger``, a fit's trial scenario), and its arrays must not be another's.
    Remembered per scenario object while it lives (the digest takes tens of milliseconds)."""
    held = _MEMO.get(id(scenario))
    if held is not None and held[0]() is scenario:
        return held[1]
    parts = (scenario.sha256, scenario.facts, scenario.events, scenario.outcomes, scenario.start)
    memo = hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()
    _MEMO[id(scenario)] = (weakref.ref(scenario), memo)
    return memo


def program_of(scenario: Scenario) -> KernelProgram:
    """The kernel's arrays of ``scenario`` (built once per process and scenario content)."""
    memo = _memo_key(scenario)
    found = _PROGRAMS.get(memo)
    if found is None:
        found = kernel_program(scenario)
        _PROGRAMS[memo] = found
    return found


def kernel_dir() -> Path:
    """Where the kernel's source copy and its machine code are cached."""
    return cache_dir() / "kernels"


def kernel_key() -> str:
    """The cache key of the kernel: its source, what it imports of the package, Numba's version."""
    numba = importlib.metadata.version("numba")
    digest = hashlib.sha256(f"{CODEGEN_VERSION}\0{numba}\0{sys.version}\0".encode())
    for name in _SOURCES:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:32]


def is_compiled(scenario: Scenario | None = None) -> bool:
    """Whether the kernel (one for every scenario) is compiled, in this process or on disk."""
    key = kernel_key()
    if key in _MODULES:
        return True
    return any((kernel_dir() / "__pycache__").glob(f"interp_{key}.kernel-*.nbi"))


def load_kernel(scenario: Scenario | None = None) -> ModuleType:
    """The imported kernel module (written into the cache and compiled there if needed: the
    first time on a machine, with a line on stderr). ``scenario`` only names it in that line."""
    key = kernel_key()
    found = _MODULES.get(key)
    if found is not None:
        return found
    folder = kernel_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"interp_{key}.py"
    source = (Path(__file__).parent / "interp.py").read_text(encoding="utf-8")
    if not path.exists() or path.read_text(encoding="utf-8") != source:
        partial = folder / f".interp_{key}.{os.getpid()}.tmp"
        partial.write_text(source, encoding="utf-8")
        os.replace(partial, path)
    name = f"kremlinology_kernel_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    loud = not is_compiled() and os.environ.get("KREMLINOLOGY_QUIET") != "1"
    if loud:
        named = f" (for {scenario.name})" if scenario is not None else ""
        print(
            f"compiling the simulation kernel{named}: once per machine, for every scenario, "
            f"cached in {folder} (about a minute) ...",
            file=sys.stderr,
            flush=True,
        )
    started = time.perf_counter()
    _warm(module)
    if loud:
        print(f"compiled in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    _MODULES[key] = module
    return module


def _warm(module: ModuleType) -> None:
    """Call the kernel once on no timelines, with the argument types of every real call
    (compiles it, or loads its cached machine code)."""
    program = empty_program()
    world = (np.zeros((0, 0)), *(np.zeros((0, 0), dtype=np.int32) for _ in range(2)),
             np.zeros((0, 0), dtype=np.int16), np.zeros((0, 0), dtype=np.int32),
             np.zeros(0, dtype=np.int64))  # fmt: skip
    plan = (np.zeros((0, 1), dtype=np.uint8), np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.int64))  # fmt: skip
    records = (np.zeros((0, 0)), np.zeros((0, 0), dtype=np.bool_), np.zeros((0, 0), dtype=np.bool_))
    module.kernel(program.ints, program.floats, *module.scratch(program.ints), world,
                  np.uint64(0), np.zeros(9, dtype=np.int64), plan, records, False,
                  np.zeros(1, dtype=np.uint64), np.zeros((1, 0), dtype=np.uint64), 0,
                  np.zeros(0, dtype=np.uint64))  # fmt: skip


def _mode(observer: Observer | None) -> str | None:
    """How the kernel serves ``observer``: "records", "digests", or None (NumPy kernel).

    An observer class says what the kernel may do in its place with ``COMPILED`` in its own body
    (a subclass that does not repeat it gets the NumPy kernel): ``"records"`` (``Recorder``) or
    ``"digests"``; either way only while it keeps no log of firings."""
    if observer is None or getattr(observer, "log", None) is not None:
        return None
    mode = type(observer).__dict__.get("COMPILED")
    return mode if mode in ("records", "digests") else None


class CompiledProgram(VectorProgram):
    """A scenario compiled for the Numba kernel (the NumPy kernel where the kernel cannot serve
    an observer); results equal the NumPy kernel's, value for value."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        self.module = load_kernel(scenario)
        self.program = program_of(scenario)

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
        """Simulate months ``world.month .. stop`` in place (as ``VectorProgram.advance``; with
        per-row overrides ``rows``, on the NumPy kernel)."""
        mode = _mode(observer)
        if mode is None or world.month > stop or rows is not None:
            super().advance(world, plan, seed, stop, observer, rows=rows)
            return
        assert observer is not None
        scenario = self.scenario
        events = len(scenario.events)
        forced = np.zeros((events, scenario.months), dtype=np.uint8)
        for e, months in plan.forced.items():
            for month in months:
                if scenario.start <= month <= scenario.end:
                    forced[e, month - scenario.start] = 1
        blocked = np.full(events, np.iinfo(np.int64).max, dtype=np.int64)
        for e, month in plan.blocked.items():
            blocked[e] = month
        chosen = np.full(events, -1, dtype=np.int64)
        for e, option in plan.chosen.items():
            chosen[e] = option
        refused = np.zeros((events, world.size), dtype=np.int64)
        fingerprints = np.zeros(world.size, dtype=np.uint64)
        ran = False
        reads_first = True
        for month in sorted(m for m in plan.sets if world.month <= m <= stop):
            if month > world.month:
                self._kernel(world, seed, month - 1, reads_first, forced, blocked, chosen,
                             refused, observer, mode, fingerprints)  # fmt: skip
                ran = True
            if mode == "digests" and ran:
                observer.current = fingerprints.copy()  # type: ignore[attr-defined]
            observer.month_start(world)
            for slot, expr in plan.sets[month]:
                value = self.compile(expr)(world)
                value = value.copy() if isinstance(value, np.ndarray) else value
                _assign(world, slot, value, None, scenario, observer)
            reads_first = False
        self._kernel(world, seed, stop, reads_first, forced, blocked, chosen, refused,
                     observer, mode, fingerprints)  # fmt: skip
        if mode == "digests":
            observer.current = fingerprints  # type: ignore[attr-defined]
        for event in np.flatnonzero(refused.any(axis=1)).tolist():
            for times in range(1, int(refused[event].max()) + 1):
                observer.refused(world, event, refused[event] >= times)

    def _kernel(
        self,
        world: WorldState,
        seed: int,
        stop: int,
        reads_first: bool,
        forced: np.ndarray,
        blocked: np.ndarray,
        chosen: np.ndarray,
        refused: np.ndarray,
        observer: Any,
        mode: str,
        fingerprints: np.ndarray,
    ) -> None:
        """Run the kernel over months ``world.month .. stop``; forget NumPy's cached values."""
        track = mode == "digests"
        scenario = self.scenario
        records = observer.records
        weights = (
            observer.weights
            if track
            else np.zeros(len(scenario.slots) + len(scenario.events), dtype=np.uint64)
        )
        digests = observer.digests if track else np.zeros((1, 0), dtype=np.uint64)
        start = observer.start if track else 0
        world_arrays = _contiguous(world, _WORLD)
        kept = _contiguous(records, _RECORDS)
        if track:
            observer.digests = np.ascontiguousarray(digests)
        W = np.zeros(1 + len(scenario.slots) + len(scenario.events), dtype=np.uint64)
        W[1:] = weights
        program = self.program
        scratch = self.module.scratch(program.ints)
        months = np.array([world.month, stop, int(reads_first), 0, 0, 0, 0, 0, 0], dtype=np.int64)
        step = max(16, SLICE_WORK // max(1, len(scenario.events) * (stop - world.month + 1)))
        for first in range(0, world.size, step):
            # slices: Python gets control back often enough to act on Ctrl-C and SIGTERM
            months[7:9] = first, min(first + step, world.size)
            self.module.kernel(program.ints, program.floats, *scratch, world_arrays,
                               np.uint64(seed), months, (forced, blocked, chosen, refused), kept,
                               track, W, observer.digests if track else digests, start,
                               fingerprints)  # fmt: skip
        _write_back(world, _WORLD, world_arrays)
        _write_back(records, _RECORDS, kept)
        world.month = stop + 1
        world.clock += 1
        world.stamps = [world.clock] * (world.values.shape[0] + world.last.shape[0] + 1)


SLICE_WORK = 2_000_000
"""Event-months per kernel call (a tenth of a second or so of the Thaw): the block's timelines are
advanced in slices of about this much work."""
_WORLD = (("values", np.float64), ("last", np.int32), ("first", np.int32),
          ("option", np.int16), ("count", np.int32), ("timelines", np.int64))  # fmt: skip
_RECORDS = (("outcomes", np.float64), ("fact_open", np.bool_), ("fact_close", np.bool_))


def _contiguous(holder: object, fields: tuple[tuple[str, type], ...]) -> tuple[np.ndarray, ...]:
    """Arrays as the kernel takes them (C-contiguous, of its dtypes, so that one compiled kernel
    serves every call): copies only where they are not, which ``_write_back`` copies back."""
    return tuple(np.ascontiguousarray(getattr(holder, name), dtype=t) for name, t in fields)


def _write_back(
    holder: object, fields: tuple[tuple[str, type], ...], arrays: tuple[np.ndarray, ...]
) -> None:
    for (name, _), array in zip(fields, arrays, strict=True):
        if getattr(holder, name) is not array:
            getattr(holder, name)[...] = array


def make_program(scenario: Scenario, engine: str | None = None) -> VectorProgram:
    """The program of ``scenario`` for an engine (see :func:`resolve_engine`); the reference
    engine has no block program, so it is refused here."""
    chosen = resolve_engine(engine, scenario)
    if chosen == "compiled":
        return CompiledProgram(scenario)
    if chosen == "numpy":
        return VectorProgram(scenario)
    raise ValueError(
        "the reference engine runs baseline runs only (kremlinology run); use --engine numpy"
    )
