"""Pydantic models of the scenario files: the shape of each section before names are resolved."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Month = Annotated[str, Field(pattern=r"^\d{4}-\d{2}$", description="a month, YYYY-MM")]
Expr = Annotated[
    str | float | bool,
    Field(description="an expression (docs/scenario-format.md#expressions)"),
]
Source = Annotated[
    str,
    Field(
        pattern=r"^(ledger|seed|pub|dispute|doc):\S.*$",
        description="ledger:<id>, seed:<file>, pub:<publication>, dispute:<topic> or doc:<page>",
    ),
]


class Strict(BaseModel):
    """Refuses unknown keys, so a misspelt key is an error rather than silently ignored, and
    NaN and infinities (also written as text, ``"inf"``), which no scenario number may be."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Manifest(Strict):
    name: Id
    version: str
    title: str
    description: str = ""
    start: Month
    end: Month
    authors: list[str] = []
    posterior: str | None = Field(None, description="a CSV of fitted parameter samples")
    holdout_from: Month | None = Field(
        None, description="facts from this month on are held out of calibration by default"
    )


class Actor(Strict):
    id: Id
    name: str
    kind: Literal["person", "institution", "state"]
    attributes: dict[str, Any] = {}
    sources: list[Source] = []


class Variable(Strict):
    id: Id
    label: str = ""
    type: Literal["number", "boolean", "categorical"]
    initial: float | bool | str
    min: float | None = None
    max: float | None = None
    values: list[Id] | Literal["actors"] | None = None
    sources: list[Source] = []


class Uniform(Strict):
    dist: Literal["uniform"]
    low: float
    high: float


class Beta(Strict):
    dist: Literal["beta"]
    a: Annotated[float, Field(gt=0)]
    b: Annotated[float, Field(gt=0)]


class TruncNormal(Strict):
    dist: Literal["truncnormal"]
    mean: float
    sd: Annotated[float, Field(gt=0)]
    low: float
    high: float


class CategoricalPrior(Strict):
    dist: Literal["categorical"]
    values: Annotated[list[Id], Field(min_length=1)]
    probs: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=1)]


Prior = Annotated[Uniform | Beta | TruncNormal | CategoricalPrior, Field(discriminator="dist")]


class Parameter(Strict):
    id: Id
    label: str = ""
    prior: Prior
    sources: list[Source] = []


class Derived(Strict):
    id: Id
    label: str = ""
    expr: Expr


class Option(Strict):
    id: Id
    label: str = ""
    weight: Expr = 1.0
    effects: dict[str, Expr] = {}
    narrate: str | None = None


class Trigger(Strict):
    on: Id
    delay: Annotated[int, Field(ge=0, le=600)] = 0


class Event(Strict):
    id: Id
    label: str
    window: Annotated[list[Month], Field(min_length=2, max_length=2)] | None = None
    when: Expr = True
    hazard: Expr | None = None
    trigger: Trigger | None = None
    once: bool = True
    actors: list[Id] = []
    effects: dict[str, Expr] = {}
    options: list[Option] = []
    sources: list[Source] = []
    narrate: str | None = None


class Outcome(Strict):
    id: Id
    label: str
    expr: Expr
    at: Month | Literal["end"] = "end"
    sources: list[Source] = []


class Fact(Strict):
    id: Id
    month: Month
    tolerance: Annotated[int, Field(ge=0, le=120)] = 0
    label: str
    condition: Expr
    sources: list[Source] = []
    split: Literal["fit", "holdout"] | None = None


class WhatIf(Strict):
    id: Id
    title: str
    description: str
    aliases: list[str] = []
    intervention: str
    sources: list[Source] = []


SECTIONS: dict[str, type[Strict]] = {
    "actors": Actor,
    "variables": Variable,
    "parameters": Parameter,
    "derived": Derived,
    "events": Event,
    "outcomes": Outcome,
    "facts": Fact,
    "whatifs": WhatIf,
}


class ContentFile(Strict):
    """Any scenario file other than the manifest: a mapping of sections, each a list."""

    actors: list[Actor] = []
    variables: list[Variable] = []
    parameters: list[Parameter] = []
    derived: list[Derived] = []
    events: list[Event] = []
    outcomes: list[Outcome] = []
    facts: list[Fact] = []
    whatifs: list[WhatIf] = []


def json_schema() -> dict[str, Any]:
    """Return one JSON Schema that accepts a manifest or a content file, for editors."""
    _, defs = models_json_schema(
        [(Manifest, "validation"), (ContentFile, "validation")], ref_template="#/$defs/{model}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Kremlinology scenario file",
        "oneOf": [{"$ref": "#/$defs/Manifest"}, {"$ref": "#/$defs/ContentFile"}],
        **defs,
    }
