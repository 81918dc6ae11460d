"""Several plans in one block (``engine.state.RowPlan``): each row as a block of its own would be.

The drivers' candidates (``counterfactual.drivers``) run this way, so that the NumPy kernel's cost
per block and month is paid once for all of them; their values must be exactly those of one
block per candidate, whatever the cut into blocks.
"""

from __future__ import annotations

import numpy as np
import pytest

import kremlinology as k
from kremlinology.analysis.drivers import CandidateSpec
from kremlinology.counterfactual.drivers import (
    CandidateTask,
    _candidate_task,
    _shared_tasks,
    candidate_intervention,
    run_candidates,
)
from kremlinology.counterfactual.interventions import to_plan
from kremlinology.counterfactual.query import run_whatif
from kremlinology.engine.simulate import start_block
from kremlinology.engine.state import NO_PLAN, Plan, RowPlan, WorldState
from kremlinology.engine.vector import VectorProgram
from kremlinology.scenario.model import Scenario

CHAIN = "tests/data/chain"
NO_OP = "set(crowds = 0 @ 2000-01)"


def _state(world: WorldState, row: int) -> tuple[object, ...]:
    return tuple(
        np.asarray(a[:, row]).tobytes()
        for a in (world.values, world.last, world.first, world.option, world.count)
    )


def test_each_row_of_a_row_plan_is_its_own_block(testbed: Scenario) -> None:
    # Every event blocked in some rows and, where it has options, each option forced in others;
    # the rows repeat a few timelines (as the drivers' shared blocks do) in shuffled order.
    program = VectorProgram(testbed)
    plans: list[Plan] = [NO_PLAN]
    for event in testbed.events:
        plans.append(Plan(blocked={event.index: testbed.start}))
        plans.append(Plan(blocked={event.index: testbed.start + 6}))
        plans += [Plan(chosen={event.index: o}) for o in range(len(event.options))]
    timelines = np.arange(40)
    rows = [(p, t) for p in range(len(plans)) for t in timelines]
    order = np.random.default_rng(5).permutation(len(rows))
    rows = [rows[i] for i in order]
    size = len(rows)
    blocked: dict[int, tuple[int, np.ndarray]] = {}
    chosen: dict[int, np.ndarray] = {}
    for r, (p, _) in enumerate(rows):
        for e, month in plans[p].blocked.items():
            held = blocked.get(e)
            if held is not None and held[0] != month:
                continue  # one first month per event in a row plan; the other month's rows run free
            blocked.setdefault(e, (month, np.zeros(size, bool)))[1][r] = True
        for e, option in plans[p].chosen.items():
            chosen.setdefault(e, np.full(size, -1, dtype=np.int16))[r] = option
    shared = start_block(program, 9, 0, 40).take(np.array([t for _, t in rows]))
    every = RowPlan(blocked, chosen)
    shared.advance(NO_PLAN, rows=every)
    assert shared.world.values.flags.c_contiguous
    alone: dict[tuple[int, ...], WorldState] = {}
    for r in range(size):
        own = Plan(
            blocked={e: m for e, (m, mask) in blocked.items() if mask[r]},
            chosen={e: int(o[r]) for e, o in chosen.items() if o[r] >= 0},
        )
        key = (*sorted(own.blocked.items()), -1, *sorted(own.chosen.items()))
        if key not in alone:
            block = start_block(program, 9, 0, 40)
            block.advance(own)
            alone[key] = block.world
        assert _state(shared.world, r) == _state(alone[key], int(rows[r][1]))
    with pytest.raises(ValueError, match="both the plan and the row plan"):
        e = next(iter(blocked))
        start_block(program, 9, 0, size).advance(Plan(chosen={e: 0}), rows=every)
    with pytest.raises(ValueError, match="one value per row"):
        start_block(program, 9, 0, 3).advance(NO_PLAN, rows=every)


@pytest.fixture(scope="module")
def chain() -> Scenario:
    return k.load_scenario(CHAIN)


def test_shared_candidates_give_the_values_of_one_block_each(chain: Scenario) -> None:
    result = run_whatif(chain, NO_OP, 3000, 3)
    twin = result.twin
    strike = chain.event_index["strike"]
    specs = [CandidateSpec("event", e.index, None, 0.0) for e in chain.events]
    specs += [CandidateSpec("option", strike, o, 0.0) for o in range(2)]
    months = [chain.end + 1] * (len(specs) - 2) + [chain.end - 2] * 2  # two stop months
    positions = np.arange(800)
    worlds = run_candidates(twin, result.interventions, specs, positions, months)
    first = twin.whatif.first[:, positions]
    for spec, month, world in zip(specs, months, worlds, strict=True):
        rows = np.flatnonzero((first[spec.event] >= 0) & (first[spec.event] < month))
        plan = to_plan([*result.interventions, candidate_intervention(chain, spec)], chain)
        stop = min(month, chain.end)
        task = CandidateTask(chain, twin.seed, twin.timelines[positions][rows], plan, stop)
        alone = _candidate_task(task)
        expected = twin.whatif.outcomes[:, positions].copy()
        expected[:, rows] = alone
        assert np.array_equal(world, expected, equal_nan=True), spec
    # The cut into blocks changes nothing.
    members = [(s, twin.timelines[positions]) for s in specs[:4]]
    plan = to_plan(result.interventions, chain)
    cuts = [_shared_tasks(chain, twin.seed, plan, chain.end, members, w) for w in (1, 3, 7)]
    assert [len(c) for c in cuts] != [len(cuts[0])] * 3
    joined = [np.concatenate([_candidate_task(t) for t in c], axis=1) for c in cuts]
    assert all(np.array_equal(joined[0], j, equal_nan=True) for j in joined[1:])


def test_taking_rows_keeps_the_arrays_c_contiguous(testbed: Scenario) -> None:
    block = start_block(VectorProgram(testbed), 1, 0, 50).take(np.array([3, 1, 1, 40]))
    world = block.world
    for a in (world.values, world.last, world.first, world.option, world.count):
        assert a.flags.c_contiguous
    assert block.records.outcomes.flags.c_contiguous
    assert world.timelines.tolist() == [3, 1, 1, 40]
