"""Fitting a scenario's parameters to its record by rejection ABC on the vectorized engine.

Every timeline of a prior run carries its own parameter set, so one prior run of N timelines is N
draws of rejection ABC with one simulation each. The distance of a timeline to the record is the
share of *fit* facts it fails to reproduce; the accepted parameter sets (the best ``accept`` share,
ties at the threshold included) are the posterior samples. Held-out facts play no part in the fit:
the baseline drawn from the posterior is scored on them separately.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kremlinology.analysis.fidelity import fidelity_from_holds
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
        return int(self.samples.shape[0])


def distances(scenario: Scenario, facts_hold: np.ndarray) -> np.ndarray:
    """Share of fit facts each timeline fails to reproduce."""
    fit = [i for i, f in enumerate(scenario.facts) if f.split == "fit"]
    if not fit:
        raise ValueError("the scenario has no fit facts to calibrate against")
    return np.asarray(1.0 - facts_hold[fit].mean(axis=0), dtype=np.float64)


def calibrate(
    scenario: Scenario,
    runs: int = 200_000,
    seed: int = 1,
    accept: float = 0.02,
    chunk_size: int = 16_384,
    workers: int = 1,
) -> Calibration:
    """Run the prior, keep the parameter sets of the timelines closest to the fit facts."""
    started = time.perf_counter()
    raw = run_timelines(
        scenario,
        runs,
        seed,
        chunk_size=chunk_size,
        workers=workers,
        use_posterior=False,
        keep_timelines=True,
    )
    assert raw.timelines is not None
    distance = distances(scenario, raw.timelines.facts)
    threshold = float(np.quantile(distance, accept))
    chosen = distance <= threshold
    samples = raw.timelines.parameters[:, chosen].T.copy()
    prior_report = fidelity_from_holds(scenario, raw.aggregates.fact_holds, runs, seed)
    return Calibration(samples, threshold, prior_report, runs, seed, time.perf_counter() - started)


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
