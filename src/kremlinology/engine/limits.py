"""The one place where numbers of timelines and seeds are validated (engine, API, CLI and web).

Contract: ``check_*`` take a value already typed by the caller (an ``int``; ``bool`` and every other
type are refused) and return it as a plain ``int``; ``parse_whole`` takes the text a user typed.
Every refusal is a ``ValueError`` whose message names the quantity, its bounds and the value::

    runs must be between 1 and 100,000,000, not 0
    --seed must be a whole number, not 'x'
"""

from __future__ import annotations

import numpy as np

MAX_RUNS = 100_000_000
"""The most timelines one question may ask for."""

MAX_SEED = 2**63 - 1
"""Seeds are the first 63-bit word of the Philox key (see ``engine.rng``)."""


def check_whole(value: object, name: str, low: int, high: int, where: str = "") -> int:
    """Return ``value`` as an int if it is a whole number (not a bool) within [low, high].

    Otherwise raise ValueError naming ``name``; ``where`` is appended to the bounds (for a limit
    that depends on the place, such as " on this server").
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"{name} must be between {low:,} and {high:,}{where}, not {number:,}")
    return number


def parse_whole(text: str, name: str, low: int, high: int) -> int:
    """Parse a whole number typed by a user (``_`` between digits allowed) within [low, high]."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not '{text}'") from None
    return check_whole(value, name, low, high)


def check_runs(runs: object, limit: int = MAX_RUNS, name: str = "runs", where: str = "") -> int:
    """Return ``runs`` if it is a whole number from 1 to ``limit``; raise ValueError otherwise."""
    return check_whole(runs, name, 1, limit, where)


def check_seed(seed: object, name: str = "seed") -> int:
    """Return ``seed`` if it is a whole number from 0 to MAX_SEED; raise ValueError otherwise."""
    return check_whole(seed, name, 0, MAX_SEED)
