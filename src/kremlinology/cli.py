"""The ``kremlinology`` command line. Bad input ends with one line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from kremlinology.scenario.errors import KremlinologyError, ScenarioError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Kremlinology: counterfactual history of the Soviet leadership, 1953-1964.",
)
EXIT_USAGE = 2
MAX_ROWS = 20

ScenarioOption = Annotated[str, typer.Option("--scenario", help="bundled name or folder path")]
RunsOption = Annotated[str, typer.Option("--runs", help="number of timelines")]
SeedOption = Annotated[str, typer.Option("--seed", help="random seed (0 to 2**63-1)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def fail(message: str) -> NoReturn:
    """Print one error line on stderr and exit with code 2."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(EXIT_USAGE)


def parse_int(text: str, name: str, low: int, high: int) -> int:
    """Parse a whole number option within [low, high], or fail with a clear line."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        fail(f"{name} must be a whole number, not '{text}'")
    if not low <= value <= high:
        fail(f"{name} must be between {low:,} and {high:,}, not {value:,}")
    return value


def parse_runs(text: str) -> int:
    from kremlinology.engine.simulate import MAX_RUNS

    return parse_int(text, "--runs", 1, MAX_RUNS)


def parse_seed(text: str) -> int:
    from kremlinology.engine.rng import MAX_SEED

    return parse_int(text, "--seed", 0, MAX_SEED)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the package's input errors into exit code 2 with their message (every line of it)."""
    try:
        yield
    except ScenarioError as error:
        for problem in error.problems:
            print(str(problem), file=sys.stderr)
        raise typer.Exit(EXIT_USAGE) from None
    except (KremlinologyError, ValueError) as error:
        fail(str(error))


