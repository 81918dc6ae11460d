"""What every command shares: option types, input parsing, error handling and progress.

Contract: bad input never raises out of a command. ``fail`` prints one ``error: ...`` line on
stderr and exits with code 2; ``user_errors`` does the same for the package's input errors
(``ScenarioError`` prints each of its ``file:line:col: message`` problems on its own line). Under
``--json`` the error is one JSON object on stdout instead, ``{"error": message, "position":
{"file", "line", "col"} | null, "problems": [...]}``, with the same exit code 2; a command line
that does not parse (an unknown option, a missing argument) is answered the same way
(:class:`JsonErrorsCommand`).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import typer.core
from rich.console import Console
from rich.progress import Progress

from kremlinology import limits
from kremlinology.api import WhatIf, load_scenario, whatif
from kremlinology.engine.cluster import use_cluster
from kremlinology.engine.compiled import ENGINES, resolve_engine, use_engine
from kremlinology.limits import (
    CLI_MAX_RUNS,
    MAX_RUNS,
    MAX_SEED,
    MAX_WORKERS,
    check_workers,
    parse_whole,
)
from kremlinology.narrate.exports import write_table
from kremlinology.scenario.errors import KremlinologyError, Problem, ScenarioError
from kremlinology.scenario.model import Scenario

EXIT_USAGE = 2
T = TypeVar("T")

ScenarioOption = Annotated[
    str, typer.Option("--scenario", metavar="NAME|PATH", help="bundled name or folder path")
]
RunsOption = Annotated[
    str,
    typer.Option(
        "--runs",
        metavar="N",
        help=f"number of timelines (at most {CLI_MAX_RUNS:,}; 20_000 is fine)",
    ),
]
IKnowOption = Annotated[
    bool,
    typer.Option(
        "--i-know", help=f"allow more than {CLI_MAX_RUNS:,} timelines, up to {MAX_RUNS:,}"
    ),
]
WorkersOption = Annotated[
    str,
    typer.Option(
        "--workers", metavar="N", help=f"worker processes (1 to {MAX_WORKERS}; at most the cores)"
    ),
]
SeedOption = Annotated[
    str, typer.Option("--seed", metavar="SEED", help="random seed (0 to 2**63-1)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]
NoConditionOption = Annotated[
    bool,
    typer.Option("--no-condition", help="do not condition on the record before the divergence"),
]
EngineOption = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="compiled, numpy or reference (default: compiled when numba imports and the "
        "scenario's kernel is compiled, else numpy; all give the same results)",
    ),
]
ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        metavar="ADDRESS|local:N",
        help="run on a Dask cluster: a scheduler address, or local:N worker processes "
        "(same results as on one machine; see docs/scale.md)",
    ),
]
TimelinesOutOption = Annotated[
    str | None,
    typer.Option(
        "--timelines-out",
        metavar="FILE",
        help="also write one row per timeline (and world) to FILE.parquet or FILE.csv",
    ),
]
QueryArgument = Annotated[str, typer.Argument(help="an intervention, a catalogue id, or free text")]


_JSON_ERRORS: ContextVar[bool] = ContextVar("json_errors", default=False)
"""Set by :class:`JsonErrorsCommand` for the length of one command's run."""


def json_wanted() -> bool:
    """Whether the running command was given ``--json``."""
    return _JSON_ERRORS.get()


def error_object(message: str, problems: list[Problem] | None = None) -> dict[str, Any]:
    """The JSON form of an error: its message, the first problem's position, every problem."""
    listed = problems or []
    first = listed[0].position if listed else None
    return {
        "error": limits.message(message),
        "position": None
        if first is None
        else {"file": first.file, "line": first.line, "col": first.col},
        "problems": [
            {
                "file": p.position.file,
                "line": p.position.line,
                "col": p.position.col,
                "message": p.message,
            }
            for p in listed
        ],
    }


def fail(message: str) -> NoReturn:
    """Print one error line on stderr (under ``--json``: the error object on stdout) and exit
    with code 2."""
    if json_wanted():
        print(json.dumps(error_object(message)))
    else:
        print(f"error: {limits.message(message)}", file=sys.stderr)
    raise typer.Exit(EXIT_USAGE)


