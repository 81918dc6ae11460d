"""The worlds a coherence audit reads: every firing of both worlds of a what-if, with its cast.

The timelines are those a what-if keeps (conditioned on the record before the divergence, as
``run_twins`` does, unless ``condition`` is false); the common history before the divergence is
logged once, as the world ``common``, then the factual and the what-if world from a copy of the
state at the divergence. A baseline audit logs one world, ``baseline``, of all timelines.

Inside ``engine.cluster.use_cluster`` the timelines are cut into blocks run on the cluster's
workers (:class:`AuditTask`) and the blocks' logs are merged into the log of one block
(:func:`merge_firings`), so the audit's report is the same; a what-if audit then simulates the
common history twice, once for the misses that set the tolerance over all timelines and once
with the tolerance known (shipping the blocks' states back and forth would cost more).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kremlinology.counterfactual.twin import _misses, _tolerance, prior_fact_rows
from kremlinology.engine.firings import FiringLog, StatusFiring
from kremlinology.engine.parallel import open_executor, width
from kremlinology.engine.simulate import DEFAULT_CHUNK, Block, blocks, start_block
from kremlinology.engine.state import NO_PLAN, Plan
from kremlinology.engine.vector import VectorProgram
from kremlinology.scenario.model import Scenario

MAX_AUDIT_RUNS = 100_000


@dataclass
class AuditedWorlds:
    """Firings by world (``common``, ``factual``, ``whatif``, or ``baseline``) and the plan."""

    plan: Plan
    runs: int
    seed: int
    kept: int
    worlds: dict[str, list[StatusFiring]]


def _advance(block: Block, plan: Plan, stop: int | None = None) -> list[StatusFiring]:
    log = FiringLog(block.program, block.records)
    scenario = block.program.scenario
    end = scenario.end if stop is None else stop
    block.program.advance(block.world, plan, block.seed, end, log)
    if block.world.month > scenario.end:
        log.finish(block.world)
    return log.entries


def baseline_worlds(scenario: Scenario, runs: int, seed: int) -> AuditedWorlds:
    """Log every firing of ``runs`` baseline timelines."""
    _check(runs)
    if width(1) > 1:  # on a cluster
        return _baseline_worlds_in_blocks(scenario, runs, seed)
    block = start_block(VectorProgram(scenario), seed, 0, runs)
    return AuditedWorlds(NO_PLAN, runs, seed, runs, {"baseline": _advance(block, NO_PLAN)})


def whatif_worlds(
    scenario: Scenario, plan: Plan, divergence: int, runs: int, seed: int, condition: bool = True
) -> AuditedWorlds:
    """Log every firing of both worlds of the timelines a what-if keeps."""
    _check(runs)
    if width(1) > 1:  # on a cluster
        return _whatif_worlds_in_blocks(scenario, plan, divergence, runs, seed, condition)
    block = start_block(VectorProgram(scenario), seed, 0, runs)
    common = _advance(block, NO_PLAN, stop=divergence - 1)
    misses = _misses(block, prior_fact_rows(scenario, divergence))
    rows = np.arange(runs)
    if condition:
        rows = np.flatnonzero(misses <= _tolerance(misses, 0.1))
    kept = block.take(rows)
    keep = np.zeros(runs, dtype=bool)
    keep[kept.world.timelines] = True
    worlds = {
        "common": [_restrict(f, keep) for f in common],
        "factual": _advance(kept.copy(), NO_PLAN),
        "whatif": _advance(kept, plan),
    }
    return AuditedWorlds(plan, runs, seed, int(rows.size), worlds)


@dataclass(frozen=True)
class AuditTask:
    """One block of an audit on a worker: timelines ``first .. first + count - 1``. The
    scenario and the plan are the same objects in every task (sent to a cluster once)."""

    scenario: Scenario
    plan: Plan
    seed: int
    first: int
    count: int
    divergence: int  # the what-if's divergence month (0 for a baseline audit)
    keep: np.ndarray | None = None  # (count,) bool: the block's timelines the what-if keeps


def _tasks(
    scenario: Scenario, plan: Plan, seed: int, runs: int, divergence: int
) -> list[AuditTask]:
    """The blocks of an audit, cut as a run's are for the cluster's workers."""
    return [
        AuditTask(scenario, plan, seed, span.first, span.count, divergence)
        for span in blocks(runs, DEFAULT_CHUNK, 1)
    ]


def _start(task: AuditTask) -> Block:
    return start_block(VectorProgram(task.scenario), task.seed, task.first, task.count)


def _baseline_block(task: AuditTask) -> dict[str, list[StatusFiring]]:
    """On a worker: the firings of a block of baseline timelines."""
    return {"baseline": _advance(_start(task), NO_PLAN)}


def _misses_block(task: AuditTask) -> np.ndarray:
    """On a worker: per timeline of the block, the prior facts its common history missed."""
    block = _start(task)
    _advance(block, NO_PLAN, stop=task.divergence - 1)
    return _misses(block, prior_fact_rows(task.scenario, task.divergence))


def _twins_block(task: AuditTask) -> dict[str, list[StatusFiring]]:
    """On a worker: the common history of the block's kept timelines, then both worlds."""
    if task.keep is None:
        raise ValueError("a what-if audit block needs the timelines it keeps")
    block = _start(task)
    common = _advance(block, NO_PLAN, stop=task.divergence - 1)
    kept = block.take(np.flatnonzero(task.keep))
    keep = np.zeros(task.first + task.count, dtype=bool)
    keep[task.first :] = task.keep
    return {
        "common": [_restrict(f, keep) for f in common],
        "factual": _advance(kept.copy(), NO_PLAN),
        "whatif": _advance(kept, task.plan),
    }


