"""The compiled kernel: a scenario's generated Numba module, cached on disk, behind VectorProgram's
interface.

``CompiledProgram(scenario)`` is a :class:`VectorProgram` whose ``advance`` runs the generated
kernel (``engine.codegen``) when the observer is one whose effects the kernel reproduces exactly:

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

Compiled code is cached: the generated text goes to ``<cache dir>/kernels/k_<key>.py`` (written
atomically) and Numba caches its machine code next to it, so a later process loads it in well under
a second. The key covers the generated text, ``jitlib``'s source and the Numba version. Importing
this module compiles nothing and does not import Numba; the first compile of a scenario prints a
line on stderr (``KREMLINOLOGY_QUIET=1`` silences it).

Engines by name: ``"compiled"``, ``"numpy"`` (the vectorized kernel) and ``"reference"`` (the
per-timeline interpreter, for checks; baseline runs only). All three give the same results, so the
choice is one of speed. ``resolve_engine`` picks: the name given, else the one chosen with
``use_engine`` (the CLI's ``--engine``), else ``$KREMLINOLOGY_ENGINE``, else ``"compiled"`` where
Numba imports and the scenario's kernel is already compiled, and ``"numpy"`` otherwise (a first
compile of a large scenario takes minutes, see the README's figures, so it is never started
unasked).
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

from kremlinology.engine.codegen import CODEGEN_VERSION, kernel_source
from kremlinology.engine.state import Plan, WorldState
from kremlinology.engine.vector import Observer, VectorProgram, _assign
from kremlinology.scenario.cache import cache_dir
from kremlinology.scenario.model import Scenario

ENGINES = ("compiled", "numpy", "reference")
_MODULES: dict[str, ModuleType] = {}
_SOURCES: dict[str, tuple[str, str]] = {}
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
    """The engine to use (see the module docstring). Raises ValueError for an unknown name or
    for ``"compiled"`` without Numba."""
    chosen = name or _CHOICE.get() or os.environ.get("KREMLINOLOGY_ENGINE") or None
    if chosen is None:
        if numba_available() and scenario is not None and is_compiled(scenario):
            return "compiled"
        return "numpy"
    if chosen not in ENGINES:
        raise ValueError(f"unknown engine '{chosen}'; choose one of {', '.join(ENGINES)}")
    if chosen == "compiled" and not numba_available():
        raise ValueError("the compiled engine needs numba (pip install numba); use --engine numpy")
    return chosen


def _memo_key(scenario: Scenario) -> str:
    """What the kernel's text depends on beyond the scenario's files: a scenario changed in
    memory keeps its files' ``sha256`` but may carry other facts, events or outcomes (a ledger
    added by ``history --ledger``, a fit's trial scenario), and its kernel must not be another's.
    Remembered per scenario object while it lives (the digest takes tens of milliseconds)."""
    held = _MEMO.get(id(scenario))
    if held is not None and held[0]() is scenario:
        return held[1]
    parts = (scenario.sha256, scenario.facts, scenario.events, scenario.outcomes, scenario.start)
    memo = hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()
    _MEMO[id(scenario)] = (weakref.ref(scenario), memo)
    return memo


def _source(scenario: Scenario) -> tuple[str, str]:
    """The kernel's text and cache key (kept in this process per scenario content, not per
    files' hash alone: see :func:`_memo_key`)."""
    memo = _memo_key(scenario)
    found = _SOURCES.get(memo)
    if found is None:
        source = kernel_source(scenario)
        found = (source, _key(source))
        _SOURCES[memo] = found
    return found


def _marker(scenario: Scenario) -> Path:
    """A small file naming the kernel last compiled for this scenario hash (a hint only: the
    kernel that runs is always found by the hash of its generated text)."""
    return kernel_dir() / f"scenario_{scenario.sha256[:32]}_{CODEGEN_VERSION}.key"


def is_compiled(scenario: Scenario) -> bool:
    """Whether the kernel of ``scenario`` was compiled (in this process or in the on-disk cache),
    without generating its text (which takes a while for a large scenario)."""
    found = _SOURCES.get(scenario.sha256)
    if found is not None and found[1] in _MODULES:
        return True
    try:
        key = _marker(scenario).read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return any((kernel_dir() / "__pycache__").glob(f"k_{key}.kernel-*.nbi"))


