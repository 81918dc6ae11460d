"""The ``kremlinology`` command line: the Typer app, built from one module per group of commands.

``build_app`` assembles the app explicitly from :data:`COMMANDS`; no module registers itself on
import. Each command module imports the core (``api``, ``narrate``, ``web``) and is imported by
nothing but this package. Bad input ends with one line on stderr and exit code 2
(:mod:`kremlinology.cli.common`).

To add a command: write a function in the module of its group (or a new module) and add a
``(name, function)`` row to :data:`COMMANDS`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from kremlinology.cli import audit, baseline, calibrate, scenarios, stories, web, whatif, why
from kremlinology.cli.common import JsonErrorsCommand
from kremlinology.processes import Terminated, stop_on_sigterm
from kremlinology.version import __version__

HELP = "Kremlinology: counterfactual history of the Soviet leadership, 1953-1964."

COMMANDS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("run", baseline.run_command),
    ("check", scenarios.check_command),
    ("schema", scenarios.schema_command),
    ("whatif", whatif.whatif_command),
    ("whatifs", scenarios.whatifs_command),
    ("claim", whatif.claim_command),
    ("why", why.why_command),
    ("audit", audit.audit_command),
    ("history", baseline.history_command),
    ("calibrate", calibrate.calibrate_command),
    ("chronicle", stories.chronicle_command),
    ("report", stories.report_command),
    ("serve", web.serve_command),
)
"""Every command, in the order ``--help`` lists them."""


def _version(value: bool) -> None:
    if value:
        print(f"kremlinology {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Kremlinology: counterfactual history of the Soviet leadership, 1953-1964."""


def build_app() -> typer.Typer:
    """Return a new Typer app carrying every command of :data:`COMMANDS`, with ``--version``
    and shell completion (``--install-completion``, ``--show-completion``)."""
    app = typer.Typer(
        add_completion=True,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        help=HELP,
    )
    app.callback()(_root)
    for name, command in COMMANDS:
        app.command(name, cls=JsonErrorsCommand)(command)
    return app


app = build_app()
"""The app the console entry point runs (tests drive it with Typer's CliRunner)."""


def main() -> None:
    """Console entry point: run the app. Ctrl-C ends with 'interrupted' and exit code 130,
    SIGTERM with 'terminated' and 143, each after the same clean-ups (worker processes ended,
    staging folders removed: kremlinology.processes)."""
    stop_on_sigterm()
    try:
        app()
    except Terminated:
        print("terminated", file=sys.stderr)
        _leave(Terminated.CODE)
    except SystemExit as done:
        if done.code == 130:  # Typer's answer to Ctrl-C (it catches the KeyboardInterrupt)
            print("interrupted", file=sys.stderr)
            _leave(130)
        raise


def _leave(code: int) -> None:
    """Exit at once after a stop: the clean-ups ran as the stop unwound the command, and Python
    3.11's exit hook for process pools can race a pool that was just stopped (it wakes the pool's
    thread through a pipe that thread is closing, and prints an ignored OSError)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