class JsonErrorsCommand(typer.core.TyperCommand):
    """A command whose command-line errors come as the JSON error object when ``--json`` is
    among its arguments (otherwise click's usage message, exit code 2)."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        """Parse the command line; under ``--json`` a usage error is the JSON error object."""
        wants_json = "--json" in args
        try:
            return super().make_context(info_name, args, parent, **extra)
        except Exception as error:
            # click's UsageError (Typer vendors click, so matched by its shape: a usage error
            # is the one with exit code 2 and a formatted message)
            usage = getattr(error, "exit_code", None) == EXIT_USAGE
            if not (wants_json and usage and hasattr(error, "format_message")):
                raise
            print(json.dumps(error_object(error.format_message())))
            raise typer.Exit(EXIT_USAGE) from None

    def invoke(self, ctx: Any) -> Any:
        """Run the command with ``json_wanted()`` telling whether it was given ``--json``."""
        token = _JSON_ERRORS.set(bool(ctx.params.get("as_json")))
        try:
            return super().invoke(ctx)
        finally:
            _JSON_ERRORS.reset(token)


def parse_int(text: str, name: str, low: int, high: int) -> int:
    """Parse a whole number option within [low, high] (``_`` allowed), or fail with a clear line."""
    try:
        return parse_whole(text, name, low, high)
    except ValueError as error:
        fail(str(error))


def parse_runs(text: str, i_know: bool = False) -> int:
    """Parse ``--runs``: a whole number from 1 to CLI_MAX_RUNS, or with ``--i-know`` to the
    engine's MAX_RUNS (limits.py); fail otherwise."""
    value = parse_int(text, "--runs", 1, MAX_RUNS)
    if value > CLI_MAX_RUNS and not i_know:
        fail(
            f"--runs {value:,} is more than {CLI_MAX_RUNS:,} timelines (it would take long and "
            "use much memory); add --i-know to run it anyway"
        )
    return value


def parse_workers(text: str) -> int:
    """Parse ``--workers``: 1 to limits.MAX_WORKERS, then at most the machine's cores."""
    return check_workers(parse_int(text, "--workers", 1, MAX_WORKERS))


def parse_seed(text: str) -> int:
    """Parse ``--seed``: a whole number from 0 to the engine's MAX_SEED, or fail."""
    return parse_int(text, "--seed", 0, MAX_SEED)


def parse_engine(text: str | None) -> str | None:
    """Parse ``--engine`` (None: the default engine), or fail with a clear line."""
    if text is None:
        return None
    if text not in ENGINES:
        fail(f"--engine must be one of {', '.join(ENGINES)}, not '{text}'")
    try:
        return resolve_engine(text)
    except ValueError as error:
        fail(str(error))


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the package's input errors into exit code 2 with their message (every line of it)."""
    try:
        yield
    except ScenarioError as error:
        if json_wanted():
            first = str(error.problems[0]) if error.problems else str(error)
            found = error_object(first, list(error.problems))
            found["more_problems"] = error.more
            print(json.dumps(found))
            raise typer.Exit(EXIT_USAGE) from None
        for problem in error.problems:
            print(str(problem), file=sys.stderr)
        if error.more:
            print(f"... and {error.more:,} more problems", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE) from None
    except (KremlinologyError, ValueError) as error:
        fail(str(error))


@contextmanager
def computing(engine: str | None, cluster: str | None) -> Iterator[None]:
    """Within the block, every run is on the kernel ``--engine`` names (:func:`parse_engine`)
    and on the Dask cluster ``--cluster`` names (``engine.cluster.use_cluster``; None: this
    machine); a local cluster is shut down when the block ends. Entered inside
    :func:`user_errors`, a cluster that cannot be reached is an input error (exit code 2)."""
    kernel = parse_engine(engine)
    with use_engine(kernel), use_cluster(cluster):
        yield


def progress_bar(label: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """Return (callback, close) for a progress bar on stderr that appears after one second
    (only when stderr is a terminal)."""
    started = time.perf_counter()
    console = Console(stderr=True)
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if not console.is_terminal:  # a pipe or a log file gets no bar (nor its blank line)
            return
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


def with_progress(label: str, work: Callable[[Callable[[int, int], None]], T]) -> T:
    """Run ``work(update)`` with a progress bar labelled ``label`` (:func:`progress_bar`),
    closed however the work ends; return what it returns."""
    update, close = progress_bar(label)
    try:
        return work(update)
    finally:
        close()


def ask_whatif(query: str, scenario: str, runs: int, seed: int, condition: bool) -> WhatIf:
    """Answer a what-if with the API, a progress bar on stderr while the twin worlds run."""
    return with_progress(
        "simulating twin worlds",
        lambda update: whatif(
            query, load(scenario), runs, seed, condition=condition, progress=update
        ),
    )


def load(scenario: str) -> Scenario:
    """Load a scenario by bundled name or folder path (errors as in ``load_scenario``)."""
    return load_scenario(scenario)


def score_text(value: Any) -> str:
    """A score with three decimals, or ``n/a`` when there is none."""
    return "n/a" if value is None else f"{value:.3f}"


def write_timelines(frame_of: Callable[[], Any], target: str | None) -> None:
    """Write ``frame_of()`` to ``--timelines-out`` when it was given (Parquet or CSV by its
    suffix, whole or not at all); fail with a clear line when it cannot be written."""
    if target is None:
        return
    path = Path(target).expanduser()
    try:
        write_table(frame_of(), path)
    except OSError as error:
        fail(f"cannot write {path}: {error.strerror or error}")
    except ValueError as error:
        fail(str(error))
