"""Confidence intervals for frequencies and paired differences."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054


def wilson(successes: float, total: float, z: float = Z95) -> tuple[float, float]:
    """Return the Wilson score interval of a proportion (0, 1 when there are no trials)."""
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1.0 + z * z / total
    centre = (p + z * z / (2.0 * total)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / total + z * z / (4.0 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: np.ndarray, z: float = Z95) -> tuple[float, float]:
    """Return a normal-approximation interval for the mean of ``values``."""
    n = values.size
    if n == 0:
        return math.nan, math.nan
    mean = float(values.mean())
    if n == 1:
        return mean, mean
    half = z * float(values.std(ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


def newcombe_paired(
    both: float, only_first: float, only_second: float, neither: float, z: float = Z95
) -> tuple[float, float]:
    """Return Newcombe's (1998, method 10) interval for p2 - p1 of paired binary outcomes.

    ``only_first`` counts pairs where the outcome holds in the first world only, ``only_second``
    in the second only. The difference is (second - first).
    """
    n = both + only_first + only_second + neither
    if n <= 0:
        return -1.0, 1.0
    p1, p2 = (both + only_first) / n, (both + only_second) / n
    l1, u1 = wilson(both + only_first, n, z)
    l2, u2 = wilson(both + only_second, n, z)
    delta = p2 - p1
    phi = _phi(both, only_first, only_second, neither)
    lower = delta - math.sqrt(
        max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    )
    upper = delta + math.sqrt(
        max(0.0, (u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2)
    )
    return max(-1.0, lower), min(1.0, upper)


def _phi(a: float, b: float, c: float, d: float) -> float:
    """The correlation of the paired outcomes, with Newcombe's continuity correction."""
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        return 0.0
    n = a + b + c + d
    core = a * d - b * c
    corrected = max(abs(core) - n / 2.0, 0.0) * (1 if core >= 0 else -1) if core != 0 else 0.0
    return corrected / math.sqrt(margins)
