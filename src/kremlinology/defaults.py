"""Defaults shared by every face (CLI, Python API, web): named here once, imported everywhere.

A leaf module: it imports nothing from the package.
"""

DEFAULT_SCENARIO = "thaw"
"""The bundled scenario used when a caller names none."""

DEFAULT_RUNS = 20_000
"""Timelines per question when a caller names no number."""

DEFAULT_SEED = 1
"""Random seed when a caller names none."""

DEFAULT_WHATIF = "beria_detects_coup"
"""The catalogue what-if told by ``chronicle`` when no query is given."""
