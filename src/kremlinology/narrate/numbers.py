"""Numbers in words, one way everywhere: shares as percentages, their changes in points.

A probability is written as a percentage with one decimal (``41.2%``); a change of a probability,
and the bounds of its interval, in percentage points with a sign and one decimal
(``-29.7 points``, ``-35.1 to -24.3 points``). A number that is not a probability keeps its own
scale, with three significant figures (``5.97``, ``+0.312``). The CLI, the reports, the verdicts
and the web page all write their figures through these functions.
"""

from __future__ import annotations

POINTS = "points"
"""The unit of a change of a probability: percentage points."""


def _tidy(value: float) -> float:
    """Fold a rounded negative zero into zero, so nothing reads ``-0.0``."""
    return 0.0 if value == 0 else value


def share(value: float | None, digits: int = 1) -> str:
    """A probability as a percentage (``41.2%``); ``n/a`` for None."""
    if value is None:
        return "n/a"
    return f"{_tidy(round(value * 100, digits)):.{digits}f}%"


def points(delta: float, unit: bool = True) -> str:
    """A change of a probability in percentage points, signed (``-29.7 points``)."""
    text = f"{_tidy(round(delta * 100, 1)):+.1f}"
    return f"{text} {POINTS}" if unit else text


def points_interval(low: float, high: float) -> str:
    """An interval of a change of a probability (``-35.1 to -24.3 points``)."""
    return f"{points(low, unit=False)} to {points(high)}"


def number(value: float) -> str:
    """A number that is not a probability, three significant figures (``5.97``)."""
    return f"{_tidy(float(f'{value:.3g}')):.3g}"


def change(delta: float) -> str:
    """A change of a number that is not a probability, signed (``+0.312``)."""
    return f"{_tidy(float(f'{delta:.3g}')):+.3g}"


def value(value: float, binary: bool) -> str:
    """A probability as a share, another number as a number."""
    return share(value) if binary else number(value)


def delta(value: float, binary: bool) -> str:
    """A change: points for a probability, a signed number otherwise."""
    return points(value) if binary else change(value)


def interval(low: float, high: float, binary: bool) -> str:
    """The interval of a change: points for a probability, signed numbers otherwise."""
    return points_interval(low, high) if binary else f"{change(low)} to {change(high)}"
