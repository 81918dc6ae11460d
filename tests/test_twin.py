"""Twin worlds: a what-if world uses exactly the draws and parameters of its factual twin."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from conftest import ScenarioNamespace, vector_logs
from kremlinology.api import simulate
from kremlinology.engine import vector
from kremlinology.engine.simulate import Block, start_block
from kremlinology.engine.state import NO_PLAN, Plan
from kremlinology.engine.vector import VectorProgram
from kremlinology.scenario.expressions import as_number, compile_expression
from kremlinology.scenario.model import Scenario

RUNS = 4_000
SEED = 99


def run_block(scenario: Scenario, plan: Plan, runs: int = RUNS, seed: int = SEED) -> Block:
    block = start_block(VectorProgram(scenario), seed, 0, runs)
    block.advance(plan)
    return block


def assert_event_identical(a: Block, b: Block, event: int) -> None:
    for name in ("first", "last", "count", "option"):
        assert np.array_equal(getattr(a.world, name)[event], getattr(b.world, name)[event]), name


def test_blocking_an_isolated_event_changes_nothing_else(testbed: Scenario) -> None:
    omen = testbed.event_index["omen"]
    base = run_block(testbed, NO_PLAN)
    twin = run_block(testbed, Plan(blocked={omen: testbed.start}))
    assert base.world.first[omen].max() >= 0  # it did fire in the factual world
    assert np.all(twin.world.first[omen] < 0)
    for e in range(len(testbed.events)):
        if e != omen:
            assert_event_identical(base, twin, e)
    assert np.array_equal(base.world.values, twin.world.values)
    assert np.array_equal(base.records.outcomes, twin.records.outcomes)


def test_blocking_famine_leaves_unrelated_events_alone(testbed: Scenario) -> None:
    index = testbed.event_index
    base = run_block(testbed, NO_PLAN)
    twin = run_block(testbed, Plan(blocked={index["famine"]: testbed.start}))
    # The famine feeds unrest, hence riot and abdication; nothing else depends on it.
    for name in ("plot", "discovered", "hard_line", "tax_protest", "omen"):
        assert_event_identical(base, twin, index[name])
    # ... and the twin did change where it should: fewer riots, each of them no earlier
    riot = index["riot"]
    assert (twin.world.first[riot] >= 0).sum() < (base.world.first[riot] >= 0).sum()
    both = (twin.world.first[riot] >= 0) & (base.world.first[riot] >= 0)
    assert np.all(twin.world.first[riot][both] >= base.world.first[riot][both])


def test_choosing_an_option_changes_only_that_choice(testbed: Scenario) -> None:
    index = testbed.event_index
    discovered = index["discovered"]
    base = run_block(testbed, NO_PLAN)
    twin = run_block(testbed, Plan(chosen={discovered: 1}))
    fired = base.world.first[discovered] >= 0
    assert np.all(twin.world.option[discovered][fired] == 1)
    assert np.array_equal(twin.world.first[discovered], base.world.first[discovered])
    for e in range(len(testbed.events)):
        if e != discovered:
            assert_event_identical(base, twin, e)


@contextmanager
def recorded_draws() -> Iterator[dict[tuple[int, int, int], np.ndarray]]:
    """Record every (month, event, slot) -> uniforms the kernel draws."""
    seen: dict[tuple[int, int, int], np.ndarray] = {}
    original = vector._Draws.get

    def get(self: vector._Draws, month: int, event: int, slot: int) -> np.ndarray:
        values = original(self, month, event, slot)
        seen[(month, event, slot)] = values.copy()
        return values

    vector._Draws.get = get  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        vector._Draws.get = original  # type: ignore[method-assign]


def test_twins_draw_the_same_uniforms_for_every_key(testbed: Scenario) -> None:
    index = testbed.event_index
    plans = [
        Plan(blocked={index["famine"]: testbed.start}),
        Plan(forced={index["plot"]: frozenset({testbed.start})}),
        Plan(chosen={index["discovered"]: 0}, blocked={index["tax_protest"]: testbed.start + 4}),
    ]
    with recorded_draws() as factual:
        run_block(testbed, NO_PLAN, runs=500)
    assert len(factual) > 20
    for plan in plans:
        with recorded_draws() as twin:
            run_block(testbed, plan, runs=500)
        shared = factual.keys() & twin.keys()
        assert len(shared) > 10
        for key in shared:
            assert np.array_equal(factual[key], twin[key]), key


def test_parameters_identical_across_worlds(testbed: Scenario) -> None:
    index = testbed.event_index
    base = simulate(testbed, runs=RUNS, seed=SEED)
    twin = simulate(
        testbed,
        runs=RUNS,
        seed=SEED,
        plan=Plan(blocked={index["plot"]: testbed.start}, chosen={index["discovered"]: 1}),
        chunk_size=333,
    )
    assert base.raw.timelines is not None and twin.raw.timelines is not None
    assert np.array_equal(base.raw.timelines.parameters, twin.raw.timelines.parameters)


@pytest.mark.parametrize("month_offset", [0, 1, 5, 11])
def test_saved_state_continues_like_a_straight_run(testbed: Scenario, month_offset: int) -> None:
    stop = testbed.start + month_offset
    straight = start_block(VectorProgram(testbed), SEED, 0, 1000)
    straight.advance(NO_PLAN, log=True)

    first_half = start_block(VectorProgram(testbed), SEED, 0, 1000)
    first_half.advance(NO_PLAN, stop=stop, log=True)
    assert first_half.world.month == stop + 1
    saved = first_half.copy()
    resumed = saved.copy()
    resumed.advance(NO_PLAN, log=True)

    for name in ("values", "last", "first", "count", "option"):
        assert np.array_equal(getattr(straight.world, name), getattr(resumed.world, name)), name
    assert np.array_equal(straight.records.outcomes, resumed.records.outcomes)
    assert np.array_equal(straight.records.fact_open, resumed.records.fact_open)
    assert np.array_equal(straight.records.fact_close, resumed.records.fact_close)
    # the log of the straight run is the log up to the stop followed by the resumed one
    assert first_half.log is not None and resumed.log is not None and straight.log is not None
    joined = first_half.log + resumed.log
    assert [(f.month, f.event) for f in joined] == [(f.month, f.event) for f in straight.log]
    for a, b in zip(joined, straight.log, strict=True):
        assert np.array_equal(a.timelines, b.timelines) and np.array_equal(a.options, b.options)
    # advancing a copy leaves the saved state alone
    assert saved.world.month == stop + 1
    assert np.array_equal(saved.world.values, first_half.world.values)


def test_branching_from_a_saved_state_equals_the_what_if_from_the_start(
    testbed: Scenario,
) -> None:
    """A what-if acting from month m, started from the factual state at m, equals a full run."""
    index = testbed.event_index
    branch = testbed.start + 6  # July
    namespace = ScenarioNamespace(testbed)
    plan = Plan(
        blocked={index["tax_protest"]: branch},
        sets={
            branch: (
                (
                    testbed.slot_index["unrest"],
                    as_number(compile_expression("unrest + 2", namespace)),
                ),
            )
        },
        forced={index["abdication"]: frozenset({branch + 3})},
    )
    full = run_block(testbed, plan, runs=2000)
    factual = start_block(VectorProgram(testbed), SEED, 0, 2000)
    factual.advance(NO_PLAN, stop=branch - 1)
    twin = factual.copy()
    twin.advance(plan)
    for name in ("values", "last", "first", "count", "option"):
        assert np.array_equal(getattr(full.world, name), getattr(twin.world, name)), name
    assert np.array_equal(full.records.outcomes, twin.records.outcomes)
    # and the plan did something
    factual.advance(NO_PLAN)
    assert not np.array_equal(factual.world.values, twin.world.values)


def test_a_subset_of_timelines_evolves_as_in_the_whole_block(testbed: Scenario) -> None:
    rows = np.array([0, 2, 3, 500, 999])
    whole = start_block(VectorProgram(testbed), SEED, 0, 1000)
    part = whole.take(rows)
    whole.advance(NO_PLAN)
    part.advance(NO_PLAN)
    assert np.array_equal(part.world.values, whole.world.values[:, rows])
    assert np.array_equal(part.world.first, whole.world.first[:, rows])
    assert np.array_equal(part.records.outcomes, whole.records.outcomes[:, rows])


def test_timeline_draws_do_not_depend_on_block_position(testbed: Scenario) -> None:
    # timeline 1000 run alone, or as the 1st of a block starting at 1000, or inside 0..1999
    alone = vector_logs(testbed, SEED, 1, first=1000)[0]
    in_block = vector_logs(testbed, SEED, 10, first=1000)[0]
    inside = vector_logs(testbed, SEED, 2000)[1000]
    assert alone == in_block == inside
