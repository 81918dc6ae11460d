"""Twin worlds: a factual and a what-if world per timeline, sharing every draw and parameter.

For each block of timelines: simulate the common history up to the divergence month, condition on
the record (drop timelines that contradict facts dated before the divergence), save the state, then
run the factual world and the what-if world on from that saved state. Both worlds are identical
before the divergence by construction, and use the same counter-based draws after it.

How far the two worlds differ month by month is measured here, not in the engine: a
:class:`DigestRecorder` (an engine observer) keeps a fingerprint of every timeline's state up to
date from the kernel's write and firing hooks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kremlinology.engine.compiled import make_program, resolve_engine
from kremlinology.engine.parallel import Span, balanced_spans, open_executor, width
from kremlinology.engine.simulate import DEFAULT_CHUNK, Block, Recorder, Records, start_block
from kremlinology.engine.state import NO_PLAN, Plan, WorldState
from kremlinology.engine.vector import VectorProgram
from kremlinology.scenario.errors import KremlinologyError
from kremlinology.scenario.model import Scenario

SAVE_LIMIT = 200_000
KEEP_EVENTS_LIMIT = 250_000
SAVE_ACROSS_PROCESSES_MONTHS = 24
"""Across processes a saved state travels twice: a shorter common history is cheaper to redo."""
FINGERPRINT_SEED = 0x5EED


class ConditioningError(KremlinologyError):
    """No timeline is left after conditioning on the record."""


@dataclass(frozen=True)
class Onset:
    """Where a plan first changes something, per timeline.

    ``fixed``: the month at which it acts in every timeline (a ``do``, a ``set``, a dated
    ``block``), or None; ``events``: events whose first firing in the factual world is where it
    acts in that timeline (a ``choose`` acts when its event fires, an undated ``block`` when its
    event would have fired). A timeline in which none of these happens never diverges: its
    divergence month is the month after the scenario's end.
    """

    fixed: int | None = None
    events: tuple[int, ...] = ()

    def months(self, first: np.ndarray, never: int) -> np.ndarray:
        """Each timeline's divergence month from the factual first firing months ``first``
        ``(events, timelines)``; ``never`` where the plan never acts."""
        size = first.shape[1]
        months = np.full(size, never if self.fixed is None else self.fixed, dtype=np.int64)
        for event in self.events:
            fired = first[event]
            months = np.where((fired >= 0) & (fired < months), fired, months)
        return months


@dataclass
class World:
    """Per-timeline results of one world (timelines kept after conditioning, in order)."""

    outcomes: np.ndarray  # (outcomes, n)
    first: np.ndarray  # (events, n) first fire month or -1
    option: np.ndarray  # (events, n)
    facts: np.ndarray  # (facts, n) bool
    refused: dict[int, int] = field(default_factory=dict)
    """Forced event -> timelines where it could not fire because an actor was out of play."""
    in_play_at: dict[tuple[int, str], np.ndarray] = field(default_factory=dict)
    """(month, actor) -> whether the actor was in play at the start of that month (before the
    plan's sets), for the actors whose attributes the plan sets then."""
    refused_each: dict[int, np.ndarray] = field(default_factory=dict)
    """Forced event -> per timeline, how often it could not fire (to condition afterwards)."""

    def take(self, rows: np.ndarray) -> World:
        """This world restricted to some timelines (by position)."""
        each = {e: counts[rows] for e, counts in self.refused_each.items()}
        return World(
            self.outcomes[:, rows],
            self.first[:, rows] if self.first.shape[1] else self.first,
            self.option[:, rows] if self.option.shape[1] else self.option,
            self.facts[:, rows],
            {e: int(c.sum()) for e, c in each.items()} if each else dict(self.refused),
            {key: value[rows] for key, value in self.in_play_at.items()},
            each,
        )


@dataclass
class TwinRun:
    """Both worlds of every kept timeline, and how the record conditioned them."""

    scenario: Scenario
    plan: Plan
    divergence: int
    runs: int
    seed: int
    timelines: np.ndarray  # indices of kept timelines
    misses: np.ndarray  # (runs,) facts before the divergence each timeline contradicts
    tolerance: int | None  # contradicted facts allowed (None: no conditioning)
    prior_facts: list[str]
    parameters: np.ndarray  # (parameters, n)
    factual: World
    whatif: World
    differ: np.ndarray  # (months from divergence to end + 1,) kept pairs whose states differ
    elapsed_s: float
    status: dict[str, np.ndarray]  # "actor.alive"/"actor.free" at the divergence, kept timelines
    diverges: np.ndarray | None = None
    """Per kept timeline: the month its worlds part (``scenario.end + 1`` where they never do),
    when the divergence varies between timelines (an :class:`Onset` with events); else None."""
    facts_used: np.ndarray | None = None
    """Per kept timeline: how many facts its conditioning used (with ``diverges``)."""

    @property
    def kept(self) -> int:
        """How many timelines were kept after conditioning."""
        return int(self.timelines.size)


class DigestRecorder(Recorder):
    """A Recorder that also keeps a fingerprint of each timeline's state at every month start.

    The fingerprint is a full hash (:func:`fingerprint`) at the first month start, then kept up to
    date from the kernel's hooks: ``before_write`` for every change of a value, ``fired`` for
    every firing (which adds one to the event's count).
    """

    COMPILED = "digests"
    """The compiled kernel keeps these fingerprints itself (``engine.compiled``)."""

    def __init__(
        self,
        program: VectorProgram,
        block: Block,
        weights: np.ndarray,
        start: int,
        plan: Plan = NO_PLAN,
    ):
        super().__init__(program, block.records)
        months = program.scenario.end + 2 - start
        self.start = start
        self.slots = len(program.scenario.slots)
        self.weights = weights
        self.digests = np.zeros((months, block.world.size), dtype=np.uint64)
        self.watch = _watched_actors(program, plan)
        self.in_play_at: dict[tuple[int, str], np.ndarray] = {}
        self.current: np.ndarray | None = None
        self.refused_each: dict[int, np.ndarray] = {}

    def refused(self, world: WorldState, event: int, mask: np.ndarray) -> None:
        """Count the refusals in total and per timeline."""
        super().refused(world, event, mask)
        counts = self.refused_each.setdefault(event, np.zeros(world.size, dtype=np.int64))
        counts[mask] += 1

    def month_start(self, world: WorldState) -> None:
        """Read what is due, then store this month's fingerprints."""
        super().month_start(world)
        self.digests[world.month - self.start] = self._current(world)
        for actor, closure in self.watch.get(world.month, ()):
            value = np.broadcast_to(closure(world), (world.size,)).copy()
            self.in_play_at[(world.month, actor)] = value

    def finish(self, world: WorldState) -> None:
        """Read what is due after the last month and store the final fingerprints."""
        super().finish(world)
        self.digests[world.month - self.start] = self._current(world)

    def before_write(
        self, world: WorldState, slot: int, rows: np.ndarray | slice, new: np.ndarray
    ) -> None:
        """Move the fingerprints of ``rows`` by the change of ``slot`` (wrapping uint64)."""
        if self.current is None:
            return
        old = np.ascontiguousarray(world.values[slot, rows])
        old_bits = old.view(np.uint64)
        new_bits = np.ascontiguousarray(np.broadcast_to(new, old.shape), dtype=np.float64)
        self.current[rows] += self.weights[slot] * (new_bits.view(np.uint64) - old_bits)

    def fired(self, world: WorldState, event: int, mask: np.ndarray) -> None:
        """An event's count rose by one in the timelines of ``mask``."""
        super().fired(world, event, mask)
        if self.current is not None:
            self.current[mask] += self.weights[self.slots + event]

    def _current(self, world: WorldState) -> np.ndarray:
        """The world's fingerprints now (computed in full the first time)."""
        if self.current is None:
            self.current = fingerprint(world, self.weights)
        return self.current.copy()


def fingerprint_weights(scenario: Scenario) -> np.ndarray:
    """Odd pseudo-random uint64 weights, one per slot and one per event, fixed for all runs."""
    size = len(scenario.slots) + len(scenario.events)
    drawn = np.random.default_rng(FINGERPRINT_SEED).integers(1, 2**63, size, dtype=np.uint64)
    return drawn | np.uint64(1)


def _watched_actors(program: VectorProgram, plan: Plan) -> dict[int, list[tuple[str, Any]]]:
    """Month -> (actor, in-play closure) for each actor whose attributes the plan sets then."""
    scenario = program.scenario
    watch: dict[int, list[tuple[str, Any]]] = {}
    for month, items in plan.sets.items():
        actors = {scenario.slots[slot].name.split(".")[0] for slot, _expr in items}
        watch[month] = [
            (a, program.compile(scenario.in_play[a]))
            for a in sorted(actors)
            if a in scenario.in_play
        ]
    return watch


def fingerprint(world: WorldState, weights: np.ndarray) -> np.ndarray:
    """Return one integer per timeline that changes whenever its state or event record changes.

    Exact integer arithmetic (wrapping uint64) on the bits of the values, so two identical states
    always give the same number whatever the memory layout.
    """
    slots = world.values.shape[0]
    bits = np.ascontiguousarray(world.values).view(np.uint64)
    with np.errstate(over="ignore"):
        mixed = (bits * weights[:slots, None]).sum(axis=0, dtype=np.uint64)
        mixed += (world.count.astype(np.uint64) * weights[slots:, None]).sum(
            axis=0, dtype=np.uint64
        )
    return np.asarray(mixed, dtype=np.uint64)


def _finish_world(
    block: Block, plan: Plan, divergence: int, weights: np.ndarray, keep_events: bool
) -> tuple[World, np.ndarray]:
    """Run ``block`` from the divergence to the end under ``plan``; return it and its digests."""
    program = block.program
    recorder = DigestRecorder(program, block, weights, divergence, plan)
    program.advance(block.world, plan, block.seed, program.scenario.end, recorder)
    recorder.finish(block.world)
    world = block.world
    first = world.first if keep_events else world.first[:, :0]
    option = world.option if keep_events else world.option[:, :0]
    return World(
        block.records.outcomes,
        first,
        option,
        block.records.facts_hold(),
        recorder.refusals,
        recorder.in_play_at,
        recorder.refused_each,
    ), recorder.digests


def prior_fact_rows(scenario: Scenario, divergence: int) -> list[int]:
    """Return the facts whose window closes before the divergence month (the fixed record)."""
    return [i for i, f in enumerate(scenario.facts) if f.month + f.tolerance + 1 <= divergence]


@dataclass
class History:
    """A block's common history: misses per timeline, and its state if it was saved."""

    misses: np.ndarray
    saved: tuple[WorldState, Records] | None


@dataclass(frozen=True)
class HistoryTask:
    """Simulate one block's common history up to the divergence (sent to a worker)."""

    scenario: Scenario
    seed: int
    span: Span
    divergence: int
    prior: tuple[int, ...]
    save: bool
    engine: str = "numpy"


@dataclass(frozen=True)
class TwinTask:
    """Condition one block on the record and run both of its worlds (sent to a worker)."""

    scenario: Scenario
    seed: int
    span: Span
    divergence: int
    history: History
    tolerance: int | None
    plan: Plan
    weights: np.ndarray
    keep: bool
    onset: Onset | None = None
    engine: str = "numpy"


@dataclass
class TwinPart:
    """What one block contributes to a :class:`TwinRun` (its kept timelines, in order).

    With a varying onset the block keeps every timeline and the conditioning happens when the
    blocks are joined: ``differs`` then holds each timeline's (month, timeline) differences,
    ``misses`` and ``diverges`` each timeline's contradicted facts and divergence month.
    """

    timelines: np.ndarray
    parameters: np.ndarray
    factual: World
    whatif: World
    differ: np.ndarray
    status: dict[str, np.ndarray]
    differs: np.ndarray | None = None
    misses: np.ndarray | None = None
    diverges: np.ndarray | None = None
    facts_used: np.ndarray | None = None


@dataclass(frozen=True)
class TwinSettings:
    """How a twin run conditions, cuts and spreads its work (see :func:`run_twins`)."""

    condition: bool = True
    chunk_size: int = DEFAULT_CHUNK
    min_kept_share: float = 0.1
    keep_events: bool | None = None
    workers: int = 1


def run_twins(
    scenario: Scenario,
    plan: Plan,
    divergence: int,
    runs: int,
    seed: int,
    condition: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
    min_kept_share: float = 0.1,
    keep_events: bool | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    onset: Onset | None = None,
) -> TwinRun:
    """Simulate both worlds of ``runs`` timelines; see the module docstring.

    With ``condition``, timelines must reproduce the facts dated before the divergence; when fewer
    than ``min_kept_share`` of timelines reproduce all of them, the tolerance rises to the smallest
    number of contradicted facts that keeps that share (rejection ABC with a quantile tolerance).
    ``divergence`` is the earliest month at which the plan can act. With an ``onset`` whose events
    make the divergence vary (a ``choose``, an undated ``block``), each timeline is conditioned on
    the facts that close before its own divergence month (:meth:`Onset.months` of its factual
    world), after both worlds have run. Raises ConditioningError when no timeline is kept.
    Results do not depend on ``chunk_size`` or ``workers``.
    """
    settings = TwinSettings(condition, chunk_size, min_kept_share, keep_events, workers)
    if onset is not None and not varies(onset, divergence):
        onset = None
    return _run(scenario, plan, divergence, runs, seed, settings, progress, onset)


def varies(onset: Onset, divergence: int) -> bool:
    """Whether an onset makes the divergence month differ between timelines."""
    return bool(onset.events) and (onset.fixed is None or onset.fixed > divergence)


def _run(
    scenario: Scenario,
    plan: Plan,
    divergence: int,
    runs: int,
    seed: int,
    settings: TwinSettings,
    progress: Callable[[int, int], None] | None,
    onset: Onset | None = None,
) -> TwinRun:
    started = time.perf_counter()
    prior = prior_fact_rows(scenario, divergence)
    workers = width(settings.workers)  # a cluster's workers inside engine.cluster.use_cluster
    keep = runs <= KEEP_EVENTS_LIMIT if settings.keep_events is None else settings.keep_events
    long_history = divergence - scenario.start >= SAVE_ACROSS_PROCESSES_MONTHS
    save = runs <= SAVE_LIMIT and (workers <= 1 or long_history)
    blocks = balanced_spans(runs, settings.chunk_size, workers)
    engine = resolve_engine(None, scenario)
    with open_executor(workers, len(blocks)) as executor:
        # Small runs keep each block's state at the divergence; large ones simulate the common
        # history twice (once to count misses, once to go on) so that memory stays bounded.
        histories = list(
            executor.map(
                _history_task,
                [
                    HistoryTask(scenario, seed, b, divergence, tuple(prior), save, engine)
                    for b in blocks
                ],
            )
        )
        misses = np.concatenate([h.misses for h in histories])
        tolerance = _tolerance(misses, settings.min_kept_share) if settings.condition else None
        if onset is not None:
            tolerance = None  # every timeline runs; each is conditioned once its worlds are known
        weights = fingerprint_weights(scenario)
        tasks = [
            TwinTask(
                scenario, seed, b, divergence, h, tolerance, plan, weights, keep, onset, engine
            )
            for b, h in zip(blocks, histories, strict=True)
        ]
        parts: list[TwinPart] = []
        for part in executor.map(_twin_task, tasks):
            parts.append(part)
            if progress is not None:
                progress(sum(p.timelines.size for p in parts), runs)
    if onset is not None:
        misses = np.concatenate([p.misses for p in parts if p.misses is not None])
        tolerance = _tolerance(misses, settings.min_kept_share) if settings.condition else None
        parts = [_condition_part(p, tolerance) for p in parts]
    return _assemble(scenario, plan, divergence, runs, seed, parts, misses, tolerance, started)


def _condition_part(part: TwinPart, tolerance: int | None) -> TwinPart:
    """Keep the timelines of a block (run in full) whose misses are within ``tolerance``."""
    assert part.misses is not None and part.differs is not None
    rows = (
        np.flatnonzero(part.misses <= tolerance)
        if tolerance is not None
        else np.arange(part.misses.size)
    )
    return TwinPart(
        part.timelines[rows],
        part.parameters[:, rows],
        part.factual.take(rows),
        part.whatif.take(rows),
        part.differs[:, rows].sum(axis=1),
        {name: values[rows] for name, values in part.status.items()},
        diverges=None if part.diverges is None else part.diverges[rows],
        facts_used=None if part.facts_used is None else part.facts_used[rows],
    )


def _assemble(
    scenario: Scenario,
    plan: Plan,
    divergence: int,
    runs: int,
    seed: int,
    parts: list[TwinPart],
    misses: np.ndarray,
    tolerance: int | None,
    started: float,
) -> TwinRun:
    """Join the blocks' parts in timeline order into one TwinRun."""
    kept = np.concatenate([p.timelines for p in parts])
    if kept.size == 0:
        raise ConditioningError("no timeline reproduces the record before the divergence")
    prior = prior_fact_rows(scenario, divergence)
    return TwinRun(
        scenario=scenario,
        plan=plan,
        divergence=divergence,
        runs=runs,
        seed=seed,
        timelines=kept,
        misses=misses,
        tolerance=tolerance,
        prior_facts=[scenario.facts[i].id for i in prior],
        parameters=np.concatenate([p.parameters for p in parts], axis=1),
        factual=_concat_worlds([p.factual for p in parts]),
        whatif=_concat_worlds([p.whatif for p in parts]),
        differ=np.sum([p.differ for p in parts], axis=0),
        elapsed_s=time.perf_counter() - started,
        status={n: np.concatenate([p.status[n] for p in parts]) for n in status_slots(scenario)},
        diverges=_joined([p.diverges for p in parts]),
        facts_used=_joined([p.facts_used for p in parts]),
    )


def _joined(arrays: list[np.ndarray | None]) -> np.ndarray | None:
    """The blocks' per-timeline arrays joined, or None where the blocks have none."""
    present = [a for a in arrays if a is not None]
    return np.concatenate(present) if present and len(present) == len(arrays) else None


def _history_task(task: HistoryTask) -> History:
    """Run a block's common history; count its misses; keep its state if asked."""
    span = task.span
    program = make_program(task.scenario, task.engine)
    block = common_history(program, task.seed, span, task.divergence)
    saved = (block.world, block.records) if task.save else None
    return History(_misses(block, list(task.prior)), saved)


def _twin_task(task: TwinTask) -> TwinPart:
    """Resume (or redo) a block's common history, then run its twins."""
    program = make_program(task.scenario, task.engine)
    saved = task.history.saved
    if saved is not None:
        block = Block(program, task.seed, saved[0], saved[1])
    else:
        block = common_history(program, task.seed, task.span, task.divergence)
    return _twin_block(block, task)


def common_history(
    program: VectorProgram, seed: int, span: Span, divergence: int, log: bool = False
) -> Block:
    """The timelines of ``span`` from the start to the month before ``divergence``, unchanged.

    Both worlds of a twin pair start from this state; ``log`` keeps every firing in ``block.log``.
    """
    block = start_block(program, seed, span.first, span.count)
    block.advance(NO_PLAN, stop=divergence - 1, log=log)
    return block


def status_slots(scenario: Scenario) -> dict[str, int]:
    """Slots that say whether an actor is still in play (alive, free, exists)."""
    return {
        name: index
        for name, index in scenario.slot_index.items()
        if name.count(".") == 1 and name.split(".")[1] in ("alive", "free", "exists")
    }


def _misses(block: Block, prior: list[int]) -> np.ndarray:
    """Count, per timeline, the prior facts whose window has closed and that did not hold."""
    if not prior:
        return np.zeros(block.world.size, dtype=np.int64)
    holds = block.records.facts_hold()[prior]
    return np.asarray((~holds).sum(axis=0), dtype=np.int64)


def _tolerance(misses: np.ndarray, min_kept_share: float) -> int:
    """The fewest contradicted facts to allow so that ``min_kept_share`` of timelines is kept."""
    for tolerance in range(int(misses.max(initial=0)) + 1):
        if (misses <= tolerance).mean() >= min_kept_share:
            return tolerance
    return int(misses.max(initial=0))


def _twin_block(block: Block, task: TwinTask) -> TwinPart:
    """Keep the timelines within tolerance; run the factual and the what-if world from them."""
    misses, tolerance = task.history.misses, task.tolerance
    rows = np.flatnonzero(misses <= tolerance) if tolerance is not None else np.arange(misses.size)
    kept = block.take(rows)
    scenario = block.program.scenario
    parameter_rows = [p.slot for p in scenario.parameters]
    parameters = kept.world.values[parameter_rows].copy()
    status = {n: kept.world.values[i] != 0.0 for n, i in status_slots(scenario).items()}
    divergence, weights, keep = task.divergence, task.weights, task.keep
    events = keep or task.onset is not None
    factual, factual_digests = _finish_world(kept.copy(), NO_PLAN, divergence, weights, events)
    whatif, whatif_digests = _finish_world(kept, task.plan, divergence, weights, events)
    differs = factual_digests != whatif_digests
    timelines = kept.world.timelines
    if task.onset is None:
        return TwinPart(timelines, parameters, factual, whatif, differs.sum(axis=1), status)
    diverges = task.onset.months(factual.first, scenario.end + 1)
    closes = np.array([f.month + f.tolerance + 1 for f in scenario.facts], dtype=np.int64)
    used = closes[:, None] <= diverges[None, :]
    misses = (used & ~factual.facts).sum(axis=0).astype(np.int64)
    if not keep:
        factual, whatif = _without_events(factual), _without_events(whatif)
    return TwinPart(
        timelines,
        parameters,
        factual,
        whatif,
        differs.sum(axis=1),
        status,
        differs=differs,
        misses=misses,
        diverges=diverges,
        facts_used=used.sum(axis=0).astype(np.int64),
    )


def _without_events(world: World) -> World:
    """The world without its per-timeline event record (large runs keep aggregates only)."""
    return World(
        world.outcomes,
        world.first[:, :0],
        world.option[:, :0],
        world.facts,
        world.refused,
        world.in_play_at,
        world.refused_each,
    )


def _concat_worlds(worlds: list[World]) -> World:
    """One world of all the blocks, in timeline order."""
    refused: dict[int, int] = {}
    for world in worlds:
        for event, count in world.refused.items():
            refused[event] = refused.get(event, 0) + count
    keys = worlds[0].in_play_at.keys() if worlds else ()
    arrays = [
        np.concatenate([getattr(w, f) for w in worlds], axis=1)
        for f in ("outcomes", "first", "option", "facts")
    ]
    ekeys = sorted({e for w in worlds for e in w.refused_each})
    return World(
        arrays[0],
        arrays[1],
        arrays[2],
        arrays[3],
        refused,
        {key: np.concatenate([w.in_play_at[key] for w in worlds]) for key in keys},
        {
            e: np.concatenate(
                [w.refused_each.get(e, np.zeros(w.outcomes.shape[1], np.int64)) for w in worlds]
            )
            for e in ekeys
        },
    )
