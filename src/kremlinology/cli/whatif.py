"""Commands that ask the twin worlds: ``whatif`` (effects of an intervention) and ``claim``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kremlinology.api import claim as run_claim
from kremlinology.cli.common import (
    ClusterOption,
    EngineOption,
    IKnowOption,
    JsonOption,
    NoConditionOption,
    QueryArgument,
    RunsOption,
    ScenarioOption,
    SeedOption,
    TimelinesOutOption,
    ask_whatif,
    computing,
    load,
    parse_runs,
    parse_seed,
    user_errors,
    with_progress,
    write_timelines,
)
from kremlinology.counterfactual.query import WhatIfResult
from kremlinology.defaults import DEFAULT_RUNS, DEFAULT_SCENARIO, DEFAULT_SEED
from kremlinology.narrate import numbers
from kremlinology.narrate.chronicle import chronicle as make_chronicle
from kremlinology.narrate.verdicts import whatif_verdict

MAX_ROWS = 20
MAX_DRIVERS = 9


def whatif_command(
    query: QueryArgument,
    scenario: ScenarioOption = DEFAULT_SCENARIO,
    runs: RunsOption = str(DEFAULT_RUNS),
    i_know: IKnowOption = False,
    seed: SeedOption = str(DEFAULT_SEED),
    no_condition: NoConditionOption = False,
    as_json: JsonOption = False,
    chronicle: Annotated[
        bool, typer.Option("--chronicle", help="also print the typical what-if chronicle")
    ] = False,
    no_drivers: Annotated[
        bool, typer.Option("--no-drivers", help="skip the drivers (found by intervention)")
    ] = False,
    engine: EngineOption = None,
    cluster: ClusterOption = None,
    timelines_out: TimelinesOutOption = None,
) -> None:
    """Answer a what-if on twin worlds: effects with intervals, drivers, divergence."""
    n, s = parse_runs(runs, i_know), parse_seed(seed)
    with user_errors(), computing(engine, cluster):
        result = ask_whatif(query, scenario, n, s, not no_condition)
        write_timelines(result.timelines, timelines_out)
        if not no_drivers:  # found here, on the same engine and cluster as the twin worlds
            result.find_drivers()
    if as_json:
        print(result.to_json(drivers=not no_drivers))
        return
    print_whatif(result, drivers=not no_drivers)
    if chronicle:
        with user_errors():
            story = make_chronicle(result, pick="typical")
        print()
        print(story.render("text"))


def print_whatif(result: WhatIfResult, drivers: bool = True) -> None:
    """Human output: the outcome table by size of change, top drivers, verdict sentences."""
    console = Console()
    matched = result.resolved.whatif
    title = matched.title if matched is not None else result.resolved.query
    console.print(f"[bold]{title}[/bold]")
    reading = result.resolved.reading
    if reading is not None:
        console.print(f"read as: {reading.text}, confidence {reading.confidence:.2f}", markup=False)
    console.print("intervention: " + " + ".join(i.text() for i in result.interventions))
    console.print(_kept_line(result))
    _print_outcomes(console, result)
    if drivers and result.drivers:
        labels = {row["id"]: row["label"] for row in result.outcomes}
        kinds = {row["id"]: row.get("kind") for row in result.outcomes}
        table = Table(
            "outcome",
            "factor",
            "kind",
            "effect",
            "95% interval",
            "",
            title="What decides it (intervening in the what-if world)",
        )
        for row in result.drivers[:MAX_DRIVERS]:
            low, high = row["ci"]
            table.add_row(
                labels.get(row["outcome"], row["outcome"]),
                row["label"],
                row["kind"],
                numbers.delta(row["effect"], kinds.get(row["outcome"]) != "number"),
                numbers.interval(low, high, kinds.get(row["outcome"]) != "number"),
                row["direction"],
            )
        console.print(table)
        method = result.to_dict()["drivers_method"]
        console.print(
            f"({method['candidates_tried']} of {method['candidates_eligible']} candidate events "
            f"and options tried on {method['timelines']:,} timelines; parameters on the kept "
            "timelines; --json lists all)"
        )
    for sentence in whatif_verdict(result):
        console.print(sentence)


def _kept_line(result: WhatIfResult) -> str:
    """How many timelines were kept, and on what condition."""
    twin = result.twin
    kept = f"{twin.kept:,} of {twin.runs:,} timelines"
    if twin.tolerance is None:
        return f"{kept}, not conditioned on the record (seed {twin.seed})"
    if twin.diverges is not None and twin.facts_used is not None:
        months = result.conditioning()["divergence_months"]
        spread = ", ".join(f"{m['month']} {m['share']:.0%}" for m in months[:3])
        return (
            f"{kept} match the record before their own divergence ({spread}; "
            f"median {int(sorted(twin.facts_used)[len(twin.facts_used) // 2])} facts, at most "
            f"{twin.tolerance} contradicted; seed {twin.seed})"
        )
    return (
        f"{kept} match the record before the divergence "
        f"({len(twin.prior_facts)} facts, at most {twin.tolerance} contradicted; "
        f"seed {twin.seed})"
    )


def _print_outcomes(console: Console, result: WhatIfResult) -> None:
    """The outcomes that changed in some timeline, largest change first (at most MAX_ROWS)."""
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
        binary = row.get("kind", "boolean") != "number"
        table.add_row(
            row["label"],
            numbers.value(row["baseline"], binary),
            numbers.value(row["whatif"], binary),
            numbers.delta(row["delta"], binary),
            numbers.interval(low, high, binary),
            numbers.share(row["changed"]),
        )
    console.print(table)
    if hidden:
        console.print(
            f"({hidden} outcomes not shown: unchanged in every timeline, or beyond the "
            f"first {MAX_ROWS}; --json lists all)"
        )


def claim_command(
    cause: Annotated[str, typer.Argument(help="event, event.option, or words naming one")],
    effect: Annotated[str, typer.Argument(help="outcome id (prefix 'not' to negate) or words")],
    scenario: ScenarioOption = DEFAULT_SCENARIO,
    runs: RunsOption = str(DEFAULT_RUNS),
    i_know: IKnowOption = False,
    seed: SeedOption = str(DEFAULT_SEED),
    no_condition: NoConditionOption = False,
    as_json: JsonOption = False,
    engine: EngineOption = None,
    cluster: ClusterOption = None,
) -> None:
    """Test a causal claim: probabilities of necessity and sufficiency, and a verdict."""
    n, s = parse_runs(runs, i_know), parse_seed(seed)
    with user_errors(), computing(engine, cluster):
        loaded = load(scenario)
        result = with_progress(
            "testing the claim on twin worlds",
            lambda update: run_claim(
                cause, effect, loaded, n, s, condition=not no_condition, progress=update
            ),
        )
    if as_json:
        print(json.dumps(result.to_dict(), allow_nan=False))
        return
    console = Console()
    console.print(
        f"claim: [bold]{result.effect.text()}[/bold] because [bold]{result.cause.text()}[/bold]"
    )
    for side, found in (("cause", result.cause.reading), ("effect", result.effect.reading)):
        if found is not None:
            console.print(
                f"{side} read as: {found['text']}, confidence {found['confidence']:.2f}",
                markup=False,
            )
    for name, part in (
        ("necessity (PN)", result.necessity),
        ("sufficiency (PS)", result.sufficiency),
    ):
        p = "n/a" if part["p"] is None else f"{part['p']:.3f}"
        low, high = part["ci"]
        console.print(f"{name}: {p} [{low:.3f}, {high:.3f}] over {part['timelines']:,} timelines")
    console.print(result.verdict())
