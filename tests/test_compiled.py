"""The compiled (Numba) kernel against the NumPy kernel and the reference interpreter: equal, value
for value, on the testbed, on random scenarios (templates, offices, NaN, plans) and on twin worlds
(fingerprints, refusals, who was in play), and one compiled kernel serving every scenario.

The kernel is compiled once per machine (the first run of these tests compiles it, later runs load
it from the on-disk cache, which changes no result: the cache only saves time); a scenario is only
arrays, so random scenarios cost no compile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import REPO, write_scenario
from kremlinology.cli import build_app
from kremlinology.counterfactual.twin import TwinRun, run_twins
from kremlinology.engine.compiled import CompiledProgram, load_kernel, resolve_engine, use_engine
from kremlinology.engine.simulate import Block, Recorder, run_timelines, start_block
from kremlinology.engine.state import NO_PLAN, Plan
from kremlinology.engine.vector import VectorProgram
from kremlinology.scenario.expressions import NUM, Node
from kremlinology.scenario.loader import load_scenario
from kremlinology.scenario.model import Scenario
from scenario_strategies import draw_events_yaml, draw_plan
from test_reference import assert_states_equal

pytest.importorskip("numba")  # the compiled engine's own tests; the others run without it


def _advance(program: VectorProgram, seed: int, runs: int, plan: Plan) -> tuple[Block, Recorder]:
    block = start_block(program, seed, 0, runs)
    recorder = Recorder(program, block.records)
    program.advance(block.world, plan, seed, program.scenario.end, recorder)
    recorder.finish(block.world)
    return block, recorder


def check_kernels(scenario: Scenario, compiled: CompiledProgram, seed: int, runs: int,
                  plan: Plan = NO_PLAN, reference: bool = True) -> None:  # fmt: skip
    """The compiled kernel's final states, records and refusals equal the NumPy kernel's, and its
    states the reference interpreter's, timeline by timeline."""
    mine, my_recorder = _advance(compiled, seed, runs, plan)
    theirs, their_recorder = _advance(VectorProgram(scenario), seed, runs, plan)
    for name in ("values", "last", "first", "option", "count"):
        assert np.array_equal(
            getattr(mine.world, name), getattr(theirs.world, name), equal_nan=True
        ), name
    assert mine.world.month == theirs.world.month
    for name in ("outcomes", "fact_open", "fact_close"):
        assert np.array_equal(
            getattr(mine.records, name), getattr(theirs.records, name), equal_nan=True
        ), name
    assert my_recorder.refusals == their_recorder.refusals
    if reference:
        refused = assert_states_equal(scenario, seed, plan, mine)
        assert my_recorder.refusals == refused


@pytest.fixture(scope="session")
def compiled_testbed(testbed: Scenario) -> CompiledProgram:
    return CompiledProgram(testbed)


def test_testbed_equals_numpy_and_reference(
    testbed: Scenario, compiled_testbed: CompiledProgram
) -> None:
    check_kernels(testbed, compiled_testbed, 1, 300)
    block, _ = _advance(compiled_testbed, 1, 300, NO_PLAN)
    # not vacuous: every event fires somewhere, and both options of the one with options occur
    assert (block.world.count > 0).any(axis=1).all()


def test_testbed_fixed_plan_and_a_non_contiguous_block(
    testbed: Scenario, compiled_testbed: CompiledProgram
) -> None:
    index = testbed.event_index
    plan = Plan(
        forced={index["famine"]: frozenset({testbed.start + 5})},
        blocked={index["plot"]: testbed.start + 3},
        chosen={index["discovered"]: 1},
    )
    check_kernels(testbed, compiled_testbed, 8, 200, plan)
    rows = np.array([3, 10, 11, 57, 119])
    part = start_block(compiled_testbed, 6, 0, 120).take(rows)
    part.advance(NO_PLAN)
    assert_states_equal(testbed, 6, NO_PLAN, part)


@settings(max_examples=20)
@given(data=st.data(), seed=st.integers(0, 2**63 - 1))
def test_testbed_random_plans(
    testbed: Scenario, compiled_testbed: CompiledProgram, data: st.DataObject, seed: int
) -> None:
    check_kernels(testbed, compiled_testbed, seed, 40, draw_plan(data, testbed))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**63 - 1))
def test_random_scenarios(data: st.DataObject, seed: int) -> None:
    """Random scenarios with templates and offices (``scenario_strategies``), with and without a
    plan (forced, blocked and chosen events, set values)."""
    text = draw_events_yaml(data, max_events=6)
    with tempfile.TemporaryDirectory() as folder:
        write_scenario(Path(folder), {"content.yaml": text}, end="2000-08")
        scenario = load_scenario(folder)
    compiled = CompiledProgram(scenario)
    check_kernels(scenario, compiled, seed, 30)
    check_kernels(scenario, compiled, seed, 30, draw_plan(data, scenario))


