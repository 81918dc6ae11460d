"""The Python API: the same engine the CLI and the web page use, with friendly entry points.

Results share one vocabulary. On a simulation (:class:`Simulation`) and on a what-if answer
(:class:`WhatIf`) alike, ``.outcomes()``, ``.events()`` and ``.timelines()`` return pandas
DataFrames and ``.plot()`` draws the outcome chart (a matplotlib Figure); a what-if answer's
``.outcomes`` is also the list of rows of its JSON (:class:`Rows`: call it for the DataFrame).
Every result has an HTML display for Jupyter. :func:`compare` puts two what-ifs side by side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kremlinology import limits
from kremlinology.analysis.audit import AuditReport
from kremlinology.analysis.audit import audit as count_incoherences
from kremlinology.analysis.drivers import Headline, outcome_months, parameter_rows
from kremlinology.analysis.drivers import rank as rank_drivers
from kremlinology.analysis.effects import outcome_columns
from kremlinology.analysis.fidelity import history as run_history
from kremlinology.analysis.fidelity import read_facts
from kremlinology.analysis.outcomes import SimulationResult
from kremlinology.analysis.tables import rows_frame, timeline_table
from kremlinology.counterfactual.audit import baseline_worlds, whatif_worlds
from kremlinology.counterfactual.catalogue import resolve_query
from kremlinology.counterfactual.claims import ClaimResult, test_claim
from kremlinology.counterfactual.interventions import divergence_month, to_plan
from kremlinology.counterfactual.query import WhatIfResult, run_whatif
from kremlinology.counterfactual.why import CauseChain
from kremlinology.counterfactual.why import why as explain_why
from kremlinology.defaults import DEFAULT_RUNS, DEFAULT_SCENARIO, DEFAULT_SEED, DEFAULT_WHATIF
from kremlinology.engine.simulate import DEFAULT_CHUNK, run_timelines
from kremlinology.engine.state import Plan
from kremlinology.limits import check_runs, check_seed
from kremlinology.narrate.charts import outcome_chart
from kremlinology.narrate.chronicle import Chronicle
from kremlinology.narrate.chronicle import chronicle as tell
from kremlinology.narrate.plots import comparison_html, simulation_chart
from kremlinology.narrate.posts import DEFAULT_POST_SIZE
from kremlinology.narrate.report import write_report
from kremlinology.narrate.templates import Narrator
from kremlinology.narrate.verdicts import claim_html, claim_verdict, whatif_html, whatif_verdict
from kremlinology.scenario.loader import load_scenario as _load
from kremlinology.scenario.model import Scenario

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


class Rows(list[dict[str, Any]]):
    """Rows of a result, as in its JSON (a list of dicts), that give a DataFrame when called:
    ``answer.outcomes`` is the list, ``answer.outcomes()`` the table (``analysis.tables``)."""

    def __call__(self) -> pd.DataFrame:
        """The rows as a DataFrame indexed by id (an interval as ``ci_low``, ``ci_high``)."""
        return rows_frame(self)

    def _repr_html_(self) -> str:
        return str(self().to_html(float_format=lambda x: f"{x:.3f}"))


@dataclasses.dataclass
class Simulation(SimulationResult):
    """A baseline run as the API gives it: ``outcomes()``, ``events()``, ``timelines()`` and
    ``drivers()`` as DataFrames, and ``plot()``."""

    def plot(self) -> Figure:
        """A bar chart of how often each outcome happens, with 95% intervals."""
        return simulation_chart(self)

    def timelines(self) -> pd.DataFrame:
        """One row per timeline (world ``baseline``): parameters, outcomes, each event's first
        month and option, in the columns a what-if's ``timelines()`` has
        (``analysis.tables.timeline_table``). Raises ValueError when the run kept aggregates
        only (pass ``keep_timelines=True``)."""
        kept = self.raw.timelines
        if kept is None:
            raise ValueError(
                "this run kept streaming aggregates only; rerun with keep_timelines=True"
            )
        worlds = [("baseline", kept.outcomes, kept.first, kept.option)]
        return timeline_table(self.scenario, worlds, np.arange(self.runs), kept.parameters)

    def drivers(self, top: int = 5) -> pd.DataFrame:
        """The parameters that drive each outcome of the baseline: per outcome that varies, its
        ``top`` parameters by the top-minus-bottom-quarter contrast with its 95% interval, and
        the first-order index with a bootstrap interval (``analysis.drivers``). A parameter's
        draws are random inputs, so the contrast is an effect, not an association. Events are
        drivers only under intervention: ask a what-if (its ``drivers()``). Raises ValueError
        when the run kept aggregates only."""
        kept = self.raw.timelines
        if kept is None:
            raise ValueError(
                "this run kept streaming aggregates only; rerun with keep_timelines=True"
            )
        months = outcome_months(self.scenario)
        owners = {o.id: i for i, o in enumerate(self.scenario.outcomes)}
        headline = [
            Headline(column, months[owners[column.id.split(".", 1)[0]]])
            for column in outcome_columns(self.scenario, kept.outcomes)
            if column.values.var() > 0
        ]
        rows = parameter_rows(self.scenario, headline, kept.parameters, seed=self.seed)
        return rows_frame(rank_drivers(rows, headline, top))


@dataclasses.dataclass
class WhatIf(WhatIfResult):
    """A what-if answer as the API gives it: the result's data, with its words attached.

    ``outcomes`` and ``drivers`` are :class:`Rows`: lists of dicts that
    give a DataFrame when called. ``events()`` and ``timelines()`` are DataFrames of the paired
    worlds; ``plot()`` draws baseline against what-if.
    """

    def __post_init__(self) -> None:
        self.outcomes = Rows(self.outcomes)

    @property
    def drivers(self) -> Rows:  # type: ignore[override]
        """The ranked drivers (found when first asked for), as :class:`Rows`:
        ``answer.drivers()`` is their DataFrame (factor, kind, effect, interval, method)."""
        return Rows(super().drivers)

    def verdict(self, limit: int = 3) -> list[str]:
        """A few plain sentences on the largest changes (``narrate.verdicts``)."""
        return whatif_verdict(self, limit)

    def events(self) -> pd.DataFrame:
        """Per event: how often it fired in the baseline and in the what-if world of the paired
        timelines, the change and its 95% interval (the ``events`` of the JSON).

        Raises ValueError when the run kept no per-timeline events (very large runs)."""
        rows = self.event_rows()
        if not rows:
            raise ValueError(
                "this what-if kept no per-timeline events (a run this large keeps"
                " aggregates only); ask for fewer timelines"
            )
        return rows_frame(rows)

    def timelines(self) -> pd.DataFrame:
        """One row per kept timeline and world (``baseline``, ``whatif``): parameters, outcomes,
        each event's first month and option (``analysis.tables.timeline_table``)."""
        twin = self.twin
        if twin.factual.first.shape[1] != twin.kept:
            raise ValueError("this what-if kept no per-timeline events; ask for fewer timelines")
        worlds = [
            ("baseline", twin.factual.outcomes, twin.factual.first, twin.factual.option),
            ("whatif", twin.whatif.outcomes, twin.whatif.first, twin.whatif.option),
        ]
        return timeline_table(self.scenario, worlds, twin.timelines, twin.parameters)

    def plot(self) -> Figure:
        """Baseline against what-if for the headline outcomes, with 95% intervals."""
        return outcome_chart(self)

    def _repr_html_(self) -> str:
        return whatif_html(self)


