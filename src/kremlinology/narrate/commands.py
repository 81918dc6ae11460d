"""CLI commands of the narrate package, registered on the main Typer app by kremlinology.cli."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to ``app`` (imports inside commands stay lazy)."""
