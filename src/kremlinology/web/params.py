"""The query parameters of the JSON API, read by dependencies into small request objects.

Parameters that depend on the server (the cap and default of ``runs``, an example query from the
catalogue) are declared here with fixed bounds and checked against the server's settings when a
request comes in; :func:`document_limits` writes the server's own values into its OpenAPI
document, so the document states exactly what the server accepts.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

from kremlinology.limits import MAX_SEED
from kremlinology.scenario.schema import WhatIf
from kremlinology.web.deps import SettingsDep
from kremlinology.web.errors import runs_over_cap
from kremlinology.web.service import MAX_QUERY_CHARS, Settings

UNSET = 0
"""``runs`` when the request names none (0 is never a valid number of runs)."""

ScenarioQ = Annotated[
    str | None,
    Query(max_length=200, description="scenario name (default: the server's scenario)"),
]
QueryQ = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="an intervention, a catalogue id, or free text",
    ),
]
RunsQ = Annotated[int, Query(ge=1, description="timelines (at most the server's cap)")]
SeedQ = Annotated[int, Query(ge=0, le=MAX_SEED, description="random seed")]
ConditionQ = Annotated[bool, Query(description="condition on the record before the divergence")]
TimelineQ = Annotated[int | None, Query(ge=0, description="a timeline (default: a typical one)")]
PickQ = Annotated[
    str, Query(max_length=40, description="how to pick a timeline when none is given")
]


@dataclass(frozen=True)
class WhatIfParams:
    """A what-if as the JSON API was asked it (runs already defaulted and capped)."""

    scenario: str | None
    q: str
    runs: int
    seed: int
    condition: bool


@dataclass(frozen=True)
class HistoryParams:
    """A fidelity report as the JSON API was asked it."""

    scenario: str | None
    runs: int
    seed: int


@dataclass(frozen=True)
class ChronicleParams:
    """A chronicle: its what-if, and which timeline to tell."""

    whatif: WhatIfParams
    timeline: int | None
    pick: str


def server_runs(runs: int, settings: Settings) -> int:
    """``runs`` or the server's default; a 422 above the server's cap."""
    if runs == UNSET:
        return settings.runs_default
    if runs > settings.max_runs:
        raise runs_over_cap(runs, settings.max_runs)
    return runs


def whatif_params(
    settings: SettingsDep,
    q: QueryQ,
    scenario: ScenarioQ = None,
    runs: RunsQ = UNSET,
    seed: SeedQ = 1,
    condition: ConditionQ = True,
) -> WhatIfParams:
    """Read a what-if's parameters (dependency)."""
    return WhatIfParams(scenario, q, server_runs(runs, settings), seed, condition)


def history_params(
    settings: SettingsDep, scenario: ScenarioQ = None, runs: RunsQ = UNSET, seed: SeedQ = 1
) -> HistoryParams:
    """Read a fidelity report's parameters (dependency)."""
    return HistoryParams(scenario, server_runs(runs, settings), seed)


def chronicle_params(
    settings: SettingsDep,
    q: QueryQ,
    scenario: ScenarioQ = None,
    runs: RunsQ = UNSET,
    seed: SeedQ = 1,
    condition: ConditionQ = True,
    timeline: TimelineQ = None,
    pick: PickQ = "typical",
) -> ChronicleParams:
    """Read a chronicle's parameters (dependency)."""
    whatif = WhatIfParams(scenario, q, server_runs(runs, settings), seed, condition)
    return ChronicleParams(whatif, timeline, pick)


WhatIfDep = Annotated[WhatIfParams, Depends(whatif_params)]
HistoryDep = Annotated[HistoryParams, Depends(history_params)]
ChronicleDep = Annotated[ChronicleParams, Depends(chronicle_params)]


def document_limits(spec: dict[str, Any], settings: Settings, catalogue: list[WhatIf]) -> None:
    """Write the server's cap and default of ``runs``, and an example query, into ``spec``."""
    cap = settings.max_runs
    for methods in spec.get("paths", {}).values():
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.setdefault("schema", {})
                if parameter.get("name") == "runs":
                    schema |= {"maximum": cap, "default": settings.runs_default}
                    schema["examples"] = [min(1000, cap)]
                    parameter["description"] = f"timelines (at most {cap:,})"
                elif parameter.get("name") == "q" and catalogue:
                    schema["examples"] = [catalogue[0].id]
