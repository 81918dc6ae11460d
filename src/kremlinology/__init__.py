"""Kremlinology: a counterfactual-history simulator.

Import costs nothing beyond this module: the public functions load their machinery when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kremlinology.version import __version__

__all__ = [
    "__version__",
    "audit",
    "chronicle",
    "claim",
    "compare",
    "history",
    "load_scenario",
    "report",
    "simulate",
    "whatif",
    "why",
]

API = tuple(name for name in __all__ if name != "__version__")
"""The functions of :mod:`kremlinology.api` that the package root offers (``__all__`` is kept
literal for the tools that read it)."""

if TYPE_CHECKING:
    from kremlinology.api import (
        audit,
        chronicle,
        claim,
        compare,
        history,
        load_scenario,
        report,
        simulate,
        whatif,
        why,
    )


def __getattr__(name: str) -> Any:
    """The API's entry points, imported on first use (a documented lazy import: the package root
    stays cheap to import, and every subpackage imports it first)."""
    if name in API:
        from kremlinology import api

        return getattr(api, name)
    raise AttributeError(f"module 'kremlinology' has no attribute '{name}'")


def __dir__() -> list[str]:
    """What ``dir(kremlinology)`` lists: the API and the version."""
    return sorted(__all__)
