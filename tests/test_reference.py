"""The vectorized kernel against the per-timeline reference interpreter: equal, draw for draw."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import vector_logs, write_scenario
from kremlinology.engine.reference import (
    LogEntry,
    reference_run,
    run_timeline,
    start_timeline,
)
from kremlinology.engine.simulate import Block, Recorder, start_block
from kremlinology.engine.state import NO_PLAN, Plan
from kremlinology.engine.vector import VectorProgram
from kremlinology.scenario.loader import load_scenario
from kremlinology.scenario.model import Scenario
from scenario_strategies import draw_events_yaml, draw_plan


def assert_states_equal(
    scenario: Scenario,
    seed: int,
    plan: Plan,
    block: Block,
    logs: list[list[LogEntry]] | None = None,
) -> dict[int, int]:
    """Each timeline of an advanced block ends in exactly the reference's state (and log);
    return how often the reference refused a forced event (by event index)."""
    world = block.world
    refused: dict[int, int] = {}
    for k, index in enumerate(world.timelines):
        t = start_timeline(scenario, seed, int(index))
        log = run_timeline(scenario, seed, t, plan)
        for _month, event in t.refused:
            e = scenario.event_index[event]
            refused[e] = refused.get(e, 0) + 1
        if logs is not None:
            assert log == logs[k], f"timeline {index}"
        assert t.month == world.month
        assert np.array_equal(np.array(t.values), world.values[:, k], equal_nan=True)
        assert t.last == world.last[:, k].tolist()
        assert t.first == world.first[:, k].tolist()
        assert t.count == world.count[:, k].tolist()
        assert t.option == world.option[:, k].tolist()
    return refused


def check_equal(scenario: Scenario, seed: int, runs: int, plan: Plan = NO_PLAN) -> None:
    """Logs, final states and refused forced firings (actors out of play) of the vector kernel
    equal the reference's, timeline by timeline."""
    program = VectorProgram(scenario)
    block = start_block(program, seed, 0, runs)
    recorder = Recorder(program, block.records)
    program.advance(block.world, plan, seed, scenario.end, recorder)
    refused = assert_states_equal(
        scenario, seed, plan, block, vector_logs(scenario, seed, runs, plan)
    )
    assert recorder.refusals == refused


def test_testbed_logs_equal(testbed: Scenario) -> None:
    logs = vector_logs(testbed, 1, 300)
    assert logs == reference_run(testbed, 1, 300)
    # the comparison is not vacuous: every event and both options occur in these 300 timelines
    seen = {(entry[1], entry[2]) for log in logs for entry in log}
    assert {e.id for e in testbed.events} <= {event for event, _ in seen}
    assert {("discovered", "crushed"), ("discovered", "escaped")} <= seen


def test_testbed_final_states_equal(testbed: Scenario) -> None:
    block = start_block(VectorProgram(testbed), 4, 0, 150)
    block.advance(NO_PLAN)
    assert_states_equal(testbed, 4, NO_PLAN, block)


def test_testbed_with_a_fixed_plan(testbed: Scenario) -> None:
    index = testbed.event_index
    plan = Plan(
        forced={index["famine"]: frozenset({testbed.start + 5}), index["omen"]: frozenset()},
        blocked={index["plot"]: testbed.start + 3},
        chosen={index["discovered"]: 1},
    )
    check_equal(testbed, 8, 200, plan)
    logs = vector_logs(testbed, 8, 200, plan)
    assert all(("discovered", "crushed") not in {(e, o) for _, e, o in log} for log in logs)
    assert all(any(e == "famine" for _, e, _ in log) for log in logs)


def test_non_contiguous_block_matches_reference(testbed: Scenario) -> None:
    block = start_block(VectorProgram(testbed), 6, 0, 120)
    rows = np.array([3, 10, 11, 57, 119])
    part = block.take(rows)
    part.advance(NO_PLAN, log=True)
    assert_states_equal(testbed, 6, NO_PLAN, part)


@settings(max_examples=25)
@given(data=st.data(), seed=st.integers(0, 2**63 - 1))
def test_testbed_random_plans(testbed: Scenario, data: st.DataObject, seed: int) -> None:
    plan = draw_plan(data, testbed)
    check_equal(testbed, seed, 40, plan)


def test_nan_is_handled_alike(tmp_path: Path) -> None:
    # inf - inf is NaN; min, max and clip must propagate it in both engines (as NumPy does), or a
    # hazard of min(1, x) fires in one engine and not in the other.
    folder = write_scenario(
        tmp_path / "s",
        {
            "c.yaml": """
variables:
  - {id: x, type: number, initial: 1e300}
events:
  - {id: blow, label: b, window: [2000-01, 2000-01], effects: {x: "x * 1e300 - x * 1e300"}}
  - {id: m1, label: m, window: [2000-02, 2000-12], hazard: "min(1, x)"}
  - {id: m2, label: m, window: [2000-02, 2000-12], hazard: "clip(0.5, x, 1)"}
  - {id: m3, label: m, window: [2000-02, 2000-12], hazard: "max(0.5, x)"}
  - {id: m4, label: m, window: [2000-02, 2000-12], hazard: "0.5", when: "not (x > 0)"}
"""
        },
    )
    scenario = load_scenario(folder)
    with np.errstate(over="ignore", invalid="ignore"):
        check_equal(scenario, 3, 50)
        logs = vector_logs(scenario, 3, 50)
    assert {e for log in logs for _, e, _ in log} == {"blow", "m4"}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=80)
@given(data=st.data(), seed=st.integers(0, 2**63 - 1))
def test_random_scenarios(data: st.DataObject, seed: int) -> None:
    text = draw_events_yaml(data)
    with tempfile.TemporaryDirectory() as folder:
        write_scenario(Path(folder), {"content.yaml": text}, end="2000-08")
        scenario = load_scenario(folder)
    check_equal(scenario, seed, 30)
    if data.draw(st.booleans(), label="with plan"):
        check_equal(scenario, seed, 30, draw_plan(data, scenario))
