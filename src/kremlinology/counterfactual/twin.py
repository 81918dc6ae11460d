"""Twin worlds: a factual and a what-if world per timeline, sharing every draw and parameter.

For each block of timelines: simulate the common history up to the divergence month, condition on
the record (drop timelines that contradict facts dated before the divergence), save the state, then
run the factual world and the what-if world on from that saved state. Both worlds are identical
before the divergence by construction, and use the same counter-based draws after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kremlinology.engine.simulate import DEFAULT_CHUNK, Block, Recorder, Records, start_block
from kremlinology.engine.state import Plan, WorldState
from kremlinology.engine.vector import VectorProgram
from kremlinology.processes import process_pool
from kremlinology.scenario.errors import KremlinologyError
from kremlinology.scenario.model import Scenario

NO_PLAN = Plan()
SAVE_LIMIT = 200_000
KEEP_EVENTS_LIMIT = 250_000


class ConditioningError(KremlinologyError):
    """No timeline is left after conditioning on the record."""


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

    @property
    def kept(self) -> int:
        return int(self.timelines.size)


class _DigestRecorder(Recorder):
    """A Recorder that also keeps a fingerprint of each timeline's state at every month start."""

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
        self.weights = weights
        self.digests = np.zeros((months, block.world.size), dtype=np.uint64)
        self.watch = _watched_actors(program, plan)
        self.in_play_at: dict[tuple[int, str], np.ndarray] = {}

    def month_start(self, world: WorldState) -> None:
        super().month_start(world)
        self.digests[world.month - self.start] = self._current(world)
        for actor, closure in self.watch.get(world.month, ()):
            value = np.broadcast_to(closure(world), (world.size,)).copy()
            self.in_play_at[(world.month, actor)] = value

    def finish(self, world: WorldState) -> None:
        super().finish(world)
        self.digests[world.month - self.start] = self._current(world)

    def _current(self, world: WorldState) -> np.ndarray:
        """The world's fingerprints, kept up to date by the kernel from a full hash at the start."""
        if world.fingerprint is None:
            world.fingerprint = fingerprint(world, self.weights)
            world.fingerprint_weights = self.weights
        return world.fingerprint.copy()


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
    program = block.program
    recorder = _DigestRecorder(program, block, weights, divergence, plan)
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
    ), recorder.digests


def prior_fact_rows(scenario: Scenario, divergence: int) -> list[int]:
    """Return the facts whose window closes before the divergence month (the fixed record)."""
    return [i for i, f in enumerate(scenario.facts) if f.month + f.tolerance + 1 <= divergence]


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
) -> TwinRun:
    """Simulate both worlds of ``runs`` timelines; see the module docstring.

    With ``condition``, timelines must reproduce the facts dated before the divergence; when fewer
    than ``min_kept_share`` of timelines reproduce all of them, the tolerance rises to the smallest
    number of contradicted facts that keeps that share (rejection ABC with a quantile tolerance).
    """
    started = time.perf_counter()
    prior = prior_fact_rows(scenario, divergence)
    weights = np.random.default_rng(0x5EED).integers(
        1, 2**63, len(scenario.slots) + len(scenario.events), dtype=np.uint64
    ) | np.uint64(1)
    keep = runs <= KEEP_EVENTS_LIMIT if keep_events is None else keep_events
    # Across processes a saved state must travel twice; a short common history is cheaper to redo.
    save = runs <= SAVE_LIMIT and (workers <= 1 or divergence - scenario.start >= 24)
    chunks = balanced_chunks(runs, chunk_size, workers)
    with _pool(workers, len(chunks)) as pool:
        # Small runs keep each block's state at the divergence; large ones simulate the common
        # history twice (once to count misses, once to go on) so that memory stays bounded.
        histories = list(
            pool.map(
                _history_task,
                *zip(
                    *[(scenario, seed, f, c, divergence, prior, save) for f, c in chunks],
                    strict=True,
                ),
            )
        )
        all_misses = np.concatenate([h[0] for h in histories])
        tolerance = _tolerance(all_misses, min_kept_share) if condition else None
        tasks = [
            (scenario, seed, first, count, divergence, history, tolerance, plan, weights, keep)
            for (first, count), history in zip(chunks, histories, strict=True)
        ]
        parts = []
        for part in pool.map(_twin_task, *zip(*tasks, strict=True)):
            parts.append(part)
            if progress is not None:
                progress(sum(p[0].size for p in parts), runs)
    kept = np.concatenate([p[0] for p in parts])
    if kept.size == 0:
        raise ConditioningError("no timeline reproduces the record before the divergence")
    return TwinRun(
        scenario,
        plan,
        divergence,
        runs,
        seed,
        kept,
        all_misses,
        tolerance,
        [scenario.facts[i].id for i in prior],
        np.concatenate([p[1] for p in parts], axis=1),
        _concat_worlds([p[2] for p in parts]),
        _concat_worlds([p[3] for p in parts]),
        np.sum([p[4] for p in parts], axis=0),
        time.perf_counter() - started,
        {name: np.concatenate([p[5][name] for p in parts]) for name in status_slots(scenario)},
    )


