"""Validation as a forecaster would see it: a backtest on held-out facts, and simulation-based
calibration (SBC) of the calibration method.

**Backtest** (:func:`backtest`): the facts that close before the holdout month are the fit facts,
the later ones are held out. The parameters are fitted to the fit facts alone (``calibrate``);
then the held-out facts are forecast three ways and scored against the record (each held-out fact
happened, so its outcome is 1):

* ``posterior``: the share of timelines drawn from the fitted posterior that reproduce the fact,
  among those that reproduce the fit facts (what a forecaster at the holdout month knows; when
  fewer than 10% reproduce all of them, the fewest contradictions that keep 10% are allowed, as
  the what-if's conditioning does);
* ``prior``: the same share with parameters from the priors (no fit);
* ``base_rate``: one probability for every fact, the mean share of all facts reproduced under the
  prior (what a forecaster knows who ignores which fact is asked).

Scores, per fact and as means: the Brier score ``(1 - p)^2`` and the log score ``-ln p`` (``p``
clipped to ``1/(2 runs)``: a fact no timeline reproduced is not infinitely surprising at that
resolution); lower is better. Intervals are 95% bootstrap intervals over the held-out facts (2,000
resamples, paired across the three forecasts, so the differences have their own intervals).

**SBC** (:func:`sbc`): draw a parameter set from the priors, simulate one timeline with it and take
its facts (held or not) as a synthetic record; fit that record by rejection ABC on one shared prior
run (the ``accept`` closest timelines, distance the share of facts whose outcome differs); the rank
of the true value among ``samples`` posterior draws is uniform on ``0..samples`` when the method is
calibrated (Talts et al. 2018). Reported per parameter: the rank counts in bins and a chi-square
test of uniformity.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from kremlinology.analysis.calibrate import calibrate
from kremlinology.engine.simulate import run_timelines
from kremlinology.months import format_month
from kremlinology.scenario.model import Scenario

BOOTSTRAP = 2000
SBC_BINS = 10


def with_holdout(scenario: Scenario, month: int) -> Scenario:
    """A copy whose facts closing before ``month`` are fit facts and the others held out."""
    facts = [
        dataclasses.replace(f, split="fit" if f.month + f.tolerance + 1 <= month else "holdout")
        for f in scenario.facts
    ]
    return dataclasses.replace(scenario, facts=facts)


def default_holdout(scenario: Scenario, share: float = 0.7) -> int:
    """The month before which ``share`` of the facts close (the rest is held out)."""
    closes = sorted(f.month + f.tolerance + 1 for f in scenario.facts)
    if len(closes) < 2:
        raise ValueError("a backtest needs at least two dated facts")
    return closes[min(len(closes) - 1, max(1, int(len(closes) * share)))]


def fact_shares(scenario: Scenario, runs: int, seed: int, use_posterior: bool) -> np.ndarray:
    """Per fact: the share of ``runs`` timelines that reproduce it."""
    raw = run_timelines(scenario, runs, seed, use_posterior=use_posterior, keep_timelines=False)
    return np.asarray(raw.aggregates.fact_holds, dtype=np.float64) / runs


def conditioned_shares(
    scenario: Scenario, fit: list[int], runs: int, seed: int, min_share: float = 0.1
) -> tuple[np.ndarray, int]:
    """Per fact: its share among the posterior timelines that reproduce the ``fit`` facts (the
    fewest contradictions that keep ``min_share`` of them); and how many were kept."""
    raw = run_timelines(scenario, runs, seed, use_posterior=True, keep_timelines=True)
    assert raw.timelines is not None
    holds = np.asarray(raw.timelines.facts, dtype=bool)
    misses = (~holds[fit]).sum(axis=0)
    tolerance = next(
        t for t in range(len(fit) + 1) if (misses <= t).mean() >= min_share or t == len(fit)
    )
    kept = misses <= tolerance
    return holds[:, kept].mean(axis=1), int(kept.sum())


def scores(p: np.ndarray, runs: int) -> dict[str, np.ndarray]:
    """Brier and log scores of forecasts ``p`` of facts that happened."""
    clipped = np.clip(p, 1.0 / (2 * runs), 1.0)
    return {"brier": (1.0 - p) ** 2, "log": -np.log(clipped)}


def _interval(values: np.ndarray, picks: np.ndarray) -> list[float]:
    means = values[picks].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return [float(low), float(high)]


@dataclass
class Backtest:
    """Forecasts and scores of the held-out facts (see the module docstring)."""

    holdout: int
    fit_facts: int
    facts: list[dict[str, Any]]
    summary: dict[str, Any]
    runs: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """The ``history --backtest --json`` object."""
        return {
            "holdout_month": format_month(self.holdout),
            "fit_facts": self.fit_facts,
            "heldout_facts": len(self.facts),
            "runs": self.runs,
            "seed": self.seed,
            "scores": self.summary,
            "facts": self.facts,
        }


def backtest(
    scenario: Scenario,
    holdout: int | None = None,
    runs: int = 20_000,
    seed: int = 1,
    accept: float = 0.05,
    method: str = "replicates",
) -> Backtest:
    """Fit on the facts before ``holdout`` (default :func:`default_holdout`), forecast and score
    the later ones against the prior and base-rate baselines; see the module docstring."""
    month = default_holdout(scenario) if holdout is None else holdout
    split = with_holdout(scenario, month)
    held = [i for i, f in enumerate(split.facts) if f.split == "holdout"]
    fit = [i for i, f in enumerate(split.facts) if f.split == "fit"]
    if not held or not fit:
        raise ValueError(
            f"holdout month {format_month(month)} leaves {len(fit)} fit and {len(held)} held-out "
            "facts; both need at least one"
        )
    fitted = calibrate(split, runs=runs, seed=seed, accept=accept, method=method)
    posterior = dataclasses.replace(split, posterior=fitted.samples)
    p_post, kept = conditioned_shares(posterior, fit, runs, seed)
    p_prior = fact_shares(split, runs, seed, use_posterior=False)
    base = np.full(len(split.facts), float(p_prior.mean()))
    forecasts = {"posterior": p_post[held], "prior": p_prior[held], "base_rate": base[held]}
    scored = {name: scores(p, runs) for name, p in forecasts.items()}
    picks = np.random.default_rng(seed).integers(0, len(held), size=(BOOTSTRAP, len(held)))
    summary: dict[str, Any] = {}
    for kind in ("brier", "log"):
        entry: dict[str, Any] = {}
        for name in forecasts:
            values = scored[name][kind]
            entry[name] = {"mean": float(values.mean()), "ci": _interval(values, picks)}
        for name in ("prior", "base_rate"):
            gain = scored[name][kind] - scored["posterior"][kind]
            entry[f"gain_over_{name}"] = {"mean": float(gain.mean()), "ci": _interval(gain, picks)}
        summary[kind] = entry
    facts = [
        {
            "id": split.facts[i].id,
            "month": format_month(split.facts[i].month),
            "label": split.facts[i].label,
            **{name: float(p[k]) for name, p in forecasts.items()},
        }
        for k, i in enumerate(held)
    ]
    summary["posterior_timelines_kept"] = kept
    return Backtest(month, len(fit), facts, summary, runs, seed)


@dataclass
class SBCResult:
    """Ranks of the true parameter values among posterior draws, per parameter."""

    ranks: np.ndarray  # (replicates, parameters)
    samples: int
    parameters: list[str]
    accepted: int

    def uniformity(self) -> list[dict[str, Any]]:
        """Per parameter: rank counts in SBC_BINS bins and the chi-square p-value of uniformity."""
        from scipy.stats import chi2

        rows = []
        replicates = self.ranks.shape[0]
        edges = np.linspace(0, self.samples + 1, SBC_BINS + 1)
        for j, name in enumerate(self.parameters):
            counts, _ = np.histogram(self.ranks[:, j], bins=edges)
            expected = replicates / SBC_BINS
            statistic = float(((counts - expected) ** 2 / expected).sum())
            rows.append(
                {
                    "parameter": name,
                    "counts": counts.tolist(),
                    "chi2": statistic,
                    "p": float(chi2.sf(statistic, SBC_BINS - 1)),
                }
            )
        return rows


def sbc(
    scenario: Scenario,
    replicates: int = 100,
    runs: int = 20_000,
    accept: float = 0.01,
    samples: int = 99,
    seed: int = 1,
) -> SBCResult:
    """Simulation-based calibration of rejection ABC on the scenario's facts (module docstring).

    One prior run of ``runs`` timelines serves every replicate; the synthetic records come from
    ``replicates`` further timelines (numbers ``runs ..``), each with its own prior draw. Ties at
    the acceptance threshold are all accepted; ``samples`` of the accepted draws are taken at
    random (numpy default_rng(seed)) for the rank.
    """
    total = runs + replicates
    raw = run_timelines(scenario, total, seed, use_posterior=False, keep_timelines=True)
    assert raw.timelines is not None
    facts = np.asarray(raw.timelines.facts, dtype=bool)  # (facts, timelines)
    parameters = np.asarray(raw.timelines.parameters)  # (parameters, timelines)
    pool_facts, pool_params = facts[:, :runs], parameters[:, :runs]
    rng = np.random.default_rng(seed)
    ranks = np.zeros((replicates, parameters.shape[0]), dtype=np.int64)
    accepted = 0
    for r in range(replicates):
        record = facts[:, runs + r]
        distance = (pool_facts != record[:, None]).mean(axis=0)
        threshold = np.quantile(distance, accept)
        chosen = np.flatnonzero(distance <= threshold)
        accepted += chosen.size
        draws = rng.choice(chosen, size=samples, replace=chosen.size < samples)
        truth = parameters[:, runs + r]
        below = (pool_params[:, draws] < truth[:, None]).sum(axis=1)
        ties = (pool_params[:, draws] == truth[:, None]).sum(axis=1)
        # Ties (discrete parameters) are broken at random, as SBC requires.
        ranks[r] = below + np.array([rng.integers(0, t + 1) for t in ties])
    names = [p.model.id for p in scenario.parameters]
    return SBCResult(ranks, samples, names, accepted // max(replicates, 1))
