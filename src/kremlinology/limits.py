"""Every bound on what a user may ask for, in one place (docs/limits.md lists them).

A scenario folder or a web request comes from a stranger: it must never make Kremlinology run
without end, fill the memory or the disk, start a process per request, or read outside what it was
given. Each constant below is the one bound of its kind; code that needs it imports it from here,
and the helpers turn an out-of-range request into a ``ValueError`` whose message names the bound.

The module knows nothing of the rest of the package, so every layer may import it.
"""

from __future__ import annotations

import math
import os

# Computation -------------------------------------------------------------------------------------

MAX_WORKERS = 64
"""Most worker processes one computation may use; requests above the machine's cores get the
cores (results never depend on the number of workers, so this only saves the machine)."""

MAX_RUNS = 100_000_000
"""Most timelines any computation may simulate (the engine's hard bound)."""

MAX_SEED = 2**63 - 1
"""Seeds are the first 63-bit word of the Philox key (see ``engine.rng``)."""

MAX_CHUNK_SIZE = 262_144
"""Most timelines simulated in one block (``chunk_size``): a block's state is held in memory at
once, so this bounds memory whatever ``runs`` is (results never depend on the block size)."""

CLI_MAX_RUNS = 5_000_000
"""Most timelines the CLI runs without ``--i-know`` (about a quarter of an hour on two cores)."""

# Scenario files ----------------------------------------------------------------------------------

MAX_FILE_BYTES = 500_000
"""Largest scenario YAML file the loader reads (7 times the largest file of the Thaw); a larger
one is refused before any of it is read. Parsing YAML with positions (ruamel.yaml's round-trip
parser) takes about 12 s of CPU per MB, so this bound keeps one file's parse near 6 s."""

MAX_SCENARIO_BYTES = 2_000_000
"""Most bytes of YAML one scenario folder may hold, all files together (14 times the Thaw's; a
folder at the limit parses in about 25 s of CPU)."""

MAX_CSV_BYTES = 8_000_000
"""Largest posterior CSV (or extra facts file) the loader reads; CSV parses fast."""

MAX_SCENARIO_FILES = 200
"""Most YAML files one scenario folder may hold."""

MAX_YAML_NODES = 500_000
"""Most values one YAML file may hold once its aliases are expanded (refuses 'billion laughs')."""

MAX_FLOW_DEPTH = 100
"""Deepest nesting of [ ] and { } in YAML (ruamel's scanner is quadratic in this depth)."""

MAX_EXPANDED_ITEMS = 20_000
"""Most items (actors, variables, events, ...) a scenario may hold after templates, offices and
other expansions are applied; an expansion that would go past it is refused."""

MAX_SPAN_MONTHS = 2400
"""Most months a scenario may span from start to end (two centuries)."""

MAX_POSTERIOR_ROWS = 1_000_000
"""Most samples a posterior CSV may hold."""

MAX_MAGNITUDE = 1e300
"""Largest absolute value a number written in a scenario may have; NaN and infinities are
refused too, so every number is finite and stays finite when compared or scaled."""

MAX_EXPRESSION_CHARS = 2000
"""Longest expression text."""

MAX_EXPRESSION_DEPTH = 40
"""Deepest nesting of an expression."""

# Messages ----------------------------------------------------------------------------------------

MAX_MESSAGE_CHARS = 400
"""Longest single error message; a longer one (say, one quoting a huge YAML value) is cut."""

MAX_VALUE_CHARS = 80
"""Longest piece of user input quoted inside an error message."""

MAX_PROBLEMS = 200
"""Most problems one scenario error lists; the rest are counted."""

# Web ---------------------------------------------------------------------------------------------

MAX_BODY_BYTES = 64_000
"""Largest request body the web server accepts; a larger one is refused (413) before it is read."""

MAX_PENDING_JOBS = 64
"""Default number of computations that may wait on the web server; more are refused with 503."""

MAX_WEB_WORKERS = 64
"""Most computations the web server runs at the same time."""

SMALL_JOB_RUNS = 5_000
"""A web computation of at most this many timelines is small: it never waits behind big ones."""


def cores() -> int:
    """The CPU cores this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_workers(workers: object, name: str = "workers") -> int:
    """Return how many worker processes to use for a request of ``workers``.

    ``workers`` must be a whole number from 1 to MAX_WORKERS (ValueError otherwise); the answer is
    at most the machine's cores, since more processes than cores only compete for them.
    """
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise ValueError(f"{name} must be a whole number, not {shorten(repr(workers))}")
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"{name} must be between 1 and {MAX_WORKERS}, not {workers:,}")
    return min(workers, cores())


def check_whole(value: object, name: str, low: int, high: int, where: str = "") -> int:
    """Return ``value`` as an int if it is a whole number (not a bool) within [low, high].

    Otherwise raise ValueError naming ``name`` and the bounds (``where`` is appended to them, for
    a bound that depends on the place, such as " on this server"). The one check of every whole
    number a user gives: runs, seeds, timelines (engine, API, CLI and web).
    """
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be a whole number, not {shorten(repr(value))}")
    number = int(value.__index__())
    if not low <= number <= high:
        raise ValueError(f"{name} must be between {low:,} and {high:,}{where}, not {number:,}")
    return number


def parse_whole(text: str, name: str, low: int, high: int) -> int:
    """Parse a whole number typed by a user (``_`` between digits allowed) within [low, high]."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not '{shorten(text)}'") from None
    return check_whole(value, name, low, high)


def check_runs(runs: object, limit: int = MAX_RUNS, name: str = "runs", where: str = "") -> int:
    """Return ``runs`` if it is a whole number from 1 to ``limit``; raise ValueError otherwise."""
    return check_whole(runs, name, 1, limit, where)


def check_seed(seed: object, name: str = "seed") -> int:
    """Return ``seed`` if it is a whole number from 0 to MAX_SEED; raise ValueError otherwise."""
    return check_whole(seed, name, 0, MAX_SEED)


def number_problem(value: object) -> str | None:
    """Why a number from a scenario is refused (not finite, or beyond MAX_MAGNITUDE), or None.

    Integers are compared exactly, so one too large for a float never reaches ``float()``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and math.isnan(value):
        return "NaN is not a number a scenario may use"
    if isinstance(value, float) and math.isinf(value):
        return "infinity is not a number a scenario may use"
    if abs(value) > MAX_MAGNITUDE:
        return f"number is out of range (beyond ±{MAX_MAGNITUDE:g})"
    return None


def shorten(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    suffix = f"... ({len(text):,} more characters)"  # at least as long as the one shown
    keep = max(0, limit - len(suffix))
    return f"{text[:keep]}... ({len(text) - keep:,} more characters)"


def message(text: str) -> str:
    """An error message cut to MAX_MESSAGE_CHARS."""
    return shorten(text, MAX_MESSAGE_CHARS)