@dataclasses.dataclass
class Claim(ClaimResult):
    """A claim's test as the API gives it: PN and PS, with the verdict sentence attached."""

    def verdict(self) -> str:
        """One sentence on whether the cause was necessary, and sufficient (``narrate``)."""
        return claim_verdict(self)

    def _repr_html_(self) -> str:
        return claim_html(self)

    def to_dict(self) -> dict[str, Any]:
        """The result's data and its verdict (the CLI's ``claim --json`` object)."""
        return {**super().to_dict(), "verdict": self.verdict()}


def _fields(result: Any) -> dict[str, Any]:
    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}


def auto_workers(workers: int, runs: int) -> int:
    """0: one process per core (at most 4) when the run is big enough to gain, else 1; otherwise
    ``workers`` as limits.check_workers allows (ValueError below 1 or above its maximum)."""
    if workers == 0:
        return max(1, min(limits.cores(), 4)) if runs >= 4096 else 1
    return limits.check_workers(workers)


def load_scenario(name_or_path: str | Path = DEFAULT_SCENARIO) -> Scenario:
    """Load a bundled scenario by name (default ``DEFAULT_SCENARIO``) or a folder by path.

    Raises ``UnknownScenarioError`` or ``ScenarioError`` (whose message lists every problem as
    ``file:line:col: message``).
    """
    return _load(name_or_path)


def _scenario(scenario: Scenario | str | Path) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