def test_nan_and_infinities_alike(tmp_path: Path) -> None:
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
    compiled = CompiledProgram(scenario)
    with np.errstate(over="ignore", invalid="ignore"):
        check_kernels(scenario, compiled, 3, 50)
        block, _ = _advance(compiled, 3, 50, NO_PLAN)
    fired = {scenario.events[e].id for e in np.flatnonzero(block.world.count.sum(axis=1))}
    assert fired == {"blow", "m4"}


def test_twin_worlds_equal_across_engines(testbed: Scenario) -> None:
    """Both worlds, their fingerprints (how many pairs differ each month), refusals and who was in
    play when the plan set values: equal under both kernels (sets split the compiled run)."""
    index = testbed.event_index
    numbers = [i for i, s in enumerate(testbed.slots) if s.type == NUM and s.kind != "parameter"]
    month = testbed.start + 4
    plan = Plan(
        forced={index["famine"]: frozenset({month + 1})},
        sets={
            month: ((numbers[0], Node("const", (0.25,), NUM)),),
            month + 2: ((numbers[-1], Node("const", (0.75,), NUM)),),
        },
    )
    runs = {}
    for engine in ("numpy", "compiled"):
        with use_engine(engine):
            runs[engine] = run_twins(testbed, plan, month, 400, 5, chunk_size=150)
    assert runs["numpy"].differ.sum() > 0
    _assert_twins_equal(runs["numpy"], runs["compiled"])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=12, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**31 - 1))
def test_random_twin_worlds_equal_across_engines(data: st.DataObject, seed: int) -> None:
    """Random scenarios and plans on twin worlds: the fingerprints (pairs that differ each
    month), both worlds' outcomes and records, refusals and in-play tables are equal under both
    kernels, and blocks of another size change nothing."""
    text = draw_events_yaml(data, max_events=6)
    with tempfile.TemporaryDirectory() as folder:
        write_scenario(Path(folder), {"content.yaml": text}, end="2000-08")
        scenario = load_scenario(folder)
    plan = draw_plan(data, scenario)
    month = data.draw(st.integers(scenario.start + 1, scenario.end), label="divergence")
    runs = {}
    for engine, chunk in (("numpy", 64), ("compiled", 64), ("compiled", 25)):
        with use_engine(engine):
            runs[engine, chunk] = run_twins(
                scenario, plan, month, 90, seed, condition=False, chunk_size=chunk
            )
    base = runs["numpy", 64]
    for other in (runs["compiled", 64], runs["compiled", 25]):
        _assert_twins_equal(base, other)


def _assert_twins_equal(a: TwinRun, b: TwinRun) -> None:
    assert np.array_equal(a.timelines, b.timelines)
    assert np.array_equal(a.differ, b.differ)
    for world in ("factual", "whatif"):
        x, y = getattr(a, world), getattr(b, world)
        for name in ("outcomes", "first", "option", "facts"):
            assert np.array_equal(getattr(x, name), getattr(y, name), equal_nan=True), name
        assert x.refused == y.refused
        assert x.refused_each.keys() == y.refused_each.keys()
        for event in x.refused_each:
            assert np.array_equal(x.refused_each[event], y.refused_each[event])
        assert x.in_play_at.keys() == y.in_play_at.keys()
        for key in x.in_play_at:
            assert np.array_equal(x.in_play_at[key], y.in_play_at[key])


def test_one_kernel_serves_every_scenario(testbed: Scenario, tmp_path: Path) -> None:
    """Scenarios are data: after the testbed, another scenario, a plan and twin worlds, the
    kernel has been compiled for one set of argument types only (no compile per scenario)."""
    peer = write_scenario(
        tmp_path / "other",
        {"c.yaml": """
variables:
  - {id: x, type: number, initial: 0.5, min: 0, max: 1}
events:
  - {id: up, label: u, window: [2000-01, 2000-12], once: false, hazard: "x",
     effects: {x: "x + 0.1"}}
"""},
    )  # fmt: skip
    other = load_scenario(peer)
    for scenario in (testbed, other):
        run_timelines(scenario, 40, 2, chunk_size=16, engine="compiled")
        with use_engine("compiled"):
            run_twins(scenario, Plan(blocked={0: scenario.start + 2}), scenario.start + 1, 30, 3)
    kernel = load_kernel().kernel
    assert len(kernel.signatures) == 1, kernel.signatures


