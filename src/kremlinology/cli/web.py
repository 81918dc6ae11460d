"""The ``serve`` command: the web explorer and its JSON API under uvicorn."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from kremlinology.cli.common import (
    ClusterOption,
    EngineOption,
    JsonOption,
    computing,
    fail,
    parse_int,
    user_errors,
)
from kremlinology.defaults import DEFAULT_SCENARIO
from kremlinology.limits import MAX_RUNS, MAX_WEB_WORKERS
from kremlinology.web.service import Explorer, Settings
from kremlinology.web.store import default_store_path


def serve_command(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8000,
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario", metavar="NAME|PATH", help="default scenario: bundled name or folder path"
        ),
    ] = DEFAULT_SCENARIO,
    max_runs: Annotated[
        str, typer.Option("--max-runs", metavar="N", help="most timelines one request may ask for")
    ] = "50000",
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            metavar="FILE",
            help="result cache file (default ~/.cache/kremlinology/web.sqlite3)",
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", help="computations run at the same time")
    ] = 2,
    as_json: JsonOption = False,
    engine: EngineOption = None,
    cluster: ClusterOption = None,
) -> None:
    """Start the web explorer: ask what-ifs in the browser, with a JSON API (``--cluster``:
    every computation on that Dask cluster, same answers)."""
    # uvicorn, and FastAPI with Jinja2 (under web.app), are heavy libraries that only this
    # command needs: imported when it runs, so that every other command starts without them
    # (about a quarter of a second, a third of the command line's import time).
    import uvicorn

    from kremlinology.web.app import create_app

    cap = parse_int(max_runs, "--max-runs", 1, MAX_RUNS)
    if not 1 <= port <= 65535:
        fail(f"--port must be between 1 and 65535, not {port}")
    if not 1 <= workers <= MAX_WEB_WORKERS:
        fail(f"--workers must be between 1 and {MAX_WEB_WORKERS}, not {workers}")
    path = Path(store).expanduser() if store else default_store_path()
    settings = Settings(scenario=scenario, store_path=path, max_runs=cap, workers=workers)
    with ExitStack() as serving:
        with user_errors():
            # the job queue's threads start inside: they compute on this engine and cluster
            serving.enter_context(computing(engine, cluster))
            try:
                explorer = Explorer(settings)
            except OSError as error:
                fail(f"cannot open the result store {path}: {error}")
        _announce(f"http://{host}:{port}/", explorer, settings, cluster, as_json)
        uvicorn.run(create_app(explorer=explorer), host=host, port=port, log_level="info")


def _announce(
    url: str, explorer: Explorer, settings: Settings, cluster: str | None, as_json: bool
) -> None:
    """Print where the explorer listens: one JSON object under ``--json``, else one line."""
    if as_json:
        announce = {"url": url, "scenario": explorer.default_name, "max_runs": settings.max_runs}
        print(
            json.dumps(announce | {"store": str(settings.store_path), "cluster": cluster}),
            flush=True,
        )
    else:
        print(
            f"Kremlinology explorer on {url} (scenario {explorer.default_name}, "
            f"at most {settings.max_runs:,} runs, results cached in {settings.store_path})",
            flush=True,
        )