def _baseline_worlds_in_blocks(scenario: Scenario, runs: int, seed: int) -> AuditedWorlds:
    """:func:`baseline_worlds` in blocks (:func:`open_executor`'s: the cluster's workers)."""
    tasks = _tasks(scenario, NO_PLAN, seed, runs, 0)
    with open_executor(1, len(tasks)) as executor:
        parts = list(executor.map(_baseline_block, tasks))
    return AuditedWorlds(NO_PLAN, runs, seed, runs, merge_worlds(scenario, parts))


def _whatif_worlds_in_blocks(
    scenario: Scenario, plan: Plan, divergence: int, runs: int, seed: int, condition: bool
) -> AuditedWorlds:
    """:func:`whatif_worlds` in blocks: the misses of every block first (the tolerance is that
    of all timelines), then each block's worlds from its kept timelines."""
    tasks = _tasks(scenario, plan, seed, runs, divergence)
    with open_executor(1, len(tasks)) as executor:
        keep = np.ones(runs, dtype=bool)
        if condition:
            misses = np.concatenate(list(executor.map(_misses_block, tasks)))
            keep = misses <= _tolerance(misses, 0.1)
        twins = [dataclasses.replace(t, keep=keep[t.first : t.first + t.count]) for t in tasks]
        parts = list(executor.map(_twins_block, twins))
    return AuditedWorlds(plan, runs, seed, int(keep.sum()), merge_worlds(scenario, parts))


def merge_worlds(
    scenario: Scenario, parts: Sequence[dict[str, list[StatusFiring]]]
) -> dict[str, list[StatusFiring]]:
    """The logs of consecutive blocks, world by world, as one block's (:func:`merge_firings`)."""
    names = list(parts[0]) if parts else []
    return {name: merge_firings(scenario, [part[name] for part in parts]) for name in names}


def merge_firings(scenario: Scenario, parts: Sequence[list[StatusFiring]]) -> list[StatusFiring]:
    """The firings of consecutive blocks of timelines as one block would have logged them.

    A block logs at most one firing per (month, event), months in order and within a month the
    events in the scenario's order (``VectorProgram.advance``); one block of all the timelines
    logs the same firings, each with the blocks' timelines one after another.
    """
    rank = {event.index: i for i, event in enumerate(scenario.events)}
    grouped: dict[tuple[int, int], list[StatusFiring]] = {}
    for part in parts:
        for firing in part:
            grouped.setdefault((firing.month, firing.event), []).append(firing)
    merged = []
    for month, event in sorted(grouped, key=lambda key: (key[0], rank[key[1]])):
        same = grouped[month, event]
        merged.append(
            StatusFiring(
                month,
                event,
                np.concatenate([f.timelines for f in same]),
                np.concatenate([f.options for f in same]),
                np.concatenate([f.holders for f in same], axis=1),
                np.concatenate([f.in_play for f in same], axis=1),
            )
        )
    return merged


def _restrict(firing: StatusFiring, keep: np.ndarray) -> StatusFiring:
    """The firing in the kept timelines only."""
    mask = keep[firing.timelines]
    return StatusFiring(
        firing.month,
        firing.event,
        firing.timelines[mask],
        firing.options[mask],
        firing.holders[:, mask],
        firing.in_play[:, mask],
    )


def _check(runs: int) -> None:
    if not 1 <= runs <= MAX_AUDIT_RUNS:
        raise ValueError(f"an audit takes 1 to {MAX_AUDIT_RUNS:,} runs, not {runs}")
