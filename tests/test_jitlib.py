"""The compiled kernel's keyed draw: Philox4x64-10 of one counter, equal to NumPy's stream."""

from __future__ import annotations

import numpy as np

from kremlinology.engine import jitlib, rng


def test_draws_are_numpys_philox() -> None:
    seed, stream = 12345, rng.stream_id(rng.EVENT_DRAW, 7, 3, 1)
    expected = rng.uniforms(seed, stream, 0, 64)
    got = [jitlib.uniform(np.uint64(seed), np.uint64(stream), np.uint64(t)) for t in range(64)]
    assert np.array_equal(expected, np.array(got))


def test_arithmetic_matches_numpy() -> None:
    pairs = [(5.0, 3.0), (-5.0, 3.0), (5.0, -3.0), (-5.0, np.inf), (7.0, 0.0), (np.nan, 2.0)]
    for a, b in pairs:
        want = float(np.remainder(a, b)) if b != 0.0 else 0.0
        assert np.array_equal(jitlib.mod(a, b), want, equal_nan=True), (a, b)
    assert np.isnan(jitlib.fmin(np.nan, 1.0)) and jitlib.fmax(2.0, 3.0) == 3.0
    assert jitlib.div(1.0, 0.0) == 0.0 and jitlib.since(-1, 5) == jitlib.NEVER_MONTHS
