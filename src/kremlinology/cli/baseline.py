"""Commands about the baseline world: ``run`` (outcome and event frequencies) and ``history``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kremlinology.analysis.validation import backtest as run_backtest
from kremlinology.api import Simulation, simulate
from kremlinology.api import history as run_history
from kremlinology.cli.common import (
    ClusterOption,
    EngineOption,
    IKnowOption,
    JsonOption,
    RunsOption,
    ScenarioOption,
    SeedOption,
    TimelinesOutOption,
    WorkersOption,
    computing,
    load,
    parse_runs,
    parse_seed,
    parse_workers,
    score_text,
    user_errors,
    with_progress,
    write_timelines,
)
from kremlinology.defaults import DEFAULT_RUNS, DEFAULT_SCENARIO, DEFAULT_SEED
from kremlinology.months import parse_month
from kremlinology.narrate import numbers

AllOption = Annotated[
    bool, typer.Option("--all", help="list outcomes and events that never happen too")
]
LedgerOption = Annotated[
    str | None, typer.Option("--ledger", metavar="FILE", help="extra facts file (CSV or YAML)")
]


def run_command(
    scenario: ScenarioOption = DEFAULT_SCENARIO,
    runs: RunsOption = str(DEFAULT_RUNS),
    i_know: IKnowOption = False,
    seed: SeedOption = str(DEFAULT_SEED),
    as_json: JsonOption = False,
    workers: WorkersOption = "1",
    show_all: AllOption = False,
    engine: EngineOption = None,
    cluster: ClusterOption = None,
    timelines_out: TimelinesOutOption = None,
) -> None:
    """Simulate the baseline: how often each outcome and event happens (those that never
    happen are counted but not listed, unless --all)."""
    n, s, w = parse_runs(runs, i_know), parse_seed(seed), parse_workers(workers)
    with user_errors(), computing(engine, cluster):
        loaded = load(scenario)
        keep = True if timelines_out is not None else None
        result = with_progress(
            "simulating",
            lambda update: simulate(
                loaded, runs=n, seed=s, workers=w, progress=update, keep_timelines=keep
            ),
        )
        write_timelines(result.timelines, timelines_out)
    if as_json:
        print(result.to_json())
        return
    print_run(result, show_all)


def print_run(result: Simulation, show_all: bool = False) -> None:
    """The human output of ``run``: outcome and event tables (what never happens is counted,
    not listed, unless ``show_all``)."""
    console = Console()
    console.print(
        f"[bold]{result.scenario.manifest.title}[/bold]: {result.runs:,} timelines, "
        f"seed {result.seed}, {result.raw.elapsed_s:.2f} s"
    )
    table = Table("outcome", "share or mean", "95% interval", title="Outcomes")
    hidden = 0
    for row in result.outcome_rows():
        low, high = row["ci"]
        binary = row.get("kind") != "number"
        if binary and row["p"] == 0 and not show_all:
            hidden += 1
            continue
        table.add_row(
            row["label"],
            numbers.value(row["p"], binary),
            f"{numbers.value(low, binary)} to {numbers.value(high, binary)}",
        )
    console.print(table)
    events = Table("event", "share", "median month", title="Events")
    quiet = 0
    for row in result.event_rows():
        if row["p"] == 0 and not show_all:
            quiet += 1
            continue
        events.add_row(row["label"], numbers.share(row["p"]), row["median_month"] or "never")
    console.print(events)
    if hidden or quiet:
        console.print(
            f"({hidden} outcomes and {quiet} events that never happen in these timelines are not "
            "listed; --all lists them)"
        )


def history_command(
    scenario: ScenarioOption = DEFAULT_SCENARIO,
    runs: RunsOption = str(DEFAULT_RUNS),
    i_know: IKnowOption = False,
    seed: SeedOption = str(DEFAULT_SEED),
    ledger: LedgerOption = None,
    as_json: JsonOption = False,
    backtest: Annotated[
        bool,
        typer.Option(
            "--backtest",
            help="fit on the facts before the holdout month, score the later ones against the "
            "prior and a base rate (Brier and log scores with intervals)",
        ),
    ] = False,
    holdout: Annotated[
        str | None,
        typer.Option("--holdout", metavar="YYYY-MM", help="the backtest's holdout month"),
    ] = None,
    engine: EngineOption = None,
    cluster: ClusterOption = None,
) -> None:
    """How often the baseline reproduces each dated fact of the record (``--backtest``: how well
    a fit to the earlier facts forecasts the later ones)."""
    n, s = parse_runs(runs, i_know), parse_seed(seed)
    if backtest:
        with user_errors(), computing(engine, cluster):
            _backtest(scenario, n, s, holdout, as_json)
        return
    with user_errors(), computing(engine, cluster):
        report = with_progress(
            "simulating the baseline",
            lambda update: run_history(load(scenario), n, s, ledger=ledger, progress=update),
        )
    if as_json:
        print(json.dumps(report, allow_nan=False))
        return
    table = Table("month", "fact", "p", "split", title="Fidelity to the record")
    for fact in report["facts"]:  # type: ignore[attr-defined]
        table.add_row(fact["month"], fact["label"], f"{fact['p']:.3f}", fact["split"])
    console = Console()
    console.print(table)
    console.print(
        f"score {report['score']:.3f} (fit {score_text(report['fit_score'])}, "
        f"held out {score_text(report['holdout_score'])}) over {n:,} timelines, seed {s}"
    )


def _backtest(scenario: str, runs: int, seed: int, holdout: str | None, as_json: bool) -> None:
    """``history --backtest``: the table of held-out facts and the three forecasts' scores."""
    with user_errors():
        month = None if holdout is None else parse_month(holdout)
        found = run_backtest(load(scenario), month, runs, seed).to_dict()
    if as_json:
        print(json.dumps(found, allow_nan=False))
        return
    print_backtest(found, runs, seed)


def print_backtest(found: dict[str, Any], runs: int, seed: int) -> None:
    """Print a backtest (``analysis.validation.Backtest.to_dict``): the held-out facts' three
    forecasts and the scores with their intervals."""
    console = Console()
    table = Table("month", "held-out fact", "posterior", "prior", "base rate", title="Backtest")
    for fact in found["facts"]:
        table.add_row(
            fact["month"],
            fact["label"],
            f"{fact['posterior']:.3f}",
            f"{fact['prior']:.3f}",
            f"{fact['base_rate']:.3f}",
        )
    console.print(table)
    for kind in ("brier", "log"):
        part = found["scores"][kind]
        cells = [
            f"{name} {part[name]['mean']:.3f} "
            f"[{part[name]['ci'][0]:.3f}, {part[name]['ci'][1]:.3f}]"
            for name in ("posterior", "prior", "base_rate")
        ]
        console.print(f"{kind} score (lower is better): " + "; ".join(cells), markup=False)
    console.print(
        f"fit on {found['fit_facts']} facts before {found['holdout_month']}, "
        f"{found['heldout_facts']} held out; {runs:,} timelines, seed {seed}"
    )