def progress_bar(label: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """Return (callback, close) for a progress bar on stderr that appears after one second."""
    started = time.perf_counter()
    console = Console(stderr=True)
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state and time.perf_counter() - started < 1.0:
            return
        if "bar" not in state:
            state["bar"] = Progress(console=console, transient=True)
            state["bar"].start()
            state["task"] = state["bar"].add_task(label, total=total)
        state["bar"].update(state["task"], completed=done)

    def close() -> None:
        if "bar" in state:
            state["bar"].stop()

    return update, close


def load(scenario: str):  # type: ignore[no-untyped-def]
    from kremlinology.api import load_scenario

    return load_scenario(scenario)


@app.command()
def run(
    scenario: ScenarioOption = "thaw",
    runs: RunsOption = "20000",
    seed: SeedOption = "1",
    as_json: JsonOption = False,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Simulate the baseline: how often each outcome and event happens."""
    from kremlinology.api import simulate

    n, s = parse_runs(runs), parse_seed(seed)
    with user_errors():
        loaded = load(scenario)
        update, close = progress_bar("simulating")
        try:
            result = simulate(loaded, runs=n, seed=s, workers=max(1, workers), progress=update)
        finally:
            close()
    if as_json:
        print(result.to_json())
        return
    console = Console()
    console.print(
        f"[bold]{loaded.manifest.title}[/bold]: {n:,} timelines, seed {s}, "
        f"{result.raw.elapsed_s:.2f} s"
    )
    table = Table("outcome", "p", "95% interval", title="Outcomes")
    for row in result.outcome_rows():
        low, high = row["ci"]
        table.add_row(row["label"], f"{row['p']:.3f}", f"{low:.3f} - {high:.3f}")
    console.print(table)
    events = Table("event", "p", "median month", title="Events")
    for row in result.event_rows():
        events.add_row(row["label"], f"{row['p']:.3f}", row["median_month"] or "never")
    console.print(events)


@app.command()
def check(path: Annotated[str, typer.Argument(help="scenario folder or bundled name")]) -> None:
    """Validate a scenario; print every problem as file:line:col: message."""
    with user_errors():
        loaded = load(path)
    print(
        f"ok: {loaded.name} {loaded.version}: {len(loaded.actors)} actors, "
        f"{len(loaded.events)} events, {len(loaded.parameters)} parameters, "
        f"{len(loaded.outcomes)} outcomes, {len(loaded.facts)} facts, "
        f"{len(loaded.whatifs)} what-ifs"
    )


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editors)."""
    from kremlinology.scenario.schema import json_schema

    print(json.dumps(json_schema(), indent=2))


NoConditionOption = Annotated[
    bool,
    typer.Option("--no-condition", help="do not condition on the record before the divergence"),
]


@app.command()
def whatif(
    query: Annotated[str, typer.Argument(help="an intervention, a catalogue id, or free text")],
    scenario: ScenarioOption = "thaw",
    runs: RunsOption = "20000",
    seed: SeedOption = "1",
    no_condition: NoConditionOption = False,
    as_json: JsonOption = False,
    chronicle: Annotated[
        bool, typer.Option("--chronicle", help="also print the typical what-if chronicle")
    ] = False,
) -> None:
    """Answer a what-if on twin worlds: effects with intervals, drivers, divergence."""
    from kremlinology.api import whatif as run_whatif

    n, s = parse_runs(runs), parse_seed(seed)
    with user_errors():
        update, close = progress_bar("simulating twin worlds")
        try:
            result = run_whatif(
                query, load(scenario), n, s, condition=not no_condition, progress=update
            )
        finally:
            close()
    if as_json:
        print(result.to_json())
        return
    print_whatif(result)
    if chronicle:
        from kremlinology.narrate.chronicle import chronicle as make_chronicle

        with user_errors():
            story = make_chronicle(result, pick="typical")
        print()
        print(story.render("text"))


def print_whatif(result: Any) -> None:
    """Human output: the outcome table by size of change, top drivers, verdict sentences."""
    console = Console()
    twin = result.twin
    matched = result.resolved.whatif
    title = matched.title if matched is not None else result.resolved.query
    console.print(f"[bold]{title}[/bold]")
    console.print("intervention: " + " + ".join(i.text() for i in result.interventions))
    kept = f"{twin.kept:,} of {twin.runs:,} timelines"
    if twin.tolerance is None:
        console.print(f"{kept}, not conditioned on the record (seed {twin.seed})")
    else:
        console.print(
            f"{kept} match the record before the divergence "
            f"({len(twin.prior_facts)} facts, at most {twin.tolerance} contradicted; "
            f"seed {twin.seed})"
        )
    table = Table(
        "outcome",
        "baseline",
        "what-if",
        "change",
        "95% interval",
        "changed",
        title="Outcomes, largest change first",
    )
    rows = result.sorted_outcomes()
    shown = [r for r in rows if r["changed"] > 0][:MAX_ROWS]
    hidden = len(rows) - len(shown)
    for row in shown:
        low, high = row["ci"]
        table.add_row(
            row["label"],
            f"{row['baseline']:.3f}",
            f"{row['whatif']:.3f}",
            f"{row['delta']:+.3f}",
            f"{low:+.3f} .. {high:+.3f}",
            f"{row['changed']:.1%}",
        )
    console.print(table)
    if hidden:
        console.print(
            f"({hidden} outcomes not shown: unchanged in every timeline, or beyond the "
            f"first {MAX_ROWS}; --json lists all)"
        )
    if result.drivers:
        drivers = Table("outcome", "factor", "importance", title="What decides it (what-if world)")
        for row in result.drivers[:9]:
            drivers.add_row(row["outcome"], row["factor"], f"{row['importance']:.3f}")
        console.print(drivers)
    for sentence in result.verdict():
        console.print(sentence)


@app.command()
def whatifs(scenario: ScenarioOption = "thaw", as_json: JsonOption = False) -> None:
    """List the scenario's catalogue of named what-ifs."""
    with user_errors():
        loaded = load(scenario)
    if as_json:
        print(json.dumps([w.model_dump() for w in loaded.whatifs]))
        return
    table = Table("id", "title", "intervention", title=f"What-ifs of {loaded.name}")
    for entry in loaded.whatifs:
        table.add_row(entry.id, entry.title, entry.intervention)
    Console().print(table)


@app.command()
def claim(
    cause: Annotated[str, typer.Argument(help="event, event.option, or words naming one")],
    effect: Annotated[str, typer.Argument(help="outcome id (prefix 'not' to negate) or words")],
    scenario: ScenarioOption = "thaw",
    runs: RunsOption = "20000",
    seed: SeedOption = "1",
    no_condition: NoConditionOption = False,
    as_json: JsonOption = False,
) -> None:
    """Test a causal claim: probabilities of necessity and sufficiency, and a verdict."""
    from kremlinology.api import claim as run_claim

    n, s = parse_runs(runs), parse_seed(seed)
    with user_errors():
        result = run_claim(cause, effect, load(scenario), n, s, condition=not no_condition)
    if as_json:
        print(json.dumps(result.to_dict(), allow_nan=False))
        return
    console = Console()
    console.print(
        f"claim: [bold]{result.effect.text()}[/bold] because [bold]{result.cause.text()}[/bold]"
    )
    for name, part in (
        ("necessity (PN)", result.necessity),
        ("sufficiency (PS)", result.sufficiency),
    ):
        p = "n/a" if part["p"] is None else f"{part['p']:.3f}"
        low, high = part["ci"]
        console.print(f"{name}: {p} [{low:.3f}, {high:.3f}] over {part['timelines']:,} timelines")
    console.print(result.verdict())


@app.command()
def history(
    scenario: ScenarioOption = "thaw",
    runs: RunsOption = "20000",
    seed: SeedOption = "1",
    ledger: Annotated[
        str | None, typer.Option("--ledger", help="extra facts file (CSV or YAML)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """How often the baseline reproduces each dated fact of the record."""
    from kremlinology.api import history as run_history

    n, s = parse_runs(runs), parse_seed(seed)
    with user_errors():
        report = run_history(load(scenario), n, s, ledger=ledger)
    if as_json:
        print(json.dumps(report, allow_nan=False))
        return
    table = Table("month", "fact", "p", "split", title="Fidelity to the record")
    for fact in report["facts"]:  # type: ignore[attr-defined]
        table.add_row(fact["month"], fact["label"], f"{fact['p']:.3f}", fact["split"])
    console = Console()
    console.print(table)
    console.print(
        f"score {report['score']:.3f} (fit {_score(report['fit_score'])}, "
        f"held out {_score(report['holdout_score'])}) over {n:,} timelines, seed {s}"
    )


def _score(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


@app.command()
def calibrate(
    scenario: ScenarioOption = "thaw",
    runs: RunsOption = "400000",
    seed: SeedOption = "1",
    accept: Annotated[float, typer.Option(help="share of parameter sets to accept")] = 0.02,
    method: Annotated[
        str, typer.Option(help="replicates (sets judged on ~25 timelines) or timeline")
    ] = "replicates",
    replicates: Annotated[int, typer.Option(help="timelines per parameter set")] = 50,
    write: Annotated[bool, typer.Option(help="write posterior.csv into the scenario")] = True,
) -> None:
    """Fit the parameters to the record by rejection ABC; report fit and held-out scores."""
    from kremlinology.analysis.calibrate import calibrate as run_calibration
    from kremlinology.analysis.calibrate import install_posterior
    from kremlinology.analysis.fidelity import history as run_history

    n, s = parse_runs(runs), parse_seed(seed)
    if not 0 < accept <= 1:
        fail("--accept must be in (0, 1]")
    with user_errors():
        loaded = load(scenario)
        if method not in ("replicates", "timeline") or replicates < 1:
            fail("--method is replicates or timeline, and --replicates at least 1")
        result = run_calibration(
            loaded, n, s, accept, workers=os.cpu_count() or 1, method=method, replicates=replicates
        )
        prior = result.prior_report
        print(
            f"prior: score {prior['score']:.3f}, fit {_score(prior['fit_score'])}, "
            f"held out {_score(prior['holdout_score'])} ({n:,} timelines)"
        )
        print(
            f"accepted {result.accepted:,} parameter sets (distance <= {result.threshold:.3f}) "
            f"in {result.elapsed_s:.1f} s"
        )
        if write:
            install_posterior(loaded, result)
            fitted = load(str(loaded.path))
            report = run_history(fitted, 20_000, s)
            print(
                f"posterior: score {report['score']:.3f}, fit {_score(report['fit_score'])}, "
                f"held out {_score(report['holdout_score'])} (20,000 timelines)"
            )
            summary = {
                "method": method,
                "replicates": replicates if method == "replicates" else 1,
                "runs": n,
                "seed": s,
                "accept": accept,
                "accepted": result.accepted,
                "threshold": result.threshold,
                "prior": {k: prior[k] for k in ("score", "fit_score", "holdout_score")},
                "posterior": {k: report[k] for k in ("score", "fit_score", "holdout_score")},
                "scored_on": {"runs": 20_000, "seed": s},
            }
            (loaded.path / "calibration.json").write_text(
                json.dumps(summary, indent=2) + "\n", encoding="utf-8"
            )


def _register_packages() -> None:
    from kremlinology.narrate import commands as narrate_commands
    from kremlinology.web import commands as web_commands

    narrate_commands.register(app)
    web_commands.register(app)


_register_packages()
