"""The worlds a coherence audit reads: every firing of both worlds of a what-if, with its cast.

The timelines are those a what-if keeps (conditioned on the record before the divergence, as
``run_twins`` does, unless ``condition`` is false); the common history before the divergence is
logged once, as the world ``common``, then the factual and the what-if world from a copy of the
state at the divergence. A baseline audit logs one world, ``baseline``, of all timelines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kremlinology.counterfactual.twin import _misses, _tolerance, prior_fact_rows
from kremlinology.engine.firings import FiringLog, StatusFiring
from kremlinology.engine.simulate import Block, start_block
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
    block = start_block(VectorProgram(scenario), seed, 0, runs)
    return AuditedWorlds(NO_PLAN, runs, seed, runs, {"baseline": _advance(block, NO_PLAN)})


def whatif_worlds(
    scenario: Scenario, plan: Plan, divergence: int, runs: int, seed: int, condition: bool = True
) -> AuditedWorlds:
    """Log every firing of both worlds of the timelines a what-if keeps."""
    _check(runs)
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
