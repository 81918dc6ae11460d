"""Fitting a scenario's parameters to its record by approximate Bayesian computation (ABC).

Two methods, both on the vectorized engine, both blind to the held-out facts:

- ``replicates`` (the default): draw ``particles`` parameter sets from the priors and simulate each
  about ``replicates`` times (every timeline takes one of the sets by its own draw). A set's
  distance to the record is the share of *fit* facts its timelines fail to reproduce, averaged over
  its timelines, so chance in a single history does not decide; the closest ``accept`` share of the
  sets are the posterior samples. This is rejection ABC on replicate-averaged summaries (as in
  history matching of stochastic simulators).
- ``timeline``: classic rejection ABC with one simulation per parameter set: every timeline of a
  prior run carries its own set, and the sets of the timelines at or below the ``accept`` quantile
  of the distance are kept (ties included).

The simulations use a seed derived from the one given, so that scoring the posterior with that seed
afterwards reuses none of the draws the fit saw.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kremlinology.analysis.fidelity import fidelity_from_holds
from kremlinology.engine.params import draw_parameters, posterior_rows
from kremlinology.engine.simulate import run_timelines
from kremlinology.scenario.expressions import Categorical
from kremlinology.scenario.model import Scenario


@dataclass
class Calibration:
    """Accepted parameter samples and the scores before and after the fit."""

    samples: np.ndarray  # (accepted, parameters), categories as codes
    threshold: float  # largest accepted distance
    prior_report: dict[str, Any]
    runs: int
    seed: int
    elapsed_s: float

    @property
    def accepted(self) -> int:
        """How many parameter sets were accepted."""
        return int(self.samples.shape[0])


def distances(scenario: Scenario, facts_hold: np.ndarray) -> np.ndarray:
    """Share of fit facts each timeline fails to reproduce."""
    fit = [i for i, f in enumerate(scenario.facts) if f.split == "fit"]
    if not fit:
        raise ValueError("the scenario has no fit facts to calibrate against")
    return np.asarray(1.0 - facts_hold[fit].mean(axis=0), dtype=np.float64)


FIT_SEED_OFFSET = 0x6A09E667
"""Added to the user's seed for the fit's own simulations."""


def calibrate(
    scenario: Scenario,
    runs: int = 200_000,
    seed: int = 1,
    accept: float = 0.02,
    chunk_size: int = 16_384,
    workers: int = 1,
    method: str = "replicates",
    replicates: int = 25,
    progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    """Fit the parameters to the fit facts; see the module docstring for the two methods
    (``progress(done, total)`` hears of each block of timelines)."""
    if method == "replicates":
        return _calibrate_replicates(
            scenario, runs, seed, accept, chunk_size, workers, replicates, progress
        )
    if method != "timeline":
        raise ValueError(f"unknown calibration method '{method}' (replicates or timeline)")
    started = time.perf_counter()
    raw = run_timelines(
        scenario,
        runs,
        seed + FIT_SEED_OFFSET,
        chunk_size=chunk_size,
        workers=workers,
        use_posterior=False,
        keep_timelines=True,
        progress=progress,
    )
    assert raw.timelines is not None
    distance = distances(scenario, raw.timelines.facts)
    threshold = float(np.quantile(distance, accept))
    chosen = distance <= threshold
    samples = raw.timelines.parameters[:, chosen].T.copy()
    prior_report = fidelity_from_holds(scenario, raw.aggregates.fact_holds, runs, seed)
    return Calibration(samples, threshold, prior_report, runs, seed, time.perf_counter() - started)


def _calibrate_replicates(
    scenario: Scenario,
    runs: int,
    seed: int,
    accept: float,
    chunk_size: int,
    workers: int,
    replicates: int,
    progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    started = time.perf_counter()
    fit_seed = seed + FIT_SEED_OFFSET
    count = max(1, runs // max(1, replicates))
    particles = draw_parameters(scenario, fit_seed, 0, count, use_posterior=False).T.copy()
    trial = dataclasses.replace(scenario, posterior=particles)
    raw = run_timelines(
        trial,
        runs,
        fit_seed,
        chunk_size=chunk_size,
        workers=workers,
        use_posterior=True,
        keep_timelines=True,
        progress=progress,
    )
    assert raw.timelines is not None
    rows = posterior_rows(fit_seed, 0, runs, count)  # the set each timeline took
    distance = distances(scenario, raw.timelines.facts)
    seen = np.bincount(rows, minlength=count)
    mean = np.bincount(rows, weights=distance, minlength=count) / np.maximum(seen, 1)
    mean[seen < max(2, replicates // 5)] = np.inf  # too few replicates to judge
    threshold = float(np.quantile(mean[np.isfinite(mean)], accept))
    samples = particles[mean <= threshold]
    # Every trial set comes from the priors, so all trial timelines together score the priors.
    prior = fidelity_from_holds(scenario, raw.aggregates.fact_holds, raw.runs, raw.seed)
    return Calibration(samples, threshold, prior, runs, seed, time.perf_counter() - started)


def write_posterior(scenario: Scenario, samples: np.ndarray, path: Path) -> None:
    """Write samples as CSV (one column per parameter, categories by name), atomically."""
    names = [p.model.id for p in scenario.parameters]
    domains = [scenario.slots[p.slot].type for p in scenario.parameters]
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".posterior-", suffix=".csv")
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(names)
            for row in samples:
                writer.writerow(
                    [
                        domain.domain[int(value)]
                        if isinstance(domain, Categorical)
                        else repr(float(value))
                        for value, domain in zip(row, domains, strict=True)
                    ]
                )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def install_posterior(scenario: Scenario, result: Calibration) -> Path:
    """Write the samples as the scenario's posterior.csv and name it in the manifest."""
    path = scenario.path / "posterior.csv"
    write_posterior(scenario, result.samples, path)
    manifest = scenario.path / "scenario.yaml"
    text = manifest.read_text(encoding="utf-8")
    if not any(line.startswith("posterior:") for line in text.splitlines()):
        _atomic_write(manifest, text.rstrip("\n") + "\nposterior: posterior.csv\n")
    return path


def _atomic_write(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
