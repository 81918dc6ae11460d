"""Results depend on the seed only: not on chunking, workers, hash seeds or the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields

import numpy as np
import pytest

from conftest import TESTBED
from kremlinology import limits
from kremlinology.api import simulate
from kremlinology.engine import rng
from kremlinology.engine.params import draw_parameters
from kremlinology.engine.simulate import Aggregates, RawRun, Timelines
from kremlinology.scenario.model import Scenario

RUNS = 3_000
COMMAND = [sys.executable, "-m", "kremlinology", "run"]


def without_elapsed(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "elapsed_s"}


def assert_same_raw(a: RawRun, b: RawRun) -> None:
    for f in fields(Aggregates):
        left, right = getattr(a.aggregates, f.name), getattr(b.aggregates, f.name)
        if isinstance(left, list):
            assert len(left) == len(right)
            for x, y in zip(left, right, strict=True):
                assert np.array_equal(x, y), f.name
        else:
            assert np.array_equal(left, right), f.name
    assert a.timelines is not None and b.timelines is not None
    for f in fields(Timelines):
        left, right = getattr(a.timelines, f.name), getattr(b.timelines, f.name)
        assert left.dtype == right.dtype, f.name
        assert np.array_equal(left, right, equal_nan=left.dtype.kind == "f"), f.name


def test_same_seed_same_json(testbed: Scenario) -> None:
    a = simulate(testbed, runs=RUNS, seed=11)
    b = simulate(testbed, runs=RUNS, seed=11)
    assert without_elapsed(json.loads(a.to_json())) == without_elapsed(json.loads(b.to_json()))
    assert a.to_json() != simulate(testbed, runs=RUNS, seed=12).to_json()


@pytest.mark.parametrize(("chunk", "runs"), [(1, 500), (7, RUNS), (1000, RUNS), (16_384, 40_000)])
def test_chunk_size_does_not_matter(testbed: Scenario, chunk: int, runs: int) -> None:
    base = simulate(testbed, runs=runs, seed=5, chunk_size=2048)
    other = simulate(testbed, runs=runs, seed=5, chunk_size=chunk)
    assert_same_raw(base.raw, other.raw)
    assert without_elapsed(base.to_dict()) == without_elapsed(other.to_dict())


def test_workers_do_not_matter(testbed: Scenario) -> None:
    one = simulate(testbed, runs=RUNS, seed=3, chunk_size=700, workers=1)
    two = simulate(testbed, runs=RUNS, seed=3, chunk_size=700, workers=2)
    assert_same_raw(one.raw, two.raw)
    assert without_elapsed(one.to_dict()) == without_elapsed(two.to_dict())


def test_streaming_aggregates_do_not_depend_on_chunks(testbed: Scenario) -> None:
    a = simulate(testbed, runs=RUNS, seed=9, chunk_size=64, keep_timelines=False)
    b = simulate(testbed, runs=RUNS, seed=9, chunk_size=RUNS, keep_timelines=False)
    for f in fields(Aggregates):
        left, right = getattr(a.raw.aggregates, f.name), getattr(b.raw.aggregates, f.name)
        if f.name in ("outcome_sum", "outcome_sumsq"):
            # float sums in a different grouping: equal to rounding
            assert np.allclose(left, right, rtol=1e-12, atol=0.0), f.name
        elif isinstance(left, list):
            for x, y in zip(left, right, strict=True):
                assert np.array_equal(x, y)
        else:
            assert np.array_equal(left, right), f.name


@pytest.mark.slow
def test_other_hash_seed_in_a_subprocess_gives_the_same_json(testbed: Scenario) -> None:
    outputs = []
    for hash_seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [*COMMAND, "--scenario", str(TESTBED), "--runs", "2000", "--seed", "77", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        )
        outputs.append(without_elapsed(json.loads(done.stdout)))
    assert outputs[0] == outputs[1]
    here = without_elapsed(json.loads(simulate(testbed, runs=2000, seed=77).to_json()))
    assert outputs[0] == here


def test_parameters_of_a_timeline_do_not_depend_on_chunking(testbed: Scenario) -> None:
    whole = draw_parameters(testbed, 21, 0, 1000)
    for first, count in [(0, 1), (1, 3), (5, 7), (997, 3), (123, 400)]:
        part = draw_parameters(testbed, 21, first, count)
        assert np.array_equal(part, whole[:, first : first + count])
    assert not np.array_equal(draw_parameters(testbed, 22, 0, 1000), whole)


def test_parameters_in_runs_do_not_depend_on_chunking(testbed: Scenario) -> None:
    a = simulate(testbed, runs=1000, seed=2, chunk_size=13)
    b = simulate(testbed, runs=1000, seed=2, chunk_size=1000)
    assert a.raw.timelines is not None and b.raw.timelines is not None
    assert np.array_equal(a.raw.timelines.parameters, b.raw.timelines.parameters)
    assert np.array_equal(a.raw.timelines.parameters, draw_parameters(testbed, 2, 0, 1000))


@pytest.mark.parametrize("first", [0, 1, 2, 3, 4, 5, 17, 1023, 1024, 99_999])
@pytest.mark.parametrize("count", [1, 2, 5, 64])
def test_uniform_slices_equal_the_full_stream(first: int, count: int) -> None:
    stream = rng.stream_id(rng.EVENT_DRAW, month=3, event=5, slot=1)
    full = rng.uniforms(123, stream, 0, 100_100)
    part = rng.uniforms(123, stream, first, count)
    assert part.shape == (count,)
    assert np.array_equal(part, full[first : first + count])
    assert rng.uniform(123, stream, first) == full[first]


def test_uniforms_are_in_range_and_streams_differ() -> None:
    a = rng.uniforms(1, rng.stream_id(rng.EVENT_DRAW, 0, 0, 0), 0, 10_000)
    b = rng.uniforms(1, rng.stream_id(rng.EVENT_DRAW, 0, 0, 1), 0, 10_000)
    c = rng.uniforms(1, rng.stream_id(rng.EVENT_DRAW, 1, 0, 0), 0, 10_000)
    d = rng.uniforms(2, rng.stream_id(rng.EVENT_DRAW, 0, 0, 0), 0, 10_000)
    for x in (a, b, c, d):
        assert x.min() >= 0.0 and x.max() < 1.0
        assert abs(x.mean() - 0.5) < 4 * np.sqrt(1 / 12 / x.size)
    for x, y in [(a, b), (a, c), (a, d), (b, c)]:
        assert not np.array_equal(x, y)
        assert abs(np.corrcoef(x, y)[0, 1]) < 4 / np.sqrt(x.size)


def test_stream_id_packs_and_refuses_out_of_range() -> None:
    ids = {
        rng.stream_id(tag, month, event, slot)
        for tag in (rng.EVENT_DRAW, rng.PARAMETER_DRAW)
        for month in (0, 1, 200)
        for event in (0, 1, 255, 256)
        for slot in (0, 1)
    }
    assert len(ids) == 2 * 3 * 4 * 2
    for bad in [(1, -1, 0, 0), (1, 2**24, 0, 0), (1, 0, 2**24, 0), (1, 0, 0, 256)]:
        with pytest.raises(ValueError):
            rng.stream_id(*bad)


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, True, "1", None])
def test_bad_seeds_are_refused(seed: object) -> None:
    with pytest.raises(ValueError):
        limits.check_seed(seed)


def test_extreme_seeds_work(testbed: Scenario) -> None:
    for seed in (0, limits.MAX_SEED):
        result = simulate(testbed, runs=50, seed=seed)
        assert result.seed == seed and result.runs == 50