def kernel_dir() -> Path:
    """Where generated kernels and their machine code are cached."""
    return cache_dir() / "kernels"


def _key(source: str) -> str:
    numba = importlib.metadata.version("numba")
    digest = hashlib.sha256(f"{CODEGEN_VERSION}\0{numba}\0".encode())
    digest.update((Path(__file__).parent / "jitlib.py").read_bytes())
    digest.update(source.encode())
    return digest.hexdigest()[:32]


def load_kernel(scenario: Scenario) -> ModuleType:
    """The imported kernel module of ``scenario`` (generated, written and compiled if needed)."""
    source, key = _source(scenario)
    found = _MODULES.get(key)
    if found is not None:
        return found
    folder = kernel_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"k_{key}.py"
    if not path.exists() or path.read_text(encoding="utf-8") != source:
        partial = folder / f".k_{key}.{os.getpid()}.tmp"
        partial.write_text(source, encoding="utf-8")
        os.replace(partial, path)
    name = f"kremlinology_kernel_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    cached = any((folder / "__pycache__").glob(f"k_{key}.kernel-*.nbi"))
    if not cached and os.environ.get("KREMLINOLOGY_QUIET") != "1":
        print(
            f"compiling the {scenario.name} kernel (first run only; cached in {folder}) ...",
            file=sys.stderr,
            flush=True,
        )
    started = time.perf_counter()
    _warm(module, scenario)
    if not cached and os.environ.get("KREMLINOLOGY_QUIET") != "1":
        print(f"compiled in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    _MODULES[key] = module
    marker = _marker(scenario)
    if not marker.exists() or marker.read_text(encoding="utf-8").strip() != key:
        partial = folder / f".{marker.name}.{os.getpid()}.tmp"
        partial.write_text(key + "\n", encoding="utf-8")
        os.replace(partial, marker)
    return module


def _warm(module: ModuleType, scenario: Scenario) -> None:
    """Call the kernel once on no timelines (compiles it, or loads its cached machine code)."""
    slots, events = len(scenario.slots), len(scenario.events)
    empty_f = np.zeros((slots, 0))
    empty_i = np.zeros((events, 0), dtype=np.int32)
    module.kernel(
        empty_f,
        empty_i,
        empty_i,
        np.zeros((events, 0), dtype=np.int16),
        empty_i,
        np.zeros(0, dtype=np.int64),
        np.uint64(0),
        scenario.start,
        scenario.start - 1,
        True,
        np.zeros((events, scenario.months), dtype=np.uint8),
        np.zeros(events, dtype=np.int64),
        np.zeros(events, dtype=np.int64),
        np.zeros((events, 0), dtype=np.int64),
        np.zeros((len(scenario.outcomes), 0)),
        np.zeros((len(scenario.facts), 0), dtype=np.bool_),
        np.zeros((len(scenario.facts), 0), dtype=np.bool_),
        False,
        np.zeros(slots + events, dtype=np.uint64),
        np.zeros((1, 0), dtype=np.uint64),
        0,
        np.zeros(0, dtype=np.uint64),
    )


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

    def advance(
        self, world: WorldState, plan: Plan, seed: int, stop: int, observer: Observer | None = None
    ) -> None:
        """Simulate months ``world.month .. stop`` in place (as ``VectorProgram.advance``)."""
        mode = _mode(observer)
        if mode is None or world.month > stop:
            super().advance(world, plan, seed, stop, observer)
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
        self.module.kernel(
            world.values,
            world.last,
            world.first,
            world.option,
            world.count,
            world.timelines,
            np.uint64(seed),
            world.month,
            stop,
            reads_first,
            forced,
            blocked,
            chosen,
            refused,
            records.outcomes,
            records.fact_open,
            records.fact_close,
            track,
            np.ascontiguousarray(weights, dtype=np.uint64),
            digests,
            start,
            fingerprints,
        )
        world.month = stop + 1
        world.clock += 1
        world.stamps = [world.clock] * (world.values.shape[0] + world.last.shape[0] + 1)


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
