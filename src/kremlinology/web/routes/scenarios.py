"""JSON API: the scenarios a server offers, one scenario described, its what-if catalogue."""

from typing import Any

from fastapi import APIRouter

from kremlinology.web.deps import ExplorerDep
from kremlinology.web.errors import user_errors
from kremlinology.web.models import ERRORS, CatalogueOut, ScenarioEntry, ScenarioOut
from kremlinology.web.params import ScenarioQ
from kremlinology.web.service import describe_scenario

router = APIRouter(tags=["scenarios"])


@router.get("/api/scenarios", response_model=list[ScenarioEntry])
def api_scenarios(explorer: ExplorerDep) -> Any:
    """The scenarios this server offers, and whether each one loads."""
    return explorer.scenario_list()


@router.get("/api/scenario", response_model=None, responses={200: {"model": ScenarioOut}, **ERRORS})
def api_scenario(explorer: ExplorerDep, scenario: ScenarioQ = None) -> Any:
    """A scenario: actors with their attributes, events with sources, facts, catalogue."""
    with user_errors():
        return describe_scenario(explorer.scenario(scenario))


@router.get("/api/whatifs", response_model=None, responses={200: {"model": CatalogueOut}, **ERRORS})
def api_whatifs(explorer: ExplorerDep, scenario: ScenarioQ = None) -> Any:
    """The what-if catalogue (``kremlinology whatifs --json``)."""
    with user_errors():
        loaded = explorer.scenario(scenario)
        return {"scenario": loaded.describe(), "whatifs": [w.model_dump() for w in loaded.whatifs]}