def balanced_chunks(runs: int, chunk_size: int, workers: int) -> list[tuple[int, int]]:
    """Blocks of at most ``chunk_size`` timelines, in a multiple of ``workers`` of equal size."""
    parts = max(1, workers)
    count = -(-runs // chunk_size)
    count = -(-count // parts) * parts
    size = -(-runs // count)
    return [(first, min(size, runs - first)) for first in range(0, runs, size)]


class _Inline:
    """A stand-in for a process pool that runs tasks in this process, in order."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def map(self, fn: Callable[..., Any], *iterables: Any) -> Iterator[Any]:
        return map(fn, *iterables)


def _pool(workers: int, tasks: int) -> Any:
    """Worker processes when asked for and useful; results come back in task order either way."""
    if workers <= 1 or tasks <= 1:
        return _Inline()
    return process_pool(min(workers, tasks))  # workers end if the block is interrupted


History = tuple[np.ndarray, tuple[WorldState, Records] | None]


def _history_task(
    scenario: Scenario,
    seed: int,
    first: int,
    count: int,
    divergence: int,
    prior: list[int],
    save: bool,
) -> History:
    block = _history(VectorProgram(scenario), seed, first, count, divergence)
    return _misses(block, prior), ((block.world, block.records) if save else None)


def _twin_task(
    scenario: Scenario,
    seed: int,
    first: int,
    count: int,
    divergence: int,
    history: History,
    tolerance: int | None,
    plan: Plan,
    weights: np.ndarray,
    keep: bool,
) -> tuple[np.ndarray, np.ndarray, World, World, np.ndarray, dict[str, np.ndarray]]:
    program = VectorProgram(scenario)
    misses, saved = history
    if saved is not None:
        block = Block(program, seed, saved[0], saved[1])
    else:
        block = _history(program, seed, first, count, divergence)
    return _twin_block(block, misses, tolerance, plan, divergence, weights, keep)


def _history(program: VectorProgram, seed: int, first: int, count: int, divergence: int) -> Block:
    block = start_block(program, seed, first, count)
    block.advance(NO_PLAN, stop=divergence - 1)
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
    for tolerance in range(int(misses.max(initial=0)) + 1):
        if (misses <= tolerance).mean() >= min_kept_share:
            return tolerance
    return int(misses.max(initial=0))


def _twin_block(
    block: Block,
    misses: np.ndarray,
    tolerance: int | None,
    plan: Plan,
    divergence: int,
    weights: np.ndarray,
    keep_events: bool,
) -> tuple[np.ndarray, np.ndarray, World, World, np.ndarray, dict[str, np.ndarray]]:
    rows = np.flatnonzero(misses <= tolerance) if tolerance is not None else np.arange(misses.size)
    kept = block.take(rows)
    scenario = block.program.scenario
    parameter_rows = [p.slot for p in scenario.parameters]
    parameters = kept.world.values[parameter_rows].copy()
    status = {n: kept.world.values[i] != 0.0 for n, i in status_slots(scenario).items()}
    factual, factual_digests = _finish_world(kept.copy(), NO_PLAN, divergence, weights, keep_events)
    whatif, whatif_digests = _finish_world(kept, plan, divergence, weights, keep_events)
    differ = (factual_digests != whatif_digests).sum(axis=1)
    return kept.world.timelines, parameters, factual, whatif, differ, status


def _concat_worlds(worlds: list[World]) -> World:
    refused: dict[int, int] = {}
    for world in worlds:
        for event, count in world.refused.items():
            refused[event] = refused.get(event, 0) + count
    keys = worlds[0].in_play_at.keys() if worlds else ()
    arrays = [
        np.concatenate([getattr(w, f) for w in worlds], axis=1)
        for f in ("outcomes", "first", "option", "facts")
    ]
    return World(
        arrays[0],
        arrays[1],
        arrays[2],
        arrays[3],
        refused,
        {key: np.concatenate([w.in_play_at[key] for w in worlds]) for key in keys},
    )
