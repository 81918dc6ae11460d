"""Drawing each timeline's parameter set from the priors or from posterior samples."""

from __future__ import annotations

import numpy as np

from kremlinology.engine import rng
from kremlinology.scenario import schema
from kremlinology.scenario.model import Scenario


def draw_parameters(
    scenario: Scenario, seed: int, first: int, count: int, use_posterior: bool = True
) -> np.ndarray:
    """Return a (parameters, count) array of values for timelines ``first .. first + count - 1``.

    With posterior samples (and ``use_posterior``), each timeline takes one whole sample row, chosen
    by its own draw; otherwise each parameter is drawn from its prior by inverse CDF. Either way the
    values of timeline i do not depend on ``first`` or ``count``.
    """
    values = np.empty((len(scenario.parameters), count), dtype=np.float64)
    if use_posterior and scenario.posterior is not None and len(scenario.parameters):
        rows = posterior_rows(seed, first, count, len(scenario.posterior))
        return np.ascontiguousarray(scenario.posterior[rows].T)
    for j, spec in enumerate(scenario.parameters):
        u = rng.uniforms(seed, rng.stream_id(rng.PARAMETER_DRAW, event=j), first, count)
        values[j] = prior_quantile(spec.model.prior, u)
    return values


def posterior_rows(seed: int, first: int, count: int, samples: int) -> np.ndarray:
    """Which of ``samples`` posterior rows timelines ``first .. first + count - 1`` take."""
    u = rng.uniforms(seed, rng.stream_id(rng.POSTERIOR_ROW), first, count)
    return np.minimum((u * samples).astype(np.int64), samples - 1)


def prior_quantile(prior: object, u: np.ndarray) -> np.ndarray:
    """Map uniform draws through a prior's inverse CDF (categories become codes)."""
    from scipy import special  # imported here: runs drawing from a posterior never need it

    if isinstance(prior, schema.Uniform):
        return prior.low + u * (prior.high - prior.low)
    if isinstance(prior, schema.Beta):
        return np.asarray(special.betaincinv(prior.a, prior.b, u), dtype=np.float64)
    if isinstance(prior, schema.TruncNormal):
        lo = special.ndtr((prior.low - prior.mean) / prior.sd)
        hi = special.ndtr((prior.high - prior.mean) / prior.sd)
        z = special.ndtri(lo + u * (hi - lo))
        clipped: np.ndarray = np.clip(prior.mean + prior.sd * z, prior.low, prior.high)
        return clipped
    if isinstance(prior, schema.CategoricalPrior):
        cumulative = np.cumsum(prior.probs)
        codes = np.searchsorted(cumulative / cumulative[-1], u, side="right")
        return np.minimum(codes, len(prior.probs) - 1).astype(np.float64)
    raise TypeError(f"unknown prior {prior!r}")
