"""Turning a user's query into interventions: the language, a catalogue id, or free text.

Free text is matched against each catalogue entry's title, aliases and id with rapidfuzz's
token-based scores after dropping filler words; a weak or ambiguous match is refused with the
closest candidates, never silently guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from kremlinology.counterfactual.interventions import (
    Intervention,
    InterventionError,
    check_consistent,
    looks_like_intervention,
    parse_interventions,
    split_top_level,
)
from kremlinology.counterfactual.reading import (
    Reading,
    ReadingError,
    catalogue_readings,
    choose_reading,
    parsed_readings,
)
from kremlinology.scenario.model import Scenario
from kremlinology.scenario.schema import WhatIf

ACCEPT = 72.0
"""Lowest score (0-100) a free-text match needs."""
MARGIN = 4.0
"""How far the best entry must lead the runner-up."""

_FILLER = {
    "what",
    "if",
    "had",
    "has",
    "have",
    "the",
    "a",
    "an",
    "of",
    "in",
    "on",
    "to",
    "and",
    "would",
    "happened",
    "happen",
    "been",
    "be",
    "was",
    "were",
    "did",
    "do",
    "does",
    "instead",
    "s",
    "his",
    "her",
    "their",
    "its",
    "by",
    "at",
    "for",
    "with",
    "than",
    "then",
    "that",
    "this",
    "there",
}


class QueryError(InterventionError):
    """A query that matches no catalogue entry well enough."""


@dataclass(frozen=True)
class ResolvedQuery:
    """A query and what it resolved to."""

    query: str
    interventions: list[Intervention]
    whatif: WhatIf | None
    score: float | None = None
    reading: Reading | None = None
    """How free text was read (None for an id, an intervention or a combination of them)."""


def normalise(text: str) -> str:
    """Lower-case words without punctuation or filler, in order."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("_", " "))
    return " ".join(w for w in words if w not in _FILLER)


def score(query: str, entry: WhatIf) -> float:
    """Return how well a normalised query matches a catalogue entry (0-100)."""
    texts = [entry.title, entry.id, *entry.aliases]
    best = 0.0
    for text in texts:
        target = normalise(text)
        if not target or not query:
            continue
        best = max(
            best, fuzz.token_set_ratio(query, target) * 0.6 + fuzz.WRatio(query, target) * 0.4
        )
    return best


def rank(query: str, scenario: Scenario) -> list[tuple[float, WhatIf]]:
    """Return catalogue entries with their scores, best first."""
    normalised = normalise(query)
    scored = [(score(normalised, entry), entry) for entry in scenario.whatifs]
    return sorted(scored, key=lambda pair: -pair[0])


def resolve_query(query: str, scenario: Scenario) -> ResolvedQuery:
    """Resolve a query; raise InterventionError (bad language) or QueryError (no good match).

    A query is an intervention, a catalogue id, several of these joined by ``+``
    (``no_plot + do(famine @ 2000-06)``), or free text matched against the catalogue.
    """
    text = query.strip()
    if not text:
        raise QueryError("empty query")
    by_id = {entry.id: entry for entry in scenario.whatifs}
    parts = [p.strip() for p in split_top_level(text)] if "+" in text else [text]
    if len(parts) > 1:
        return _combined(text, parts, by_id, scenario)
    if looks_like_intervention(text):
        return ResolvedQuery(text, parse_interventions(text, scenario), None)
    if text in by_id:
        entry = by_id[text]
        return ResolvedQuery(text, parse_interventions(entry.intervention, scenario), entry, 100.0)
    return read(text, scenario)


def read(text: str, scenario: Scenario) -> ResolvedQuery:
    """Read free text as a catalogue entry or as parsed interventions (``reading``); raise
    QueryError with the closest readings when none is clear."""
    ranked = rank(text, scenario)
    candidates = (
        catalogue_readings(text, scenario, ranked[:5]) + parsed_readings(text, scenario)[:5]
    )
    if not candidates:
        raise QueryError(
            f"'{text}' matches nothing in this scenario (it has no what-if catalogue and names no "
            "event); write an intervention instead"
        )
    try:
        reading = choose_reading(text, candidates)
    except ReadingError as error:
        raise QueryError(str(error)) from None
    return ResolvedQuery(
        text, reading.interventions, reading.whatif, reading.confidence * 100.0, reading
    )


def _combined(
    text: str, parts: list[str], by_id: dict[str, WhatIf], scenario: Scenario
) -> ResolvedQuery:
    """Catalogue ids and interventions joined by ``+``: all of their interventions together."""
    items: list[Intervention] = []
    for part in parts:
        if not part:
            raise QueryError(f"'{text}': an empty part between two '+'")
        if looks_like_intervention(part):
            items += parse_interventions(part, scenario)
        elif part in by_id:
            items += parse_interventions(by_id[part].intervention, scenario)
        else:
            close = [entry.id for _score, entry in rank(part, scenario)[:3]]
            hint = f"; closest what-ifs: {', '.join(close)}" if close else ""
            raise QueryError(
                f"'{part}' is neither a what-if id nor an intervention (parts joined by '+' "
                f"must be one or the other){hint}"
            )
    check_consistent(items)
    return ResolvedQuery(text, items, None)


def _refusal(text: str, candidates: list[tuple[float, WhatIf]], ambiguous: bool) -> str:
    listed = "; ".join(f"{entry.id} ({entry.title})" for _score, entry in candidates)
    why = (
        "matches several what-ifs about equally" if ambiguous else "does not match a known what-if"
    )
    return f"'{text}' {why}; closest: {listed}. Use an id or write an intervention."
