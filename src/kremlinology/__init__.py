"""Kremlinology: a counterfactual-history simulator.

Import costs nothing beyond this module: the public functions load their machinery when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kremlinology.version import __version__

__all__ = ["__version__", "claim", "history", "load_scenario", "simulate", "whatif"]

if TYPE_CHECKING:
    from kremlinology.api import claim, history, load_scenario, simulate, whatif


def __getattr__(name: str) -> Any:
    """The API's entry points, imported on first use (a documented lazy import: the package root
    stays cheap to import, and every subpackage imports it first)."""
    if name in ("load_scenario", "simulate", "history", "whatif", "claim"):
        from kremlinology import api

        return getattr(api, name)
    raise AttributeError(name)
