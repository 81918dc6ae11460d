"""The Python API: the same engine the CLI and the web page use, with friendly entry points."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kremlinology.analysis.outcomes import SimulationResult
from kremlinology.engine.rng import check_seed
from kremlinology.engine.simulate import DEFAULT_CHUNK, check_runs, run_timelines
from kremlinology.engine.state import Plan
from kremlinology.scenario.loader import load_scenario as _load
from kremlinology.scenario.model import Scenario

DEFAULT_RUNS = 20_000


def load_scenario(name_or_path: str | Path = "thaw") -> Scenario:
    """Load a bundled scenario by name (``"thaw"``) or a scenario folder by path.

    Raises ``UnknownScenarioError`` or ``ScenarioError`` (whose message lists every problem as
    ``file:line:col: message``).
    """
    return _load(name_or_path)


def _scenario(scenario: Scenario | str | Path) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


def simulate(
    scenario: Scenario | str | Path = "thaw",
    runs: int = DEFAULT_RUNS,
    seed: int = 1,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    workers: int = 1,
    use_posterior: bool = True,
    keep_timelines: bool | None = None,
    plan: Plan | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate ``runs`` timelines of a scenario with one ``seed``.

    The same arguments always give the same result, whatever ``chunk_size`` and ``workers``.
    Raises ValueError for runs or a seed out of range.
    """
    loaded = _scenario(scenario)
    runs, seed = check_runs(runs), check_seed(seed)
    if chunk_size < 1 or workers < 1:
        raise ValueError("chunk_size and workers must be at least 1")
    raw = run_timelines(
        loaded, runs, seed, plan, chunk_size, workers, use_posterior, keep_timelines, progress
    )
    return SimulationResult(loaded, raw)
