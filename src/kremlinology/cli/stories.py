"""Commands that tell a what-if in words: ``chronicle`` (one timeline) and ``report`` (a folder)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

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
    ask_whatif,
    computing,
    fail,
    parse_int,
    parse_runs,
    parse_seed,
    user_errors,
)
from kremlinology.counterfactual.query import WhatIfResult
from kremlinology.defaults import DEFAULT_RUNS, DEFAULT_SCENARIO, DEFAULT_SEED, DEFAULT_WHATIF
from kremlinology.narrate.causes import chain_lines
from kremlinology.narrate.chronicle import FORMATS, Chronicle
from kremlinology.narrate.chronicle import chronicle as tell
from kremlinology.narrate.exports import aeon_csv, timelinejs
from kremlinology.narrate.narrator import NARRATORS, LLMConfig, narrate
from kremlinology.narrate.posts import DEFAULT_POST_SIZE
from kremlinology.narrate.report import bb_options, write_report

TimelineOption = Annotated[
    str | None, typer.Option("--timeline", metavar="N", help="tell this timeline (by its number)")
]
TypicalOption = Annotated[
    bool, typer.Option("--typical", help="the most typical timeline of the largest family")
]
SurprisingOption = Annotated[
    bool, typer.Option("--surprising", help="the least likely timeline that still happened")
]
FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="text, markdown, bbcode, html, json, timelinejs (TimelineJS 3 JSON) or aeon (CSV)",
    ),
]


def _timelinejs(result: WhatIfResult, told: Chronicle) -> str:
    return json.dumps(timelinejs(result, told), ensure_ascii=False) + "\n"


EXPORTS: dict[str, Callable[[WhatIfResult, Chronicle], str]] = {
    "timelinejs": _timelinejs,
    "aeon": aeon_csv,
}
"""Chronicle formats of other timeline tools (``narrate.exports``)."""
NarratorOption = Annotated[
    str,
    typer.Option("--narrator", help="none, or openai: prose by a language model (see docs)"),
]


def chronicle_command(
    query: QueryArgument = DEFAULT_WHATIF,
    scenario: ScenarioOption = DEFAULT_SCENARIO,
    runs: RunsOption = str(DEFAULT_RUNS),
    i_know: IKnowOption = False,
    seed: SeedOption = str(DEFAULT_SEED),
    no_condition: NoConditionOption = False,
    timeline: TimelineOption = None,
    typical: TypicalOption = False,
    surprising: SurprisingOption = False,
    fmt: FormatOption = "text",
    narrator: NarratorOption = "none",
    as_json: JsonOption = False,
    causes: Annotated[
        bool, typer.Option("--causes", help="add the why-chain of its headline outcome")
    ] = False,
    engine: EngineOption = None,
    cluster: ClusterOption = None,
) -> None:
    """Tell one timeline of a what-if, month by month, beside its factual twin
    (``--json``: the same as ``--format json``)."""
    if as_json:
        fmt = "json"
    if fmt not in (*FORMATS, *EXPORTS):
        fail(f"--format must be one of {', '.join((*FORMATS, *EXPORTS))}, not '{fmt}'")
    if narrator not in NARRATORS:
        fail(f"--narrator must be one of {', '.join(NARRATORS)}, not '{narrator}'")
    if (timeline is not None) + typical + surprising > 1:
        fail("choose at most one of --timeline, --typical and --surprising")
    n, s = parse_runs(runs, i_know), parse_seed(seed)
    k = None if timeline is None else parse_int(timeline, "--timeline", 0, n - 1)
    pick = "surprising" if surprising else "typical"
    with user_errors(), computing(engine, cluster):
        config = LLMConfig.from_env() if narrator == "openai" else None
        result = ask_whatif(query, scenario, n, s, not no_condition)
        told = tell(result, timeline=k, pick=pick, causes=causes)
        if config is not None:
            told = narrate(told, config)
    if fmt in EXPORTS:
        print(EXPORTS[fmt](result, told), end="")
        return
    print(told.render(fmt), end="")
    if told.causes and fmt != "json":
        for found in told.causes:
            print(f"\nWhy this happened in this world ({found['label']}):")
            for line in chain_lines(result.scenario, found):
                print(f"  {line}")


def report_command(
    query: QueryArgument,
    out: Annotated[
        str, typer.Option("--out", metavar="FOLDER", help="folder to write the report into")
    ],
    scenario: ScenarioOption = DEFAULT_SCENARIO,
    runs: RunsOption = str(DEFAULT_RUNS),
    i_know: IKnowOption = False,
    seed: SeedOption = str(DEFAULT_SEED),
    no_condition: NoConditionOption = False,
    as_json: JsonOption = False,
    post_size: Annotated[
        int,
        typer.Option(
            "--post-size",
            metavar="CHARS",
            help="largest forum post, in characters (2,000 to 200,000): the BBCode is also "
            "written as numbered posts in posts/",
        ),
    ] = DEFAULT_POST_SIZE,
    image_base: Annotated[
        str | None,
        typer.Option(
            "--image-base",
            metavar="URL",
            help="absolute address where the PNG charts will be put (https://...), for the "
            "BBCode's images",
        ),
    ] = None,
    engine: EngineOption = None,
    cluster: ClusterOption = None,
) -> None:
    """Write a what-if report: Markdown, forum BBCode (whole, and cut into posts), JSON, charts,
    families and chronicles."""
    if not out.strip():
        fail("--out must name a folder")
    n, s = parse_runs(runs, i_know), parse_seed(seed)
    with user_errors(), computing(engine, cluster):
        bb_options(post_size, image_base)  # refuse bad options before simulating
        result = ask_whatif(query, scenario, n, s, not no_condition)
        try:
            folder = write_report(result, Path(out), post_size=post_size, image_base=image_base)
        except OSError as error:
            fail(f"cannot write the report to {out}: {error.strerror or error}")
    if as_json:
        written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        print(json.dumps({"folder": str(folder), "files": written}))
        return
    posts = len(list((folder / "posts").glob("*.bbcode")))
    print(
        f"wrote {folder / 'report.md'}, {folder / 'report.bbcode'} ({posts} forum posts in "
        f"{folder / 'posts'}) and charts in {folder}"
    )
