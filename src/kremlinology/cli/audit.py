"""``audit``: the coherence audit of a what-if's worlds or of the baseline (exit 1 on findings)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kremlinology.analysis.audit import AuditReport
from kremlinology.api import AUDIT_RUNS
from kremlinology.api import audit as run_audit
from kremlinology.cli.common import (
    ClusterOption,
    EngineOption,
    JsonOption,
    NoConditionOption,
    RunsOption,
    ScenarioOption,
    SeedOption,
    computing,
    fail,
    load,
    parse_runs,
    parse_seed,
    user_errors,
)
from kremlinology.defaults import DEFAULT_SCENARIO, DEFAULT_SEED

EXIT_FOUND = 1
"""Exit code when a count is not zero, so that CI can run the audit."""


def audit_command(
    query: Annotated[
        str | None,
        typer.Argument(help="an intervention, a catalogue id, or free text (or use --baseline)"),
    ] = None,
    scenario: ScenarioOption = DEFAULT_SCENARIO,
    runs: RunsOption = str(AUDIT_RUNS),
    seed: SeedOption = str(DEFAULT_SEED),
    baseline: Annotated[
        bool, typer.Option("--baseline", help="audit the baseline instead of a what-if")
    ] = False,
    no_condition: NoConditionOption = False,
    as_json: JsonOption = False,
    engine: EngineOption = None,
    cluster: ClusterOption = None,
) -> None:
    """Audit a what-if's worlds for incoherence: events fired with an actor out of play,
    sentences naming someone absent, forced firings at the end of a window. Exits 1 on any.
    (The audit reads a log of every firing, which the NumPy kernel keeps: it runs on that
    kernel whatever --engine says; --cluster runs its blocks on the cluster, same report.)"""
    if baseline == (query is not None):
        fail("give a QUERY to audit a what-if, or --baseline (not both)")
    n, s = parse_runs(runs), parse_seed(seed)
    with user_errors(), computing(engine, cluster):
        report = run_audit(query, load(scenario), n, s, condition=not no_condition)
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print_report(report)
    if not report.clean:
        raise typer.Exit(EXIT_FOUND)


def print_report(report: AuditReport) -> None:
    """Human output: the three counts, then examples of what was found."""
    console = Console()
    console.print(
        f"[bold]audit of {report.query}[/bold]: {report.kept:,} of {report.runs:,} timelines "
        f"(seed {report.seed})"
    )
    counts = Table("check", "count", title="Coherence")
    counts.add_row("firings with an actor out of play", f"{report.firings_out_of_play:,}")
    counts.add_row("sentences naming someone absent", f"{report.sentences_naming_absent:,}")
    counts.add_row("forced firings at the end of a window", f"{report.forced_at_window_end:,}")
    console.print(counts)
    if report.examples:
        table = Table("world", "timeline", "month", "event", "actor", "sentence", title="Examples")
        for row in report.examples:
            table.add_row(
                row["world"],
                str(row["timeline"]),
                row["month"],
                row["event"],
                row["actor"] or "",
                row["text"],
            )
        console.print(table)
    console.print("clean" if report.clean else "incoherences found")
