"""CLI commands of the narrate package, registered on the main Typer app by kremlinology.cli."""

from __future__ import annotations

from typing import Annotated

import typer

DEFAULT_QUERY = "beria_detects_coup"


def register(app: typer.Typer) -> None:
    """Add this package's commands to ``app`` (imports inside commands stay lazy)."""
    app.command("chronicle")(chronicle_command)
    app.command("report")(report_command)


ScenarioOption = Annotated[str, typer.Option("--scenario", help="bundled name or folder path")]
RunsOption = Annotated[str, typer.Option("--runs", help="number of timelines")]
SeedOption = Annotated[str, typer.Option("--seed", help="random seed (0 to 2**63-1)")]
NoConditionOption = Annotated[
    bool,
    typer.Option("--no-condition", help="do not condition on the record before the divergence"),
]


def chronicle_command(
    query: Annotated[
        str, typer.Argument(help="an intervention, a catalogue id, or free text")
    ] = DEFAULT_QUERY,
    scenario: ScenarioOption = "thaw",
    runs: RunsOption = "20000",
    seed: SeedOption = "1",
    no_condition: NoConditionOption = False,
    timeline: Annotated[
        str | None, typer.Option("--timeline", help="tell this timeline (by its number)")
    ] = None,
    typical: Annotated[
        bool, typer.Option("--typical", help="the most typical timeline of the largest family")
    ] = False,
    surprising: Annotated[
        bool, typer.Option("--surprising", help="the least likely timeline that still happened")
    ] = False,
    fmt: Annotated[
        str, typer.Option("--format", help="text, markdown, bbcode, html or json")
    ] = "text",
    narrator: Annotated[
        str,
        typer.Option("--narrator", help="none, or openai: prose by a language model (see docs)"),
    ] = "none",
) -> None:
    """Tell one timeline of a what-if, month by month, beside its factual twin."""
    from kremlinology.api import whatif
    from kremlinology.cli import fail, load, parse_int, parse_runs, parse_seed, user_errors
    from kremlinology.narrate.chronicle import FORMATS
    from kremlinology.narrate.chronicle import chronicle as tell
    from kremlinology.narrate.narrator import NARRATORS

    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'")
    if narrator not in NARRATORS:
        fail(f"--narrator must be one of {', '.join(NARRATORS)}, not '{narrator}'")
    if (timeline is not None) + typical + surprising > 1:
        fail("choose at most one of --timeline, --typical and --surprising")
    n, s = parse_runs(runs), parse_seed(seed)
    k = None if timeline is None else parse_int(timeline, "--timeline", 0, n - 1)
    pick = "surprising" if surprising else "typical"
    with user_errors():
        config = None
        if narrator == "openai":
            from kremlinology.narrate.narrator import LLMConfig

            config = LLMConfig.from_env()
        result = whatif(query, load(scenario), n, s, condition=not no_condition)
        told = tell(result, timeline=k, pick=pick)
        if config is not None:
            from kremlinology.narrate.narrator import narrate

            told = narrate(told, config)
    print(told.render(fmt), end="")


def report_command(
    query: Annotated[str, typer.Argument(help="an intervention, a catalogue id, or free text")],
    out: Annotated[str, typer.Option("--out", help="folder to write the report into")],
    scenario: ScenarioOption = "thaw",
    runs: RunsOption = "20000",
    seed: SeedOption = "1",
    no_condition: NoConditionOption = False,
) -> None:
    """Write a what-if report: Markdown, forum BBCode, JSON, charts, families and chronicles."""
    from pathlib import Path

    from kremlinology.api import whatif
    from kremlinology.cli import fail, load, parse_runs, parse_seed, user_errors
    from kremlinology.narrate.report import write_report

    if not out.strip():
        fail("--out must name a folder")
    n, s = parse_runs(runs), parse_seed(seed)
    with user_errors():
        result = whatif(query, load(scenario), n, s, condition=not no_condition)
        try:
            folder = write_report(result, Path(out))
        except OSError as error:
            fail(f"cannot write the report to {out}: {error.strerror or error}")
    print(f"wrote {folder / 'report.md'}, {folder / 'report.bbcode'} and charts in {folder}")
