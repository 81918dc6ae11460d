"""``why``: the actual-cause chain of one outcome in one timeline of a what-if."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from kremlinology.api import why as run_why
from kremlinology.cli.common import (
    ClusterOption,
    EngineOption,
    JsonOption,
    NoConditionOption,
    QueryArgument,
    ScenarioOption,
    SeedOption,
    computing,
    fail,
    load,
    parse_int,
    parse_runs,
    parse_seed,
    user_errors,
)
from kremlinology.defaults import DEFAULT_SCENARIO, DEFAULT_SEED
from kremlinology.narrate.causes import chain_lines

WHY_RUNS = 1000


def why_command(
    query: QueryArgument,
    outcome: Annotated[
        str, typer.Argument(help="outcome id, or a category: leader_1960.khrushchev")
    ],
    scenario: ScenarioOption = DEFAULT_SCENARIO,
    timeline: Annotated[
        str | None,
        typer.Option(
            "--timeline",
            metavar="N",
            help="this timeline (default: the first kept one where the outcome holds)",
        ),
    ] = None,
    world: Annotated[str, typer.Option("--world", help="whatif or factual")] = "whatif",
    runs: Annotated[
        str, typer.Option("--runs", metavar="N", help="timelines of the twin run")
    ] = str(WHY_RUNS),
    seed: SeedOption = str(DEFAULT_SEED),
    no_condition: NoConditionOption = False,
    as_json: JsonOption = False,
    engine: EngineOption = None,
    cluster: ClusterOption = None,
) -> None:
    """Why an outcome happened in one timeline: the events without which it would not have
    (each blocked alone on the timeline's twin, same draws), linked into a chain."""
    if world not in ("whatif", "factual"):
        fail(f"--world must be whatif or factual, not '{world}'")
    n, s = parse_runs(runs), parse_seed(seed)
    k = None if timeline is None else parse_int(timeline, "--timeline", 0, n - 1)
    with user_errors(), computing(engine, cluster):
        found = run_why(
            query,
            outcome,
            load(scenario),
            n,
            s,
            timeline=k,
            world=world,
            condition=not no_condition,
        )
    data = found.to_dict()
    if as_json:
        print(json.dumps(data, allow_nan=False))
        return
    print(
        f"Why '{data['label']}' (value {data['value']:g}) in timeline {data['timeline']} of the "
        f"{'what-if' if world == 'whatif' else 'factual'} world ({data['events_tested']} events "
        "before it tested, each blocked alone):"
    )
    for line in chain_lines(found.scenario, data):
        print(f"  {line}")