def simulate(
    scenario: Scenario | str | Path = DEFAULT_SCENARIO,
    runs: int = DEFAULT_RUNS,
    seed: int = DEFAULT_SEED,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    workers: int = 1,
    use_posterior: bool = True,
    keep_timelines: bool | None = None,
    plan: Plan | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Simulation:
    """Simulate ``runs`` timelines of a scenario with one ``seed``.

    The same arguments always give the same result, whatever ``chunk_size`` and ``workers``.
    Raises ValueError for runs or a seed out of range.
    """
    loaded = _scenario(scenario)
    runs, seed = check_runs(runs), check_seed(seed)
    limits.check_runs(chunk_size, limits.MAX_CHUNK_SIZE, "chunk_size")
    workers = limits.check_workers(workers)
    raw = run_timelines(
        loaded, runs, seed, plan, chunk_size, workers, use_posterior, keep_timelines, progress
    )
    return Simulation(loaded, raw)


def whatif(
    query: str,
    scenario: Scenario | str | Path = DEFAULT_SCENARIO,
    runs: int = DEFAULT_RUNS,
    seed: int = DEFAULT_SEED,
    *,
    condition: bool = True,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> WhatIf:
    """Answer a what-if on twin worlds: an intervention, a catalogue id or free text.

    Returns a WhatIf (a WhatIfResult with ``verdict()``) with paired effects, drivers,
    divergence profile and admissibility. Raises InterventionError/QueryError for a query that
    does not parse or match, ValueError for runs or a seed out of range.
    """
    loaded = _scenario(scenario)
    workers = auto_workers(workers, runs)
    found = run_whatif(
        loaded, query, check_runs(runs), check_seed(seed), condition, workers, progress
    )
    return WhatIf(**_fields(found))


def why(
    query: str,
    outcome: str,
    scenario: Scenario | str | Path = DEFAULT_SCENARIO,
    runs: int = 1000,
    seed: int = DEFAULT_SEED,
    *,
    timeline: int | None = None,
    world: str = "whatif",
    condition: bool = True,
) -> CauseChain:
    """Why ``outcome`` happened in one timeline of a what-if: its actual-cause chain.

    Each event that fired before the outcome was read is blocked alone on the timeline's twin
    (same draws); the events without which it would have been different are linked into a chain
    (``counterfactual.why``). ``timeline`` defaults to the first kept one where the outcome
    holds. Raises WhyError for an unknown outcome or world, TimelineError for a timeline not kept.
    """
    loaded = _scenario(scenario)
    found = run_whatif(loaded, query, check_runs(runs), check_seed(seed), condition, 1)
    return explain_why(found, outcome, timeline, world)


def claim(
    cause: str,
    effect: str,
    scenario: Scenario | str | Path = DEFAULT_SCENARIO,
    runs: int = DEFAULT_RUNS,
    seed: int = DEFAULT_SEED,
    *,
    condition: bool = True,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Claim:
    """Test "EFFECT because CAUSE": probabilities of necessity and sufficiency with intervals.

    Raises ClaimError when the cause or effect names nothing clearly enough.
    """
    loaded = _scenario(scenario)
    workers = auto_workers(workers, runs)
    found = test_claim(
        loaded,
        cause,
        effect,
        check_runs(runs),
        check_seed(seed),
        condition,
        workers=workers,
        progress=progress,
    )
    return Claim(**_fields(found))


def history(
    scenario: Scenario | str | Path = DEFAULT_SCENARIO,
    runs: int = DEFAULT_RUNS,
    seed: int = DEFAULT_SEED,
    *,
    ledger: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """Share of baseline timelines reproducing each dated fact, and the score (their mean)."""
    loaded = _scenario(scenario)
    extra = read_facts(ledger, loaded) if ledger is not None else None
    return run_history(loaded, check_runs(runs), check_seed(seed), extra, progress=progress)


# -- chronicles and reports (kremlinology.narrate) -------------------------------------------


def _answer(
    query: str | WhatIfResult,
    scenario: Scenario | str | Path,
    runs: int,
    seed: int,
    condition: bool,
) -> WhatIfResult:
    if isinstance(query, str):
        return whatif(query, scenario, runs, seed, condition=condition)
    return query


def chronicle(
    query: str | WhatIfResult = DEFAULT_WHATIF,
    scenario: Scenario | str | Path = DEFAULT_SCENARIO,
    runs: int = DEFAULT_RUNS,
    seed: int = DEFAULT_SEED,
    *,
    condition: bool = True,
    timeline: int | None = None,
    pick: str = "typical",
) -> Chronicle:
    """Tell one timeline of a what-if in both worlds, as dated entries.

    ``query`` is a what-if query (answered with ``scenario``, ``runs``, ``seed``) or a
    WhatIfResult already computed. ``timeline`` picks a kept timeline by index; otherwise ``pick``
    is ``"typical"`` (representative of the largest family) or ``"surprising"`` (least likely).
    Render with ``.render("text" | "markdown" | "bbcode" | "html" | "json")``.
    """
    return tell(_answer(query, scenario, runs, seed, condition), timeline=timeline, pick=pick)


def report(
    query: str | WhatIfResult,
    out_dir: str | Path,
    scenario: Scenario | str | Path = DEFAULT_SCENARIO,
    runs: int = DEFAULT_RUNS,
    seed: int = DEFAULT_SEED,
    *,
    condition: bool = True,
    post_size: int = DEFAULT_POST_SIZE,
    image_base: str | None = None,
) -> Path:
    """Write a what-if report (Markdown, BBCode, JSON, PNG and SVG charts, and the BBCode cut
    into forum posts of at most ``post_size`` characters, images under ``image_base`` when
    given) into ``out_dir``.

    The folder appears whole or not at all; an earlier report there is replaced. Returns it.
    """
    return write_report(
        _answer(query, scenario, runs, seed, condition),
        Path(out_dir),
        post_size=post_size,
        image_base=image_base,
    )


AUDIT_RUNS = 1_000


def audit(
    query: str | None,
    scenario: Scenario | str | Path = "thaw",
    runs: int = AUDIT_RUNS,
    seed: int = 1,
    *,
    condition: bool = True,
) -> AuditReport:
    """Audit the coherence of a what-if's worlds (or of the baseline, with ``query`` None).

    Counts firings with an actor out of play, chronicle sentences naming someone absent, and forced
    firings at or after the end of an event's window (see ``analysis.audit``); ``report.clean`` is
    true when every count is zero.
    """
    loaded = _scenario(scenario)
    runs, seed = check_runs(runs), check_seed(seed)
    if query is None:
        worlds = baseline_worlds(loaded, runs, seed)
    else:
        resolved = resolve_query(query, loaded)
        plan = to_plan(resolved.interventions, loaded)
        divergence = divergence_month(resolved.interventions, loaded)
        worlds = whatif_worlds(loaded, plan, divergence, runs, seed, condition)
    return count_incoherences(loaded, worlds, Narrator(loaded).sentence, query or "baseline")


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Two what-ifs of one scenario side by side: ``table()`` is a DataFrame with one row per
    outcome, each what-if's baseline, what-if value and change with its 95% interval, and the
    difference of the changes (``b`` minus ``a``)."""

    a: WhatIfResult
    b: WhatIfResult

    def rows(self) -> list[dict[str, Any]]:
        """One dict per outcome present in both answers, in the scenario's order.

        The interval of the difference treats the two answers as independent; two what-ifs
        with the same seed share their random draws, so it is then on the wide side.
        """
        mine = {row["id"]: row for row in self.b.outcomes}
        found = []
        for left in self.a.outcomes:
            right = mine.get(left["id"])
            if right is None:
                continue
            half_a = (left["ci"][1] - left["ci"][0]) / 2
            half_b = (right["ci"][1] - right["ci"][0]) / 2
            half = (half_a**2 + half_b**2) ** 0.5
            difference = right["delta"] - left["delta"]
            found.append(
                {
                    "id": left["id"],
                    "label": left["label"],
                    "binary": left.get("kind", "boolean") != "number",
                    "baseline_a": left["baseline"],
                    "whatif_a": left["whatif"],
                    "delta_a": left["delta"],
                    "ci_a": list(left["ci"]),
                    "baseline_b": right["baseline"],
                    "whatif_b": right["whatif"],
                    "delta_b": right["delta"],
                    "ci_b": list(right["ci"]),
                    "difference": difference,
                    "ci": [difference - half, difference + half],
                }
            )
        return found

    def table(self) -> pd.DataFrame:
        """:meth:`rows` as a DataFrame indexed by outcome id (``ci`` as ``ci_low``, ``ci_high``)."""
        return rows_frame(self.rows())

    def _repr_html_(self) -> str:
        return comparison_html(self.a, self.b, self.rows())


def compare(a: WhatIfResult, b: WhatIfResult) -> Comparison:
    """Put two what-if answers of the same scenario side by side (see :class:`Comparison`).

    Raises ValueError when they are answers about different scenarios (or versions of one).
    """
    if a.scenario.sha256 != b.scenario.sha256:
        raise ValueError(
            f"these what-ifs are about different scenarios ({a.scenario.name} "
            f"{a.scenario.version} and {b.scenario.name} {b.scenario.version}); compare answers "
            "about one scenario"
        )
    return Comparison(a, b)
