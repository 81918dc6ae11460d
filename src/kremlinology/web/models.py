"""The JSON objects of the web API (the CLI's ``--json`` objects), as pydantic models.

They document the answers in the OpenAPI document at ``/openapi.json``; ``Loose`` models allow the
extra keys a result may carry.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kremlinology.limits import MAX_SEED
from kremlinology.scenario.schema import WhatIf
from kremlinology.web.service import MAX_QUERY_CHARS


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorOut(BaseModel):
    detail: str = Field(description="the message the CLI prints after 'error: '")


class ScenarioIdentity(Loose):
    name: str
    version: str
    sha256: str


class OutcomeEffect(Loose):
    id: str
    label: str
    baseline: float
    whatif: float
    delta: float
    ci: list[float] = Field(description="95% interval of the paired change")
    changed: float = Field(description="share of twin pairs whose value differs")


class Driver(Loose):
    outcome: str
    factor: str
    kind: str
    effect: float
    ci: list[float]
    method: str


class DivergencePoint(Loose):
    month: str
    share: float


class WhatIfOut(Loose):
    """The object of ``kremlinology whatif --json``."""

    scenario: ScenarioIdentity
    package_version: str
    query: str
    matched: dict[str, str] | None
    interventions: list[str]
    divergence_month: str
    runs: int
    conditioned_runs: int
    conditioning: dict[str, Any]
    seed: int
    elapsed_s: float
    outcomes: list[OutcomeEffect]
    drivers: list[Driver]
    divergence: list[DivergencePoint]
    admissibility: list[dict[str, Any]]


class FactShare(Loose):
    id: str
    month: str
    label: str
    p: float = Field(description="share of baseline timelines that reproduce the fact")
    split: str


class HistoryOut(Loose):
    """The object of ``kremlinology history --json``."""

    runs: int
    seed: int
    facts: list[FactShare]
    score: float | None
    fit_score: float | None
    holdout_score: float | None


class ChronicleEntry(Loose):
    month: str
    event: str
    option: str | None = None
    text: str
    departure: bool = False


class ChronicleOut(Loose):
    """One timeline told month by month, in the what-if world and in its factual twin."""

    timeline: int
    query: str
    interventions: list[str]
    divergence_month: str
    whatif: list[ChronicleEntry]
    factual: list[ChronicleEntry]


class FamilyOut(Loose):
    """A family of similar what-if timelines, with the chronicle of its representative."""

    family: dict[str, Any]
    chronicle: ChronicleOut | None


class CatalogueOut(Loose):
    """The what-if catalogue of a scenario (``kremlinology whatifs --json``)."""

    scenario: ScenarioIdentity
    whatifs: list[WhatIf]


class ScenarioEntry(BaseModel):
    name: str
    title: str
    default: bool
    loads: bool
    error: str | None


class ScenarioOut(Loose):
    scenario: ScenarioIdentity
    title: str
    description: str
    start: str
    end: str
    actors: list[dict[str, Any]]
    events: list[dict[str, Any]]
    facts: list[dict[str, Any]]
    whatifs: list[dict[str, Any]]


class JobStatus(BaseModel):
    id: str | None = Field(description="the job's id; null when the result was already cached")
    kind: str
    state: Literal["queued", "running", "done", "failed"]
    stage: str
    progress: float = Field(description="estimated share done, 0 to 1")
    position: int = Field(description="queued jobs that start before this one")
    elapsed_s: float
    estimated: bool = Field(description="false while progress within a stage cannot be estimated")
    error: str | None
    error_kind: str | None = Field(description="'input' (fix the request) or 'internal'")
    result_url: str = Field(description="the JSON API call that returns the result")
    page_url: str | None = Field(description="the shareable page of the result")


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["whatif", "history", "chronicle"] = "whatif"
    scenario: str | None = Field(None, max_length=200)
    q: str = Field("", max_length=MAX_QUERY_CHARS, description="what-if query (not for history)")
    runs: int | None = Field(None, ge=1)
    seed: int = Field(1, ge=0, le=MAX_SEED)
    condition: bool = True
    timeline: int | None = Field(None, ge=0)
    pick: str = Field("typical", max_length=40)


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "bad input: the CLI's message"},
    404: {"model": ErrorOut, "description": "unknown scenario, job or file"},
    422: {"model": ErrorOut, "description": "a parameter of the wrong type or out of range"},
    413: {"model": ErrorOut, "description": "the request body is too large"},
    503: {"model": ErrorOut, "description": "too many jobs waiting (see Retry-After)"},
}
