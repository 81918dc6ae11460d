"""Commands for scenario authors: ``check``, ``schema`` and the ``whatifs`` catalogue."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kremlinology.cli.common import JsonOption, ScenarioOption, load, user_errors
from kremlinology.defaults import DEFAULT_SCENARIO
from kremlinology.scenario.schema import json_schema


def check_command(
    path: Annotated[str, typer.Argument(help="scenario folder or bundled name")],
    as_json: JsonOption = False,
) -> None:
    """Validate a scenario; print every problem as file:line:col: message."""
    with user_errors():
        loaded = load(path)
    if as_json:
        counts = {
            "actors": len(loaded.actors),
            "events": len(loaded.events),
            "parameters": len(loaded.parameters),
            "outcomes": len(loaded.outcomes),
            "facts": len(loaded.facts),
            "whatifs": len(loaded.whatifs),
        }
        print(json.dumps({"ok": True, "scenario": loaded.describe(), "counts": counts}))
        return
    print(
        f"ok: {loaded.name} {loaded.version}: {len(loaded.actors)} actors, "
        f"{len(loaded.events)} events, {len(loaded.parameters)} parameters, "
        f"{len(loaded.outcomes)} outcomes, {len(loaded.facts)} facts, "
        f"{len(loaded.whatifs)} what-ifs"
    )


def schema_command(as_json: JsonOption = False) -> None:
    """Print the JSON Schema of scenario files (for editors); ``--json``: on one line."""
    print(json.dumps(json_schema(), indent=None if as_json else 2))


def whatifs_command(
    scenario: ScenarioOption = DEFAULT_SCENARIO, as_json: JsonOption = False
) -> None:
    """List the scenario's catalogue of named what-ifs."""
    with user_errors():
        loaded = load(scenario)
    if as_json:
        entries = [w.model_dump() for w in loaded.whatifs]
        print(json.dumps({"scenario": loaded.describe(), "whatifs": entries}))
        return
    table = Table("id", "title", "intervention", title=f"What-ifs of {loaded.name}")
    for entry in loaded.whatifs:
        table.add_row(entry.id, entry.title, entry.intervention)
    Console().print(table)