def test_runs_equal_for_every_engine(testbed: Scenario, compiled_testbed: CompiledProgram) -> None:
    results = {
        engine: run_timelines(testbed, 120, 9, chunk_size=50, engine=engine)
        for engine in ("reference", "numpy", "compiled")
    }
    base = results["numpy"]
    for raw in results.values():
        for name in ("fired", "month_counts", "option_counts", "fact_holds"):
            assert np.array_equal(getattr(raw.aggregates, name), getattr(base.aggregates, name))
        assert np.array_equal(raw.aggregates.outcome_sum, base.aggregates.outcome_sum)
        assert raw.timelines is not None and base.timelines is not None
        assert np.array_equal(raw.timelines.outcomes, base.timelines.outcomes, equal_nan=True)


def test_cli_engines_print_the_same_json(compiled_testbed: CompiledProgram) -> None:
    runner = CliRunner()
    outputs = []
    for engine in ("compiled", "numpy", "reference"):
        args = ["run", "--scenario", "testbed", "--runs", "60", "--json", "--engine", engine]
        result = runner.invoke(build_app(), args)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        data.pop("elapsed_s", None)
        outputs.append(json.dumps(data, sort_keys=True))
    assert outputs[0] == outputs[1] == outputs[2]
    bad = runner.invoke(build_app(), ["run", "--scenario", "testbed", "--engine", "gpu"])
    assert bad.exit_code == 2 and "--engine must be one of" in bad.output


def test_engine_names_and_defaults(testbed: Scenario, compiled_testbed: CompiledProgram) -> None:
    assert resolve_engine("numpy") == "numpy"
    assert resolve_engine(None, testbed) == "numpy"  # the faster at scale (README's figures)
    assert resolve_engine("compiled", testbed) == "compiled"
    with use_engine("numpy"):
        assert resolve_engine(None, testbed) == "numpy"
    with pytest.raises(ValueError, match="unknown engine"):
        resolve_engine("fast")


def test_a_later_process_finds_the_kernel_in_the_cache(compiled_testbed: CompiledProgram) -> None:
    code = (
        "from kremlinology.engine.compiled import is_compiled, resolve_engine\n"
        "from kremlinology.scenario.loader import load_scenario\n"
        "s = load_scenario('testbed')\n"
        "print(is_compiled(s), resolve_engine('compiled', s))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    env.pop("KREMLINOLOGY_ENGINE", None)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "compiled"]


def test_importing_the_package_compiles_nothing() -> None:
    code = (
        "import sys, kremlinology, kremlinology.api, kremlinology.cli;"
        "import kremlinology.engine.simulate;"
        "assert 'numba' not in sys.modules, 'numba imported'"
    )
    env_path = str(REPO / "src")
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_a_scenario_changed_in_memory_gets_its_own_kernel(
    testbed: Scenario, compiled_testbed: CompiledProgram, tmp_path: Path
) -> None:
    """A scenario with other facts keeps its files' sha256; the compiled kernel must check its
    facts, not the facts of the scenario it was copied from (a stale kernel read past the end of
    the fact arrays and crashed the process)."""
    from kremlinology.analysis.fidelity import read_facts, with_facts

    facts = tmp_path / "facts.csv"
    facts.write_text(
        "id,month,tolerance,label,condition\n"
        "crushed_early,2000-02,1,The rebel is crushed early,\"chose('discovered', 'crushed')\"\n"
        "omen_seen,2000-01,0,An omen in January,\"fired('omen')\"\n",
        encoding="utf-8",
    )
    changed = with_facts(testbed, read_facts(facts, testbed))
    assert changed.sha256 == testbed.sha256 and len(changed.facts) == len(testbed.facts) + 2
    compiled = run_timelines(changed, 300, 4, chunk_size=100, engine="compiled")
    vector = run_timelines(changed, 300, 4, chunk_size=100, engine="numpy")
    assert np.array_equal(compiled.aggregates.fact_holds, vector.aggregates.fact_holds)
    assert compiled.aggregates.fact_holds.shape[0] == len(changed.facts)


def test_logistic_rounds_alike_in_every_kernel() -> None:
    # NumPy's vectorised exp differs from the C library's in the last bit for about one input in
    # fifty (a random scenario found one); the NumPy kernel and the reference now use SciPy's expit,
    # which calls the C library's exp as the compiled kernel does.
    from kremlinology.engine import reference, vector
    from kremlinology.engine.jitlib import logistic

    x = np.random.default_rng(7).normal(0.0, 3.0, 5000)
    x = np.concatenate([x, [0.0, -0.0, 745.5, -745.5, np.inf, -np.inf, np.nan]])
    compiled = np.array([logistic(float(v)) for v in x])
    assert np.array_equal(np.asarray(vector._logistic(x)), compiled, equal_nan=True)
    ref = np.array([reference._apply("logistic", [float(v)]) for v in x])
    assert np.array_equal(ref, compiled, equal_nan=True)
